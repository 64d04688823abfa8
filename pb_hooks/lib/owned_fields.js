// The fields of a profile the platform alone writes, refused on the records API (what the admin UI
// calls; profiles.pb.js). The worker writes them with its decision and the data layer with every
// change, through the transition route, never the records API, so a change there is a person's:
//  - partner: moving a profile handed the applicant's data to another partner, silently;
//  - the decision trail (decision, decided_by, decision_reason, automated_decision, score,
//    reasons): a typed "approved" on a rejected profile reached the partner with no history row,
//    no webhook and no audit entry; a reviewer decides by changing `status`;
//  - change_seq and last_change: the changes feed's number and the profile's latest change, which
//    the partner reads as its history;
//  - scores: the verification's evidence, except for the erasure that replaces them with each
//    factor's status and score (erased_at set by the same write: gateway/services/profiles.py
//    erasure_fields); setting erased_at does not open them to any other value.

const OWNED = [
  "partner", "decision", "decided_by", "decision_reason", "automated_decision", "score", "reasons",
  "change_seq", "last_change", "scores",
];
// The fields the gateway and the worker do write on the records API, with the superuser token a
// person in the admin UI signs in with too: refused there unless the request is the platform's
// (lib/platform_writer.js). A reviewer's own additions go to other_documents and notes.
//  - the capture state the hosted flow keeps (capture, liveness_challenge, consent_at) and the
//    link (link_nonce, link_expires_at): an edited nonce or expiry reopened or forged a link;
//  - the applicant's captures (document_front, document_back, selfie, selfie_frames): the
//    verification's evidence, which the worker reads and the partner was told it checked;
//  - the worker's bookkeeping (processing_attempts, lease_until) and its findings
//    (document_expires_on drives document_expired and the expiry notices, expiry_notices);
//  - document_number_enc and document_index: ciphertext under the data key and its keyed index
//    (uniqueness per partner), which no person can write correctly by hand;
//  - retention_until and erased_at: when personal data is erased, and that it was (only the
//    erasure path sets erased_at, and with it replaces the scores);
//  - version, the ETag counter the data layer bumps on every update;
//  - status_actor, who made the last status change, copied into its history row: typed, it named
//    the worker as the maker of a row a person wrote (a status change or a creation in the admin
//    UI names the superuser itself, profiles.pb.js), and hid a typed reason from the erasure.
const PLATFORM_WRITTEN = [
  "capture", "liveness_challenge", "consent_at", "link_nonce", "link_expires_at",
  "document_front", "document_back", "selfie", "selfie_frames",
  "processing_attempts", "lease_until", "document_expires_on", "expiry_notices",
  "document_number_enc", "document_index", "retention_until", "erased_at", "version",
  "status_actor",
];

// JSON text with every object's keys sorted, so the same value always reads the same.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

function parsed(record, name) {
  const text = record.getString(name);
  try {
    return text ? JSON.parse(text) : null;
  } catch (err) {
    return text;
  }
}

// The type of the field `name` of `record`'s collection ("text" for a name it does not have).
function typeOf(record, name) {
  const field = record.collection().fields.getByName(name);
  return field ? field.type() : "text";
}

// A value as comparable text: the admin UI sends a JSON field back as its editor prints it, so
// JSON is compared parsed (empty and null alike), numbers as numbers, files as the names stored
// and how many this request uploads.
function comparable(record, name) {
  const type = typeOf(record, name);
  if (type === "number") return String(record.getFloat(name));
  if (type === "bool") return String(record.getBool(name));
  if (type === "json") { // a blank form field arrives as the JSON string ""
    const value = parsed(record, name);
    return canonical(value === "" ? null : value);
  }
  if (type === "file" || type === "relation" || type === "select") {
    return JSON.stringify([record.getStringSlice(name), type === "file" ? record.getUnsavedFiles(name).length : 0]);
  }
  return record.getString(name);
}

// The scores an erasure leaves: each factor's status and score, nothing read from the document
// (gateway/services/profiles.py erasure_fields), or nothing when no factor ran.
function erasedScores(original) {
  const scores = parsed(original, "scores");
  const factors = (scores && typeof scores === "object" && scores.factors) || {};
  const names = Object.keys(factors);
  if (!names.length) return canonical(null);
  const kept = {};
  for (const name of names) {
    const factor = factors[name] || {};
    kept[name] = { status: factor.status === undefined ? null : factor.status, score: factor.score === undefined ? null : factor.score };
  }
  return canonical({ erased: true, factors: kept });
}

// The owned fields `record` changes from `original`. An erasure (erased_at set by this write) may
// replace the scores, with what an erasure leaves only.
function changedOwnedFields(original, record) {
  const erasing = !original.getString("erased_at") && Boolean(record.getString("erased_at"));
  return OWNED.filter((name) => {
    if (comparable(original, name) === comparable(record, name)) return false;
    return !(name === "scores" && erasing && comparable(record, name) === erasedScores(original));
  });
}

// The owned fields a record about to be created already holds (change_seq and last_change are
// stamped by the data layer whatever is sent): a profile starts without a decision or scores.
function presetOwnedFields(record) {
  const empty = ["null", "[]", "{}", "\"\""];
  return OWNED.filter((name) => {
    if (name === "partner" || name === "change_seq" || name === "last_change") return false;
    if (typeOf(record, name) === "number") return record.getFloat(name) !== 0;
    return empty.indexOf(comparable(record, name)) === -1 && record.getString(name) !== "";
  });
}

// The platform-written fields `record` changes from `original` (refused unless the platform's).
function changedPlatformFields(original, record) {
  return PLATFORM_WRITTEN.filter((name) => comparable(original, name) !== comparable(record, name));
}

// Whether `record`, about to be created, holds a value in `name`: anything but what a blank record
// holds, or an empty JSON value.
function holds(record, blank, name) {
  const value = comparable(record, name);
  return value !== comparable(blank, name) && ["null", "[]", "{}", "\"\"", "[[],0]"].indexOf(value) === -1;
}

// The platform-written fields a record about to be created already holds.
function presetPlatformFields(record) {
  const blank = new Record(record.collection());
  return PLATFORM_WRITTEN.filter((name) => holds(record, blank, name));
}

// Every field `record` changes from `original` (`original` null: every field a new record holds),
// by name only and sorted, for the audit log: the values are personal data. PocketBase's own timestamps and
// the id are left out.
function changedFieldNames(original, record) {
  const blank = new Record(record.collection());
  const names = [];
  for (const field of record.collection().fields) {
    const name = field.getName();
    if (field.type() === "autodate" || name === "id") continue;
    if (original ? comparable(original, name) !== comparable(record, name) : holds(record, blank, name)) {
      names.push(name);
    }
  }
  return names.sort();
}

// The fields among `names` that `record` changes from `original`.
function changedAmong(original, record, names) {
  return names.filter((name) => comparable(original, name) !== comparable(record, name));
}

module.exports = {
  changedOwnedFields, presetOwnedFields, changedPlatformFields, presetPlatformFields, changedFieldNames, changedAmong,
};
