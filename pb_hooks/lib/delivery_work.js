// One round of webhook work for a worker, in one transaction (webhook_work.pb.js): record the
// attempts it finished, fan new outbox events out to deliveries, claim due deliveries for its free
// sending slots. One request per round, so throughput is the receivers' and an idle worker costs
// PocketBase two index seeks per poll.

// Fields of a delivery an attempt may set (gateway/services/webhooks/attempts.py computes them).
const RECORDED = [
  "status", "attempts", "retry_step", "next_attempt_at", "lease_until", "last_status_code",
  "last_latency_ms", "last_response", "last_error", "attempt_log", "delivered_at",
];

function recordAttempts(txApp, results, now) {
  for (const result of results || []) {
    const values = { updated: now };
    for (const name of RECORDED) {
      if (!(name in result.record)) continue;
      const value = result.record[name];
      values[name] = name === "attempt_log" ? JSON.stringify(value || []) : value;
    }
    txApp.db().update("webhook_deliveries", values, $dbx.hashExp({ id: String(result.id) })).execute();
  }
}

// Whether an endpoint subscribed to `names` (its JSON events list) receives `type`.
function receives(names, type) {
  return names.indexOf("*") !== -1 || names.indexOf(type) !== -1;
}

function enabledEndpoints(txApp, partner) {
  const rows = arrayOf(new DynamicModel({ id: "", events: "" }));
  txApp.db()
    .newQuery("SELECT id, events FROM webhook_endpoints WHERE partner = {:partner} AND enabled = TRUE")
    .bind({ partner: partner })
    .all(rows);
  return rows.map((row) => {
    let names = [];
    try {
      names = JSON.parse(row.events || "[]") || [];
    } catch (err) {
      names = [];
    }
    return { id: row.id, events: names };
  });
}

// One delivery per (event, subscribed enabled endpoint), oldest events first, then the events are
// marked dispatched. A pair that already has its delivery (a fan-out cut short before marking its
// events) is skipped. Returns the events fanned out and the ids of the new deliveries.
function fanOut(txApp, now, limit) {
  const rows = require(`${__hooks}/lib/rows.js`);
  const events = arrayOf(new DynamicModel({ id: "", partner: "", type: "" }));
  txApp.db()
    .newQuery("SELECT id, partner, type FROM webhook_events WHERE dispatched_at = '' ORDER BY created LIMIT {:limit}")
    .bind({ limit: limit })
    .all(events);
  if (!events.length) return { events: [], created: [] };
  const ids = events.map((event) => event.id);
  const existing = arrayOf(new DynamicModel({ event: "", endpoint: "" }));
  txApp.db().select("event", "endpoint").from("webhook_deliveries").where($dbx.in("event", ...ids)).all(existing);
  const done = {};
  for (const pair of existing) done[`${pair.event}:${pair.endpoint}`] = true;
  const endpointsOf = {};
  const created = [];
  for (const event of events) {
    if (!(event.partner in endpointsOf)) endpointsOf[event.partner] = enabledEndpoints(txApp, event.partner);
    for (const endpoint of endpointsOf[event.partner]) {
      if (!receives(endpoint.events, event.type) || done[`${event.id}:${endpoint.id}`]) continue;
      created.push(rows.insertRow(txApp, "webhook_deliveries", {
        partner: event.partner,
        endpoint: endpoint.id,
        event: event.id,
        event_type: event.type,
        message_id: `msg_${event.id}`,
        status: "pending",
        attempts: 0,
        retry_step: 0,
        next_attempt_at: now,
        attempt_log: "[]",
      }));
    }
  }
  txApp.db().update("webhook_events", { dispatched_at: now }, $dbx.in("id", ...ids)).execute();
  return { events: events.map((event) => ({ id: event.id, partner: event.partner, type: event.type })), created: created };
}

// The next endpoint (in id order, after `after`) with a pending delivery: one index seek.
function nextPendingEndpoint(txApp, after) {
  const rows = arrayOf(new DynamicModel({ endpoint: "" }));
  txApp.db()
    .newQuery("SELECT endpoint FROM webhook_deliveries WHERE status = 'pending' AND endpoint > {:after} ORDER BY endpoint LIMIT 1")
    .bind({ after: after })
    .all(rows);
  return rows.length ? rows[0].endpoint : "";
}

// Claim up to `take` due, unleased deliveries of one endpoint, keeping at most `perEndpoint` of its
// deliveries in flight (leased) across every worker. A disabled endpoint's due deliveries fail.
function claimFromEndpoint(txApp, endpointId, now, leaseUntil, take, perEndpoint) {
  const endpoint = arrayOf(new DynamicModel({ enabled: false }));
  txApp.db().select("enabled").from("webhook_endpoints").where($dbx.hashExp({ id: endpointId })).all(endpoint);
  if (!endpoint.length) return []; // deleted: its deliveries cascade
  const dueFilter = "status = 'pending' AND endpoint = {:endpoint} AND next_attempt_at <= {:now}";
  if (!endpoint[0].enabled) {
    txApp.db()
      .newQuery(`UPDATE webhook_deliveries SET status = 'failed', lease_until = '', next_attempt_at = '', last_error = 'endpoint disabled', updated = {:now} WHERE ${dueFilter}`)
      .bind({ endpoint: endpointId, now: now })
      .execute();
    return [];
  }
  const due = arrayOf(new DynamicModel({ id: "", lease_until: "" }));
  txApp.db()
    .newQuery(`SELECT id, lease_until FROM webhook_deliveries WHERE ${dueFilter} ORDER BY next_attempt_at LIMIT {:scan}`)
    .bind({ endpoint: endpointId, now: now, scan: perEndpoint * 2 })
    .all(due);
  const inFlight = due.filter((row) => row.lease_until && row.lease_until > now).length;
  const free = due.filter((row) => !row.lease_until || row.lease_until <= now);
  const ids = free.slice(0, Math.max(0, Math.min(take, perEndpoint - inFlight))).map((row) => row.id);
  if (ids.length) {
    txApp.db().update("webhook_deliveries", { lease_until: leaseUntil }, $dbx.in("id", ...ids)).execute();
  }
  return ids;
}

// Claim up to `limit` due deliveries, visiting endpoints round-robin from after `cursor` (so no
// endpoint waits behind another's backlog); returns the claimed deliveries with their events and
// endpoints, and the cursor for the next round.
function claimDue(txApp, now, leaseUntil, limit, perEndpoint, cursor) {
  const claimed = [];
  let after = cursor;
  let wrapped = !cursor;
  let last = cursor;
  while (claimed.length < limit) {
    const endpointId = nextPendingEndpoint(txApp, after);
    if (!endpointId || (wrapped && cursor && endpointId > cursor)) {
      if (wrapped) break;
      wrapped = true;
      after = "";
      continue;
    }
    after = endpointId;
    const ids = claimFromEndpoint(txApp, endpointId, now, leaseUntil, limit - claimed.length, perEndpoint);
    if (ids.length) last = endpointId;
    claimed.push(...ids);
  }
  return Object.assign(claimedRows(txApp, claimed), { cursor: last });
}

// What sending needs of the claimed deliveries, their events and endpoints: columns read with SQL
// (exporting whole records cost more CPU than the rest of a round together).
function claimedRows(txApp, ids) {
  if (!ids.length) return { deliveries: [], events: {}, endpoints: {} };
  const rows = arrayOf(new DynamicModel({
    id: "", partner: "", endpoint: "", event: "", event_type: "", message_id: "", attempts: 0,
    retry_step: 0, attempt_log: "", type: "", created: "", data: "", url: "", enabled: false,
    signing_secrets: "", failing_since: "", last_success_at: "",
  }));
  txApp.db()
    .select(
      "d.id", "d.partner", "d.endpoint", "d.event", "d.event_type", "d.message_id", "d.attempts",
      "d.retry_step", "d.attempt_log", "e.type", "e.created", "e.data", "p.url", "p.enabled",
      "p.signing_secrets", "p.failing_since", "p.last_success_at",
    )
    .from("webhook_deliveries d")
    .innerJoin("webhook_events e", $dbx.exp("e.id = d.event"))
    .innerJoin("webhook_endpoints p", $dbx.exp("p.id = d.endpoint"))
    .where($dbx.in("d.id", ...ids))
    .all(rows);
  const parsed = (text, empty) => {
    try {
      return JSON.parse(text || "null") || empty;
    } catch (err) {
      return empty;
    }
  };
  const result = { deliveries: [], events: {}, endpoints: {} };
  for (const row of rows) {
    result.deliveries.push({
      id: row.id, partner: row.partner, endpoint: row.endpoint, event: row.event,
      event_type: row.event_type, message_id: row.message_id, attempts: row.attempts,
      retry_step: row.retry_step, attempt_log: parsed(row.attempt_log, []),
    });
    result.events[row.event] = { id: row.event, type: row.type, created: row.created, data: parsed(row.data, {}) };
    result.endpoints[row.endpoint] = {
      id: row.endpoint, partner: row.partner, url: row.url, enabled: row.enabled,
      signing_secrets: row.signing_secrets, failing_since: row.failing_since, last_success_at: row.last_success_at,
    };
  }
  return result;
}

module.exports = { recordAttempts, fanOut, claimDue };
