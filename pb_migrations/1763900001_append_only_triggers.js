/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Defence in depth for the append-only collections: the pb_hooks refuse updates and deletes made
// through any PocketBase API (superusers included); these triggers refuse them in raw SQL too.
const GUARDED = ["status_history", "audit_log"];

migrate(
  (app) => {
    for (const table of GUARDED) {
      app.db().newQuery(
        `CREATE TRIGGER IF NOT EXISTS ${table}_no_update BEFORE UPDATE ON ${table} ` +
          `BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`,
      ).execute();
      app.db().newQuery(
        `CREATE TRIGGER IF NOT EXISTS ${table}_no_delete BEFORE DELETE ON ${table} ` +
          `BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`,
      ).execute();
    }
  },
  (app) => {
    for (const table of GUARDED) {
      app.db().newQuery(`DROP TRIGGER IF EXISTS ${table}_no_update`).execute();
      app.db().newQuery(`DROP TRIGGER IF EXISTS ${table}_no_delete`).execute();
    }
  },
);
