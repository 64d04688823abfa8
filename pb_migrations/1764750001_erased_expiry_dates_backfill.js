/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The redaction of the expiry job's dated reason (lib/erasure.js DATED_EXPIRY) for the profiles
// erased before it existed. An erasure runs once (a second DELETE and the retention job skip an
// erased profile), so a profile the expiry job moved to document_expired with "identity document
// expired on <YYYY-MM-DD>" (before 67fb1d5) and that was erased before 1764750000 would otherwise
// keep its document's expiry date for good: here that reason reads "[erased]" as the erasure now
// leaves it, in the history row (the trigger of 1764750000 lets exactly this change through), the
// profile's status_reason and last_change. The expiry job's reason without a date, and every
// other reason of the worker and the system, stay. Idempotent: a second run finds nothing dated.
// Down does nothing: erased words are not brought back.
const REDACTED = "'[erased]'";
const DATED = "'identity document expired on [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'";
const LAST_REASON = "CASE WHEN json_valid(last_change) THEN json_extract(last_change, '$.reason') END";

migrate(
  (app) => {
    const statements = [
      `UPDATE status_history SET reason = ${REDACTED} ` +
        "WHERE profile IN (SELECT id FROM profiles WHERE erased_at != '') " +
        "AND actor = 'system' AND from_status = 'approved' AND to_status = 'document_expired' " +
        `AND reason GLOB ${DATED}`,
      `UPDATE profiles SET status_reason = ${REDACTED} WHERE erased_at != '' AND status_reason GLOB ${DATED}`,
      `UPDATE profiles SET last_change = json_set(last_change, '$.reason', ${REDACTED}) ` +
        `WHERE erased_at != '' AND coalesce(${LAST_REASON}, '') GLOB ${DATED}`,
    ];
    for (const statement of statements) {
      app.db().newQuery(statement).execute();
    }
  },
  (app) => {},
);
