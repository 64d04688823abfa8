/// <reference path="../.ekyc/pb_data/types.d.ts" />
// When a profile's personal data was erased at the partner's request. The record itself stays (its
// status_history is append-only and keeps no personal data), emptied of everything personal.
migrate(
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.add(new DateField({ name: "erased_at" }));
    app.save(profiles);
  },
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.removeByName("erased_at");
    app.save(profiles);
  },
);
