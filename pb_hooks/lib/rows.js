// Rows written with one INSERT instead of a Record save, for the rows every status change appends
// (its status_history row and its outbox events). A Record save in the JSVM validates every field
// and runs the record hook chain, ~0.8 ms each inside the profile's write transaction; three of
// them were half of a create's time holding SQLite's single write lock (bench/gateway_bench.py).
// The values come from records PocketBase already validated, and the SQLite triggers of the
// append-only tables still apply. Rows made this way fire no record hooks: callers write whatever
// a hook would have written themselves.

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

// Insert one row with a fresh PocketBase-style id and created/updated stamps (now, unless the
// caller stamped the moment already: `createdAt`); returns the id.
function insertRow(txApp, table, values, createdAt) {
  const now = createdAt || new DateTime().string();
  const id = $security.randomStringWithAlphabet(15, ID_ALPHABET);
  txApp.db().insert(table, Object.assign({}, values, { id: id, created: now, updated: now })).execute();
  return id;
}

module.exports = { insertRow };
