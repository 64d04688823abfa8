/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Which plan priced which month. partners.plan alone is the plan now, so assigning a new one
// repriced every month asked afterwards, closed ones included: November's final statement, asked
// again in December after a move to a dearer plan, came out at the new price.
//  - partners.plan_periods: [{from: "YYYY-MM", plan: <plan id or "">}], oldest first, written by
//    pb_hooks/partner_plans.pb.js whenever `plan` changes (the gateway, the CLI or the admin UI):
//    a plan assigned in a month prices that month (the last one assigned in it) and the months
//    after, until the next; months before keep theirs.
//  - partners already on a plan keep it for every month, as before (from "").
migrate(
  (app) => {
    const partners = app.findCollectionByNameOrId("partners");
    partners.fields.add(new JSONField({ name: "plan_periods", maxSize: 65536 }));
    app.save(partners);
    app.db()
      .newQuery(
        "UPDATE partners SET plan_periods = json_array(json_object('from', '', 'plan', plan))" +
        " WHERE plan != ''",
      )
      .execute();
  },
  (app) => {
    const partners = app.findCollectionByNameOrId("partners");
    partners.fields.removeByName("plan_periods");
    app.save(partners);
  },
);
