// `field = value AND ..`, bound in SQL. Each non-empty value also states `field != ''`: the unique
// indexes on free-text columns (external_ref, document_index, dedupe_key) are partial (`WHERE col
// != ''`), and SQLite uses a partial index only when the query's WHERE implies the index's, which a
// bound parameter cannot. Without it, every lookup by external_ref scanned all of a partner's
// profiles, and every dedupe check all webhook events. Field names must already be validated.
function equality(values) {
  const terms = [$dbx.hashExp(values)];
  for (const name of Object.keys(values)) {
    if (values[name] !== "") terms.push($dbx.exp(`[[${name}]] != ''`));
  }
  return $dbx.and(...terms);
}

module.exports = { equality };
