/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The one change status_history allows: an erasure redacting a reviewer's typed reason.
// A reason a person typed (actor `reviewer:<id>`) may name the applicant, so erasing the
// applicant's personal data must reach it too (pb_hooks/lib/erasure.js); every history row stays,
// with its statuses, actor and times, and a reason that was given reads "[erased]".
// The append-only guard becomes narrow rather than absent: an UPDATE passes this trigger only if
// it changes nothing but `reason`, of a row whose actor is a reviewer and whose reason was not
// empty, to exactly "[erased]" (lib/erasure.js REDACTED), on a profile whose erased_at is set.
// Anything else, from raw SQL included, is refused as before. The records API and the admin UI
// are refused before SQL by the hooks in profiles.pb.js, whatever they send; the raw UPDATE of
// POST /api/ekyc/profiles/{id}/erase (routes.pb.js) is the only writer. audit_log keeps its
// original trigger: it holds no free text.
const ORIGINAL =
  "CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history " +
  "BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;";

const NARROW =
  "CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history " +
  "WHEN NOT (" +
  "NEW.id IS OLD.id AND NEW.profile IS OLD.profile AND NEW.from_status IS OLD.from_status " +
  "AND NEW.to_status IS OLD.to_status AND NEW.actor IS OLD.actor " +
  "AND NEW.created IS OLD.created AND NEW.updated IS OLD.updated " +
  "AND substr(OLD.actor, 1, 9) = 'reviewer:' AND OLD.reason != '' AND NEW.reason = '[erased]' " +
  "AND EXISTS (SELECT 1 FROM profiles WHERE profiles.id = OLD.profile AND profiles.erased_at != '')" +
  ") BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;";

migrate(
  (app) => {
    app.db().newQuery("DROP TRIGGER IF EXISTS status_history_no_update").execute();
    app.db().newQuery(NARROW).execute();
  },
  (app) => {
    app.db().newQuery("DROP TRIGGER IF EXISTS status_history_no_update").execute();
    app.db().newQuery(ORIGINAL).execute();
  },
);
