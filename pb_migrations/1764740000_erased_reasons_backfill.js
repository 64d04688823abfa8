/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The redaction of lib/erasure.js for the profiles erased before it existed. An erasure runs once
// (a second DELETE and the retention job skip an erased profile), so the reasons reviewers typed
// on a profile erased by the code before 1764730000 would otherwise stay for good: here they read
// "[erased]" as the erasure now leaves them, in the history rows (the trigger of 1764730000 lets
// exactly this change through), the profile's status_reason, decision_reason and last_change, and
// its stored webhook events; and the document's expiry date goes, as from an erasure since
// 822e5cb (lib/erasure.js). The erasure's own sentence (a reviewer key's DELETE names the
// reviewer as the actor of that row) and the worker's and system's reasons stay, as they do now.
// Down does nothing: erased words are not brought back.
const REDACTED = "'[erased]'";
const ERASURE_SENTENCE = "'personal data erased at the partner''s request'";
const ERASED = "SELECT id FROM profiles WHERE erased_at != ''";
const TYPED = (column) =>
  `${column} != '' AND ${column} != ${REDACTED} AND ${column} != ${ERASURE_SENTENCE}`;
const BY_REVIEWER = (actor) => `substr(coalesce(${actor}, ''), 1, 9) = 'reviewer:'`;
const LAST = (path) => `CASE WHEN json_valid(last_change) THEN json_extract(last_change, '${path}') END`;

migrate(
  (app) => {
    const statements = [
      `UPDATE status_history SET reason = ${REDACTED} WHERE profile IN (${ERASED}) ` +
        `AND ${BY_REVIEWER("actor")} AND ${TYPED("reason")}`,
      // status_reason: unless it is what the platform wrote with its last change (lib/erasure.js
      // reasonOfPlatformChange); one typed in the admin UI since differs from last_change.
      `UPDATE profiles SET status_reason = ${REDACTED} WHERE erased_at != '' AND ${TYPED("status_reason")} ` +
        `AND NOT (coalesce(${LAST("$.actor")}, '') != '' AND NOT ${BY_REVIEWER(LAST("$.actor"))} ` +
        `AND NOT ${BY_REVIEWER("status_actor")} AND ${LAST("$.reason")} IS status_reason)`,
      `UPDATE profiles SET decision_reason = ${REDACTED} WHERE erased_at != '' ` +
        `AND ${BY_REVIEWER("decided_by")} AND decision_reason != ''`,
      `UPDATE profiles SET last_change = json_set(last_change, '$.reason', ${REDACTED}) ` +
        `WHERE erased_at != '' AND ${BY_REVIEWER(LAST("$.actor"))} AND ${TYPED(`coalesce(${LAST("$.reason")}, '')`)}`,
      `UPDATE webhook_events SET data = json_set(data, '$.decision_reason', ${REDACTED}) ` +
        `WHERE profile IN (${ERASED}) AND json_valid(data) ` +
        `AND ${BY_REVIEWER("json_extract(data, '$.decided_by')")} ` +
        `AND coalesce(json_extract(data, '$.decision_reason'), '') NOT IN ('', ${REDACTED})`,
      // The document's expiry date, which the erasure empties since 822e5cb: on the profile (it
      // drove notices and a document_expired move for an erased profile) and in its notices.
      "UPDATE profiles SET document_expires_on = '', expiry_notices = NULL WHERE erased_at != '' " +
        "AND (document_expires_on != '' OR expiry_notices IS NOT NULL)",
      `UPDATE webhook_events SET dedupe_key = '', data = json_set(data, '$.document_expires_on', ` +
        `${REDACTED}, '$.days_left', json('null')) WHERE profile IN (${ERASED}) AND json_valid(data) ` +
        `AND type = 'profile.document_expiring' AND json_extract(data, '$.document_expires_on') IS NOT ${REDACTED}`,
    ];
    for (const statement of statements) {
      app.db().newQuery(statement).execute();
    }
  },
  (app) => {},
);
