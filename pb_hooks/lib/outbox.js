// The transactional outbox of profile events. Every status change writes its events in the
// transaction that writes its status_history row, so the change and its events commit (or roll
// back) together, whichever path made the change: the gateway, the worker, or a reviewer in the
// admin UI.

// The specific event of a status change, besides profile.status_changed (null: none).
function specificEvent(fromStatus, toStatus) {
  if (!fromStatus) return "profile.created";
  if (toStatus === "in_progress") return "profile.started";
  if (toStatus === "submitted" && fromStatus === "in_progress") return "profile.submitted";
  const named = ["approved", "rejected", "manual_review", "resubmission_requested", "document_expired"];
  return named.indexOf(toStatus) !== -1 ? `profile.${toStatus}` : null;
}

// Thin payload: ids, status, the decision with who made it and why, the worker's own decision,
// score, reasons. Never images or document numbers.
// `history` is the status_history row as a plain object: {id, from_status, actor, ..}.
function profileData(profile, history) {
  const decision = profile.getString("decision");
  // A JSON field reads as raw bytes in the JSVM: parse its text.
  let reasonList = [];
  try {
    const parsed = JSON.parse(profile.getString("reasons") || "null");
    if (Array.isArray(parsed)) reasonList = parsed;
  } catch (err) {
    reasonList = [];
  }
  let automated = null;
  try {
    automated = JSON.parse(profile.getString("automated_decision") || "null");
  } catch (err) {
    automated = null;
  }
  // An object or nothing: the admin UI saves a blank field back as the JSON string "".
  if (!automated || typeof automated !== "object") automated = null;
  return {
    profile_id: profile.id,
    external_ref: profile.getString("external_ref") || null,
    status: profile.getString("status"),
    previous_status: history.from_status || null,
    decision: decision || null,
    decided_by: decision ? profile.getString("decided_by") || null : null,
    decision_reason: decision ? profile.getString("decision_reason") || null : null,
    automated_decision: automated,
    score: decision ? profile.getFloat("score") : null,
    reasons: reasonList,
    changed_by: String(history.actor).split(":")[0],
    history_id: history.id,
  };
}

// Event types that also feed the partner's review email (gateway/services/notifications.py).
const REVIEW_EMAIL_TYPES = ["profile.manual_review", "quota.threshold_reached"];

// The types among `types` that someone receives: an enabled endpoint of the partner subscribed to
// the type (or to "*"), or, for the types that feed the review email, the partner's review
// address. Events nobody receives are not written: two per profile for every partner made the
// outbox 57 % of a 100k-profile database. One lookup on idx_webhook_endpoints_partner, inside the
// caller's transaction, so an endpoint created or disabled meanwhile is seen consistently.
function wantedTypes(txApp, partnerId, types) {
  const endpoints = arrayOf(new DynamicModel({ events: "" }));
  txApp.db()
    .newQuery("SELECT events FROM webhook_endpoints WHERE partner = {:partner} AND enabled = TRUE")
    .bind({ partner: partnerId })
    .all(endpoints);
  const subscribed = {};
  for (const endpoint of endpoints) {
    let names = [];
    try {
      names = JSON.parse(endpoint.events || "[]") || [];
    } catch (err) {
      names = [];
    }
    for (const name of names) subscribed[name] = true;
  }
  const wanted = types.filter((type) => subscribed["*"] || subscribed[type]);
  const emailed = types.filter((type) => REVIEW_EMAIL_TYPES.indexOf(type) !== -1 && wanted.indexOf(type) === -1);
  if (emailed.length && hasReviewAddress(txApp, partnerId)) wanted.push(...emailed);
  return wanted;
}

// Whether the partner has a review address (its settings' review_email, else the record's field).
function hasReviewAddress(txApp, partnerId) {
  const partner = txApp.findRecordById("partners", partnerId);
  let settings = {};
  try {
    settings = JSON.parse(partner.getString("settings") || "{}") || {};
  } catch (err) {
    settings = {};
  }
  return Boolean(settings.review_email || partner.getString("review_email"));
}

// The events of one status change, as outbox rows (see rows.js for why not Record saves).
function writeStatusEvents(txApp, profile, history) {
  const rows = require(`${__hooks}/lib/rows.js`);
  const data = JSON.stringify(profileData(profile, history));
  const types = [];
  const specific = specificEvent(history.from_status, history.to_status);
  if (specific) types.push(specific);
  types.push("profile.status_changed");
  for (const type of wantedTypes(txApp, profile.getString("partner"), types)) {
    rows.insertRow(txApp, "webhook_events", {
      partner: profile.getString("partner"),
      profile: profile.id,
      type: type,
      data: data,
      dedupe_key: "",
      dispatched_at: "",
    });
  }
}

module.exports = { specificEvent, wantedTypes, writeStatusEvents };
