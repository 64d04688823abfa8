/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Metered usage at the data layer: the quota's count-and-take, and the sums the usage reports and
// invoices read. Values are bound as parameters ({:name}); nothing is built from a caller's text.

// POST /api/ekyc/usage/take {partner, module, quota, period, period_start, period_end, resets_at,
// thresholds, force, row: {billed, counted, outcome, processing_ms, profile}}: append one usage
// row unless it would take the partner past its quota for the period.
//  - the count of rows holding a unit (counted) and the insert share one transaction, and
//    PocketBase runs write transactions one at a time, so two gateway processes asking for the
//    last unit get one yes and one no;
//  - `quota` null: no quota, the row is appended; `force`: appended even past the quota (a
//    verification already run must be recorded);
//  - at the limit, units held by `pending` rows created before `stale_before` (checks whose
//    process died before settling them) are given back first;
//  - a row billed when written (a verification already run) announces each threshold (percent
//    of the quota) its unit reaches: one quota.threshold_reached event in the webhook outbox, in
//    the same transaction, keyed by partner, check, period and percent, so it is announced once
//    per period. A held unit (`pending`) announces nothing yet: /usage/settle does, once its
//    check has run to a result (lib/quota.js says why).
// 200 {taken: true, id, used, quota} or {taken: false, used, quota}.
routerAdd("POST", "/api/ekyc/usage/take", (e) => {
  const body = e.requestInfo().body;
  const partner = String(body.partner || "");
  const module = String(body.module || "");
  const period = String(body.period || "");
  const row = body.row || {};
  const quota = body.quota === null || body.quota === undefined ? null : parseInt(body.quota, 10);
  if (!/^[a-z0-9]{15}$/.test(partner) || !/^[a-z_]{1,60}$/.test(module) || !/^\d{4}-\d{2}$/.test(period)) {
    throw new BadRequestError("partner, module and period (YYYY-MM) are required");
  }
  if (quota !== null && (isNaN(quota) || quota < 0)) {
    throw new BadRequestError("quota must be a non-negative integer or null");
  }
  const counted = row.counted !== false;
  let result = null;
  const window = {
    partner: partner,
    module: module,
    start: String(body.period_start),
    end: String(body.period_end),
    stale: String(body.stale_before || ""),
  };
  $app.runInTransaction((txApp) => {
    const countHeld = () => {
      const count = new DynamicModel({ n: 0 });
      txApp.db()
        .newQuery(
          "SELECT COUNT(*) AS n FROM usage_events WHERE partner = {:partner} AND module = {:module}" +
          " AND counted = TRUE AND created >= {:start} AND created < {:end}",
        )
        .bind(window)
        .one(count);
      return count.n;
    };
    let used = 0;
    if (quota !== null) {
      used = countHeld();
      if (counted && used >= quota && !body.force && window.stale) {
        // At the limit only (so the common path stays one indexed count): units still held by
        // checks that began before `stale_before` belong to a process that died mid-check
        // (a check cannot run that long); they are given back before deciding.
        txApp.db()
          .newQuery(
            "UPDATE usage_events SET counted = FALSE, outcome = 'abandoned' WHERE partner = {:partner}" +
            " AND module = {:module} AND counted = TRUE AND outcome = 'pending'" +
            " AND created >= {:start} AND created < {:stale}",
          )
          .bind(window)
          .execute();
        used = countHeld();
      }
      if (counted && used >= quota && !body.force) {
        result = { taken: false, used: used, quota: quota };
        return;
      }
    }
    const record = new Record(txApp.findCollectionByNameOrId("usage_events"));
    record.set("partner", partner);
    record.set("module", module);
    record.set("billed", row.billed === true);
    record.set("counted", counted);
    record.set("outcome", String(row.outcome || "pending").slice(0, 60));
    record.set("processing_ms", Math.max(0, Number(row.processing_ms) || 0));
    record.set("profile", String(row.profile || ""));
    txApp.save(record);
    if (quota !== null && counted) {
      used += 1;
      if (row.billed === true) {
        const thresholds = require(`${__hooks}/lib/quota.js`);
        thresholds.announceThresholds(
          txApp,
          { partner: partner, module: module, period: period, quota: quota, thresholds: body.thresholds, resetsAt: body.resets_at },
          thresholds.countBilled(txApp, window),
        );
      }
    }
    result = { taken: true, id: record.id, used: used, quota: quota };
  });
  return e.json(200, result);
}, $apis.requireSuperuserAuth());

// POST /api/ekyc/usage/settle {id, quota, period, period_start, period_end, resets_at, thresholds,
// row: {billed, counted, outcome, processing_ms}}: write the outcome of a check that held a unit
// (the row /usage/take appended as `pending`). A refused check gives its unit back (counted
// false); one that ran to a result keeps it and, in the same transaction, announces each threshold
// the period's billed units now reach (once per partner, check, period and percent: lib/quota.js).
// 200 {id, used}: used is the period's billed units (null without a quota). 404: no such row.
routerAdd("POST", "/api/ekyc/usage/settle", (e) => {
  const body = e.requestInfo().body;
  const id = String(body.id || "");
  const period = String(body.period || "");
  const row = body.row || {};
  const quota = body.quota === null || body.quota === undefined ? null : parseInt(body.quota, 10);
  if (!/^[a-z0-9]{15}$/.test(id) || !/^\d{4}-\d{2}$/.test(period)) {
    throw new BadRequestError("id and period (YYYY-MM) are required");
  }
  if (quota !== null && (isNaN(quota) || quota < 0)) {
    throw new BadRequestError("quota must be a non-negative integer or null");
  }
  let result = null;
  $app.runInTransaction((txApp) => {
    let record = null;
    try {
      record = txApp.findRecordById("usage_events", id);
    } catch (err) {
      return;
    }
    record.set("billed", row.billed === true);
    record.set("counted", row.counted === true);
    record.set("outcome", String(row.outcome || "").slice(0, 60));
    record.set("processing_ms", Math.max(0, Number(row.processing_ms) || 0));
    txApp.save(record);
    let used = null;
    if (quota !== null && row.billed === true && row.counted === true) {
      const thresholds = require(`${__hooks}/lib/quota.js`);
      const window = {
        partner: record.getString("partner"),
        module: record.getString("module"),
        start: String(body.period_start),
        end: String(body.period_end),
      };
      used = thresholds.countBilled(txApp, window);
      thresholds.announceThresholds(
        txApp,
        { partner: window.partner, module: window.module, period: period, quota: quota, thresholds: body.thresholds, resetsAt: body.resets_at },
        used,
      );
    }
    result = { id: record.id, used: used };
  });
  if (result === null) throw new NotFoundError("no such usage row");
  return e.json(200, result);
}, $apis.requireSuperuserAuth());

// POST /api/ekyc/usage/summary {partner?, from, to, by_day?}: usage rows counted per partner and
// check (and per day with by_day) for created in [from, to). Without partner: every partner (the
// operator's reports). 200 {items: [{partner, module, day, calls, billed, counted, processing_ms}]}.
routerAdd("POST", "/api/ekyc/usage/summary", (e) => {
  const body = e.requestInfo().body;
  const partner = body.partner ? String(body.partner) : "";
  const day = body.by_day ? "substr(created, 1, 10)" : "''";
  const items = arrayOf(new DynamicModel({
    partner: "", module: "", day: "", calls: 0, billed: 0, counted: 0, processing_ms: -0, // -0: a float column
  }));
  $app.db()
    .newQuery(
      `SELECT partner, module, ${day} AS day, COUNT(*) AS calls,` +
      " SUM(CASE WHEN billed = TRUE THEN 1 ELSE 0 END) AS billed," +
      " SUM(CASE WHEN counted = TRUE THEN 1 ELSE 0 END) AS counted," +
      " COALESCE(SUM(processing_ms), 0) AS processing_ms" +
      " FROM usage_events WHERE created >= {:from} AND created < {:to}" +
      (partner ? " AND partner = {:partner}" : "") +
      " GROUP BY partner, module, day ORDER BY partner, day, module",
    )
    .bind({ from: String(body.from || ""), to: String(body.to || ""), partner: partner })
    .all(items);
  return e.json(200, { items: items });
}, $apis.requireSuperuserAuth());
