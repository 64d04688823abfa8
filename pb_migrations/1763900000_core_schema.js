/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Core schema of the eKYC gateway: partners, API keys, profiles, their append-only status history,
// reviewer notes, the audit log, idempotency records and metered usage. Every collection is
// superuser-only (null rules): the gateway and the worker speak to PocketBase as a superuser, and
// reviewers use the admin UI as superusers. Invariants (transitions, append-only) live in pb_hooks.

const PROFILE_STATUSES = [
  "unverified",
  "in_progress",
  "submitted",
  "processing",
  "approved",
  "manual_review",
  "rejected",
  "resubmission_requested",
  "expired",
  "document_expired",
];

const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];
const TEN_MB = 10 * 1024 * 1024;

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
    const partners = new Collection(
      superuserOnly({
        name: "partners",
        fields: [
          { name: "name", type: "text", required: true, max: 200, presentable: true },
          { name: "slug", type: "text", required: true, max: 100, pattern: "^[a-z0-9][a-z0-9-]*$" },
          { name: "status", type: "select", required: true, maxSelect: 1, values: ["active", "suspended"] },
          { name: "settings", type: "json", maxSize: 65536 },
          { name: "review_email", type: "email" },
          ...timestamps(),
        ],
        indexes: ["CREATE UNIQUE INDEX idx_partners_slug ON partners (slug)"],
      }),
    );
    app.save(partners);

    const apiKeys = new Collection(
      superuserOnly({
        name: "api_keys",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: false },
          { name: "key_id", type: "text", required: true, min: 8, max: 64, presentable: true },
          // SHA-256 of the secret part of the key, hex. Never the secret itself.
          { name: "secret_sha256", type: "text", required: true, min: 64, max: 64, hidden: true },
          { name: "scopes", type: "select", required: true, maxSelect: 3, values: ["partner", "reviewer", "admin"] },
          { name: "label", type: "text", max: 200 },
          { name: "last_used", type: "date" },
          { name: "revoked", type: "date" },
          ...timestamps(),
        ],
        indexes: ["CREATE UNIQUE INDEX idx_api_keys_key_id ON api_keys (key_id)"],
      }),
    );
    app.save(apiKeys);

    const profiles = new Collection(
      superuserOnly({
        name: "profiles",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: false },
          { name: "external_ref", type: "text", max: 200, presentable: true },
          { name: "status", type: "select", required: true, maxSelect: 1, values: PROFILE_STATUSES },
          // Who made the last status change and why: read by the hook that writes status_history.
          // A reviewer editing the status in the admin UI may type the reason here.
          { name: "status_actor", type: "text", max: 120 },
          { name: "status_reason", type: "text", max: 1000 },
          { name: "first_name", type: "text", max: 200 },
          { name: "last_name", type: "text", max: 200 },
          { name: "date_of_birth", type: "text", max: 10, pattern: "^(\\d{4}-\\d{2}-\\d{2})?$" },
          { name: "email", type: "text", max: 320 },
          { name: "phone", type: "text", max: 32 },
          { name: "country", type: "text", max: 3 },
          { name: "document_type", type: "text", max: 40 },
          { name: "document_country", type: "text", max: 3 },
          // AES-GCM ciphertext of the document number, and a keyed blind index for uniqueness.
          { name: "document_number_enc", type: "text", max: 512, hidden: true },
          { name: "document_index", type: "text", max: 64 },
          { name: "return_url", type: "url" },
          { name: "metadata", type: "json", maxSize: 16384 },
          { name: "link_nonce", type: "text", max: 64, hidden: true },
          { name: "link_expires_at", type: "date" },
          { name: "consent_at", type: "date" },
          { name: "liveness_challenge", type: "json", maxSize: 16384 },
          { name: "capture", type: "json", maxSize: 65536 },
          { name: "decision", type: "text", max: 40 },
          { name: "score", type: "number", min: 0, max: 100 },
          { name: "reasons", type: "json", maxSize: 65536 },
          { name: "scores", type: "json", maxSize: 1048576 },
          { name: "processing_attempts", type: "number", min: 0, onlyInt: true },
          { name: "lease_until", type: "date" },
          { name: "document_expires_on", type: "text", max: 10 },
          { name: "retention_until", type: "date" },
          { name: "document_front", type: "file", maxSelect: 1, maxSize: TEN_MB, mimeTypes: IMAGE_TYPES, protected: true, thumbs: ["240x0"] },
          { name: "document_back", type: "file", maxSelect: 1, maxSize: TEN_MB, mimeTypes: IMAGE_TYPES, protected: true, thumbs: ["240x0"] },
          { name: "selfie", type: "file", maxSelect: 1, maxSize: TEN_MB, mimeTypes: IMAGE_TYPES, protected: true, thumbs: ["240x0"] },
          { name: "selfie_frames", type: "file", maxSelect: 40, maxSize: TEN_MB, mimeTypes: IMAGE_TYPES, protected: true, thumbs: ["120x0"] },
          { name: "other_documents", type: "file", maxSelect: 20, maxSize: TEN_MB, mimeTypes: IMAGE_TYPES.concat(["application/pdf"]), protected: true },
          ...timestamps(),
        ],
        indexes: [
          "CREATE UNIQUE INDEX idx_profiles_partner_ref ON profiles (partner, external_ref) WHERE external_ref != ''",
          "CREATE UNIQUE INDEX idx_profiles_partner_document ON profiles (partner, document_country, document_index) WHERE document_index != ''",
          "CREATE INDEX idx_profiles_partner_status ON profiles (partner, status, created)",
          "CREATE INDEX idx_profiles_status_lease ON profiles (status, lease_until)",
        ],
      }),
    );
    app.save(profiles);

    const history = new Collection(
      superuserOnly({
        name: "status_history",
        fields: [
          { name: "profile", type: "relation", required: true, maxSelect: 1, collectionId: profiles.id, cascadeDelete: false },
          { name: "from_status", type: "text", max: 40 },
          { name: "to_status", type: "text", required: true, max: 40, presentable: true },
          { name: "actor", type: "text", required: true, max: 120 },
          { name: "reason", type: "text", max: 1000 },
          ...timestamps(),
        ],
        indexes: ["CREATE INDEX idx_status_history_profile ON status_history (profile, created)"],
      }),
    );
    app.save(history);

    const notes = new Collection(
      superuserOnly({
        name: "notes",
        fields: [
          { name: "profile", type: "relation", required: true, maxSelect: 1, collectionId: profiles.id, cascadeDelete: false },
          { name: "author", type: "text", required: true, max: 120 },
          { name: "body", type: "text", required: true, max: 10000, presentable: true },
          ...timestamps(),
        ],
        indexes: ["CREATE INDEX idx_notes_profile ON notes (profile, created)"],
      }),
    );
    app.save(notes);

    const audit = new Collection(
      superuserOnly({
        name: "audit_log",
        fields: [
          { name: "actor", type: "text", required: true, max: 120 },
          { name: "action", type: "text", required: true, max: 80, presentable: true },
          { name: "target", type: "text", max: 120 },
          // No PII here: ids, codes and counts only.
          { name: "detail", type: "json", maxSize: 16384 },
          ...timestamps(),
        ],
        indexes: ["CREATE INDEX idx_audit_log_created ON audit_log (created)"],
      }),
    );
    app.save(audit);

    const idempotency = new Collection(
      superuserOnly({
        name: "idempotency_keys",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: true },
          { name: "key", type: "text", required: true, max: 255 },
          { name: "request_sha256", type: "text", required: true, max: 64 },
          { name: "profile", type: "text", max: 15 },
          { name: "expires_at", type: "date", required: true },
          ...timestamps(),
        ],
        indexes: ["CREATE UNIQUE INDEX idx_idempotency_partner_key ON idempotency_keys (partner, key)"],
      }),
    );
    app.save(idempotency);

    const usage = new Collection(
      superuserOnly({
        name: "usage_events",
        fields: [
          { name: "partner", type: "relation", required: true, maxSelect: 1, collectionId: partners.id, cascadeDelete: false },
          { name: "module", type: "text", required: true, max: 60, presentable: true },
          { name: "billed", type: "bool" },
          { name: "profile", type: "text", max: 15 },
          { name: "outcome", type: "text", max: 60 },
          { name: "processing_ms", type: "number", min: 0 },
          ...timestamps(),
        ],
        indexes: ["CREATE INDEX idx_usage_partner_created ON usage_events (partner, created)"],
      }),
    );
    app.save(usage);
  },
  (app) => {
    for (const name of [
      "usage_events",
      "idempotency_keys",
      "audit_log",
      "notes",
      "status_history",
      "profiles",
      "api_keys",
      "partners",
    ]) {
      app.delete(app.findCollectionByNameOrId(name));
    }
  },
);
