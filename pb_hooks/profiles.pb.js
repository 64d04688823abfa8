/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Data-layer invariants of profiles. These run for every write, whether it comes from the gateway,
// the worker or a reviewer in the admin UI, so no path can skip them:
//  - a profile is born `unverified`, and every status change must be in the transition table;
//  - every status change (and the creation) appends exactly one status_history row, in the same
//    transaction as the change itself.
// Handlers run in isolated contexts: shared code is require()d inside each one.

onRecordCreate((e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  const status = e.record.getString("status");
  if (status !== machine.INITIAL) {
    throw new BadRequestError(`A profile starts as ${machine.INITIAL}, not ${status}.`, {
      status: new ValidationError("invalid_initial_status", `must be ${machine.INITIAL}`),
    });
  }
  e.app.runInTransaction((txApp) => {
    e.app = txApp;
    const history = require(`${__hooks}/lib/history.js`);
    const change = history.stampChange(txApp, e.record, "");
    e.next();
    history.appendHistory(txApp, e.record, change);
  });
}, "profiles");

onRecordUpdate((e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  const original = e.record.original();
  const fromStatus = original.getString("status");
  const toStatus = e.record.getString("status");
  e.record.set("version", original.getInt("version") + 1); // every update, for ETags
  const erasure = require(`${__hooks}/lib/erasure.js`);
  erasure.refuseRefill(original, e.record);
  erasure.redactAfterErasure(original, e.record);
  if (fromStatus === toStatus) {
    if (e.record.getString("decision") === original.getString("decision")) {
      e.next();
      return;
    }
    e.app.runInTransaction((txApp) => { // a decision changed alone: it still moves in the feed
      e.app = txApp;
      require(`${__hooks}/lib/history.js`).stampChange(txApp, e.record, null);
      e.next();
    });
    return;
  }
  if (!machine.isAllowed(fromStatus, toStatus)) {
    const allowed = machine.allowedFrom(fromStatus);
    throw new BadRequestError(
      `Illegal status change ${fromStatus} -> ${toStatus}; allowed: ${allowed.join(", ") || "none"}.`,
      { status: new ValidationError("illegal_transition", `allowed from ${fromStatus}: ${allowed.join(", ")}`) },
    );
  }
  // A reviewer's decision (through the gateway or the admin UI) becomes the profile's decision,
  // with its maker and reason; reopening one for resubmission is a decision too, or the partner
  // would still read the "approved" it replaced. The worker writes its own, its scored decision
  // also kept in automated_decision; the system's moves (a verification that kept timing out,
  // sent to manual review) are not decisions and leave `decision` as it was.
  const DECIDED = ["approved", "rejected", "manual_review", "resubmission_requested"];
  const actor = e.record.getString("status_actor");
  if (DECIDED.indexOf(toStatus) !== -1 && actor.indexOf("reviewer:") === 0) {
    e.record.set("decision", toStatus);
    e.record.set("decided_by", actor || "system");
    e.record.set("decision_reason", e.record.getString("status_reason"));
  }
  e.app.runInTransaction((txApp) => {
    e.app = txApp;
    const history = require(`${__hooks}/lib/history.js`);
    const change = history.stampChange(txApp, e.record, fromStatus);
    e.next();
    history.appendHistory(txApp, e.record, change);
  });
}, "profiles");

// A profile created on the records API (the admin UI; the gateway creates through the upsert
// route, the KYC Service intake with applicant fields only) starts undecided: a decision, score,
// reasons or scores typed at creation reached the partner with profile.created as if decided.
// A person creating one there does not preset what the platform writes either (lib/owned_fields.js
// PLATFORM_WRITTEN), is named in its first history row (`reviewer:<superuser id>`, as for a
// status change there), and the creation is audited like an edit (see below).
onRecordCreateRequest((e) => {
  const fields = require(`${__hooks}/lib/owned_fields.js`);
  const platform = require(`${__hooks}/lib/platform_writer.js`).isPlatformWrite(e);
  const preset = fields.presetOwnedFields(e.record).concat(platform ? [] : fields.presetPlatformFields(e.record));
  if (preset.length) {
    const errors = {};
    for (const name of preset) {
      errors[name] = new ValidationError("system_field", "written by the platform only");
    }
    throw new BadRequestError(`${preset.join(", ")}: written by the platform only, not through the records API.`, errors);
  }
  if (platform) {
    e.next();
    return;
  }
  e.record.set("status_actor", `reviewer:${e.auth.id}`); // the creation's history row is theirs
  require(`${__hooks}/lib/audit.js`).auditedSave(e, "profile.created_in_admin_ui", null);
}, "profiles");

// A reviewer who changes the status in the admin UI (the records API) is named in the history.
// The gateway and the worker change status only through /api/ekyc/profiles/{id}/transition, so
// a status change here is a reviewer's, and it is held to the reviewer's moves
// (lib/transitions.js REVIEWER_MOVES, those of the gateway's reviewer route): a superuser could
// otherwise walk a profile that was never captured unverified -> ... -> approved, with its
// approved webhook. Approving or rejecting takes a reason, as it does through the gateway.
// status_reason still holds the reason of the previous change; unless the reviewer typed a new
// one, clear it so the history row does not credit the reviewer with someone else's reason.
// The fields the gateway and the worker write on the records API too are refused there unless the
// request is the platform's (lib/platform_writer.js), and every edit a person makes is audited:
// one audit_log row naming the superuser, the profile and the fields changed (names only, no
// values), in the transaction of the edit.
onRecordUpdateRequest((e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  const original = e.record.original();
  const fields = require(`${__hooks}/lib/owned_fields.js`);
  const platform = require(`${__hooks}/lib/platform_writer.js`).isPlatformWrite(e);
  const owned = fields.changedOwnedFields(original, e.record).concat(platform ? [] : fields.changedPlatformFields(original, e.record));
  if (owned.length) { // the platform's own fields (lib/owned_fields.js says which and why)
    const errors = {};
    for (const name of owned) {
      errors[name] = new ValidationError("system_field", "written by the platform only");
    }
    throw new BadRequestError(`${owned.join(", ")}: written by the platform only, not through the records API.`, errors);
  }
  const fromStatus = original.getString("status");
  const toStatus = e.record.getString("status");
  if (toStatus !== fromStatus && e.auth) {
    const allowed = machine.reviewerMovesFrom(fromStatus);
    if (allowed.indexOf(toStatus) === -1) {
      throw new BadRequestError(
        `A reviewer cannot move a profile from ${fromStatus} to ${toStatus}; allowed: ${allowed.join(", ") || "none"}.`,
        { status: new ValidationError("illegal_transition", `reviewer moves from ${fromStatus}: ${allowed.join(", ")}`) },
      );
    }
    e.record.set("status_actor", `reviewer:${e.auth.id}`);
    if (e.record.getString("status_reason") === original.getString("status_reason")) {
      e.record.set("status_reason", "");
    }
    if (machine.REASON_REQUIRED.indexOf(toStatus) !== -1 && !e.record.getString("status_reason").trim()) {
      throw new BadRequestError(`A reason (status_reason) is required to set ${toStatus}.`, {
        status_reason: new ValidationError("reason_required", `required to set ${toStatus}`),
      });
    }
  }
  // The hosted flow writes a capture only while the profile is still open (?expected_status=
  // in_progress): the gateway checked the link seconds earlier, before it cleaned and judged the
  // image, and another tab may have submitted since, so the status is read again in the
  // transaction of the save. A capture that lost that race would replace the evidence the
  // applicant submitted, under a verification already queued.
  // With ?expected_version= too, the save also needs the profile unwritten since the gateway
  // read it: a step's capture json made from an older read would drop another tab's step.
  const query = e.requestInfo().query;
  const expected = platform ? String(query["expected_status"] || "") : "";
  if (expected) {
    const version = String(query["expected_version"] || "");
    e.app.runInTransaction((txApp) => {
      const stored = txApp.findRecordById("profiles", e.record.id);
      const current = stored.getString("status");
      const stale = version !== "" && String(stored.getInt("version")) !== version;
      if (current !== expected || stale) {
        throw new BadRequestError(`The profile is now ${current} (version ${stored.getInt("version")}): nothing was written.`, {
          status: new ValidationError("unexpected_status", `the profile is now ${current}`),
        });
      }
      e.app = txApp;
      e.next();
    });
    return;
  }
  if (platform) {
    e.next();
    return;
  }
  require(`${__hooks}/lib/audit.js`).auditedSave(e, "profile.edited_in_admin_ui", original);
}, "profiles");

// A profile is never deleted (its status_history rows refer to it, so PocketBase would refuse
// anyway, with a message about relation references that sent reviewers after the history): its
// personal data is erased instead, and the history, decision and reasons stay.
onRecordDeleteRequest((e) => {
  throw new BadRequestError(
    "A profile is not deleted: erase its personal data (DELETE /api/profiles/{id} with the partner's key, or at the end of its retention period); its history stays.",
  );
}, "profiles");

// History and audit rows come only from the data layer's own code: lib/history.js inside the
// transaction of a status change, and POST /api/ekyc/audit (lib/audit.js) for the gateway's audit
// entries, both as plain INSERTs that fire no record hook. A record created any other way, by
// anyone, superusers included (records API, admin UI, a JSVM save), is refused: a forged history
// row contradicted the profile's status and was announced to the partner as a signed webhook.
onRecordCreate((e) => {
  throw new BadRequestError(
    `${e.record.collection().name} rows are written by the data layer only, never created directly.`,
  );
}, "status_history", "audit_log");

// Append-only collections: nobody, superusers included, may rewrite or remove the record of what
// happened. (SQLite triggers added by the migrations guard the same rows against raw SQL.)
onRecordUpdate((e) => {
  throw new BadRequestError(`${e.record.collection().name} is append-only: records cannot be changed.`);
}, "status_history", "audit_log");

onRecordDelete((e) => {
  throw new BadRequestError(`${e.record.collection().name} is append-only: records cannot be deleted.`);
}, "status_history", "audit_log");
