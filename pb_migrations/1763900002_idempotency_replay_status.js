/// <reference path="../.ekyc/pb_data/types.d.ts" />
// An Idempotency-Key replay must answer what the first request answered: 201 if that request
// created the profile, 200 if it reused an existing one. Remember which, next to the key.

migrate(
  (app) => {
    const idempotency = app.findCollectionByNameOrId("idempotency_keys");
    idempotency.fields.add(new BoolField({ name: "created_profile" }));
    app.save(idempotency);
  },
  (app) => {
    const idempotency = app.findCollectionByNameOrId("idempotency_keys");
    idempotency.fields.removeByName("created_profile");
    app.save(idempotency);
  },
);
