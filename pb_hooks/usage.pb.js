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
//  - each threshold (percent of the quota) reached by this unit writes one
//    quota.threshold_reached event to the webhook outbox in the same transaction, keyed by
//    partner, check, period and percent, so it is announced once per period.
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
      const rows = require(`${__hooks}/lib/rows.js`);
      const wanted = require(`${__hooks}/lib/outbox.js`).wantedTypes(txApp, partner, ["quota.threshold_reached"]);
      for (const percent of wanted.length ? body.thresholds || [] : []) {
        const mark = Math.ceil((quota * Number(percent)) / 100);
        if (quota === 0 || used < mark) continue;
        const key = `quota:${partner}:${module}:${period}:${percent}`;
        if (txApp.findAllRecords("webhook_events", $dbx.hashExp({ dedupe_key: key })).length) continue;
        rows.insertRow(txApp, "webhook_events", {
          partner: partner,
          profile: "",
          type: "quota.threshold_reached",
          data: JSON.stringify({
            check: module,
            threshold_percent: Number(percent),
            used: used,
            quota: quota,
            period: period,
            resets_at: String(body.resets_at || ""),
          }),
          dedupe_key: key,
          dispatched_at: "",
        });
      }
    }
    result = { taken: true, id: record.id, used: used, quota: quota };
  });
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
