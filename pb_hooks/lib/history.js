// Appends the status_history row for a profile's status change. Called inside the transaction that
// saves the profile, with that transaction's app, so the change and its history commit together.
function appendHistory(txApp, profile, fromStatus) {
  const history = new Record(txApp.findCollectionByNameOrId("status_history"));
  history.set("profile", profile.id);
  history.set("from_status", fromStatus);
  history.set("to_status", profile.getString("status"));
  history.set("actor", profile.getString("status_actor") || "system");
  history.set("reason", profile.getString("status_reason"));
  txApp.save(history);
}

module.exports = { appendHistory };
