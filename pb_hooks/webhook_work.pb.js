/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The worker's webhook rounds and the outbox's pruning, each one transaction.

// POST /api/ekyc/webhooks/work {now, lease_until, results?: [{id, record}], dispatch_limit,
// claim_limit, per_endpoint, cursor}: record finished attempts, fan out up to dispatch_limit new
// events, claim up to claim_limit due deliveries (at most per_endpoint in flight per endpoint).
// 200 {dispatched: [{id, partner, type}], created: [ids], deliveries, events, endpoints, cursor}.
routerAdd("POST", "/api/ekyc/webhooks/work", (e) => {
  const work = require(`${__hooks}/lib/delivery_work.js`);
  const body = e.requestInfo().body;
  const now = String(body.now || "");
  const bounded = (value, max) => Math.max(0, Math.min(max, Math.floor(Number(value) || 0)));
  if (!now) return e.json(400, { code: "now_required" });
  let result = null;
  $app.runInTransaction((txApp) => {
    work.recordAttempts(txApp, body.results, now);
    const fanned = work.fanOut(txApp, now, bounded(body.dispatch_limit, 5000));
    const claimLimit = bounded(body.claim_limit, 1000);
    const claimed = claimLimit
      ? work.claimDue(txApp, now, String(body.lease_until || ""), claimLimit, Math.max(1, bounded(body.per_endpoint, 1000)), String(body.cursor || ""))
      : { deliveries: [], events: {}, endpoints: {}, cursor: String(body.cursor || "") };
    result = Object.assign({ dispatched: fanned.events, created: fanned.created }, claimed);
  });
  return e.json(200, result);
}, $apis.requireSuperuserAuth());

// POST /api/ekyc/webhooks/prune {before, keyed_before, now, limit}: remove up to `limit` events
// created before `before` (before `keyed_before` for events with a dedupe key, which stop a notice
// from being sent twice) that are dispatched and have no pending delivery, with their deliveries;
// and up to `limit` idempotency keys expired before `now`. 200 {events, deliveries, idempotency_keys}.
// (`+d.status`: looked up by the (event, endpoint) index, not by scanning every pending delivery.)
routerAdd("POST", "/api/ekyc/webhooks/prune", (e) => {
  const body = e.requestInfo().body;
  const limit = Math.max(1, Math.min(5000, Math.floor(Number(body.limit) || 1000)));
  const bound = { before: String(body.before || ""), keyed_before: String(body.keyed_before || ""), now: String(body.now || ""), limit: limit };
  if (!bound.before || !bound.keyed_before || !bound.now) return e.json(400, { code: "dates_required" });
  let result = null;
  $app.runInTransaction((txApp) => {
    const old = arrayOf(new DynamicModel({ id: "" }));
    txApp.db()
      .newQuery(
        "SELECT e.id FROM webhook_events e WHERE e.created < {:before} AND e.dispatched_at != ''" +
        " AND (e.dedupe_key = '' OR e.created < {:keyed_before})" +
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event = e.id AND +d.status = 'pending')" +
        " ORDER BY e.created LIMIT {:limit}",
      )
      .bind(bound)
      .all(old);
    const ids = old.map((row) => row.id);
    const count = new DynamicModel({ n: 0 });
    if (ids.length) {
      txApp.db().select("COUNT(*) AS n").from("webhook_deliveries").where($dbx.in("event", ...ids)).one(count);
      txApp.db().delete("webhook_deliveries", $dbx.in("event", ...ids)).execute();
      txApp.db().delete("webhook_events", $dbx.in("id", ...ids)).execute();
    }
    const keys = arrayOf(new DynamicModel({ id: "" }));
    txApp.db()
      .newQuery("SELECT id FROM idempotency_keys WHERE expires_at < {:now} ORDER BY expires_at LIMIT {:limit}")
      .bind(bound)
      .all(keys);
    if (keys.length) txApp.db().delete("idempotency_keys", $dbx.in("id", ...keys.map((row) => row.id))).execute();
    result = { events: ids.length, deliveries: count.n, idempotency_keys: keys.length };
  });
  return e.json(200, result);
}, $apis.requireSuperuserAuth());
