// A profile's status changes: the number and copy the profile carries (stampChange, before it is
// saved) and the status_history row with that change's outbox events (appendHistory, after).
// Both run inside the transaction that saves the profile, with that transaction's app, so the
// change, its number, its history and its events commit (or roll back) together, whichever path
// made the change.

// The next number of the changes feed. Written first in the transaction: from here to the commit
// this transaction holds SQLite's only write lock, so numbers are handed out in commit order and
// a reader that sees number N has every smaller number committed (see the migration
// 1764700000_profile_changes.js). A timestamp would not do: a row stamped earlier can commit later.
function nextChangeSeq(txApp) {
  const row = new DynamicModel({ value: 0 });
  txApp.db()
    .newQuery("UPDATE ekyc_sequences SET value = value + 1 WHERE name = 'profile_changes' RETURNING value")
    .one(row);
  return row.value;
}

// Number a change of status or decision on the record about to be saved. With `fromStatus` given
// (a creation passes ""), the status changed: returns the history row to append, also copied to
// the profile's last_change.
function stampChange(txApp, profile, fromStatus) {
  profile.set("change_seq", nextChangeSeq(txApp));
  if (fromStatus === null) {
    return null;
  }
  const change = {
    from_status: fromStatus,
    to_status: profile.getString("status"),
    actor: profile.getString("status_actor") || "system",
    reason: profile.getString("status_reason"),
    created: new DateTime().string(),
  };
  profile.set("last_change", change);
  return change;
}

// Append the status_history row stamped by stampChange, and the change's outbox events.
function appendHistory(txApp, profile, change) {
  const rows = require(`${__hooks}/lib/rows.js`);
  const history = {
    profile: profile.id,
    from_status: change.from_status,
    to_status: change.to_status,
    actor: change.actor,
    reason: change.reason,
  };
  const id = rows.insertRow(txApp, "status_history", history, change.created);
  require(`${__hooks}/lib/outbox.js`).writeStatusEvents(txApp, profile, Object.assign({ id: id }, history));
}

module.exports = { appendHistory, stampChange };
