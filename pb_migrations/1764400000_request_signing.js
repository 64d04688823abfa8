/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Signed partner requests (X-API-KEY + X-API-TIMESTAMP + X-API-SIGN):
//  - api_keys.signing_secret_enc: each key's HMAC signing secret, AES-GCM under the gateway's data
//    key (the gateway must recompute signatures, so a hash would not do); shown once to the partner;
//  - request_signatures: the signatures seen in the last minutes, one row each, so a request
//    replayed inside the timestamp window is refused by every gateway process alike (the unique
//    index makes the check and the record one statement). Rows older than the window are pruned
//    by the route that writes them (pb_hooks/signatures.pb.js).
migrate(
  (app) => {
    const keys = app.findCollectionByNameOrId("api_keys");
    keys.fields.add(new TextField({ name: "signing_secret_enc", max: 512, hidden: true }));
    app.save(keys);

    const signatures = new Collection({
      type: "base",
      name: "request_signatures",
      listRule: null,
      viewRule: null,
      createRule: null,
      updateRule: null,
      deleteRule: null,
      fields: [
        { name: "key_id", type: "text", required: true, max: 64 },
        { name: "signature", type: "text", required: true, min: 64, max: 64 },
        { name: "created", type: "autodate", onCreate: true, onUpdate: false },
        { name: "updated", type: "autodate", onCreate: true, onUpdate: true },
      ],
      indexes: [
        "CREATE UNIQUE INDEX idx_request_signatures_seen ON request_signatures (key_id, signature)",
        "CREATE INDEX idx_request_signatures_created ON request_signatures (created)",
      ],
    });
    app.save(signatures);
  },
  (app) => {
    app.delete(app.findCollectionByNameOrId("request_signatures"));
    const keys = app.findCollectionByNameOrId("api_keys");
    keys.fields.removeByName("signing_secret_enc");
    app.save(keys);
  },
);
