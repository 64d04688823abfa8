"""Structured logs: one JSON line per request with request id, partner, route, status and latency,
and never the applicant's personal data or an API key's secret."""

from __future__ import annotations

import contextvars
import io
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from api_helpers import create_profile

from gateway import create_app, handoff
from gateway.logging_setup import (
    BatchedLines,
    batch_log_writes,
    configure_logging,
    new_request_id,
    utc_timestamp,
)
from gateway.worker import queue

PII = {
    "first_name": "Zebulon",
    "last_name": "Quackenbush",
    "email": "zebulon.quack@example.org",
    "phone": "+6281299887766",
    "date_of_birth": "1987-06-05",
}
DOCUMENT_NUMBER = "ZX98765432"


def json_lines(text: str) -> list[dict]:
    """Every log line, each of which must be JSON."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def logged_client(make_settings, capsys):
    """A client of an app built in the test body: structlog binds the stderr of the moment, and
    pytest closes the setup phase's captured stderr before the test runs."""
    client = create_app(make_settings(log_json=True)).test_client()
    capsys.readouterr()
    return client


def test_each_request_writes_one_canonical_json_line(make_settings, partner, capsys):
    client = logged_client(make_settings, capsys)
    response = create_profile(client, partner.headers)
    lines = [line for line in json_lines(capsys.readouterr().err) if line["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["partner_id"] == partner.partner_id
    assert line["route"] == "/api/profiles"
    assert line["method"] == "POST"
    assert line["status"] == 201
    assert isinstance(line["latency_ms"], float | int) and line["latency_ms"] >= 0
    assert line["level"] == "info" and line["timestamp"].endswith("Z")


def test_route_is_the_template_not_the_raw_path(make_settings, partner, capsys):
    client = logged_client(make_settings, capsys)
    client.get("/api/profiles/abcdefghijklmno", headers=partner.headers)
    line = json_lines(capsys.readouterr().err)[-1]
    assert (line["route"], line["status"]) == ("/api/profiles/<profile_id>", 404)


def test_a_sane_incoming_request_id_is_kept_and_echoed(make_settings, capsys):
    client = logged_client(make_settings, capsys)
    response = client.get("/health", headers={"X-Request-ID": "partner-trace-0001"})
    assert response.headers["X-Request-ID"] == "partner-trace-0001"
    assert json_lines(capsys.readouterr().err)[-1]["request_id"] == "partner-trace-0001"


@pytest.mark.parametrize("incoming", ["short", "x" * 65, 'evil" id', "new\\nline-header"])
def test_an_insane_incoming_request_id_is_replaced(make_settings, capsys, incoming):
    client = logged_client(make_settings, capsys)
    response = client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] != incoming
    assert len(response.headers["X-Request-ID"]) == 32


def test_authentication_failures_are_logged_without_the_key(make_settings, partner, capsys):
    client = logged_client(make_settings, capsys)
    forged = f"ek_{partner.key_id}_this-secret-must-not-be-logged"
    create_profile(client, {"x-api-key": forged})
    text = capsys.readouterr().err
    events = json_lines(text)
    failures = [line for line in events if line["event"] == "authentication_failed"]
    assert len(failures) == 1 and failures[0]["request_id"]
    assert events[-1]["status"] == 401 and events[-1]["partner_id"] is None
    assert "this-secret-must-not-be-logged" not in text


def test_no_personal_data_reaches_the_logs(make_settings, reviewer, services, capsys):
    client = logged_client(make_settings, capsys)
    document = {"type": "passport", "country": "NLD", "number": DOCUMENT_NUMBER}
    created = create_profile(client, reviewer.headers, document=document, **PII)
    assert created.status_code == 201
    profile_id = created.get_json()["id"]
    # Failures carry the same data: a refused body, a refused transition, an unavailable store.
    create_profile(client, reviewer.headers, **{**PII, "email": "zebulon.quack@@example"})
    client.patch(
        f"/api/profiles/{profile_id}/status",
        json={"status": "approved", "reason": "Zebulon Quackenbush looks fine"},
        headers=reviewer.headers,
    )
    client.post(
        f"/api/profiles/{profile_id}/notes",
        json={"body": f"called {PII['phone']}"},
        headers=reviewer.headers,
    )
    text = capsys.readouterr().err
    statuses = [line["status"] for line in json_lines(text) if line["event"] == "request"]
    assert statuses == [201, 422, 409, 201]
    for value in [*PII.values(), DOCUMENT_NUMBER, "zebulon", "Quackenbush"]:
        assert value.lower() not in text.lower(), value
    assert reviewer.api_key.split("_", 2)[2] not in text


def test_store_failures_are_logged_as_warnings(make_settings, partner, capsys):
    down = create_app(make_settings(pocketbase_url="http://127.0.0.1:9")).test_client()
    capsys.readouterr()
    create_profile(down, partner.headers, **PII)
    lines = json_lines(capsys.readouterr().err)
    failed = [line for line in lines if line["event"] == "request_failed"]
    assert failed and failed[0]["level"] == "warning" and failed[0]["status"] == 503
    assert lines[-1]["status"] == 503
    assert "Zebulon" not in json.dumps(lines)


def wait_for_text(stream: io.StringIO, expected: str, timeout_s: float = 3.0) -> str:
    """The stream's text once it holds ``expected`` (or whatever it holds at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while expected not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream.getvalue()


def test_batched_lines_wait_for_the_writer_and_keep_their_order():
    stream = io.StringIO()
    lines = BatchedLines(stream, interval_s=60.0)
    for number in range(5):
        lines.add(f"line {number}")
    assert stream.getvalue() == ""  # queued: the writer sleeps for a minute
    lines.write_pending()  # what exit does
    assert stream.getvalue() == "".join(f"line {number}\n" for number in range(5))
    lines.write_pending()
    assert stream.getvalue().count("\n") == 5  # written once


def test_the_writer_thread_writes_within_its_interval():
    stream = io.StringIO()
    lines = BatchedLines(stream, interval_s=0.02)
    lines.add("first")
    lines.add("second")
    assert wait_for_text(stream, "second") == "first\nsecond\n"


def test_batch_log_writes_routes_structlog_lines_through_the_writer():
    stream = io.StringIO()
    try:
        lines = batch_log_writes(60.0, stream)
        structlog.get_logger("test").info("batched_event", partner_id="p1")
        assert stream.getvalue() == ""
        lines.write_pending()
        (line,) = json_lines(stream.getvalue())
        assert line["event"] == "batched_event" and line["partner_id"] == "p1"
    finally:
        configure_logging()


def test_log_timestamps_are_iso_utc_with_microseconds_and_current():
    before = datetime.now(UTC)
    stamped = utc_timestamp(None, "info", {})["timestamp"]
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamped)
    moment = datetime.fromisoformat(stamped.replace("Z", "+00:00"))
    assert before - timedelta(microseconds=1) <= moment <= after


def test_request_ids_are_unique_hex_and_differ_between_processes():
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # a forked worker: its ids must not repeat the parent's
        os.write(writer, new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    from_child = os.read(reader, 64).decode()
    os.close(reader)
    os.close(writer)
    assert re.fullmatch(r"[0-9a-f]{32}", from_child)
    assert from_child[:16] != new_request_id()[:16]


def test_the_worker_logs_the_request_id_of_the_request_that_queued_the_job(
    make_settings, partner, inline_worker, capsys, monkeypatch
):
    """An operator follows one request id from the submit into the worker's lines for that job.
    The consumer runs a job in its own process, so each job runs here in a fresh context: what
    the request bound there cannot leak into the job, only what the message carries."""
    app = create_app(make_settings(log_json=True))
    inline_worker(app.extensions["ekyc"])
    run_in_place = queue.huey.execute
    monkeypatch.setattr(
        queue.huey,
        "execute",
        lambda task, *args, **kwargs: contextvars.Context().run(
            run_in_place, task, *args, **kwargs
        ),
    )
    created = create_profile(app.test_client(), partner.headers).get_json()
    capsys.readouterr()
    with app.test_request_context(headers={"X-Request-ID": "submit-trace-0001"}):
        app.preprocess_request()
        handoff.enqueue_verification(created["id"])  # not submitted: the job logs a skip
    skipped = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line["event"] == "verification_skipped" and line.get("profile_id") == created["id"]
    ]
    assert len(skipped) == 1
    assert skipped[0]["request_id"] == "submit-trace-0001"
