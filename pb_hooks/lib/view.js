// Records as plain objects for the gateway, hidden fields included: these routes are superuser-only
// and the gateway needs e.g. the key hash to compare in constant time on its side.
function exportRecord(record) {
  const out = JSON.parse(JSON.stringify(record));
  out.collectionName = record.collection().name;
  for (const field of record.collection().fields) {
    if (field.hidden) {
      out[field.getName()] = record.getString(field.getName());
    }
  }
  return out;
}

module.exports = { exportRecord };
