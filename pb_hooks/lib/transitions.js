// The profile state machine, written once. The gateway reads it through GET /api/ekyc/transitions,
// so Python never keeps a second copy that could drift.
const TRANSITIONS = {
  unverified: ["in_progress", "expired"],
  in_progress: ["submitted", "expired"],
  submitted: ["processing", "manual_review", "expired"],
  processing: ["approved", "manual_review", "rejected", "resubmission_requested", "submitted"],
  manual_review: ["approved", "rejected", "resubmission_requested"],
  resubmission_requested: ["in_progress", "expired"],
  approved: ["document_expired", "resubmission_requested"],
  rejected: ["resubmission_requested"],
  expired: ["unverified"],
  document_expired: ["unverified"],
};

const INITIAL = "unverified";

// The moves a reviewer makes, by hand in the admin UI (the records API) or with a reviewer key
// (gateway/statuses.py REVIEWER_MOVES, the same table): decide a profile waiting in manual_review,
// or reopen a decision for resubmission. The rest of the table belongs to the applicant
// (in_progress, submitted), the worker (processing and its outcomes) and the system (expired,
// document_expired), whose moves come through the transition route, never the records API.
const REVIEWER_MOVES = {
  manual_review: ["approved", "rejected", "resubmission_requested"],
  approved: ["resubmission_requested"],
  rejected: ["resubmission_requested"],
};

// A reviewer gives a reason to reach these (gateway/statuses.py REASON_REQUIRED).
const REASON_REQUIRED = ["approved", "rejected"];

function reviewerMovesFrom(status) {
  return REVIEWER_MOVES[status] || [];
}

function allowedFrom(status) {
  return TRANSITIONS[status] || [];
}

function isAllowed(from, to) {
  return allowedFrom(from).indexOf(to) !== -1;
}

// The 409 answer of a route that changes a profile in `current` status, or null when it may:
// `expected` (unless null) lists the statuses the caller read, `to` (unless null) the move it makes.
function refusal(current, expected, to) {
  let code = null;
  if (expected && expected.indexOf(current) === -1) code = "unexpected_status";
  else if (to !== null && !isAllowed(current, to)) code = "illegal_transition";
  return code && { status: 409, body: { code: code, current: current, allowed: allowedFrom(current) } };
}

// Write a profile route's body onto `profile` (not saved): its `set` fields and, when `to` is
// given, the move to `to` with the body's actor and reason (what the history row records).
function applyChange(profile, body, to) {
  const fields = body.set || {};
  for (const name of Object.keys(fields)) {
    profile.set(name, fields[name]);
  }
  if (!to) return;
  profile.set("status", to);
  profile.set("status_actor", String(body.actor || "system"));
  profile.set("status_reason", String(body.reason || ""));
}

// Run `change(txApp, profile)` on the profile `id` inside one transaction and return its
// {status, body} answer (404 when there is no such profile): the routes that change a profile on
// what they read of it (a transition, an erasure) read and write in the same transaction.
function onProfile(id, change) {
  let result = null;
  $app.runInTransaction((txApp) => {
    let profile;
    try {
      profile = txApp.findRecordById("profiles", id);
    } catch (err) {
      result = { status: 404, body: { code: "not_found" } };
      return;
    }
    result = change(txApp, profile);
  });
  return result;
}

module.exports = {
  TRANSITIONS, INITIAL, REVIEWER_MOVES, REASON_REQUIRED, allowedFrom, applyChange, isAllowed, onProfile, refusal, reviewerMovesFrom,
};
