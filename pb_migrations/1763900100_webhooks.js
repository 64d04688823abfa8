/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Partner integration: webhook endpoints, the event outbox and one delivery row per (event,
// endpoint). Events are written by pb_hooks/events.pb.js in the same transaction as the status
// change that causes them (or by the gateway for events with no status change), so an event is
// never lost between a commit and a crashed process; the worker fans them out to deliveries.
// All superuser-only, like the core schema.

function timestamps() {
  return [
    { name: "created", type: "autodate", onCreate: true, onUpdate: false },
    { name: "updated", type: "autodate", onCreate: true, onUpdate: true },
  ];
}

function superuserOnly(definition) {
  return Object.assign(
    { type: "base", listRule: null, viewRule: null, createRule: null, updateRule: null, deleteRule: null },
    definition,
  );
}

migrate(
  (app) => {
    const partners = app.findCollectionByNameOrId("partners");

    const endpoints = new Collection(
      superuserOnly({
        name: "webhook_endpoints",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: true },
          { name: "url", type: "text", required: true, max: 2000, presentable: true },
          { name: "description", type: "text", max: 200 },
          // Event names the endpoint receives, or ["*"].
          { name: "events", type: "json", maxSize: 4096 },
          { name: "enabled", type: "bool" },
          { name: "disabled_reason", type: "text", max: 300 },
          // AES-GCM ciphertext (the gateway's data key) of the JSON list of signing secrets.
          { name: "signing_secrets", type: "text", max: 4000, hidden: true },
          // Set on the first failed attempt after a success; 24 h of failures disables the endpoint.
          { name: "failing_since", type: "date" },
          { name: "last_success_at", type: "date" },
          ...timestamps(),
        ],
        indexes: ["CREATE INDEX idx_webhook_endpoints_partner ON webhook_endpoints (partner, enabled)"],
      }),
    );
    app.save(endpoints);

    const events = new Collection(
      superuserOnly({
        name: "webhook_events",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: true },
          { name: "type", type: "text", required: true, max: 80, presentable: true },
          // A profile id as text, not a relation: an erased profile's events must outlive it.
          { name: "profile", type: "text", max: 15 },
          // Thin payload: ids, status, decision, score, reasons. No images, no document numbers.
          { name: "data", type: "json", maxSize: 65536 },
          // Events that must be emitted once (document expiry notices) carry a unique key.
          { name: "dedupe_key", type: "text", max: 200 },
          // Empty until the worker has created the deliveries of this event.
          { name: "dispatched_at", type: "date" },
          ...timestamps(),
        ],
        indexes: [
          "CREATE INDEX idx_webhook_events_pending ON webhook_events (dispatched_at, created)",
          "CREATE INDEX idx_webhook_events_profile ON webhook_events (profile, created)",
          "CREATE UNIQUE INDEX idx_webhook_events_dedupe ON webhook_events (dedupe_key) WHERE dedupe_key != ''",
        ],
      }),
    );
    app.save(events);

    const deliveries = new Collection(
      superuserOnly({
        name: "webhook_deliveries",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: true },
          { name: "endpoint", type: "relation", required: true, maxSelect: 1, collectionId: endpoints.id, cascadeDelete: true },
          { name: "event", type: "relation", required: true, maxSelect: 1, collectionId: events.id, cascadeDelete: true },
          { name: "event_type", type: "text", required: true, max: 80, presentable: true },
          // The webhook-id header: the same on every retry and replay of this delivery.
          { name: "message_id", type: "text", required: true, max: 64 },
          { name: "status", type: "select", required: true, maxSelect: 1, values: ["pending", "succeeded", "failed"] },
          { name: "attempts", type: "number", min: 0, onlyInt: true },
          // Position in the backoff schedule; a replay starts it again.
          { name: "retry_step", type: "number", min: 0, onlyInt: true },
          { name: "next_attempt_at", type: "date" },
          { name: "lease_until", type: "date" },
          { name: "last_status_code", type: "number", min: 0, onlyInt: true },
          { name: "last_latency_ms", type: "number", min: 0 },
          { name: "last_response", type: "text", max: 2000 },
          { name: "last_error", type: "text", max: 500 },
          // Every attempt: [{at, status_code, latency_ms, response, error, next_attempt_at}].
          { name: "attempt_log", type: "json", maxSize: 262144 },
          { name: "delivered_at", type: "date" },
          ...timestamps(),
        ],
        indexes: [
          "CREATE UNIQUE INDEX idx_webhook_deliveries_event_endpoint ON webhook_deliveries (event, endpoint)",
          "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
          "CREATE INDEX idx_webhook_deliveries_partner ON webhook_deliveries (partner, created)",
        ],
      }),
    );
    app.save(deliveries);

    // Review workflow: what a reviewer sees first in the admin UI. Relations to a profile show its
    // reference and status; the profile's decision, score and reasons sit right after its status,
    // the captures right after them, applicant data and plumbing below.
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.getByName("status").presentable = true;
    const reviewOrder = [
      "external_ref",
      "partner",
      "status",
      "decision",
      "score",
      "reasons",
      "document_front",
      "document_back",
      "selfie",
      "selfie_frames",
      "other_documents",
      "scores",
      "status_reason",
    ];
    reviewOrder.forEach((name, position) => {
      const field = profiles.fields.getByName(name);
      profiles.fields.removeByName(name);
      profiles.fields.addAt(position + 1, field); // position 0 is the id
    });
    // Expiry notices already sent for the current document, e.g. [90, 30].
    profiles.fields.add(new JSONField({ name: "expiry_notices", maxSize: 1024 }));
    app.save(profiles);

    // The review queue: profiles waiting for a reviewer, oldest first, with why they are there.
    const queue = new Collection({
      type: "view",
      name: "review_queue",
      listRule: null,
      viewRule: null,
      viewQuery:
        "SELECT p.id, p.external_ref, p.partner, p.status, p.score, p.decision, p.reasons, " +
        "p.updated AS waiting_since FROM profiles p WHERE p.status = 'manual_review' ORDER BY p.updated",
    });
    app.save(queue);

    // A profile's timeline (status changes and notes) in one list for the reviewer.
    const timeline = new Collection({
      type: "view",
      name: "profile_timeline",
      listRule: null,
      viewRule: null,
      viewQuery:
        "SELECT t.id, t.profile, t.kind, t.summary, t.actor, t.detail, t.created FROM (" +
        "SELECT h.id AS id, h.profile AS profile, 'status' AS kind, " +
        "(h.from_status || ' -> ' || h.to_status) AS summary, h.actor AS actor, h.reason AS detail, " +
        "h.created AS created FROM status_history h UNION ALL " +
        "SELECT n.id, n.profile, 'note', 'note', n.author, n.body, n.created FROM notes n) t",
    });
    app.save(timeline);
  },
  (app) => {
    for (const name of ["profile_timeline", "review_queue", "webhook_deliveries", "webhook_events", "webhook_endpoints"]) {
      app.delete(app.findCollectionByNameOrId(name));
    }
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.removeByName("expiry_notices");
    profiles.fields.getByName("status").presentable = false;
    app.save(profiles);
  },
);
