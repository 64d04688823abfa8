/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Who made a profile's decision and why, beside what the worker decided on its own. A reviewer's
// approval of a profile the worker sent to manual review used to leave `decision: manual_review`
// with the worker's reasons next to `status: approved`, in the API and in the webhook:
//  - decided_by / decision_reason: the maker of the current `decision` (worker, reviewer:<id>)
//    and the reason given; set by the profile hooks for every decision that is not the worker's;
//  - automated_decision: {decision, score, reasons} of the worker's last scored decision, which a
//    reviewer's decision never overwrites.
migrate(
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    profiles.fields.add(new TextField({ name: "decided_by", max: 120 }));
    profiles.fields.add(new TextField({ name: "decision_reason", max: 1000 }));
    profiles.fields.add(new JSONField({ name: "automated_decision", maxSize: 16384 }));
    app.save(profiles);
  },
  (app) => {
    const profiles = app.findCollectionByNameOrId("profiles");
    for (const name of ["decided_by", "decision_reason", "automated_decision"]) {
      profiles.fields.removeByName(name);
    }
    app.save(profiles);
  },
);
