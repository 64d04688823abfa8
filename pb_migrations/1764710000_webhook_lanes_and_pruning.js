/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Indexes for webhook delivery at scale (pb_hooks/webhook_work.pb.js) and for the daily pruning:
//  - (status, endpoint, next_attempt_at): the worker visits endpoints with pending deliveries one
//    index seek at a time and claims each one's oldest due deliveries, so a partner's backlog is
//    never read to reach another partner's events (the (status, next_attempt_at) index serves
//    only "oldest first across everyone");
//  - webhook_events (created) and idempotency_keys (expires_at): the daily job removes what is
//    past its keeping period without reading what is not.
const INDEXES = {
  webhook_deliveries: ["CREATE INDEX idx_webhook_deliveries_lanes ON webhook_deliveries (status, endpoint, next_attempt_at)"],
  webhook_events: ["CREATE INDEX idx_webhook_events_created ON webhook_events (created)"],
  idempotency_keys: ["CREATE INDEX idx_idempotency_expires ON idempotency_keys (expires_at)"],
};

migrate(
  (app) => {
    for (const name of Object.keys(INDEXES)) {
      const collection = app.findCollectionByNameOrId(name);
      collection.indexes = collection.indexes.concat(INDEXES[name]);
      app.save(collection);
    }
  },
  (app) => {
    for (const name of Object.keys(INDEXES)) {
      const collection = app.findCollectionByNameOrId(name);
      collection.indexes = collection.indexes.filter((index) => INDEXES[name].indexOf(index) === -1);
      app.save(collection);
    }
  },
);
