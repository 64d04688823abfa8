/// <reference path="../.ekyc/pb_data/types.d.ts" />
// What partners poll, kept on the profile itself so a poll is one indexed read (issue 18):
//  - change_seq: the profile's place in the changes feed. Every creation, status change or
//    decision change takes the next number of one counter (ekyc_sequences) inside the write
//    transaction that saves it (pb_hooks/lib/history.js). SQLite has one writer at a time and the
//    counter row is written first, so numbers are handed out in commit order: whenever a number
//    is visible, every smaller one has committed already. That is what lets the feed's cursor be
//    "the last number you saw" without ever skipping a change that committed late.
//  - last_change: a copy of the status_history row that change appended ({from_status, to_status,
//    actor, reason, created}), so GET /api/profiles/{id} needs no second query.
//  - version: bumped by every update of any field, for ETags.
// Indexes serve each list in the order it returns: the feed by (partner, change_seq), the partner's
// list newest first by (partner[, status], created, id) so a keyset page reads only its rows.
const INDEXES = [
  "CREATE INDEX idx_profiles_partner_change ON profiles (partner, change_seq)",
  "CREATE INDEX idx_profiles_partner_created ON profiles (partner, created, id)",
  "CREATE INDEX idx_profiles_partner_status_created ON profiles (partner, status, created, id)",
];
const OLD_INDEX = "CREATE INDEX idx_profiles_partner_status ON profiles (partner, status, created)";

migrate(
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.add(new NumberField({ name: "change_seq", min: 0, onlyInt: true }));
    profiles.fields.add(new JSONField({ name: "last_change", maxSize: 4096 }));
    profiles.fields.add(new NumberField({ name: "version", min: 0, onlyInt: true }));
    profiles.indexes = profiles.indexes.filter((index) => index !== OLD_INDEX).concat(INDEXES);
    app.save(profiles);
    app.db().newQuery(
      "CREATE TABLE IF NOT EXISTS ekyc_sequences (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL)",
    ).execute();
    // Profiles made before this migration: numbered in creation order, their last change copied
    // from their history, and the counter started after them.
    app.db().newQuery("UPDATE profiles SET change_seq = rowid").execute();
    app.db().newQuery(
      `UPDATE profiles SET last_change = (
         SELECT json_object('from_status', h.from_status, 'to_status', h.to_status, 'actor', h.actor,
                            'reason', h.reason, 'created', h.created)
         FROM status_history h WHERE h.profile = profiles.id ORDER BY h.rowid DESC LIMIT 1)`,
    ).execute();
    app.db().newQuery(
      "INSERT INTO ekyc_sequences (name, value) SELECT 'profile_changes', COALESCE(MAX(change_seq), 0) FROM profiles",
    ).execute();
  },
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    for (const name of ["change_seq", "last_change", "version"]) {
      profiles.fields.removeByName(name);
    }
    profiles.indexes = profiles.indexes.filter((index) => INDEXES.indexOf(index) === -1).concat([OLD_INDEX]);
    app.save(profiles);
    app.db().newQuery("DROP TABLE IF EXISTS ekyc_sequences").execute();
  },
);
