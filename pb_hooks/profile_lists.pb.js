/// <reference path="../.ekyc/pb_data/types.d.ts" />
// A partner's profiles a page at a time, each page read straight off an index in the order it is
// returned, so the hundredth page costs what the first does (issue 18: the old list sorted by
// rowid, which no index served, and read and sorted every matching profile before page 1):
//  - order "newest": newest first, by (created, id) descending, on idx_profiles_partner_created or
//    idx_profiles_partner_status_created; `after: {created, id}` starts below the last row seen;
//  - order "changes": the changes feed, by change_seq ascending on idx_profiles_partner_change;
//    `after: {seq}` starts above the last number seen (see pb_hooks/lib/history.js for why that
//    skips nothing).
// Body: {partner, status?, external_ref?, order, after?, offset?, limit, explain?}. With explain,
// the answer is SQLite's query plan of the very query, for the test that holds the indexes to it.

routerAdd("POST", "/api/ekyc/profiles/page", (e) => {
  // score: -0, a float column: a plain 0 makes it an integer, and the worker's 90.8 then fails the
  // whole page (PocketBase's DynamicModel reads the type from the default's sign of zero).
  const VIEW_COLUMNS = {
    id: "", partner: "", external_ref: "", status: "", decision: "", decided_by: "", decision_reason: "",
    automated_decision: "", score: -0, reasons: "", last_change: "", change_seq: 0, version: 0, created: "",
    updated: "",
  };
  const body = e.requestInfo().body;
  const bound = require(`${__hooks}/lib/bound.js`);
  const limit = Math.min(Math.max(parseInt(body.limit || 50, 10), 1), 1000);
  const offset = Math.max(parseInt(body.offset || 0, 10), 0);
  const after = body.after || null;
  const where = { partner: String(body.partner || "") };
  if (body.status) where.status = String(body.status);
  if (body.external_ref) where.external_ref = String(body.external_ref);
  let query = $app.recordQuery("profiles").andWhere(bound.equality(where));
  if (body.order === "changes") {
    if (after) query = query.andWhere($dbx.exp("profiles.change_seq > {:seq}", { seq: parseInt(after.seq, 10) || 0 }));
    query = query.orderBy("profiles.change_seq ASC");
  } else if (body.order === "newest") {
    if (after) {
      // `created <= c` is the range the index seeks to; the OR only breaks ties within it.
      const key = { created: String(after.created || ""), id: String(after.id || "") };
      query = query.andWhere($dbx.exp(
        "profiles.created <= {:created} AND (profiles.created < {:created} OR profiles.id < {:id})", key,
      ));
    }
    query = query.orderBy("profiles.created DESC", "profiles.id DESC");
  } else {
    throw new BadRequestError(`unknown order ${body.order}`);
  }
  // Plain rows of the columns a view needs: loading full Records cost ~0.5 ms of PocketBase CPU
  // per profile (a 100-profile page took ~50 ms); JSON columns come back as text. The aliases
  // shadow the columns in ORDER BY, hence the table-qualified names above.
  const columns = Object.keys(VIEW_COLUMNS).map(
    (name) => `COALESCE([[profiles.${name}]], ${typeof VIEW_COLUMNS[name] === "string" ? "''" : 0}) AS [[${name}]]`,
  );
  query = query.select(...columns).limit(limit).offset(offset);
  if (body.explain) {
    const built = query.build();
    const plan = arrayOf(new DynamicModel({ id: 0, parent: 0, notused: 0, detail: "" }));
    $app.db().newQuery("EXPLAIN QUERY PLAN " + built.sql()).bind(built.params()).all(plan);
    return e.json(200, { plan: plan.map((row) => row.detail) });
  }
  const rows = arrayOf(new DynamicModel(VIEW_COLUMNS));
  query.all(rows);
  return e.json(200, { items: rows });
}, $apis.requireSuperuserAuth());
