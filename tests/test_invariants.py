"""Data-layer invariants, proven against the running PocketBase as a superuser (no gateway):
the transition table, one history row per change, append-only history and audit log.

Two write paths are exercised for every rule: the gateway's atomic transition route and the
records API a reviewer uses from the admin UI (``PATCH /api/collections/profiles/records/{id}``).
"""

from __future__ import annotations

import json
import threading
from collections import deque

import pytest

from gateway.errors import Conflict, IllegalTransition, StoreError
from gateway.services.audit import append_audit
from gateway.services.pocketbase import PocketBase

# The state machine as ARCHITECTURE.md describes it; the data layer must enforce exactly this.
EXPECTED_TRANSITIONS = {
    "unverified": {"in_progress", "expired"},
    "in_progress": {"submitted", "expired"},
    "submitted": {"processing", "manual_review", "expired"},
    "processing": {"approved", "manual_review", "rejected", "resubmission_requested", "submitted"},
    "manual_review": {"approved", "rejected", "resubmission_requested"},
    "resubmission_requested": {"in_progress", "expired"},
    "approved": {"document_expired", "resubmission_requested"},
    "rejected": {"resubmission_requested"},
    "expired": {"unverified"},
    "document_expired": {"unverified"},
}
# What a reviewer may do of it, in the admin UI as through the gateway: decide a profile in
# manual_review, or reopen a decision for resubmission.
EXPECTED_REVIEWER_MOVES = {
    "manual_review": {"approved", "rejected", "resubmission_requested"},
    "approved": {"resubmission_requested"},
    "rejected": {"resubmission_requested"},
}
STATUSES = sorted(EXPECTED_TRANSITIONS)
EDGES = sorted((src, dst) for src, targets in EXPECTED_TRANSITIONS.items() for dst in targets)
NON_EDGES = sorted(
    (src, dst)
    for src in STATUSES
    for dst in STATUSES
    if dst != src and dst not in EXPECTED_TRANSITIONS[src]
)


def path_to(status: str) -> list[str]:
    """The shortest list of statuses that leads from ``unverified`` to ``status``."""
    queue: deque[list[str]] = deque([["unverified"]])
    while queue:
        walk = queue.popleft()
        if walk[-1] == status:
            return walk[1:]
        queue.extend(
            [*walk, nxt] for nxt in sorted(EXPECTED_TRANSITIONS[walk[-1]]) if nxt not in walk
        )
    raise AssertionError(f"{status} is unreachable")


@pytest.fixture
def pb(services) -> PocketBase:
    """The gateway's superuser client."""
    return services.pb


@pytest.fixture
def partner_id(pb: PocketBase) -> str:
    """A partner to own the profiles these tests make."""
    from gateway.services import partners

    return partners.create_partner(pb, "Invariants")["partner_id"]


def new_profile(pb: PocketBase, partner_id: str) -> str:
    """A bare profile created through the records API (the hook writes its first history row)."""
    record = pb.create(
        "profiles", {"partner": partner_id, "status": "unverified", "status_actor": "system"}
    )
    return record["id"]


def history(pb: PocketBase, profile_id: str) -> list[dict]:
    """The profile's status_history rows, oldest first."""
    return pb.find("status_history", "profile = {:p}", {"p": profile_id}, sort="@rowid", limit=1000)


def walk(pb: PocketBase, profile_id: str, status: str) -> None:
    """Drive a profile to ``status`` along legal transitions."""
    for step in path_to(status):
        pb.transition(profile_id, step, actor="test", reason=f"walk to {status}")


def test_the_data_layer_serves_the_architectures_table(pb):
    served = pb.transitions()
    assert served["initial"] == "unverified"
    assert {src: set(dst) for src, dst in served["transitions"].items()} == EXPECTED_TRANSITIONS
    assert {src: set(dst) for src, dst in served["reviewer_moves"].items()} == (
        EXPECTED_REVIEWER_MOVES
    )


def test_the_gateways_reviewer_moves_are_the_data_layers(pb):
    from gateway.statuses import REASON_REQUIRED, REVIEWER_MOVES

    served = pb.transitions()["reviewer_moves"]
    assert {src: set(dst) for src, dst in served.items()} == {
        str(src): {str(dst) for dst in targets} for src, targets in REVIEWER_MOVES.items()
    }
    assert {str(status) for status in REASON_REQUIRED} == {"approved", "rejected"}


@pytest.mark.parametrize("src, dst", EDGES)
def test_every_allowed_transition_is_accepted_by_the_route(pb, partner_id, src, dst):
    by_route = new_profile(pb, partner_id)
    walk(pb, by_route, src)

    result = pb.transition(by_route, dst, actor="worker", reason="edge test", expected_from=[src])
    assert result["from"] == src and result["profile"]["status"] == dst
    route_last = history(pb, by_route)[-1]
    assert (route_last["from_status"], route_last["to_status"]) == (src, dst)
    assert (route_last["actor"], route_last["reason"]) == ("worker", "edge test")


@pytest.mark.parametrize("src, dst", EDGES)
def test_the_admin_ui_makes_only_a_reviewers_moves(pb, admin_ui, partner_id, src, dst):
    """The records API changes status for a reviewer only: the applicant's, the worker's and the
    system's moves come through the transition route (a superuser walked a profile that was never
    captured from unverified to approved, approved webhook included)."""
    by_admin = new_profile(pb, partner_id)
    walk(pb, by_admin, src)
    rows_before = len(history(pb, by_admin))

    response = admin_ui.patch("profiles", by_admin, {"status": dst, "status_reason": "by hand"})
    if dst not in EXPECTED_REVIEWER_MOVES.get(src, set()):
        assert response.status_code == 400, response.text
        assert response.json()["data"]["status"]["code"] == "illegal_transition"
        assert pb.get("profiles", by_admin)["status"] == src
        assert len(history(pb, by_admin)) == rows_before
        return
    assert response.status_code == 200, response.text
    assert response.json()["status"] == dst
    admin_last = history(pb, by_admin)[-1]
    assert (admin_last["from_status"], admin_last["to_status"]) == (src, dst)
    assert admin_last["actor"] == f"reviewer:{admin_ui.superuser_id}"
    assert admin_last["reason"] == "by hand"


@pytest.mark.parametrize("dst", ["approved", "rejected"])
def test_an_admin_ui_decision_takes_a_reason(pb, admin_ui, partner_id, dst):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "manual_review")
    rows_before = len(history(pb, profile_id))
    for reason in ({}, {"status_reason": "  "}):
        response = admin_ui.patch("profiles", profile_id, {"status": dst, **reason})
        assert response.status_code == 400, response.text
        assert response.json()["data"]["status_reason"]["code"] == "reason_required"
    assert pb.get("profiles", profile_id)["status"] == "manual_review"
    assert len(history(pb, profile_id)) == rows_before


@pytest.mark.parametrize("src", STATUSES)
def test_every_illegal_transition_is_refused_by_both_paths(pb, admin_ui, partner_id, src):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, src)
    rows_before = len(history(pb, profile_id))
    illegal = [dst for s, dst in NON_EDGES if s == src]
    assert illegal
    for dst in illegal:
        with pytest.raises(IllegalTransition) as refused:
            pb.transition(profile_id, dst, actor="worker")
        assert set(refused.value.extra["allowed"]) == EXPECTED_TRANSITIONS[src]
        response = admin_ui.patch("profiles", profile_id, {"status": dst})
        assert response.status_code == 400, response.text
        assert response.json()["data"]["status"]["code"] == "illegal_transition"
        with pytest.raises(IllegalTransition):
            pb.update("profiles", profile_id, {"status": dst})
    assert pb.get("profiles", profile_id)["status"] == src
    assert len(history(pb, profile_id)) == rows_before


def test_expected_from_refuses_a_profile_in_another_state(pb, partner_id):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "submitted")
    with pytest.raises(IllegalTransition) as refused:
        pb.transition(profile_id, "processing", actor="worker", expected_from=["in_progress"])
    assert refused.value.extra["current_status"] == "submitted"
    assert pb.get("profiles", profile_id)["status"] == "submitted"


def test_a_profile_is_born_unverified_with_one_history_row(pb, admin_ui, partner_id):
    with pytest.raises(StoreError):
        pb.create("profiles", {"partner": partner_id, "status": "approved"})
    profile_id = new_profile(pb, partner_id)
    rows = history(pb, profile_id)
    assert [(row["from_status"], row["to_status"], row["actor"]) for row in rows] == [
        ("", "unverified", "system")
    ]


def test_exactly_one_history_row_per_change_and_none_for_other_edits(pb, partner_id):
    profile_id = new_profile(pb, partner_id)
    steps = ["in_progress", "submitted", "processing", "manual_review", "approved"]
    for number, status in enumerate(steps, start=1):
        pb.transition(profile_id, status, actor=f"actor-{number}", reason=f"reason {number}")
        pb.update("profiles", profile_id, {"first_name": f"edit {number}"})  # not a status change
        rows = history(pb, profile_id)
        assert len(rows) == number + 1
        assert (rows[-1]["to_status"], rows[-1]["actor"], rows[-1]["reason"]) == (
            status,
            f"actor-{number}",
            f"reason {number}",
        )
    assert [row["from_status"] for row in history(pb, profile_id)] == [
        "",
        "unverified",
        *steps[:-1],
    ]


def test_a_failed_save_writes_no_history(pb, partner_id):
    profile_id = new_profile(pb, partner_id)
    with pytest.raises(StoreError):
        # score has max 100: the profile save fails inside the transaction.
        pb.transition(profile_id, "in_progress", actor="worker", set_fields={"score": 500})
    assert pb.get("profiles", profile_id)["status"] == "unverified"
    assert len(history(pb, profile_id)) == 1


def test_admin_ui_change_without_a_reason_does_not_reuse_the_previous_reason(
    pb, admin_ui, partner_id
):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "processing")
    pb.transition(profile_id, "manual_review", actor="worker", reason="score 72 in 60-79")
    response = admin_ui.patch("profiles", profile_id, {"status": "resubmission_requested"})
    assert response.status_code == 200, response.text
    last = history(pb, profile_id)[-1]
    assert last["actor"] == f"reviewer:{admin_ui.superuser_id}"
    assert last["reason"] != "score 72 in 60-79"


@pytest.mark.slow
def test_racing_claims_change_the_status_once(pb, partner_id):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "submitted")
    barrier, outcomes = threading.Barrier(8), []

    def claim() -> None:
        barrier.wait(timeout=10)
        try:
            pb.transition(profile_id, "processing", actor="worker", expected_from=["submitted"])
            outcomes.append("claimed")
        except IllegalTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["claimed"] + ["refused"] * 7
    assert [row["to_status"] for row in history(pb, profile_id)].count("processing") == 1


@pytest.mark.parametrize("collection", ["status_history", "audit_log"])
def test_append_only_collections_refuse_superuser_patch_and_delete(
    pb, admin_ui, partner_id, collection
):
    if collection == "status_history":
        row = history(pb, new_profile(pb, partner_id))[0]
        change = {"reason": "rewritten", "to_status": "approved"}
    else:
        row = pb.get("audit_log", append_audit(pb, "system", "test.event", "x", None))
        change = {"action": "rewritten"}
    patched = admin_ui.patch(collection, row["id"], change)
    deleted = admin_ui.delete(collection, row["id"])
    assert patched.status_code == 400, patched.text
    assert deleted.status_code == 400, deleted.text
    assert "append-only" in patched.json()["message"]
    with pytest.raises(Conflict):
        pb.delete(collection, row["id"])
    after = pb.get(collection, row["id"])
    assert after == row


def test_a_profile_with_history_cannot_be_deleted(pb, admin_ui, partner_id):
    profile_id = new_profile(pb, partner_id)
    response = admin_ui.delete("profiles", profile_id)
    assert response.status_code == 400, response.text
    assert "erase" in response.json()["message"]
    assert pb.get("profiles", profile_id)["id"] == profile_id
    assert len(history(pb, profile_id)) == 1


def test_every_copy_of_the_status_list_matches_the_data_layer(services):
    """The API schema and the hosted flow name statuses too; they must be the data layer's own."""
    from gateway.statuses import ALL_STATUSES

    served = services.pb.transitions()["transitions"]
    assert set(ALL_STATUSES) == set(served) == set(STATUSES)
    collection = services.pb.request("GET", "/api/collections/profiles").json()
    [status_field] = [field for field in collection["fields"] if field["name"] == "status"]
    assert set(status_field["values"]) == set(STATUSES)


# A decided profile's fields the platform alone writes, each with a value a person might type.
OWNED_EDITS = {
    "decision": "approved",
    "decided_by": "reviewer:someone",
    "decision_reason": "looks fine",
    "automated_decision": {"decision": "approved", "score": 99, "reasons": []},
    "score": 99,
    "reasons": [],
    "change_seq": 1,
    "last_change": {"from_status": "processing", "to_status": "approved"},
    "scores": {"factors": {"face_match": {"status": "pass", "score": 1.0}}},
}


def decided_profile(pb: PocketBase, partner_id: str) -> str:
    """A profile the worker rejected, its decision trail and scores written as the worker does."""
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "processing")
    trail = {
        "decision": "rejected",
        "decided_by": "worker",
        "decision_reason": "face_mismatch",
        "automated_decision": {"decision": "rejected", "score": 31, "reasons": ["face_mismatch"]},
        "score": 31,
        "reasons": ["face_mismatch"],
        "scores": {"factors": {"face_match": {"status": "fail", "score": 0.2}}},
    }
    pb.transition(profile_id, "rejected", actor="worker", reason="face_mismatch", set_fields=trail)
    return profile_id


@pytest.mark.parametrize("field", sorted(OWNED_EDITS))
def test_the_admin_ui_cannot_rewrite_what_the_platform_wrote(pb, admin_ui, partner_id, field):
    """A decision typed over a rejected profile reached the partner as "approved" with no history
    row, no webhook and no audit entry; a changed change_seq or last_change rewrote the feed and
    the partner's latest history; edited scores rewrote the evidence."""
    profile_id = decided_profile(pb, partner_id)
    before = pb.get("profiles", profile_id)
    response = admin_ui.patch("profiles", profile_id, {field: OWNED_EDITS[field]})
    assert response.status_code == 400, response.text
    assert response.json()["data"][field]["code"] == "system_field"
    after = pb.get("profiles", profile_id)
    assert after == before


def test_a_profile_cannot_be_moved_to_another_partner(pb, admin_ui, partner_id):
    from gateway.services import partners

    other = partners.create_partner(pb, "Another partner")["partner_id"]
    profile_id = new_profile(pb, partner_id)
    response = admin_ui.patch("profiles", profile_id, {"partner": other})
    assert response.status_code == 400, response.text
    assert response.json()["data"]["partner"]["code"] == "system_field"
    assert pb.get("profiles", profile_id)["partner"] == partner_id


def test_the_admin_ui_saving_the_whole_record_is_not_an_edit_of_owned_fields(
    pb, admin_ui, partner_id
):
    """The admin UI sends every field back as a form, JSON as its editor prints it: a reviewer's
    decision (or a note in another field) is not refused for fields it left as they were."""
    profile_id = decided_profile(pb, partner_id)
    pb.transition(profile_id, "resubmission_requested", actor="test")
    pb.transition(profile_id, "in_progress", actor="test")
    for status in ("submitted", "processing", "manual_review"):
        pb.transition(profile_id, status, actor="test")
    record = admin_ui.session.get(
        f"{admin_ui.url}/api/collections/profiles/records/{profile_id}", timeout=10
    ).json()
    files = {"document_front", "document_back", "selfie", "selfie_frames", "other_documents"}
    skipped = {"id", "collectionId", "collectionName", "created", "updated", "expand", *files}
    form = {}
    for name, value in record.items():
        if name in skipped:
            continue
        if isinstance(value, dict | list) or value is None:
            form[name] = "" if value is None else json.dumps(value, indent=2)
        else:
            form[name] = str(value).lower() if isinstance(value, bool) else str(value)
    form.update(status="approved", status_reason="documents checked by hand")
    response = admin_ui.save_form("profiles", profile_id, form)
    assert response.status_code == 200, response.text
    saved = pb.get("profiles", profile_id)
    assert (saved["status"], saved["decision"]) == ("approved", "approved")
    assert saved["decided_by"] == f"reviewer:{admin_ui.superuser_id}"
    assert saved["automated_decision"] == record["automated_decision"]


def test_the_admin_ui_saving_a_profile_the_worker_never_decided(pb, admin_ui, partner_id):
    """A profile the system sent to manual review has no automated decision, reasons or scores:
    the admin UI sends those empty JSON fields back blank, which is not typing a decision."""
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "manual_review")
    record = admin_ui.session.get(
        f"{admin_ui.url}/api/collections/profiles/records/{profile_id}", timeout=10
    ).json()
    assert record["automated_decision"] is None
    form = {
        name: "" if value is None else value if isinstance(value, str) else json.dumps(value)
        for name, value in record.items()
        if name in {"automated_decision", "reasons", "scores", "first_name"}
    }
    form.update(status="approved", status_reason="documents checked by hand")
    response = admin_ui.save_form("profiles", profile_id, form)
    assert response.status_code == 200, response.text
    assert pb.get("profiles", profile_id)["decision"] == "approved"


def test_a_blank_json_field_saved_in_the_admin_ui_reaches_the_partner_as_null(
    pb, services, admin_ui, partner_id
):
    """PocketBase stores the blank automated_decision the admin UI sends back as the JSON string
    "": the partner's GET showed null, but the webhook of the reviewer's decision carried ""
    where its documented value is the worker's object or null."""
    from api_helpers import subscribe

    subscribe(services, partner_id)
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "manual_review")
    form = {"automated_decision": "", "status": "approved", "status_reason": "checked by hand"}

    response = admin_ui.save_form("profiles", profile_id, form)

    assert response.status_code == 200, response.text
    [event] = pb.find(
        "webhook_events", "profile = {:p} && type = 'profile.approved'", {"p": profile_id}
    )
    assert event["data"]["automated_decision"] is None


def test_setting_erased_at_lets_in_only_the_scores_an_erasure_leaves(pb, admin_ui, partner_id):
    """The erasure (the platform's write, gateway/services/profiles.py) replaces the scores with
    what an erasure leaves, nothing else; in the admin UI erased_at itself is the platform's."""
    profile_id = decided_profile(pb, partner_id)
    erased_at = "2026-01-01 00:00:00.000Z"
    left = {"erased": True, "factors": {"face_match": {"status": "fail", "score": 0.2}}}
    by_hand = admin_ui.patch("profiles", profile_id, {"erased_at": erased_at, "scores": left})
    assert by_hand.status_code == 400, by_hand.text
    assert by_hand.json()["data"]["erased_at"]["code"] == "system_field"
    with pytest.raises(StoreError, match="system_field"):
        pb.update("profiles", profile_id, {"erased_at": erased_at, "scores": OWNED_EDITS["scores"]})
    pb.update("profiles", profile_id, {"erased_at": erased_at, "scores": left})
    assert pb.get("profiles", profile_id)["scores"] == left


@pytest.mark.parametrize("field", ["decision", "decided_by", "score", "reasons", "scores"])
def test_a_profile_created_in_the_admin_ui_starts_undecided(pb, admin_ui, partner_id, field):
    response = admin_ui.session.post(
        f"{admin_ui.url}/api/collections/profiles/records",
        json={"partner": partner_id, "status": "unverified", field: OWNED_EDITS[field] or ["x"]},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["data"][field]["code"] == "system_field"
    assert pb.find("profiles", "partner = {:p}", {"p": partner_id}) == []
    created = admin_ui.session.post(
        f"{admin_ui.url}/api/collections/profiles/records",
        json={"partner": partner_id, "status": "unverified", "reasons": [], "scores": None},
        timeout=10,
    )
    assert created.status_code == 200, created.text


# The fields the gateway and the worker write on the records API too, each with a value a person
# might type in the admin UI (lib/owned_fields.js PLATFORM_WRITTEN says why each is theirs).
PLATFORM_EDITS = {
    "capture": {"consent": {"at": "2026-01-01 00:00:00.000Z", "lang": "en"}},
    "liveness_challenge": {"id": "typed", "prompts": ["blink"]},
    "consent_at": "2026-01-01 00:00:00.000Z",
    "link_nonce": "typed-nonce",
    "link_expires_at": "2099-01-01 00:00:00.000Z",
    "processing_attempts": 5,
    "lease_until": "2099-01-01 00:00:00.000Z",
    "document_expires_on": "2099-12-31",
    "expiry_notices": {"expires_on": "2099-12-31", "sent": [30]},
    "document_number_enc": "typed-ciphertext",
    "document_index": "typed-index",
    "retention_until": "2099-01-01 00:00:00.000Z",
    "erased_at": "2026-01-01 00:00:00.000Z",
    "version": 1000,
    "status_actor": "system",
}
CAPTURE_FILES = ["document_front", "document_back", "selfie", "selfie_frames"]


def jpeg() -> tuple[str, bytes, str]:
    """A small real JPEG, as a (name, bytes, type) file part."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 90, 60)).save(out, "JPEG")
    return ("photo.jpg", out.getvalue(), "image/jpeg")


def admin_ui_audit(pb: PocketBase, target: str) -> list[dict]:
    """The audit rows of person edits in the admin UI about ``target``, oldest first."""
    rows = pb.find("audit_log", "target = {:t}", {"t": target}, sort="@rowid", limit=1000)
    return [row for row in rows if row["action"].endswith("_in_admin_ui")]


@pytest.mark.parametrize("field", sorted(PLATFORM_EDITS))
def test_the_admin_ui_cannot_write_what_the_gateway_writes(pb, admin_ui, partner_id, field):
    """The gateway writes these on the records API with the superuser a person signs in with: an
    edited link nonce or expiry reopened a link, an edited capture state or lease misled the
    worker, a typed erased_at or retention date changed when personal data goes."""
    profile_id = decided_profile(pb, partner_id)
    before = pb.get("profiles", profile_id)
    response = admin_ui.patch("profiles", profile_id, {field: PLATFORM_EDITS[field]})
    assert response.status_code == 400, response.text
    assert response.json()["data"][field]["code"] == "system_field"
    assert pb.get("profiles", profile_id) == before
    assert admin_ui_audit(pb, profile_id) == []
    pb.update("profiles", profile_id, {field: PLATFORM_EDITS[field]})  # the platform's own write
    if field != "version":  # bumped by the data layer on every update, whatever is sent
        assert pb.get("profiles", profile_id)[field] == PLATFORM_EDITS[field]


def test_a_forged_or_wrong_platform_mark_is_a_persons_write(pb, admin_ui, partner_id, pocketbase):
    from gateway.services.pocketbase_transport import PLATFORM_HEADER, platform_mark

    profile_id = new_profile(pb, partner_id)
    for mark in ("", "0" * 64, platform_mark("not the password"), pocketbase.superuser_password):
        response = admin_ui.session.patch(
            f"{admin_ui.url}/api/collections/profiles/records/{profile_id}",
            json={"link_nonce": "typed-nonce"},
            headers={PLATFORM_HEADER: mark},
            timeout=10,
        )
        assert response.status_code == 400, (mark, response.text)
    assert pb.get("profiles", profile_id)["link_nonce"] == ""


@pytest.mark.parametrize("field", CAPTURE_FILES)
def test_the_admin_ui_cannot_replace_or_remove_the_applicants_captures(
    pb, admin_ui, partner_id, field
):
    """The captures are the verification's evidence; a reviewer's files go to other_documents."""
    profile_id = new_profile(pb, partner_id)
    stored = pb.update("profiles", profile_id, {}, files={field: [jpeg()]})
    names = stored[field] if isinstance(stored[field], list) else [stored[field]]
    url = f"{admin_ui.url}/api/collections/profiles/records/{profile_id}"
    replaced = admin_ui.session.patch(url, files={field: jpeg()}, timeout=10)
    appended = admin_ui.session.patch(url, files={f"{field}+": jpeg()}, timeout=10)
    removed = admin_ui.session.patch(url, json={f"{field}-": names}, timeout=10)
    for response in (replaced, appended, removed):
        assert response.status_code == 400, response.text
        assert response.json()["data"][field]["code"] == "system_field"
    assert pb.get("profiles", profile_id) == stored
    attached = admin_ui.session.patch(url, files={"other_documents+": jpeg()}, timeout=10)
    assert attached.status_code == 200, attached.text
    assert len(attached.json()["other_documents"]) == 1


@pytest.mark.parametrize(
    "field", ["capture", "link_expires_at", "retention_until", "processing_attempts"]
)
def test_a_profile_created_in_the_admin_ui_has_no_capture_state(pb, admin_ui, partner_id, field):
    url = f"{admin_ui.url}/api/collections/profiles/records"
    response = admin_ui.session.post(
        url,
        json={"partner": partner_id, "status": "unverified", field: PLATFORM_EDITS[field]},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert response.json()["data"][field]["code"] == "system_field"
    assert pb.find("profiles", "partner = {:p}", {"p": partner_id}) == []
    photo = admin_ui.session.post(
        url, data={"partner": partner_id, "status": "unverified"}, files={"selfie": jpeg()}
    )
    assert photo.status_code == 400, photo.text
    assert photo.json()["data"]["selfie"]["code"] == "system_field"
    assert pb.find("profiles", "partner = {:p}", {"p": partner_id}) == []


def test_an_admin_ui_edit_is_audited_by_field_name_only(pb, admin_ui, partner_id):
    """Who changed which fields of which profile, in the edit's own transaction; never the values
    (names, emails and notes are personal data, the audit log holds none)."""
    profile_id = new_profile(pb, partner_id)
    edit = {"first_name": "Zorhan", "metadata": {"desk": "Zorhan's desk"}, "external_ref": "zr-1"}
    response = admin_ui.patch("profiles", profile_id, edit)
    assert response.status_code == 200, response.text
    [row] = admin_ui_audit(pb, profile_id)
    assert row["actor"] == f"reviewer:{admin_ui.superuser_id}"
    assert row["action"] == "profile.edited_in_admin_ui"
    assert row["detail"] == {"fields": ["external_ref", "first_name", "metadata"]}
    assert "Zorhan" not in json.dumps(row) and "zr-1" not in json.dumps(row)
    unchanged = admin_ui.patch("profiles", profile_id, edit)  # saved as it was: nothing changed
    assert unchanged.status_code == 200, unchanged.text
    pb.update("profiles", profile_id, {"first_name": "Ada"})  # the gateway audits its own writes
    assert len(admin_ui_audit(pb, profile_id)) == 1


def test_an_admin_ui_decision_and_a_created_profile_are_audited(pb, admin_ui, partner_id):
    profile_id = new_profile(pb, partner_id)
    walk(pb, profile_id, "manual_review")
    decided = admin_ui.patch(
        "profiles", profile_id, {"status": "approved", "status_reason": "checked by hand"}
    )
    assert decided.status_code == 200, decided.text
    [row] = admin_ui_audit(pb, profile_id)
    assert row["detail"]["fields"] == ["status", "status_actor", "status_reason"]
    created = admin_ui.session.post(
        f"{admin_ui.url}/api/collections/profiles/records",
        json={"partner": partner_id, "status": "unverified", "last_name": "Quist"},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    [row] = admin_ui_audit(pb, created.json()["id"])
    assert (row["action"], row["actor"]) == (
        "profile.created_in_admin_ui",
        f"reviewer:{admin_ui.superuser_id}",
    )
    assert row["detail"] == {"fields": ["last_name", "partner", "status", "status_actor"]}


def test_a_profile_created_in_the_admin_ui_is_the_persons_in_the_history(pb, admin_ui, partner_id):
    """The creation's history row names who made it, as a status change there does: a typed
    status_actor named the worker (or anyone) as the maker of a row a person wrote."""
    url = f"{admin_ui.url}/api/collections/profiles/records"
    forged = admin_ui.session.post(
        url,
        json={"partner": partner_id, "status": "unverified", "status_actor": "worker"},
        timeout=10,
    )
    assert forged.status_code == 400, forged.text
    assert forged.json()["data"]["status_actor"]["code"] == "system_field"
    assert pb.find("profiles", "partner = {:p}", {"p": partner_id}) == []
    created = admin_ui.session.post(
        url,
        json={"partner": partner_id, "status": "unverified", "status_reason": "walk-in at desk 3"},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    rows = history(pb, created.json()["id"])
    assert [(row["actor"], row["reason"]) for row in rows] == [
        (f"reviewer:{admin_ui.superuser_id}", "walk-in at desk 3")
    ]


def test_a_refused_admin_ui_edit_is_not_audited(pb, admin_ui, partner_id):
    profile_id = new_profile(pb, partner_id)
    response = admin_ui.patch("profiles", profile_id, {"return_url": "not a url"})
    assert response.status_code == 400, response.text
    assert admin_ui_audit(pb, profile_id) == []


def test_a_note_made_in_the_admin_ui_is_signed_by_its_superuser(pb, admin_ui, partner_id):
    """A note's author was whatever the reviewer typed, so a note could name another reviewer."""
    profile_id = new_profile(pb, partner_id)
    url = f"{admin_ui.url}/api/collections/notes/records"
    me = f"reviewer:{admin_ui.superuser_id}"
    forged = admin_ui.session.post(
        url, json={"profile": profile_id, "author": "reviewer:someone-else", "body": "ok"}
    )
    assert forged.status_code == 400, forged.text
    assert forged.json()["data"]["author"]["code"] == "author_mismatch"
    assert pb.find("notes", "profile = {:p}", {"p": profile_id}) == []
    blank = admin_ui.session.post(url, json={"profile": profile_id, "body": "ID checked"})
    assert blank.status_code == 200, blank.text
    assert blank.json()["author"] == me
    signed = admin_ui.session.post(url, json={"profile": profile_id, "author": me, "body": "ok"})
    assert signed.status_code == 200, signed.text
    renamed = admin_ui.patch("notes", signed.json()["id"], {"author": "reviewer:someone-else"})
    assert renamed.status_code == 400, renamed.text
    assert pb.get("notes", signed.json()["id"])["author"] == me
    rows = admin_ui_audit(pb, profile_id)
    assert [(row["action"], row["actor"]) for row in rows] == [("note.created_in_admin_ui", me)] * 2
    fields = ["author", "body", "profile"]
    assert rows[0]["detail"] == {"fields": fields, "record": blank.json()["id"]}
    assert "ID checked" not in json.dumps(rows)
    # The gateway's reviewer route writes the reviewer key's actor as the author.
    note = pb.create("notes", {"profile": profile_id, "author": "reviewer:key123", "body": "x"})
    assert note["author"] == "reviewer:key123"
    assert len(admin_ui_audit(pb, profile_id)) == 2


def test_a_note_deleted_in_the_admin_ui_leaves_an_audit_row(pb, admin_ui, partner_id):
    """A reviewer's note could vanish from the admin UI without a trace."""
    profile_id = new_profile(pb, partner_id)
    note = pb.create("notes", {"profile": profile_id, "author": "reviewer:key123", "body": "seen"})
    deleted = admin_ui.delete("notes", note["id"])
    assert deleted.status_code == 204, deleted.text
    assert pb.find("notes", "profile = {:p}", {"p": profile_id}) == []
    rows = admin_ui_audit(pb, profile_id)
    assert [(row["action"], row["actor"]) for row in rows] == [
        ("note.deleted_in_admin_ui", f"reviewer:{admin_ui.superuser_id}")
    ]
    assert rows[0]["detail"] == {"fields": ["author", "body", "profile"], "record": note["id"]}
    assert "seen" not in json.dumps(rows)


def test_the_admin_ui_cannot_truncate_the_notes(pb, admin_ui, partner_id):
    """The collection menu's Truncate deleted every note of every profile through PocketBase's
    own code, which runs no request hook: none was audited."""
    profile_id = new_profile(pb, partner_id)
    note = pb.create("notes", {"profile": profile_id, "author": "reviewer:key123", "body": "seen"})
    collection_id = pb.request("GET", "/api/collections/notes").json()["id"]

    for name in ("notes", collection_id):
        truncated = admin_ui.session.delete(
            f"{admin_ui.url}/api/collections/{name}/truncate", timeout=10
        )
        assert truncated.status_code == 400, truncated.text
    assert pb.find("notes", "profile = {:p}", {"p": profile_id}) == [note]
    assert admin_ui_audit(pb, profile_id) == []


def test_a_note_stays_on_its_profile(pb, admin_ui, partner_id):
    """Moving a note in the admin UI took it off one profile's review without a trace there (the
    audit row named the other profile), and could put it on an erased profile."""
    profile_id, other_id = new_profile(pb, partner_id), new_profile(pb, partner_id)
    note = pb.create("notes", {"profile": profile_id, "author": "reviewer:key123", "body": "seen"})

    moved = admin_ui.patch("notes", note["id"], {"profile": other_id})

    assert moved.status_code == 400, moved.text
    assert moved.json()["data"]["profile"]["code"] == "system_field"
    assert pb.get("notes", note["id"]) == note
    assert admin_ui_audit(pb, profile_id) == admin_ui_audit(pb, other_id) == []


def test_a_note_edited_in_the_admin_ui_leaves_an_audit_row(pb, admin_ui, partner_id):
    """README lists note.edited_in_admin_ui among the audited actions; no test made one."""
    profile_id = new_profile(pb, partner_id)
    note = pb.create("notes", {"profile": profile_id, "author": "reviewer:key123", "body": "seen"})

    edited = admin_ui.patch("notes", note["id"], {"body": "seen by Zorhan"})
    unchanged = admin_ui.patch("notes", note["id"], {"body": "seen by Zorhan"})

    assert edited.status_code == unchanged.status_code == 200, (edited.text, unchanged.text)
    assert pb.get("notes", note["id"])["body"] == "seen by Zorhan"
    rows = admin_ui_audit(pb, profile_id)
    assert [(row["action"], row["actor"], row["detail"]) for row in rows] == [
        (
            "note.edited_in_admin_ui",
            f"reviewer:{admin_ui.superuser_id}",
            {"fields": ["body"], "record": note["id"]},
        )
    ]
    assert "Zorhan" not in json.dumps(rows)
