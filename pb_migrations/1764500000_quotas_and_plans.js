/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Quotas, plans and invoices:
//  - usage_events.counted: whether the row holds a unit of the partner's monthly quota. A check
//    takes its unit before it runs (pending, counted) and gives it back if it was refused
//    (counted = billed once it ends), so the quota counts billed checks plus those in flight, and
//    two gateway processes cannot both take the last unit (pb_hooks/usage.pb.js counts and takes
//    in one transaction). Rows written before this migration count when they were billed.
//  - an index on (partner, module, created), which that count and the usage reports read;
//  - plans: a monthly fee, the units it includes and the unit price of each further unit, per
//    check; partners.plan: the plan a partner is invoiced on (none: usage is reported, not priced).
const USAGE_INDEX =
  "CREATE INDEX idx_usage_partner_module_created ON usage_events (partner, module, created)";

migrate(
  (app) => {
    const usage = app.findCollectionByNameOrId("usage_events");
    usage.fields.add(new BoolField({ name: "counted" }));
    usage.indexes = usage.indexes.concat([USAGE_INDEX]);
    app.save(usage);
    app.db().newQuery("UPDATE usage_events SET counted = billed").execute();

    const plans = new Collection({
      type: "base",
      name: "plans",
      listRule: null,
      viewRule: null,
      createRule: null,
      updateRule: null,
      deleteRule: null,
      fields: [
        { name: "code", type: "text", required: true, max: 60, pattern: "^[a-z0-9][a-z0-9_-]*$", presentable: true },
        { name: "name", type: "text", required: true, max: 200 },
        { name: "currency", type: "text", required: true, min: 3, max: 3, pattern: "^[A-Z]{3}$" },
        { name: "monthly_fee", type: "number", min: 0 },
        // {check: units included in the monthly fee}
        { name: "included", type: "json", maxSize: 4096 },
        // {check: price of each unit beyond the included ones}
        { name: "unit_prices", type: "json", maxSize: 4096 },
        { name: "created", type: "autodate", onCreate: true, onUpdate: false },
        { name: "updated", type: "autodate", onCreate: true, onUpdate: true },
      ],
      indexes: ["CREATE UNIQUE INDEX idx_plans_code ON plans (code)"],
    });
    app.save(plans);

    const partners = app.findCollectionByNameOrId("partners");
    partners.fields.add(
      new RelationField({ name: "plan", maxSelect: 1, collectionId: plans.id, cascadeDelete: false }),
    );
    app.save(partners);
  },
  (app) => {
    const partners = app.findCollectionByNameOrId("partners");
    partners.fields.removeByName("plan");
    app.save(partners);
    app.delete(app.findCollectionByNameOrId("plans"));
    const usage = app.findCollectionByNameOrId("usage_events");
    usage.fields.removeByName("counted");
    usage.indexes = usage.indexes.filter((index) => index !== USAGE_INDEX);
    app.save(usage);
  },
);
