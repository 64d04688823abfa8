"""Operator endpoints: liveness, readiness (PocketBase answers) and Prometheus request metrics."""

from __future__ import annotations

from api_helpers import assert_problem, create_profile
from prometheus_client.parser import text_string_to_metric_families

from gateway import create_app


def samples(client) -> dict[tuple[str, tuple], float]:
    """The /metrics exposition as {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def count(metrics: dict, route: str, status: int, method: str) -> float:
    """ekyc_http_requests_total for one label set (0 when absent)."""
    labels = tuple(sorted({"method": method, "route": route, "status": str(status)}.items()))
    return metrics.get(("ekyc_http_requests_total", labels), 0.0)


def test_health_needs_no_key_and_no_store(make_settings):
    down = create_app(make_settings(pocketbase_url="http://127.0.0.1:9")).test_client()
    response = down.get("/health")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_ready_when_pocketbase_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "pocketbase": "ok"}


def test_not_ready_when_pocketbase_is_down(make_settings):
    down = create_app(make_settings(pocketbase_url="http://127.0.0.1:9")).test_client()
    response = down.get("/health/ready")
    assert_problem(response, 503, "store_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_metrics_count_requests_by_route_template_and_status(client, partner):
    for _ in range(3):
        create_profile(client, partner.headers)
    create_profile(client, {"x-api-key": "nope"})
    client.get("/api/profiles/abcdefghijklmno", headers=partner.headers)
    client.get("/api/profiles/zyxwvutsrqponml", headers=partner.headers)
    client.get("/no/such/page")
    metrics = samples(client)
    assert count(metrics, "/api/profiles", 201, "POST") == 3
    assert count(metrics, "/api/profiles", 401, "POST") == 1
    assert count(metrics, "/api/profiles/<profile_id>", 404, "GET") == 2
    assert count(metrics, "unmatched", 404, "GET") == 1
    # Raw ids never become label values (unbounded cardinality).
    assert not any("abcdefghijklmno" in str(labels) for _, labels in metrics)
    histogram = ("method", "POST"), ("route", "/api/profiles")
    assert metrics[("ekyc_http_request_duration_seconds_count", histogram)] == 4
    assert metrics[("ekyc_http_request_duration_seconds_sum", histogram)] > 0


def test_metrics_are_per_app(make_settings, client, partner):
    create_profile(client, partner.headers)
    other = create_app(make_settings()).test_client()
    assert count(samples(other), "/api/profiles", 201, "POST") == 0


def test_a_methods_name_never_becomes_a_label_of_its_own(client):
    """The method is the client's to choose (gunicorn lets any 3-20 capital letters through):
    one series per made-up method would grow the registry and every scrape without bound."""
    for method in ("BREWA", "BREWB", "PROPFIND"):
        assert client.open("/health", method=method).status_code == 405
    client.get("/health")
    metrics = samples(client)
    methods = {dict(labels).get("method") for _, labels in metrics}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other", None}
    assert count(metrics, "unmatched", 405, "other") == 3
    assert count(metrics, "/health", 200, "GET") == 1


def test_not_ready_when_redis_is_down(make_settings, client, partner):
    """With REDIS_URL, Redis holds the queue and every partner route's rate-limit count: while
    it is down no partner call can succeed, so the gateway is not ready, and a call says why
    (503 with Retry-After, not a 500 that reads as a bug)."""
    profile = create_profile(client, partner.headers).get_json()
    down = create_app(make_settings(redis_url="redis://127.0.0.1:9/0")).test_client()
    response = down.get("/health/ready")
    assert_problem(response, 503, "queue_unavailable")
    assert int(response.headers["Retry-After"]) > 0
    refused = create_profile(down, partner.headers)
    assert_problem(refused, 503, "queue_unavailable")
    assert int(refused.headers["Retry-After"]) > 0
    capture = {"X-Capture-Token": profile["redirect_url"].split("?t=", 1)[1]}
    started = down.post(f"/flow/api/{profile['id']}/start", headers=capture)
    assert_problem(started, 503, "queue_unavailable")


def test_ready_names_redis_when_it_answers(make_settings, request, tmp_path_factory):
    from intake_fixtures import shared_redis

    redis_server = shared_redis(request.config, tmp_path_factory)
    up = create_app(make_settings(redis_url=redis_server.url)).test_client()
    response = up.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "pocketbase": "ok", "redis": "ok"}


def test_not_ready_when_pocketbase_refuses_the_gateways_superuser(make_settings, partner):
    """PocketBase up but the gateway's credentials wrong (a rotated password): every partner
    call fails, so the gateway is not ready."""
    refused = create_app(make_settings(pb_superuser_password="not-the-password")).test_client()
    assert create_profile(refused, partner.headers).status_code >= 500
    response = refused.get("/health/ready")
    assert_problem(response, 503, "store_unavailable")
