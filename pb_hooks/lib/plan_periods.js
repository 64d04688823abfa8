// The plan periods of a partner (see pb_hooks/partner_plans.pb.js): [{from: "YYYY-MM", plan}].

// Append the partner's plan from this month when it differs from `before` (the plan it had).
function recordPlan(record, before) {
  const plan = record.getString("plan");
  if (plan === before) return;
  let periods = [];
  try {
    periods = JSON.parse(record.getString("plan_periods") || "[]") || [];
  } catch (err) {
    periods = [];
  }
  if (!Array.isArray(periods)) periods = [];
  const month = new DateTime().string().slice(0, 7); // UTC, "YYYY-MM"
  periods = periods.filter((period) => period && String(period.from) < month);
  periods.push({ from: month, plan: plan });
  record.set("plan_periods", periods);
}

module.exports = { recordPlan };
