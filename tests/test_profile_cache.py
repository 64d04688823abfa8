"""Polls answered from memory (services/profile_cache.py), against the real PocketBase and its
realtime change stream: what another process writes reaches the poll, what this process writes
is read at once, and nothing older than the store is served after the stream breaks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import structlog
from admin_ui import AdminUI
from api_helpers import new_profile_id
from flask import Flask, jsonify

from gateway.pb_server import PocketBaseServer
from gateway.services import partners
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import PocketBaseConfig
from gateway.services.profile_cache import CachedProfile, ProfileCache, encode_json
from gateway.services.profile_reads import VIEW_FIELDS, profile_view


def wait_for(condition: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def elsewhere(server: PocketBaseServer, method: str, profile_id: str, data: Any = None) -> None:
    """A write no client of this process makes (as the worker's or the admin UI's would be):
    PocketBase's records API over a connection of its own."""
    ui = AdminUI.of(server)
    try:
        response = ui.session.request(
            method,
            f"{server.url}/api/collections/profiles/records/{profile_id}",
            json=data,
            timeout=10,
        )
    finally:
        ui.session.close()
    assert response.status_code in (200, 204), response.text


def cached_poll(client, headers, profile_id, cache) -> requests.Response:
    """Poll until the cache holds the profile (its stream subscribes at the first poll)."""
    assert wait_for(
        lambda: (
            client.get(f"/api/profiles/{profile_id}", headers=headers).status_code == 200
            and cache.lookup(profile_id) is not None
        )
    )
    return client.get(f"/api/profiles/{profile_id}", headers=headers)


def polled_on(server: PocketBaseServer, app_on) -> tuple[Any, Any, dict[str, str], str]:
    """An app on ``server`` with a partner and a profile its cache holds (its stream thread
    running): ``(client, services, headers, profile id)``."""
    app = app_on(server)
    client = app.test_client()
    services = app.extensions["ekyc"]
    created = partners.create_partner(services.pb, "Partner", ("partner",))
    headers = {"x-api-key": created["api_key"]}
    profile_id = new_profile_id(client, headers)
    cached_poll(client, headers, profile_id, services.profiles.reads.cache)
    return client, services, headers, profile_id


def test_a_repeated_poll_reads_no_store_and_a_change_made_elsewhere_reaches_it(
    client, services, partner, pocketbase, monkeypatch
):
    cache = services.profiles.reads.cache
    profile_id = new_profile_id(client, partner.headers)
    first = cached_poll(client, partner.headers, profile_id, cache)
    calls: list[str] = []
    original = services.pb.request
    monkeypatch.setattr(
        services.pb,
        "request",
        lambda method, path, **kw: calls.append(path) or original(method, path, **kw),
    )
    again = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    assert again.get_json() == first.get_json() and again.headers["ETag"] == first.headers["ETag"]
    assert calls == []
    assert (
        client.get(
            f"/api/profiles/{profile_id}",
            headers={**partner.headers, "If-None-Match": first.headers["ETag"]},
        ).status_code
        == 304
    )

    elsewhere(pocketbase, "PATCH", profile_id, {"external_ref": "edited-elsewhere"})
    changed = wait_for(
        lambda: (
            (poll := client.get(f"/api/profiles/{profile_id}", headers=partner.headers)).get_json()[
                "external_ref"
            ]
            == "edited-elsewhere"
            and poll
        )
    )
    assert changed and changed.get_json()["external_ref"] == "edited-elsewhere"
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert calls == []  # the change came with the stream, not with a read


def test_the_stream_carries_what_a_poll_shows_and_no_personal_data(
    client, services, partner, pocketbase, monkeypatch
):
    cache = services.profiles.reads.cache
    profile_id = new_profile_id(
        client, partner.headers, first_name="Zebulon", email="zebulon@example.org"
    )
    cached_poll(client, partner.headers, profile_id, cache)
    streamed: list[dict[str, Any]] = []
    original = cache._changed
    monkeypatch.setattr(
        cache,
        "_changed",
        lambda action, record: streamed.append(record) or original(action, record),
    )
    elsewhere(pocketbase, "PATCH", profile_id, {"external_ref": "streamed-ref"})
    polled = wait_for(
        lambda: (
            (poll := client.get(f"/api/profiles/{profile_id}", headers=partner.headers)).get_json()[
                "external_ref"
            ]
            == "streamed-ref"
            and poll
        )
    )
    # What the stream brought renders the same view as the whole record read from the store.
    assert polled.get_json() == profile_view(services.pb.get("profiles", profile_id))
    assert streamed and set(streamed[-1]) == {"partner", "version", *VIEW_FIELDS}
    assert "Zebulon" not in str(streamed) and "zebulon@" not in str(streamed)


def test_a_write_of_this_process_is_read_at_once_whichever_client_sent_it(
    client, services, partner, pocketbase
):
    cache = services.profiles.reads.cache
    profile_id = new_profile_id(client, partner.headers)
    cached_poll(client, partner.headers, profile_id, cache)
    # Another client of this process (as a CLI command's): not the app's own.
    other = PocketBase(
        PocketBaseConfig(pocketbase.url, pocketbase.superuser_email, pocketbase.superuser_password)
    )
    other.update("profiles", profile_id, {"external_ref": "edited-by-another-client"})
    poll = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    assert poll.get_json()["external_ref"] == "edited-by-another-client"
    other.transition(profile_id, "in_progress", actor="system")
    assert (
        client.get(f"/api/profiles/{profile_id}", headers=partner.headers).get_json()["status"]
        == "in_progress"
    )


def test_another_partners_profile_answers_404_from_memory(client, services, partner, make_partner):
    cache = services.profiles.reads.cache
    profile_id = new_profile_id(client, partner.headers)
    cached_poll(client, partner.headers, profile_id, cache)
    stranger = make_partner("Another partner")
    assert client.get(f"/api/profiles/{profile_id}", headers=stranger.headers).status_code == 404
    assert cache.lookup(profile_id).partner == partner.partner_id


def test_a_read_that_raced_a_write_or_a_newer_change_is_not_kept(client, services, partner):
    cache = services.profiles.reads.cache
    profile_id = new_profile_id(client, partner.headers)
    cached_poll(client, partner.headers, profile_id, cache)
    kept = cache.lookup(profile_id)
    # A read that began before this process wrote the profile may hold the older state.
    token = cache.read_token()
    services.pb.update("profiles", profile_id, {"external_ref": "edited-meanwhile"})
    stale = CachedProfile(partner.partner_id, kept.version, {"stale": True})
    cache.remember(profile_id, stale, token)
    assert cache.lookup(profile_id) != stale
    # The next poll reads the write's version; an older one read afterwards never replaces it.
    poll = cached_poll(client, partner.headers, profile_id, cache)
    assert poll.get_json()["external_ref"] == "edited-meanwhile"
    newer = cache.lookup(profile_id)
    assert newer.version > kept.version
    cache.remember(profile_id, stale, cache.read_token())
    assert cache.lookup(profile_id) == newer


def test_after_the_stream_breaks_no_poll_is_older_than_the_store(tmp_path: Path, app_on):
    server = PocketBaseServer.throwaway(tmp_path)
    try:
        client, services, headers, profile_id = polled_on(server, app_on)
        cache = services.profiles.reads.cache

        server.stop()
        assert wait_for(lambda: cache.read_token() is None)  # the stream's end empties the cache
        assert cache.lookup(profile_id) is None
        server.start(log_path=tmp_path / "pocketbase-again.log")
        # Written at once, possibly before the stream is subscribed again: its event may be lost.
        elsewhere(server, "PATCH", profile_id, {"external_ref": "written-while-down"})
        poll = client.get(f"/api/profiles/{profile_id}", headers=headers)
        assert poll.status_code == 200 and poll.get_json()["external_ref"] == "written-while-down"
        # Subscribed again, the cache serves polls again.
        again = cached_poll(client, headers, profile_id, cache)
        assert again.get_json()["external_ref"] == "written-while-down"
    finally:
        server.stop()


def test_a_kept_view_is_encoded_as_the_gateway_encodes_every_json_body(app: Flask) -> None:
    # A poll answered from the cache sends these bytes instead of calling jsonify: they must be
    # the same (key order, separators, escaping of non-ASCII, the final newline).
    view = {
        "id": "abcdefghijklmno",
        "external_ref": "Zoë-42 \u2603",
        "status": "approved",
        "score": 87,
        "reasons": ["mrz_valid", "face_match"],
        "latest_history": {"to": "approved", "reason": None},
    }
    with app.app_context():
        assert CachedProfile("p", 3, view).encoded == encode_json(view) == jsonify(view).get_data()
    assert CachedProfile("p", 3, None).encoded is None  # deleted


def test_a_closed_cache_stops_its_thread_at_once_and_says_nothing(tmp_path: Path, app_on):
    """An app that is done (a test's, at its end) closes its services: the stream thread ends
    within a moment, not at the next event or read timeout, and stays quiet when PocketBase then
    stops, as it does after the last test."""
    server = PocketBaseServer.throwaway(tmp_path)
    try:
        _, services, _, profile_id = polled_on(server, app_on)
        cache = services.profiles.reads.cache
        thread = cache._thread
        assert thread is not None and thread.is_alive()

        with structlog.testing.capture_logs() as logs:
            started = time.monotonic()
            services.close()
            assert not thread.is_alive()
            assert time.monotonic() - started < 2.0
            server.stop()
            time.sleep(0.5)  # past the first retry delay of a thread still following
        assert [line for line in logs if line["event"] == "profile_cache_stream_lost"] == []
        assert cache.lookup(profile_id) is None  # closed: polls read the store again
        assert cache._thread is thread  # and no new thread starts
    finally:
        server.stop()


def test_a_subscription_that_lands_after_close_leaves_the_cache_closed(services) -> None:
    """The stream thread may have subscribed just before ``close`` shut its socket, and report it
    just after: the cache then went live again with no stream to keep it current, and answered
    polls from memory that no change would ever reach."""
    cache = ProfileCache(services.pb, 10, lambda record: record)
    cache.close()

    cache._subscribed()  # the stream thread's report, arriving after close
    cache.remember("p" * 15, CachedProfile("partner", 1, {}), cache.read_token())

    assert cache.read_token() is None
    assert cache.lookup("p" * 15) is None
