/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Indexes for the worker's daily jobs, which would otherwise read every profile on each run:
//  - the expiry job pages through approved profiles whose document expires before a horizon
//    (the (status, lease_until) index made every page walk all approved profiles);
//  - the retention job looks for profiles whose retention date has passed.
const INDEXES = [
  "CREATE INDEX idx_profiles_status_expiry ON profiles (status, document_expires_on)",
  "CREATE INDEX idx_profiles_retention ON profiles (retention_until)",
];

migrate(
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.indexes = profiles.indexes.concat(INDEXES);
    app.save(profiles);
  },
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.indexes = profiles.indexes.filter((index) => INDEXES.indexOf(index) === -1);
    app.save(profiles);
  },
);
