/// <reference path="../.ekyc/pb_data/types.d.ts" />
// Webhook events and deliveries at the data layer:
//  - every status change, from any path, writes its events to the webhook_events outbox in the
//    transaction of its status_history row (lib/history.js); no history row can be created any
//    other way (profiles.pb.js), so no event is ever announced for a change that did not happen;
//  - a worker claims a due delivery with a lease in one transaction, so two workers (or a retry
//    and the sweeper) never send the same attempt twice.

// Claim one delivery for an attempt: {now, lease_until, force?}. 200 with the delivery, or 409
// when it is not due, already leased, or no longer pending.
routerAdd("POST", "/api/ekyc/webhooks/deliveries/{id}/claim", (e) => {
  const view = require(`${__hooks}/lib/view.js`);
  const id = e.request.pathValue("id");
  const body = e.requestInfo().body;
  const now = String(body.now || "");
  const leaseUntil = String(body.lease_until || "");
  let result = null;
  $app.runInTransaction((txApp) => {
    let delivery;
    try {
      delivery = txApp.findRecordById("webhook_deliveries", id);
    } catch (err) {
      result = { status: 404, body: { code: "not_found" } };
      return;
    }
    const lease = delivery.getString("lease_until");
    const due = delivery.getString("next_attempt_at");
    if (delivery.getString("status") !== "pending" || (due && due > now) || (lease && lease > now)) {
      result = { status: 409, body: { code: "not_claimable", status: delivery.getString("status") } };
      return;
    }
    delivery.set("lease_until", leaseUntil);
    txApp.save(delivery);
    result = { status: 200, body: { delivery: view.exportRecord(delivery) } };
  });
  return e.json(result.status, result.body);
}, $apis.requireSuperuserAuth());
