/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Superuser-only routes the gateway calls when an operation must be atomic or must look records up
// by user-supplied values. Every lookup binds its values as parameters ({:name}); no filter string
// is ever built from a partner's input, so quotes, backslashes, `||` or newlines are just data.

routerAdd("GET", "/api/ekyc/transitions", (e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  return e.json(200, { initial: machine.INITIAL, transitions: machine.TRANSITIONS, reviewer_moves: machine.REVIEWER_MOVES });
}, $apis.requireSuperuserAuth());

// Generic bound-parameter query: {collection, filter, params, sort, limit, offset}. With
// {where: {field: value, ..}} instead of a filter, an equality lookup bound in SQL (lib/bound.js):
// filter {:params} never match a value holding a rune Go deems unprintable (NBSP, U+200B, U+202E,
// most control characters), so lookups by a partner's free text (external_ref) use `where`.
routerAdd("POST", "/api/ekyc/find", (e) => {
  const body = e.requestInfo().body;
  const limit = Math.min(Math.max(parseInt(body.limit || 50, 10), 1), 1000);
  const offset = Math.max(parseInt(body.offset || 0, 10), 0);
  const view = require(`${__hooks}/lib/view.js`);
  if (!body.where) {
    const records = $app.findRecordsByFilter(
      String(body.collection),
      String(body.filter || "1=1"),
      String(body.sort || ""),
      limit,
      offset,
      body.params || {},
    );
    return e.json(200, { items: records.map((r) => view.exportRecord(r)) });
  }
  const fieldPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const where = {};
  for (const name of Object.keys(body.where)) {
    if (!fieldPattern.test(name)) {
      throw new BadRequestError(`invalid field name ${name}`);
    }
    where[name] = String(body.where[name]);
  }
  const bound = require(`${__hooks}/lib/bound.js`);
  let query = $app.recordQuery(String(body.collection)).andWhere(bound.equality(where)).limit(limit).offset(offset);
  const sort = String(body.sort || "");
  if (sort) {
    const column = sort.replace(/^[-+]/, "").replace(/^@/, "");
    if (!fieldPattern.test(column)) {
      throw new BadRequestError(`invalid sort ${sort}`);
    }
    query = query.orderBy(`${column} ${sort.startsWith("-") ? "DESC" : "ASC"}`);
  }
  const records = arrayOf(new Record());
  query.all(records);
  return e.json(200, { items: records.map((r) => view.exportRecord(r)) });
}, $apis.requireSuperuserAuth());

// Create a profile, or return the partner's existing one with the same external_ref or document,
// honouring an Idempotency-Key; all in one transaction so concurrent identical creates yield one.
// Lookups here are SQL-bound (lib/bound.js), not filter strings: PocketBase's filter {:params}
// never match a value holding a rune Go deems unprintable (NBSP, zero-width space, U+202E...), so
// a second create with such an external_ref missed the first profile and hit the unique index.
// The unique indexes make these lookups return at most one record.
routerAdd("POST", "/api/ekyc/profiles/upsert", (e) => {
  const body = e.requestInfo().body;
  const view = require(`${__hooks}/lib/view.js`);
  const bound = require(`${__hooks}/lib/bound.js`);
  const partner = String(body.partner || "");
  const fields = body.fields || {};
  const idem = body.idempotency || null;
  let result = null;

  $app.runInTransaction((txApp) => {
    if (idem) {
      const previous = txApp.findAllRecords(
        "idempotency_keys", $dbx.hashExp({ partner: partner, key: String(idem.key) }),
      );
      if (previous.length) {
        const record = previous[0];
        const expired = new Date(record.getDateTime("expires_at").string()) < new Date();
        if (!expired) {
          if (record.getString("request_sha256") !== String(idem.request_sha256)) {
            result = { status: 409, body: { code: "idempotency_conflict" } };
            return;
          }
          const profile = txApp.findRecordById("profiles", record.getString("profile"));
          result = {
            status: 200,
            body: { created: record.getBool("created_profile"), replayed: true, profile: view.exportRecord(profile) },
          };
          return;
        }
        txApp.delete(record);
      }
    }

    let existing = null;
    if (fields.external_ref) {
      const found = txApp.findAllRecords(
        "profiles", bound.equality({ partner: partner, external_ref: String(fields.external_ref) }),
      );
      existing = found.length ? found[0] : null;
    }
    if (!existing && fields.document_index) {
      const found = txApp.findAllRecords(
        "profiles",
        bound.equality({
          partner: partner,
          document_country: String(fields.document_country || ""),
          document_index: String(fields.document_index),
        }),
      );
      existing = found.length ? found[0] : null;
    }

    let created = false;
    if (!existing) {
      existing = new Record(txApp.findCollectionByNameOrId("profiles"));
      existing.set("partner", partner);
      for (const name of Object.keys(fields)) {
        existing.set(name, fields[name]);
      }
      existing.set("status", "unverified");
      txApp.save(existing);
      created = true;
    }

    if (idem) {
      const record = new Record(txApp.findCollectionByNameOrId("idempotency_keys"));
      record.set("partner", partner);
      record.set("key", String(idem.key));
      record.set("request_sha256", String(idem.request_sha256));
      record.set("profile", existing.id);
      record.set("created_profile", created);
      record.set("expires_at", String(idem.expires_at));
      txApp.save(record);
    }
    result = { status: 200, body: { created: created, replayed: false, profile: view.exportRecord(existing) } };
  });
  return e.json(result.status, result.body);
}, $apis.requireSuperuserAuth());

// Change a profile's status atomically: {to, expected_from?: [..], expected_version?, actor,
// reason, set?: {..}, increment?: [field..]}. The expected-from check and the save share one transaction, which is what
// makes a worker's claim (submitted -> processing) happen once even if a job is delivered twice.
routerAdd("POST", "/api/ekyc/profiles/{id}/transition", (e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  const view = require(`${__hooks}/lib/view.js`);
  const body = e.requestInfo().body;
  const to = String(body.to || "");
  const result = machine.onProfile(e.request.pathValue("id"), (txApp, profile) => {
    const current = profile.getString("status");
    const refused = machine.refusal(current, body.expected_from || null, to) ||
      require(`${__hooks}/lib/erasure.js`).reopenRefusal(profile, to);
    if (refused) return refused;
    // expected_version: the move was decided on the profile as read at that version (the
    // applicant's submit checks the captures it read); any write since refuses it.
    if (body.expected_version != null && profile.getInt("version") !== Number(body.expected_version)) {
      return { status: 409, body: { code: "stale_version", current: current, allowed: machine.allowedFrom(current) } };
    }
    machine.applyChange(profile, body, to);
    for (const name of body.increment || []) {
      profile.set(name, profile.getInt(name) + 1);
    }
    txApp.save(profile);
    return { status: 200, body: { profile: view.exportRecord(profile), from: current } };
  });
  return e.json(result.status, result.body);
}, $apis.requireSuperuserAuth());

// Erase a profile's personal data: {set: {..the wiped values, erased_at..}, expected_from: [..],
// to?: "expired", actor, reason}. One transaction: the wipe (and, with `to`, the end of an open
// capture and its history row), then the reviewers' typed reasons (and the expiry job's reason
// that quoted the document's expiry date) wherever they were copied (lib/erasure.js) and the
// profile's notes, so no reason or note that may name the applicant or quote that date survives
// a committed erasure, and its audit row (actor, `profile.erased`, the status). An
// erased profile is answered as it is (200, erased: false); a profile whose status is no longer
// in expected_from (a worker claimed it meanwhile) is a 409 like a transition's.
routerAdd("POST", "/api/ekyc/profiles/{id}/erase", (e) => {
  const machine = require(`${__hooks}/lib/transitions.js`);
  const view = require(`${__hooks}/lib/view.js`);
  const body = e.requestInfo().body;
  const to = String(body.to || "");
  const result = machine.onProfile(e.request.pathValue("id"), (txApp, profile) => {
    const erasure = require(`${__hooks}/lib/erasure.js`);
    if (profile.getString("erased_at")) {
      return { status: 200, body: { profile: view.exportRecord(profile), erased: false } };
    }
    const refused = machine.refusal(profile.getString("status"), body.expected_from || [], to || null);
    if (refused) return refused;
    erasure.redactProfile(profile);
    machine.applyChange(profile, body, to);
    if (!profile.getString("erased_at")) {
      throw new BadRequestError("An erasure sets erased_at.");
    }
    const rowsToRedact = erasure.historyRowsToRedact(txApp, profile.id);
    txApp.save(profile);
    erasure.redactCopies(txApp, profile.id, rowsToRedact);
    for (const note of txApp.findAllRecords("notes", $dbx.hashExp({ profile: profile.id }))) {
      txApp.delete(note); // reviewers' notes are personal data too: gone with the wipe or not at all
    }
    // Its audit row too: appended after the commit, a failure there (503, "retry") and the retry,
    // which finds the profile erased, left an erasure nobody audited.
    const audited = require(`${__hooks}/lib/audit.js`).auditRow({
      actor: String(body.actor || "system"), action: "profile.erased", target: profile.id,
      detail: { status: profile.getString("status") },
    });
    if (audited.error) throw new BadRequestError(audited.error);
    require(`${__hooks}/lib/rows.js`).insertRow(txApp, "audit_log", audited.row);
    return { status: 200, body: { profile: view.exportRecord(profile), erased: true } };
  });
  return e.json(result.status, result.body);
}, $apis.requireSuperuserAuth());

// Append one audit entry {actor, action, target, detail}: 201 {id}. The only way an audit row is
// written (direct creates are refused in profiles.pb.js).
routerAdd("POST", "/api/ekyc/audit", (e) => {
  const checked = require(`${__hooks}/lib/audit.js`).auditRow(e.requestInfo().body || {});
  if (checked.error) {
    throw new BadRequestError(checked.error);
  }
  const id = require(`${__hooks}/lib/rows.js`).insertRow($app, "audit_log", checked.row);
  return e.json(201, { id: id });
}, $apis.requireSuperuserAuth());
