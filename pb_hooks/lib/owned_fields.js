// The fields of a profile the platform alone writes, refused on the records API (what the admin UI
// calls; profiles.pb.js). The worker writes them with its decision and the data layer with every
// change, through the transition route, never the records API, so a change there is a person's:
//  - partner: moving a profile handed the applicant's data to another partner, silently;
//  - the decision trail (decision, decided_by, decision_reason, automated_decision, score,
//    reasons): a typed "approved" on a rejected profile reached the partner with no history row,
//    no webhook and no audit entry; a reviewer decides by changing `status`;
//  - change_seq and last_change: the changes feed's number and the profile's latest change, which
//    the partner reads as its history;
//  - scores: the verification's evidence, except for the erasure that replaces them (erased_at
//    set by the same write: gateway/services/profiles.py erasure_fields).

const OWNED = [
  "partner", "decision", "decided_by", "decision_reason", "automated_decision", "score", "reasons",
  "change_seq", "last_change", "scores",
];
const NUMBERS = ["score", "change_seq"];
const JSONS = ["automated_decision", "reasons", "last_change", "scores"];

// A value as comparable text: the admin UI sends a JSON field back as its editor prints it, so
// JSON is compared parsed (empty and null alike), numbers as numbers.
function comparable(record, name) {
  if (NUMBERS.indexOf(name) !== -1) return String(record.getFloat(name));
  if (JSONS.indexOf(name) === -1) return record.getString(name);
  const text = record.getString(name);
  try {
    return JSON.stringify(text ? JSON.parse(text) : null);
  } catch (err) {
    return text;
  }
}

// The owned fields `record` changes from `original`.
function changedOwnedFields(original, record) {
  const erasing = !original.getString("erased_at") && Boolean(record.getString("erased_at"));
  return OWNED.filter(
    (name) => !(name === "scores" && erasing) && comparable(original, name) !== comparable(record, name),
  );
}

module.exports = { changedOwnedFields };
