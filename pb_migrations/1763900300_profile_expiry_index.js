/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The daily expiry job pages through approved profiles whose document expires before a horizon.
// With only the (status, lease_until) index, every page walked all approved profiles; this index
// lets SQLite read just the ones inside the horizon.
const INDEX = "CREATE INDEX idx_profiles_status_expiry ON profiles (status, document_expires_on)";

migrate(
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.indexes.push(INDEX);
    app.save(profiles);
  },
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.indexes = profiles.indexes.filter((index) => index !== INDEX);
    app.save(profiles);
  },
);
