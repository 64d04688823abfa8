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

function allowedFrom(status) {
  return TRANSITIONS[status] || [];
}

function isAllowed(from, to) {
  return allowedFrom(from).indexOf(to) !== -1;
}

module.exports = { TRANSITIONS, INITIAL, allowedFrom, isAllowed };
