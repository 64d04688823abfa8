// The audit log's one door: the gateway's audit entries (who did what to which record) are
// inserted here, checked like the collection's fields, since a plain INSERT skips PocketBase's
// field validation. Direct record creates are refused (profiles.pb.js), so every row has passed
// through this check. No PII: ids, codes and counts only, as the gateway sends them.

const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const LIMITS = { actor: 120, action: 80, target: 120, detail: 16384 };

// The row to insert for `body` ({actor, action, target, detail}), or an error message.
function auditRow(body) {
  const actor = String(body.actor || "");
  const action = String(body.action || "");
  const target = String(body.target || "");
  const detail = JSON.stringify(body.detail === undefined ? null : body.detail);
  if (!actor || actor.length > LIMITS.actor) return { error: "actor: 1-120 characters" };
  if (!ACTION_PATTERN.test(action) || action.length > LIMITS.action) {
    return { error: "action: dotted lower-case name of at most 80 characters" };
  }
  if (target.length > LIMITS.target) return { error: "target: at most 120 characters" };
  if (detail.length > LIMITS.detail) return { error: "detail: at most 16384 bytes of JSON" };
  return { row: { actor: actor, action: action, target: target, detail: detail } };
}

// Save the record of the records-API request event `e` (e.next()) and, in the same transaction,
// append one audit row: the superuser as `reviewer:<id>` (as in the status history), `action`,
// the profile as target, and the names of the fields the record changes from `original` (null:
// the fields a new or deleted record holds; lib/owned_fields.js changedFieldNames, read before
// the save) as detail, never their values. Nothing is appended when no field changed. The save
// and its row commit or roll back together.
function auditedSave(e, action, original) {
  const changed = require(`${__hooks}/lib/owned_fields.js`).changedFieldNames(original, e.record);
  e.app.runInTransaction((txApp) => {
    e.app = txApp;
    e.next();
    if (!changed.length) return;
    const profile = e.record.collection().name === "profiles" ? e.record.id : e.record.getString("profile");
    const detail = profile === e.record.id ? { fields: changed } : { fields: changed, record: e.record.id };
    const checked = auditRow({ actor: `reviewer:${e.auth.id}`, action: action, target: profile, detail: detail });
    if (checked.error) throw new BadRequestError(checked.error);
    require(`${__hooks}/lib/rows.js`).insertRow(txApp, "audit_log", checked.row);
  });
}

module.exports = { auditRow, auditedSave };
