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
const NUMBERS = ["score", "change_seq"];
const JSONS = ["automated_decision", "reasons", "last_change", "scores"];

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

// A value as comparable text: the admin UI sends a JSON field back as its editor prints it, so
// JSON is compared parsed (empty and null alike), numbers as numbers.
function comparable(record, name) {
  if (NUMBERS.indexOf(name) !== -1) return String(record.getFloat(name));
  if (JSONS.indexOf(name) === -1) return record.getString(name);
  const value = parsed(record, name); // a blank form field arrives as the JSON string ""
  return canonical(value === "" ? null : value);
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
    if (NUMBERS.indexOf(name) !== -1) return record.getFloat(name) !== 0;
    return empty.indexOf(comparable(record, name)) === -1 && record.getString(name) !== "";
  });
}

module.exports = { changedOwnedFields, presetOwnedFields };
