/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Reviewer notes written in the admin UI (the records API, by a person: lib/platform_writer.js).
// The gateway writes its notes with the reviewer key's actor as author; a person signed in as the
// superuser is `reviewer:<superuser id>`, as in the status history, and cannot name anyone else:
// the author is filled in when left blank and a different one is refused, when the note is made
// and afterwards. Each note made or edited there appends an audit row (field names, no values)
// in the note's own transaction.

onRecordCreateRequest((e) => {
  if (require(`${__hooks}/lib/platform_writer.js`).isPlatformWrite(e)) {
    e.next();
    return;
  }
  const author = `reviewer:${e.auth.id}`;
  if (!e.record.getString("author").trim()) {
    e.record.set("author", author);
  }
  if (e.record.getString("author") !== author) {
    throw new BadRequestError(`A note made in the admin UI is signed ${author}.`, {
      author: new ValidationError("author_mismatch", `must be ${author} (or left blank)`),
    });
  }
  require(`${__hooks}/lib/audit.js`).auditedSave(e, "note.created_in_admin_ui", null);
}, "notes");

onRecordUpdateRequest((e) => {
  if (require(`${__hooks}/lib/platform_writer.js`).isPlatformWrite(e)) {
    e.next();
    return;
  }
  const original = e.record.original();
  if (e.record.getString("author") !== original.getString("author")) {
    throw new BadRequestError("A note's author is who wrote it; it is not changed.", {
      author: new ValidationError("system_field", "written when the note is made"),
    });
  }
  require(`${__hooks}/lib/audit.js`).auditedSave(e, "note.edited_in_admin_ui", original);
}, "notes");

// A note a person deletes in the admin UI leaves an audit row (the note's id and the fields it
// held, not its text), so a review's record does not lose a note without a trace. The erasure
// deletes notes with the profile's personal data in its own transaction (routes.pb.js), unaudited
// here: it audits the erasure itself.
onRecordDeleteRequest((e) => {
  if (require(`${__hooks}/lib/platform_writer.js`).isPlatformWrite(e)) {
    e.next();
    return;
  }
  require(`${__hooks}/lib/audit.js`).auditedSave(e, "note.deleted_in_admin_ui", null);
}, "notes");

// A note stays on the profile it was written for, whoever edits it: moved in the admin UI, it left
// one profile's review without a trace there (the audit row named the other profile), and could
// land on an erased profile.
onRecordUpdate((e) => {
  if (e.record.getString("profile") !== e.record.original().getString("profile")) {
    throw new BadRequestError("A note stays on the profile it was written for.", {
      profile: new ValidationError("system_field", "written when the note is made"),
    });
  }
  e.next();
}, "notes");

// No note is added to an erased profile, by anyone (the gateway answers 410 before it asks): the
// erasure deleted the profile's notes once and does not run again, so a later one would stay.
onRecordCreate((e) => {
  let profile = null;
  try {
    profile = e.app.findRecordById("profiles", e.record.getString("profile"));
  } catch (err) {
    profile = null; // no such profile: the relation field refuses it
  }
  if (profile && profile.getString("erased_at")) {
    throw new BadRequestError("This profile's personal data was erased: no note is added to it.", {
      profile: new ValidationError("profile_erased", "erased"),
    });
  }
  e.next();
}, "notes");

// Truncating the notes collection (the admin UI's collection menu) deleted every note of every
// profile through PocketBase's own code, which fires no request hook, so none was audited: it is
// refused, for everyone (the platform deletes notes one by one), and notes go one at a time.
routerUse((e) => {
  const truncate = /^\/api\/collections\/([^/]+)\/truncate\/?$/.exec(e.request.url.path);
  if (e.request.method === "DELETE" && truncate) {
    let collection = null;
    try {
      collection = e.app.findCollectionByNameOrId(decodeURIComponent(truncate[1]));
    } catch (err) {
      collection = null; // no such collection: PocketBase answers 404
    }
    if (collection && collection.name === "notes") {
      throw new BadRequestError("Notes are not truncated: delete them one by one, each is audited.");
    }
  }
  return e.next();
});
