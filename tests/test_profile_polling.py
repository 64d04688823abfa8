"""Polling against the real PocketBase: ETags and 304s, keyset lists, and the changes feed, whose
pages must neither skip nor repeat a change while writers commit concurrently."""

from __future__ import annotations

import random
import threading

import pytest
from api_helpers import approve, assert_problem, new_profile_id, walk

from gateway.services.profile_reads import encode_cursor

# A path through the state machine that never visits a status twice, so a profile seen twice in
# the same status by a reader of the feed was shown the same change twice.
PATH = ("in_progress", "submitted", "processing", "manual_review", "approved")


def test_get_profile_has_an_etag_and_answers_304_while_it_is_current(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)
    first = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"')

    again = client.get(
        f"/api/profiles/{profile_id}", headers={**partner.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    weak_list = {**partner.headers, "If-None-Match": f'"other", W/{etag}'}
    assert client.get(f"/api/profiles/{profile_id}", headers=weak_list).status_code == 304

    services.pb.transition(profile_id, "in_progress", actor="applicant")
    changed = client.get(
        f"/api/profiles/{profile_id}", headers={**partner.headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["status"] == "in_progress"
    # Any update of the record changes the ETag, not only a status change.
    services.pb.update("profiles", profile_id, {"first_name": "Edited"})
    assert client.get(f"/api/profiles/{profile_id}", headers=partner.headers).headers[
        "ETag"
    ] not in (etag, changed.headers["ETag"])


def test_history_etag_and_304(client, partner, services):
    profile_id = new_profile_id(client, partner.headers)
    url = f"/api/profiles/{profile_id}/history"
    first = client.get(url, headers=partner.headers)
    etag = first.headers["ETag"]
    assert len(first.get_json()["items"]) == 1
    current = client.get(url, headers={**partner.headers, "If-None-Match": etag})
    assert current.status_code == 304 and current.data == b""
    services.pb.transition(profile_id, "in_progress", actor="applicant")
    stale = client.get(url, headers={**partner.headers, "If-None-Match": etag})
    assert stale.status_code == 200 and len(stale.get_json()["items"]) == 2


def test_another_partners_etag_probe_is_a_404(client, make_partner):
    owner, other = make_partner("Etag owner"), make_partner("Etag prober")
    profile_id = new_profile_id(client, owner.headers)
    etag = client.get(f"/api/profiles/{profile_id}", headers=owner.headers).headers["ETag"]
    probe = client.get(
        f"/api/profiles/{profile_id}", headers={**other.headers, "If-None-Match": etag}
    )
    assert_problem(probe, 404, "not_found")


def test_list_follows_next_cursor_newest_first(client, make_partner):
    lister = make_partner("Cursor lister")
    ids = [new_profile_id(client, lister.headers) for _ in range(5)]
    seen, url = [], "/api/profiles?per_page=2"
    while url:
        page = client.get(url, headers=lister.headers).get_json()
        seen += [item["id"] for item in page["items"]]
        assert page["has_more"] == (page["next_cursor"] is not None)
        url = page["next_cursor"] and f"/api/profiles?per_page=2&cursor={page['next_cursor']}"
    assert seen == ids[::-1]


@pytest.mark.parametrize(
    "path",
    [
        "/api/profiles?cursor=not-a-cursor",
        "/api/profiles/changes?after=not-a-cursor",
        # A cursor of the other listing, or with a key of the wrong type, is refused too.
        "/api/profiles?cursor=" + encode_cursor("changes", {"seq": 3}),
        "/api/profiles/changes?after=" + encode_cursor("changes", {"seq": "3"}),
        "/api/profiles/changes?limit=0",
        "/api/profiles/changes?since=1",
    ],
)
def test_bad_cursors_and_queries_are_422(client, partner, path):
    problem = assert_problem(client.get(path, headers=partner.headers), 422, "validation_failed")
    # A GET has no body: the title must not send the reader looking for one.
    assert "body" not in problem["title"], problem


def read_feed(client, headers, after, limit):
    """One page of the changes feed: (items, next cursor, has_more)."""
    url = f"/api/profiles/changes?limit={limit}" + (f"&after={after}" if after else "")
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return body["items"], body["next_cursor"], body["has_more"]


def test_changes_feed_pages_oldest_change_first_and_only_the_partners(
    client, make_partner, services
):
    mine, theirs = make_partner("Feed reader"), make_partner("Feed other")
    ids = [new_profile_id(client, mine.headers) for _ in range(3)]
    new_profile_id(client, theirs.headers)
    items, cursor, has_more = read_feed(client, mine.headers, None, 2)
    assert [item["id"] for item in items] == ids[:2] and has_more
    items, cursor, has_more = read_feed(client, mine.headers, cursor, 2)
    assert [item["id"] for item in items] == ids[2:] and not has_more
    empty, same, _ = read_feed(client, mine.headers, cursor, 2)
    assert empty == [] and same == cursor

    services.pb.transition(ids[0], "in_progress", actor="applicant")
    # A decision is not typed on the records API (the admin UI's): it comes with a status change,
    # so nothing else moves in the feed.
    typed = services.pb.request(
        "PATCH", f"/api/collections/profiles/records/{ids[1]}", json={"decision": "approved"}
    )
    assert typed.status_code == 400
    items, cursor, _ = read_feed(client, mine.headers, cursor, 10)
    assert [(item["id"], item["status"]) for item in items] == [(ids[0], "in_progress")]
    assert items[0]["latest_history"]["to"] == "in_progress"


def test_list_and_feed_show_a_fractional_score_as_the_worker_records_it(
    client, make_partner, services
):
    """The worker's scores have decimals (90.8): the list and the feed read them as numbers, as
    the profile's own GET does, not only the whole scores a test would pick."""
    scored = make_partner("Fractional scorer")
    profile_id = new_profile_id(client, scored.headers)
    approve(services.pb, profile_id, 90.8)
    listed = client.get("/api/profiles", headers=scored.headers)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [(item["id"], item["score"]) for item in listed.get_json()["items"]] == [
        (profile_id, 90.8)
    ]
    items, _, _ = read_feed(client, scored.headers, None, 10)
    assert [(item["id"], item["score"]) for item in items] == [(profile_id, 90.8)]


def test_changes_feed_skips_and_repeats_nothing_under_concurrent_writers(
    client, make_partner, services
):
    """Writers walk profiles along PATH in four threads while the reader pages with a small
    limit; then the reader drains. Each profile's statuses, as read, must follow PATH without a
    repeat (a repeat is a change shown twice), and every profile's final status must be read (a
    change committed behind the cursor would be lost)."""
    feed = make_partner("Concurrent feed")
    ids = [new_profile_id(client, feed.headers) for _ in range(24)]
    _, cursor, _ = read_feed(client, feed.headers, None, 100)  # past the creations
    errors: list[BaseException] = []

    def writer(owned: list[str]) -> None:
        rng = random.Random(len(owned) + hash(owned[0]))
        steps = {profile_id: 0 for profile_id in owned}
        try:
            while steps:
                profile_id = rng.choice(sorted(steps))
                walk(services.pb, profile_id, PATH[steps[profile_id]])
                steps[profile_id] += 1
                if steps[profile_id] == len(PATH):
                    del steps[profile_id]
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    seen: dict[str, list[str]] = {profile_id: [] for profile_id in ids}

    def record(items: list[dict]) -> None:
        for item in items:
            seen[item["id"]].append(item["status"])

    pages = 0
    while any(thread.is_alive() for thread in threads):
        items, cursor, _ = read_feed(client, feed.headers, cursor, 5)
        record(items)
        pages += 1
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    while True:
        items, cursor, _ = read_feed(client, feed.headers, cursor, 5)
        record(items)
        if not items:
            break
    assert pages > 3, "the reader should have read while the writers wrote"
    for profile_id, statuses in seen.items():
        positions = [PATH.index(status) for status in statuses]
        assert positions == sorted(set(positions)), (profile_id, statuses)
        assert statuses and statuses[-1] == PATH[-1], (profile_id, statuses)


def test_every_list_and_feed_query_is_served_by_an_index_in_its_order(services, partner):
    after_key = {"created": "2026-01-01 00:00:00.000Z", "id": "a" * 15}
    shapes = {
        "newest": dict(order="newest"),
        "newest after": dict(order="newest", after=after_key),
        "status": dict(order="newest", status="approved"),
        "status after": dict(order="newest", status="approved", after=after_key),
        "deep page": dict(order="newest", offset=10_000),
        "external_ref": dict(order="newest", external_ref="ref-1"),
        "changes": dict(order="changes", after={"seq": 10}),
    }
    for name, shape in shapes.items():
        plan = " | ".join(services.pb.profile_page(partner.partner_id, explain=True, **shape))
        assert "USING INDEX idx_profiles_partner_" in plan, (name, plan)
        assert "TEMP B-TREE" not in plan, (name, plan)


def test_a_poll_is_one_store_request_whether_200_or_304(make_app, partner, monkeypatch):
    # Without the poll cache (test_profile_cache.py: a cached poll makes none), as every poll
    # of a profile the cache does not hold.
    app = make_app(profile_cache_size=0)
    client, services = app.test_client(), app.extensions["ekyc"]
    profile_id = new_profile_id(client, partner.headers)
    etag = client.get(f"/api/profiles/{profile_id}", headers=partner.headers).headers["ETag"]
    calls: list[str] = []
    send = services.pb.request

    def counted(method, path, **kwargs):
        calls.append(f"{method} {path}")
        return send(method, path, **kwargs)

    monkeypatch.setattr(services.pb, "request", counted)
    assert client.get(f"/api/profiles/{profile_id}", headers=partner.headers).status_code == 200
    conditional = {**partner.headers, "If-None-Match": etag}
    assert client.get(f"/api/profiles/{profile_id}", headers=conditional).status_code == 304
    assert calls == [f"GET /api/collections/profiles/records/{profile_id}"] * 2
