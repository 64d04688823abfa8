/// <reference path="../.ekyc/pb_data/types.d.ts" />
// A second change status_history allows, as narrow as the first (1764730000): an erasure
// redacting the document's expiry date the expiry job wrote into a reason before 67fb1d5. Until
// then the job moved an approved profile to document_expired with the reason "identity document
// expired on <YYYY-MM-DD>" (actor `system`), and that date, read from the identity document, is
// personal data the erasure removes (lib/erasure.js); since 67fb1d5 the job writes no date.
// The trigger now lets an UPDATE through only if it changes nothing but `reason`, to exactly
// "[erased]" (lib/erasure.js REDACTED), on a profile whose erased_at is set, of a row that is
// either a reviewer's with a non-empty reason (1764730000) or the system's approved →
// document_expired move whose reason is that dated sentence, to the letter (GLOB, lib/erasure.js
// DATED_EXPIRY). Any other reason of the system or the worker, any other column, any row of a
// profile not erased, any DELETE: refused as before. The records API and the admin UI are refused
// before SQL by the hooks in profiles.pb.js; the erase route (routes.pb.js) is the only writer.
const BEFORE =
  "CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history " +
  "WHEN NOT (" +
  "NEW.id IS OLD.id AND NEW.profile IS OLD.profile AND NEW.from_status IS OLD.from_status " +
  "AND NEW.to_status IS OLD.to_status AND NEW.actor IS OLD.actor " +
  "AND NEW.created IS OLD.created AND NEW.updated IS OLD.updated " +
  "AND substr(OLD.actor, 1, 9) = 'reviewer:' AND OLD.reason != '' AND NEW.reason = '[erased]' " +
  "AND EXISTS (SELECT 1 FROM profiles WHERE profiles.id = OLD.profile AND profiles.erased_at != '')" +
  ") BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;";

const NARROW =
  "CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history " +
  "WHEN NOT (" +
  "NEW.id IS OLD.id AND NEW.profile IS OLD.profile AND NEW.from_status IS OLD.from_status " +
  "AND NEW.to_status IS OLD.to_status AND NEW.actor IS OLD.actor " +
  "AND NEW.created IS OLD.created AND NEW.updated IS OLD.updated " +
  "AND NEW.reason = '[erased]' " +
  "AND (" +
  "(substr(OLD.actor, 1, 9) = 'reviewer:' AND OLD.reason != '') " +
  "OR (OLD.actor = 'system' AND OLD.from_status = 'approved' AND OLD.to_status = 'document_expired' " +
  "AND OLD.reason GLOB 'identity document expired on [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')" +
  ") " +
  "AND EXISTS (SELECT 1 FROM profiles WHERE profiles.id = OLD.profile AND profiles.erased_at != '')" +
  ") BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;";

migrate(
  (app) => {
    app.db().newQuery("DROP TRIGGER IF EXISTS status_history_no_update").execute();
    app.db().newQuery(NARROW).execute();
  },
  (app) => {
    app.db().newQuery("DROP TRIGGER IF EXISTS status_history_no_update").execute();
    app.db().newQuery(BEFORE).execute();
  },
);
