/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The daily retention job looks for profiles whose retention date has passed; without an index
// on that date every run would read every profile.
const INDEX = "CREATE INDEX idx_profiles_retention ON profiles (retention_until)";

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
