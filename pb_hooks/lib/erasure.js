// What an erasure does to the reasons people typed. A reviewer's reason (the gateway's reviewer
// routes or the admin UI; their changes carry the actor `reviewer:<id>`, and a status_reason edited
// alone in the admin UI is one too) is free text and may name the applicant ("name on passport is
// J. Smith"), so the erasure replaces it with REDACTED wherever it was copied: status_history rows,
// the profile's status_reason, decision_reason and last_change, and the webhook events still stored
// for the profile (whose document_expiring notices lose the document's expiry date the same way). The fact that a reason was given stays (REDACTED, not empty), and so does every
// history row with its statuses, actor and times. Reasons of the worker and the system are codes
// and sentences the platform wrote about the checks, not personal data: they stay, but for one the
// expiry job wrote before 67fb1d5, which quotes the document's expiry date (DATED_EXPIRY).
//
// POST /api/ekyc/profiles/{id}/erase (routes.pb.js) redacts, in the transaction that sets
// erased_at. An erasure runs once, so an erased profile then takes nothing it would have erased: a
// reviewer's later reason is stored REDACTED and personal data is refused (onRecordUpdate,
// profiles.pb.js), and no capture reopens (the transition route). The status_history rows change by
// a raw UPDATE (no record hook fires; the records API and the admin UI still meet the append-only
// hooks of profiles.pb.js), which the SQLite trigger of
// pb_migrations/1764750000_history_expiry_date_erasure.js lets through only for this exact change:
// a reviewer's non-empty reason, or the expiry job's dated reason (DATED_EXPIRY), becoming REDACTED
// on an erased profile, nothing else.

const REDACTED = "[erased]";

// The reason the expiry job (gateway/services/expiry.py) gave its approved -> document_expired
// move, actor `system`, until 67fb1d5: "identity document expired on <YYYY-MM-DD>", the date read
// from the identity document. Copied to the history row, status_reason and last_change, it is the
// document's expiry date the erasure empties, so it goes as a reviewer's words do. The same
// pattern, as a GLOB, is in the trigger of 1764750000 and the backfill of 1764750001.
const DATED_EXPIRY = /^identity document expired on [0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const DATED_EXPIRY_GLOB = "identity document expired on [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]";

function typedByPerson(actor) {
  return String(actor || "").indexOf("reviewer:") === 0;
}

function quotesExpiryDate(reason) {
  return DATED_EXPIRY.test(String(reason || ""));
}

function parsedJson(record, name) {
  try {
    return JSON.parse(record.getString(name) || "null");
  } catch (err) {
    return null;
  }
}

// Whether the profile's status_reason is what the platform wrote with its last status change:
// every writer but a person sets it with a status change (the transition route), which copies it
// to last_change; one that differs was typed in the admin UI since, without a status change.
function reasonOfPlatformChange(profile) {
  const last = parsedJson(profile, "last_change");
  return Boolean(last) && !typedByPerson(last.actor) && !typedByPerson(profile.getString("status_actor")) &&
    last.reason === profile.getString("status_reason");
}

// Redact the typed reasons, and the expiry job's dated one, the profile record carries (before the
// erasure's save).
function redactProfile(profile) {
  const statusReason = profile.getString("status_reason");
  if (statusReason && (!reasonOfPlatformChange(profile) || quotesExpiryDate(statusReason))) {
    profile.set("status_reason", REDACTED);
  }
  if (typedByPerson(profile.getString("decided_by")) && profile.getString("decision_reason")) {
    profile.set("decision_reason", REDACTED);
  }
  const last = parsedJson(profile, "last_change");
  if (last && last.reason && (typedByPerson(last.actor) || quotesExpiryDate(last.reason))) {
    last.reason = REDACTED;
    profile.set("last_change", last);
  }
}

// The ids of the profile's history rows to redact, read before the erasure's save: those holding
// a reviewer's typed reason, and the expiry job's moves whose reason quotes the date
// (DATED_EXPIRY). The row that save appends (the end of an open capture) carries the erasure's
// own sentence, under a reviewer's name when a reviewer key erases, and is not a person's words.
function historyRowsToRedact(txApp, profileId) {
  const rows = arrayOf(new DynamicModel({ id: "" }));
  txApp.db()
    .newQuery(
      "SELECT id FROM status_history WHERE profile = {:profile} AND (" +
        "(substr(actor, 1, 9) = 'reviewer:' AND reason != '' AND reason != {:redacted}) " +
        "OR (actor = 'system' AND from_status = 'approved' AND to_status = 'document_expired' " +
        "AND reason GLOB {:dated}))",
    )
    .bind({ redacted: REDACTED, profile: profileId, dated: DATED_EXPIRY_GLOB })
    .all(rows);
  return rows.map((row) => row.id);
}

// Redact the reasons of the history rows `rowIds` (historyRowsToRedact) and of the profile's
// stored webhook events (after the save that set erased_at, in the same transaction).
function redactCopies(txApp, profileId, rowIds) {
  for (const id of rowIds) {
    txApp.db()
      .newQuery("UPDATE status_history SET reason = {:redacted} WHERE id = {:id}")
      .bind({ redacted: REDACTED, id: id })
      .execute();
  }
  const events = arrayOf(new DynamicModel({ id: "", type: "", data: "", dedupe_key: "" }));
  txApp.db()
    .newQuery("SELECT id, type, data, dedupe_key FROM webhook_events WHERE profile = {:profile}")
    .bind({ profile: profileId })
    .all(events);
  for (const event of events) {
    let data = null;
    try {
      data = JSON.parse(event.data || "null");
    } catch (err) {
      data = null;
    }
    if (!data) continue;
    let dedupeKey = event.dedupe_key;
    if (typedByPerson(data.decided_by) && data.decision_reason && data.decision_reason !== REDACTED) {
      data.decision_reason = REDACTED;
    } else if (event.type === "profile.document_expiring" && data.document_expires_on !== REDACTED) {
      // The document's expiry date, which the erasure empties on the profile: in the payload, in
      // days_left (with the event's time) and in the dedupe key. An erased profile has no date
      // left to notify again, so the key is no longer needed.
      data.document_expires_on = REDACTED;
      data.days_left = null;
      dedupeKey = "";
    } else {
      continue;
    }
    txApp.db()
      .newQuery("UPDATE webhook_events SET data = {:data}, dedupe_key = {:dedupe} WHERE id = {:id}")
      .bind({ data: JSON.stringify(data), dedupe: dedupeKey, id: event.id })
      .execute();
  }
}

// A reason a person writes on a profile already erased is stored as REDACTED: a reviewer deciding
// it afterwards (the gateway's reviewer route or the admin UI) or editing status_reason alone in
// the admin UI. The erasure ran once and does not run again, so the words would outlive it; the
// fact that a reason was given stays. Called by onRecordUpdate (profiles.pb.js) for every writer,
// before the reason is copied to decision_reason, last_change and the history row.
function redactAfterErasure(original, record) {
  const reason = record.getString("status_reason");
  if (!original.getString("erased_at") || !reason || reason === REDACTED) return;
  const typed = record.getString("status") !== original.getString("status")
    ? typedByPerson(record.getString("status_actor"))
    : reason !== original.getString("status_reason");
  if (typed) record.set("status_reason", REDACTED);
}

// The personal data an erasure empties (gateway/services/profiles.py erasure_fields), which
// nobody writes again on an erased profile: the erasure runs once and would never reach it.
const ERASED_FIELDS = [
  "first_name", "last_name", "date_of_birth", "email", "phone", "country", "metadata", "return_url",
  "document_number_enc", "document_index", "capture", "liveness_challenge", "consent_at",
  "document_front", "document_back", "selfie", "selfie_frames", "other_documents",
  "document_expires_on", "expiry_notices",
];

// Refuse an update of an erased profile (`original`) that writes personal data again, from
// any writer (onRecordUpdate, profiles.pb.js).
function refuseRefill(original, record) {
  if (!original.getString("erased_at")) return;
  const refilled = require(`${__hooks}/lib/owned_fields.js`).changedAmong(original, record, ERASED_FIELDS);
  if (!refilled.length) return;
  const errors = {};
  for (const name of refilled) {
    errors[name] = new ValidationError("profile_erased", "the profile's personal data was erased");
  }
  throw new BadRequestError(`${refilled.join(", ")}: this profile's personal data was erased; create a new profile.`, errors);
}

// The statuses that open a capture (a new link, the applicant starting): refused on an erased
// profile, whose captures and applicant data would then never be erased (the erasure runs once).
const REOPENING = ["unverified", "in_progress"];

// The 409 answer of the transition route for an erased profile moved into a capture, else null.
function reopenRefusal(profile, to) {
  if (!profile.getString("erased_at") || REOPENING.indexOf(to) === -1) return null;
  const current = profile.getString("status");
  const allowed = require(`${__hooks}/lib/transitions.js`).allowedFrom(current).filter((s) => REOPENING.indexOf(s) === -1);
  return { status: 409, body: { code: "profile_erased", current: current, allowed: allowed } };
}

module.exports = { REDACTED, redactProfile, historyRowsToRedact, redactCopies, redactAfterErasure, refuseRefill, reopenRefusal };
