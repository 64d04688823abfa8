"""The retention job keeps the consent's promise ("kept for N days, then deleted"), against the
real PocketBase: profiles past their retention date are erased as a partner's erasure would erase
them, profiles being verified wait, and nothing is erased twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api_helpers import TO_PROCESSING, approve, new_profile_id, subscribe, walk
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.services.pb_time import pb_datetime
from gateway.services.retention import ACTOR, run_retention_job
from tests.test_erasure import erased_events

NOW = datetime.now(UTC)


def applicant(client: FlaskClient, headers: dict[str, str], retention_until: datetime,
              services: Services) -> str:  # fmt: skip
    profile_id = new_profile_id(
        client, headers, first_name="Ada", last_name="Lovelace", email="ada@example.com"
    )
    services.pb.update("profiles", profile_id, {"retention_until": pb_datetime(retention_until)})
    return profile_id


def test_profiles_past_retention_are_erased_once_and_the_rest_kept(
    client: FlaskClient, services: Services, make_partner: Callable
) -> None:
    partner = make_partner("Retention partner")
    subscribe(services, partner.partner_id)  # the erasure events are read from the outbox
    past = NOW - timedelta(days=1)
    open_one = applicant(client, partner.headers, past, services)
    decided = applicant(client, partner.headers, past, services)
    approve(services.pb, decided, 91, reasons=["all checks passed"])
    verifying = applicant(client, partner.headers, past, services)
    walk(services.pb, verifying, *TO_PROCESSING)
    kept = applicant(client, partner.headers, NOW + timedelta(days=1), services)

    report = run_retention_job(services.profiles, now=NOW)

    assert {open_one, decided} <= set(report.erased)
    assert verifying not in report.erased and kept not in report.erased
    opened = services.pb.get("profiles", open_one)
    assert opened["erased_at"] and opened["first_name"] == "" and opened["email"] == ""
    assert opened["status"] == "expired"  # the open capture ended with the erasure
    approved = services.pb.get("profiles", decided)
    assert approved["erased_at"] and approved["last_name"] == ""
    assert (approved["status"], approved["decision"], approved["score"]) == (
        "approved",
        "approved",
        91,
    )
    for profile_id in (verifying, kept):
        untouched = services.pb.get("profiles", profile_id)
        assert not untouched["erased_at"] and untouched["first_name"] == "Ada"
    history = services.pb.find(
        "status_history", "profile = {:p}", {"p": open_one}, sort="@rowid", limit=20
    )
    assert (history[-1]["to_status"], history[-1]["actor"]) == ("expired", ACTOR)
    assert "retention period ended" in history[-1]["reason"]
    for profile_id in (open_one, decided):
        assert len(erased_events(services, profile_id)) == 1
        [audit] = services.pb.find(
            "audit_log", "target = {:t} && action = 'profile.erased'", {"t": profile_id}
        )
        assert audit["actor"] == ACTOR

    again = run_retention_job(services.profiles, now=NOW)
    assert open_one not in again.erased and decided not in again.erased
    assert len(erased_events(services, open_one)) == 1

    # Once its verification has ended, the profile that was being verified goes too.
    services.pb.transition(verifying, "manual_review", actor="worker")
    later = run_retention_job(services.profiles, now=NOW)
    assert verifying in later.erased
    assert services.pb.get("profiles", verifying)["erased_at"]


def test_the_capture_files_are_gone_from_the_disk_after_retention(
    client: FlaskClient, services: Services, make_partner: Callable, pocketbase
) -> None:
    """Emptying the file fields must remove the files themselves, not only the references."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 60, 30)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    partner = make_partner("Retention files partner")
    profile_id = applicant(client, partner.headers, NOW - timedelta(days=1), services)
    services.pb.update(
        "profiles",
        profile_id,
        {},
        files={
            "document_front": [("front.jpg", jpeg, "image/jpeg")],
            "selfie_frames": [("f1.jpg", jpeg, "image/jpeg"), ("f2.jpg", jpeg, "image/jpeg")],
        },
    )
    [record_dir] = list((pocketbase.data_dir / "storage").glob(f"*/{profile_id}"))
    assert len(list(record_dir.glob("*.jpg"))) == 3

    assert profile_id in run_retention_job(services.profiles, now=NOW).erased
    left = [path for path in record_dir.rglob("*") if path.is_file()] if record_dir.exists() else []
    assert left == []
