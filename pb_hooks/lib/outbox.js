// The transactional outbox of profile events. Called for every status_history row, inside the
// transaction that writes it, so the status change and its events commit (or roll back) together,
// whichever path made the change: the gateway, the worker, or a reviewer in the admin UI.

// The specific event of a status change, besides profile.status_changed (null: none).
function specificEvent(fromStatus, toStatus) {
  if (!fromStatus) return "profile.created";
  if (toStatus === "in_progress") return "profile.started";
  if (toStatus === "submitted" && fromStatus === "in_progress") return "profile.submitted";
  const named = ["approved", "rejected", "manual_review", "resubmission_requested", "document_expired"];
  return named.indexOf(toStatus) !== -1 ? `profile.${toStatus}` : null;
}

// Thin payload: ids, status, decision, score, reasons. Never images or document numbers.
function profileData(profile, fromStatus, history) {
  const decision = profile.getString("decision");
  // A JSON field reads as raw bytes in the JSVM: parse its text.
  let reasonList = [];
  try {
    const parsed = JSON.parse(profile.getString("reasons") || "null");
    if (Array.isArray(parsed)) reasonList = parsed;
  } catch (err) {
    reasonList = [];
  }
  return {
    profile_id: profile.id,
    external_ref: profile.getString("external_ref") || null,
    status: profile.getString("status"),
    previous_status: fromStatus || null,
    decision: decision || null,
    score: decision ? profile.getFloat("score") : null,
    reasons: reasonList,
    changed_by: history.getString("actor").split(":")[0],
    history_id: history.id,
  };
}

function recordStatusEvents(txApp, history) {
  const profile = txApp.findRecordById("profiles", history.getString("profile"));
  const fromStatus = history.getString("from_status");
  const toStatus = history.getString("to_status");
  const data = profileData(profile, fromStatus, history);
  const collection = txApp.findCollectionByNameOrId("webhook_events");
  const types = [];
  const specific = specificEvent(fromStatus, toStatus);
  if (specific) types.push(specific);
  types.push("profile.status_changed");
  for (const type of types) {
    const event = new Record(collection);
    event.set("partner", profile.getString("partner"));
    event.set("profile", profile.id);
    event.set("type", type);
    event.set("data", data);
    txApp.save(event);
  }
}

module.exports = { recordStatusEvents, specificEvent };
