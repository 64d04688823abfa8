/// <reference path="../.ekyc/pb_data/types.d.ts" />
// partners.settings edited in the admin UI is checked like the gateway checks it (a subset of the
// rules: see lib/settings_guard.js), so a decision never runs on weights that do not sum to 100.

onRecordCreate((e) => {
  require(`${__hooks}/lib/settings_guard.js`).guardSettings(e.record);
  e.next();
}, "partners");

onRecordUpdate((e) => {
  require(`${__hooks}/lib/settings_guard.js`).guardSettings(e.record);
  e.next();
}, "partners");
