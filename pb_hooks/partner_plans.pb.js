/// <reference path="../.ekyc/pb_data/types.d.ts" />
// partners.plan_periods keeps which plan priced which month (pb_migrations/1764720000_plan_periods.js):
// every change of `plan`, whoever makes it, is recorded from the current month (UTC), replacing
// an assignment made earlier in the same month, so a closed month keeps the plan it had.

onRecordCreate((e) => {
  require(`${__hooks}/lib/plan_periods.js`).recordPlan(e.record, "");
  e.next();
}, "partners");

onRecordUpdate((e) => {
  const before = e.record.original().getString("plan");
  require(`${__hooks}/lib/plan_periods.js`).recordPlan(e.record, before);
  e.next();
}, "partners");
