// The quota's 80 % and 100 % announcements, shared by the take (a row billed when written: the
// worker's verifications) and the settle (a held unit whose check ran to a result).
//
// A threshold is reached by a unit that is used for good: a row both counted and billed. A unit
// merely held by a running check is not, since the check may still be refused and give it back;
// announcing then told a partner with a quota of 1 that it was used up when its one call had been
// a bad image, and the real 100 % was never announced (the dedupe key was spent).

// The rows of the period that used a unit for good: counted and billed.
function countBilled(txApp, window) {
  const count = new DynamicModel({ n: 0 });
  txApp.db()
    .newQuery(
      "SELECT COUNT(*) AS n FROM usage_events WHERE partner = {:partner} AND module = {:module}" +
      " AND counted = TRUE AND billed = TRUE AND created >= {:start} AND created < {:end}",
    )
    .bind(window)
    .one(count);
  return count.n;
}

// Write one quota.threshold_reached event to the outbox for each threshold (percent of `quota`)
// that `used` units reach, once per partner, check, period and percent (its dedupe key). Only when
// someone receives the event (an endpoint subscribed to it, or the review address).
function announceThresholds(txApp, params, used) {
  const { partner, module, period, quota, thresholds, resetsAt } = params;
  if (quota === null || quota === 0) return;
  const rows = require(`${__hooks}/lib/rows.js`);
  const wanted = require(`${__hooks}/lib/outbox.js`).wantedTypes(txApp, partner, ["quota.threshold_reached"]);
  if (!wanted.length) return;
  for (const percent of thresholds || []) {
    const mark = Math.ceil((quota * Number(percent)) / 100);
    if (used < mark) continue;
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
        resets_at: String(resetsAt || ""),
      }),
      dedupe_key: key,
      dispatched_at: "",
    });
  }
}

module.exports = { countBilled, announceThresholds };
