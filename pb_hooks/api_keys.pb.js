/// <reference path="../.ekyc/pb_data/types.d.ts" />
// An API key is what its partner was given: it is made once (a rotation makes a new key and
// revokes the old) and never becomes another key. Whoever writes (the gateway, the admin UI, a
// JSVM save), its partner, id, secret hash and scopes stay as made, and a revocation stays: in the
// admin UI a new hash took over a partner's key under its key_id (the partner locked out, the new
// holder's calls logged as the partner's), a new partner or scope moved it to another tenant or
// gave it `admin`, and a cleared `revoked` brought a revoked key back, with no audit entry.
// What the gateway changes stays writable: last_used, label, the sealed signing secret.

onRecordUpdate((e) => {
  const original = e.record.original();
  const scopes = (record) => record.getStringSlice("scopes").slice().sort().join(",");
  const changed = ["partner", "key_id", "secret_sha256"].filter(
    (name) => original.getString(name) !== e.record.getString(name),
  );
  if (scopes(original) !== scopes(e.record)) changed.push("scopes");
  const revoked = original.getString("revoked");
  if (revoked && e.record.getString("revoked") !== revoked) changed.push("revoked");
  if (changed.length) {
    const errors = {};
    for (const name of changed) {
      errors[name] = new ValidationError("immutable_field", "fixed when the key was made");
    }
    throw new BadRequestError(`${changed.join(", ")}: fixed when the key was made; make a new key instead.`, errors);
  }
  e.next();
}, "api_keys");
