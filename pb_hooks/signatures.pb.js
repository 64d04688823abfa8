/// <reference path="../.ekyc/pb_data/types.d.ts" />
// POST /api/ekyc/signatures {key_id, signature, prune_before}: record that a signed request was
// seen. {fresh: true} the first time; {fresh: false} when the same key already sent the same
// signature (a replay). The unique index decides, in one INSERT, for every gateway process at
// once. Rows created before `prune_before` (PocketBase time text; the gateway passes now minus
// twice the timestamp window) are deleted first, through the created index, so the table holds
// minutes of traffic, never days.
routerAdd("POST", "/api/ekyc/signatures", (e) => {
  const body = e.requestInfo().body;
  const keyId = String(body.key_id || "");
  const signature = String(body.signature || "");
  const pruneBefore = String(body.prune_before || "");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(keyId) || !/^[0-9a-f]{64}$/.test(signature)) {
    throw new BadRequestError("key_id and a 64-hex-digit signature are required");
  }
  if (pruneBefore) {
    $app.db()
      .newQuery("DELETE FROM request_signatures WHERE created < {:before}")
      .bind({ before: pruneBefore })
      .execute();
  }
  const rows = require(`${__hooks}/lib/rows.js`);
  try {
    rows.insertRow($app, "request_signatures", { key_id: keyId, signature: signature });
  } catch (err) {
    if (String(err).indexOf("UNIQUE") !== -1) {
      return e.json(200, { fresh: false });
    }
    throw err;
  }
  return e.json(200, { fresh: true });
}, $apis.requireSuperuserAuth());
