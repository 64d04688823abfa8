"""The polled partner routes skip the app-wide work their own lean rate limit replaces, and keep
every behaviour: the limit, its headers and the request id."""

from __future__ import annotations

from api_helpers import new_profile_id

from gateway.auth import limiter


def test_flask_limiter_hooks_spare_the_polled_routes_only(client, partner, monkeypatch):
    seen: list[str] = []
    original = limiter.identify_request

    def spy() -> str:
        endpoint = original()
        seen.append(endpoint)
        return endpoint

    # Flask-Limiter's before-request check starts by identifying the request.
    monkeypatch.setattr(limiter, "identify_request", spy)
    profile_id = new_profile_id(client, partner.headers)
    seen.clear()
    polled = client.get(f"/api/profiles/{profile_id}", headers=partner.headers)
    assert polled.status_code == 200
    assert seen == []
    assert polled.headers["X-RateLimit-Limit"] and polled.headers["X-Request-ID"]
    assert client.get("/health").status_code == 200
    assert seen == ["health.health"]


def test_flask_limiter_request_state_is_not_built_for_the_polled_routes(
    client, partner, monkeypatch
):
    built: list[str] = []
    original = type(limiter).context

    def counted(self):  # type: ignore[no-untyped-def]
        built.append("context")
        return original.fget(self)

    # Its hooks and its teardown reach their per-request state through this property.
    monkeypatch.setattr(type(limiter), "context", property(counted))
    profile_id = new_profile_id(client, partner.headers)
    built.clear()
    assert client.get(f"/api/profiles/{profile_id}", headers=partner.headers).status_code == 200
    assert built == []
    assert client.get("/health").status_code == 200
    assert built
