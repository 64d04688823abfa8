"""Idempotency-Key and concurrent creates: a retried or raced create never makes two profiles."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import assert_problem, unique_ref

from gateway.services.pb_time import pb_datetime

CONCURRENCY = 8


def post_create(client, headers: dict[str, str], body: dict, key: str | None = None):
    """POST /api/profiles, with an Idempotency-Key when given."""
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/profiles", json=body, headers={**headers, **extra})


def race(app, call: Callable) -> list:
    """Run ``call(client)`` in CONCURRENCY threads released at once, each with its own client."""
    barrier = threading.Barrier(CONCURRENCY)
    results: list = [None] * CONCURRENCY

    def run(slot: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        response = call(client)
        results[slot] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(result is not None for result in results), "a racing request never finished"
    return results


def profiles_with_ref(services, partner_id: str, ref: str) -> list[dict]:
    """Every stored profile of the partner with that external_ref."""
    return services.pb.find(
        "profiles", "partner = {:p} && external_ref = {:r}", {"p": partner_id, "r": ref}
    )


def test_same_key_same_body_replays_the_same_response(client, partner, services):
    key, body = str(uuid.uuid4()), {"external_ref": unique_ref(), "first_name": "Ana"}
    first = post_create(client, partner.headers, body, key)
    again = post_create(client, partner.headers, body, key)
    assert first.status_code == 201
    assert again.status_code == first.status_code
    assert again.get_json() == first.get_json()
    assert len(profiles_with_ref(services, partner.partner_id, body["external_ref"])) == 1


def test_replay_of_a_reused_profile_replays_its_200(client, partner):
    ref = unique_ref()
    original = post_create(client, partner.headers, {"external_ref": ref})
    key = str(uuid.uuid4())
    reused = post_create(client, partner.headers, {"external_ref": ref, "first_name": "B"}, key)
    replayed = post_create(client, partner.headers, {"external_ref": ref, "first_name": "B"}, key)
    assert (original.status_code, reused.status_code, replayed.status_code) == (201, 200, 200)
    assert replayed.get_json() == reused.get_json()


def test_same_key_different_body_is_409(client, partner, services):
    key, ref = str(uuid.uuid4()), unique_ref()
    assert post_create(client, partner.headers, {"external_ref": ref}, key).status_code == 201
    other_ref = unique_ref()
    response = post_create(client, partner.headers, {"external_ref": other_ref}, key)
    assert_problem(response, 409, "idempotency_conflict")
    assert profiles_with_ref(services, partner.partner_id, other_ref) == []


def test_body_key_order_does_not_change_the_fingerprint(client, partner):
    key, ref = str(uuid.uuid4()), unique_ref()
    first = post_create(client, partner.headers, {"external_ref": ref, "first_name": "A"}, key)
    again = client.post(
        "/api/profiles",
        data=f'{{"first_name": "A", "external_ref": "{ref}"}}',
        content_type="application/json",
        headers={**partner.headers, "Idempotency-Key": key},
    )
    assert again.status_code == first.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]


def test_keys_are_scoped_per_partner(client, make_partner):
    one, two = make_partner("Idem one"), make_partner("Idem two")
    key = str(uuid.uuid4())
    first = post_create(client, one.headers, {"external_ref": unique_ref()}, key)
    second = post_create(client, two.headers, {"external_ref": unique_ref()}, key)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]


def test_an_expired_key_may_be_reused_for_another_request(client, partner, services):
    key = str(uuid.uuid4())
    assert (
        post_create(client, partner.headers, {"external_ref": unique_ref()}, key).status_code == 201
    )
    record = services.pb.find_first(
        "idempotency_keys", "partner = {:p} && key = {:k}", {"p": partner.partner_id, "k": key}
    )
    services.pb.update(
        "idempotency_keys",
        record["id"],
        {"expires_at": pb_datetime(datetime.now(UTC) - timedelta(seconds=1))},
    )
    response = post_create(client, partner.headers, {"external_ref": unique_ref()}, key)
    assert response.status_code == 201


def test_idempotency_record_expires_after_the_configured_ttl(client, partner, services):
    key = str(uuid.uuid4())
    post_create(client, partner.headers, {"external_ref": unique_ref()}, key)
    record = services.pb.find_first(
        "idempotency_keys", "partner = {:p} && key = {:k}", {"p": partner.partner_id, "k": key}
    )
    expires = datetime.strptime(record["expires_at"], "%Y-%m-%d %H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_malformed_idempotency_key_is_400(client, partner, key):
    response = client.post(
        "/api/profiles",
        json={"external_ref": unique_ref()},
        headers={**partner.headers, "Idempotency-Key": key},
    )
    assert_problem(response, 400, "bad_request")


@pytest.mark.slow
def test_concurrent_identical_creates_with_one_key_yield_one_profile(app, partner, services):
    key, body = str(uuid.uuid4()), {"external_ref": unique_ref(), "last_name": "Race"}
    results = race(app, lambda client: post_create(client, partner.headers, body, key))
    # Every racer gets the first request's answer (a replay of its 201), for one profile.
    assert {status for status, _ in results} == {201}
    assert all(payload == results[0][1] for _, payload in results)
    assert len(profiles_with_ref(services, partner.partner_id, body["external_ref"])) == 1


@pytest.mark.slow
def test_concurrent_creates_with_the_same_reference_and_no_key_yield_one_profile(
    app, partner, services
):
    ref = unique_ref()
    results = race(app, lambda client: post_create(client, partner.headers, {"external_ref": ref}))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201}, statuses
    assert len({payload["id"] for _, payload in results}) == 1
    assert len(profiles_with_ref(services, partner.partner_id, ref)) == 1


@pytest.mark.slow
def test_concurrent_creates_with_the_same_document_yield_one_profile(app, partner, services):
    number = uuid.uuid4().hex[:9].upper()
    results = race(
        app,
        lambda client: post_create(
            client,
            partner.headers,
            {"document": {"type": "passport", "country": "DEU", "number": number}},
        ),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, statuses
    assert len({payload["id"] for _, payload in results}) == 1
