// Appends the status_history row for a profile's status change, and that change's outbox events.
// Called inside the transaction that saves the profile, with that transaction's app, so the change,
// its history and its events commit (or roll back) together, whichever path made the change.
function appendHistory(txApp, profile, fromStatus) {
  const rows = require(`${__hooks}/lib/rows.js`);
  const history = {
    profile: profile.id,
    from_status: fromStatus,
    to_status: profile.getString("status"),
    actor: profile.getString("status_actor") || "system",
    reason: profile.getString("status_reason"),
  };
  const id = rows.insertRow(txApp, "status_history", history);
  require(`${__hooks}/lib/outbox.js`).writeStatusEvents(txApp, profile, Object.assign({ id: id }, history));
}

module.exports = { appendHistory };
