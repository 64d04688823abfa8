"""The operator's ``ekyc`` admin commands, run in-process against the test PocketBase."""

from __future__ import annotations

import json
import secrets
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.pb_server import PocketBaseServer


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, pocketbase: PocketBaseServer, tmp_path: Path) -> None:
    """The environment an operator's shell would have, pointing at the test PocketBase."""
    monkeypatch.setenv("EKYC_HOME", str(tmp_path))
    monkeypatch.setenv("POCKETBASE_URL", pocketbase.url)
    monkeypatch.setenv("PB_SUPERUSER_EMAIL", pocketbase.superuser_email)
    monkeypatch.setenv("PB_SUPERUSER_PASSWORD", pocketbase.superuser_password)
    monkeypatch.setenv("EKYC_LINK_SECRET", "cli-link-secret-0123456789")
    monkeypatch.setenv("EKYC_DATA_KEY", "cli-data-key-0123456789abcdef")
    monkeypatch.setenv("EKYC_WEBHOOK_ALLOW_PRIVATE", "true")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.usefixtures("cli_env")
def test_partner_and_keys_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        capsys, "partner", "create", "CLI Bank", "--scopes", "partner,reviewer", "--json"
    )
    assert code == 0
    created = json.loads(out)
    assert created["api_key"].startswith(f"ek_{created['key_id']}_")

    code, out = run(capsys, "key", "create", created["partner_id"], "--json")
    second = json.loads(out)
    assert code == 0 and second["key_id"] != created["key_id"]

    code, out = run(capsys, "key", "list", created["partner_id"])
    assert code == 0
    assert created["key_id"] in out and second["key_id"] in out
    assert created["api_key"] not in out and "partner,reviewer" in out

    assert run(capsys, "key", "revoke", second["key_id"])[0] == 0
    _, out = run(capsys, "key", "list", created["partner_id"])
    revoked_line = next(line for line in out.splitlines() if second["key_id"] in line)
    assert "revoked" in revoked_line


@pytest.mark.usefixtures("cli_env")
def test_a_new_key_is_printed_once_for_people_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "partner", "create", "Text Bank")
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert lines["api_key"].strip().startswith(f"ek_{lines['key_id'].strip()}_")
    assert lines["partner_id"].strip()
    assert "not shown again" in out


@pytest.mark.usefixtures("cli_env")
def test_a_partner_name_too_long_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The field's own message, as the operator API gives it, not PocketBase's raw JSON."""
    assert main(["partner", "create", "x" * 201]) == 2
    err = capsys.readouterr().err
    assert "  name: " in err and "200" in err and "PocketBase" not in err


@pytest.mark.usefixtures("cli_env")
def test_unknown_key_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "revoke", "doesnotexist"]) == 2
    assert "No key" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_env")
def test_webhooks_settings_and_expiry_commands(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(capsys, "partner", "create", "Hooks Bank", "--json")
    partner_id = json.loads(out)["partner_id"]

    code, out = run(
        capsys, "webhooks", "add", partner_id, "http://127.0.0.1:9/hook", "--events", "*"
    )
    endpoint = json.loads(out)
    assert code == 0 and endpoint["secret"].startswith("whsec_")

    _, out = run(capsys, "webhooks", "list", partner_id)
    listed = json.loads(out)
    assert [item["id"] for item in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]

    _, out = run(capsys, "webhooks", "disable", endpoint["id"])
    assert json.loads(out)["enabled"] is False

    code, out = run(capsys, "settings", "set", partner_id, '{"thresholds": {"approve": 85}}')
    assert code == 0 and json.loads(out)["thresholds"]["approve"] == 85
    _, out = run(capsys, "settings", "show", partner_id)
    assert json.loads(out)["thresholds"]["approve"] == 85

    assert main(["settings", "set", partner_id, '{"thresholds": {"approve": 500}}']) == 2
    # Every problem is named, one per line, not just "Invalid partner settings".
    patch = '{"thresholds": {"approve": 500}, "weights": {"kya": 50}, "kya": 3}'
    assert main(["settings", "set", partner_id, patch]) == 2
    refusal = capsys.readouterr().err
    for path in ("thresholds.approve", "weights", "kya"):
        assert f"  {path}: " in refusal
    assert main(["settings", "set", partner_id, "not json"]) == 2

    code, out = run(capsys, "expiry", "run", "--date", "2026-01-01")
    assert code == 0 and set(json.loads(out)) >= {"notices", "expired"}
    # Not a day ahead: it would expire documents still valid and spend their notices early.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert main(["expiry", "run", "--date", tomorrow]) == 2
    assert "ahead" in capsys.readouterr().err

    code, out = run(capsys, "retention", "run")
    assert code == 0 and set(json.loads(out)) == {"erased", "deferred"}
    with pytest.raises(SystemExit):  # no date: a date ahead would erase before time
        main(["retention", "run", "--date", "2030-01-01"])


@pytest.mark.usefixtures("cli_env")
def test_backup_create_and_list(
    capsys: pytest.CaptureFixture[str], pocketbase: PocketBaseServer
) -> None:
    code = main(["backup", "create"])
    captured = capsys.readouterr()
    assert code == 0
    made = json.loads(captured.out)
    assert made["key"].startswith("ekyc_") and made["size"] > 0
    assert "secrets.json" in captured.err  # the data key is not in the backup: said so
    stored = pocketbase.data_dir / "backups" / made["key"]
    with zipfile.ZipFile(stored) as archive:
        assert "data.db" in archive.namelist()
    code, out = run(capsys, "backup", "list")
    assert code == 0 and made["key"] in [item["key"] for item in json.loads(out)]
    stored.unlink()


@pytest.mark.usefixtures("cli_env")
def test_partners_are_found_by_name_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    name = f"Acme Bank {secrets.token_hex(3)}"
    code, out = run(capsys, "partner", "create", name, "--json")
    created = json.loads(out)
    assert code == 0 and created["slug"].startswith("acme-bank-")

    code, out = run(capsys, "partner", "list")
    assert code == 0
    [line] = [line for line in out.splitlines() if created["partner_id"] in line]
    assert created["slug"] in line and name in line

    # By name, in any case, as an operator types it.
    code, out = run(capsys, "key", "list", name.upper())
    assert code == 0 and created["key_id"] in out

    # Two partners of one name: the name alone is refused, and both slugs are offered.
    _, out = run(capsys, "partner", "create", name, "--json")
    twin = json.loads(out)
    assert main(["key", "list", name]) == 2
    refusal = capsys.readouterr().err
    assert created["slug"] in refusal and twin["slug"] in refusal
    assert run(capsys, "key", "list", twin["slug"])[0] == 0
    assert main(["key", "list", "No Such Partner"]) == 2
    assert "partner list" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["expiry", "run", "--date", "2026-13-45"],
        ["expiry", "run", "--date", "tomorrow"],
        ["expiry", "run", "--date", "9999-12-31"],  # the job's horizon would pass year 9999
        ["worker", "--processes", "0"],
        ["worker", "--processes", "-2"],
        ["webhooks", "deliveries", "any-partner", "--status", "failling"],
    ],
)
def test_bad_arguments_are_usage_errors_not_tracebacks(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Refused by the parser (exit 2, the reason on stderr) before anything runs: no traceback,
    and no worker started with some other number of processes than the one asked."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and argv[-1] in err


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("overlap_s", ["999999999999", str(8 * 86_400)])
def test_webhook_rotation_overlap_is_bounded_as_in_the_api(
    capsys: pytest.CaptureFixture[str], overlap_s: str
) -> None:
    """0 to 7 days, as `POST /api/webhooks/{id}/rotate` allows: a huge overlap was a traceback
    (OverflowError), a long one kept the old secret signing for as long as asked."""
    _, out = run(capsys, "partner", "create", "Rotating Bank", "--json")
    partner_id = json.loads(out)["partner_id"]
    _, out = run(capsys, "webhooks", "add", partner_id, "http://127.0.0.1:9/hook")
    endpoint_id = json.loads(out)["id"]
    assert main(["webhooks", "rotate", endpoint_id, "--overlap-s", overlap_s]) == 2
    assert "overlap_s" in capsys.readouterr().err
    assert run(capsys, "webhooks", "rotate", endpoint_id, "--overlap-s", "604800")[0] == 0


@pytest.mark.usefixtures("cli_env")
def test_the_admin_scope_is_refused_on_a_partners_key(capsys: pytest.CaptureFixture[str]) -> None:
    """``admin`` belongs to operator keys (the operator partner's); on a tenant's key it granted
    nothing, silently. The refusal says what to use instead and stores nothing."""
    _, out = run(capsys, "partner", "create", "Scoped Bank", "--json")
    created = json.loads(out)

    assert main(["key", "create", created["partner_id"], "--scopes", "partner,admin"]) == 2
    err = capsys.readouterr().err
    assert "admin" in err and "ekyc operator key create" in err
    name = f"Admin Bank {secrets.token_hex(4)}"
    assert main(["partner", "create", name, "--scopes", "admin"]) == 2
    assert "ekyc operator key create" in capsys.readouterr().err

    _, out = run(capsys, "key", "list", created["partner_id"])
    assert len(out.strip().splitlines()) == 1  # the first key only
    _, out = run(capsys, "partner", "list", "--json")
    assert name not in out  # no partner left without a key
    # An unknown scope is refused before the partner is made too.
    assert main(["partner", "create", name, "--scopes", "partner,everything"]) == 2
    assert "everything" in capsys.readouterr().err
    _, out = run(capsys, "partner", "list", "--json")
    assert name not in out
    # What admin is for still works: an operator key.
    code, out = run(capsys, "operator", "key", "create", "--json")
    assert code == 0 and json.loads(out)["api_key"]


def test_a_home_that_is_not_the_stacks_says_where_the_credentials_came_from(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pocketbase: PocketBaseServer,
    tmp_path: Path,
) -> None:
    """``ekyc`` run from another folder reads (or makes) another home's secrets: PocketBase refuses
    them, and the error says which file they came from and what to do, not only "refused"."""
    home = tmp_path / "another-folder" / ".ekyc"
    monkeypatch.setenv("EKYC_HOME", str(home))
    monkeypatch.setenv("POCKETBASE_URL", pocketbase.url)
    for name in ("PB_SUPERUSER_EMAIL", "PB_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert main(["partner", "list"]) == 2
    err = capsys.readouterr().err
    assert "PocketBase refused the gateway's superuser" in err
    assert str(home / "secrets.json") in err and "EKYC_HOME" in err, err
