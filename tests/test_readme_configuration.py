"""The README's Configuration table against the code: it names every environment variable the
gateway, the worker, the CLI and the install scripts read, no other, and each default it states
for a setting is the one ``Settings.from_env`` actually takes when the variable is unset."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

from gateway.settings import Settings
from tests.test_compose import settings_env_names

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")
# How the code reads a variable: the environment mapping, or Settings' typed readers of it.
READERS = {
    "os.environ.get",
    "os.getenv",
    "os.environ.setdefault",
    "env.get",
    "_int",
    "_bool",
    "_pairs",
}
ENVIRONMENTS = {"os.environ", "env"}
# Supplied so that from_env neither generates nor writes secrets.json while defaults are compared.
SECRETS = {
    "PB_SUPERUSER_EMAIL": "ops@example.org",
    "PB_SUPERUSER_PASSWORD": "a-password-for-the-test",
    "EKYC_LINK_SECRET": "l" * 32,
    "EKYC_DATA_KEY": "d" * 32,
}

# Values the settings accept for variables whose default is empty (a plain word is refused).
PROBES = {
    "KYC_RESULT_KEY": {"KYC_RESULT_KEY": "ab" * 32},
    "POSTGRES_URL": {"POSTGRES_URL": "postgresql://127.0.0.1/kyc", "KYC_RESULT_KEY": "ab" * 32},
    "EKYC_PARTNER_S3_BUCKETS": {"EKYC_PARTNER_S3_BUCKETS": "partner1=bucket1"},
    "EKYC_WEBHOOK_CA_BUNDLE": {"EKYC_WEBHOOK_CA_BUNDLE": __file__},
}


def env_names_read_by_the_code() -> set[str]:
    """Names passed to an environment read anywhere in gateway/, scripts/ and wsgi.py."""
    paths = [*(REPO_ROOT / "gateway").rglob("*.py"), *(REPO_ROOT / "scripts").glob("*.py")]
    names: set[str] = set()
    for path in [*paths, REPO_ROOT / "wsgi.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in READERS:
                candidates = node.args
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ENVIRONMENTS:
                candidates = [node.slice]
            elif isinstance(node, ast.Compare) and any(
                ast.unparse(right) in ENVIRONMENTS for right in node.comparators
            ):
                candidates = [node.left]
            else:
                continue
            names |= {
                arg.value
                for arg in candidates
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and ENV_NAME.match(arg.value)
            }
    return names


def readme_configuration() -> dict[str, str]:
    """``{variable: default cell}`` of the README's Configuration table."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    assert len(rows) == len({name for name, _ in rows}), "a variable is tabled twice"
    return {name: default.strip() for name, default in rows}


def test_the_readme_tables_exactly_the_variables_the_code_reads():
    read, tabled = env_names_read_by_the_code(), set(readme_configuration())
    assert len(read) > 40  # the scan found the settings, not nothing
    assert sorted(read - tabled) == [], "read by the code, missing from the README"
    assert sorted(tabled - read) == [], "in the README, read by no code"


def test_every_default_the_readme_states_is_the_one_taken(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # EKYC_HOME's default is relative to the working directory
    tabled = readme_configuration()
    literal = {
        name: cell.strip("`") for name, cell in tabled.items() if re.fullmatch(r"`[^`]*`", cell)
    }
    # `$NAME` in a default stands for that variable's own default.
    for _ in range(3):
        literal = {name: expand(value, literal) for name, value in literal.items()}
    unset = Settings.from_env(dict(SECRETS))
    checked = []
    for name, value in literal.items():
        if name in SECRETS or name not in settings_env_names():
            continue
        assert "$" not in value, (name, value)
        assert Settings.from_env({**SECRETS, name: value}) == unset, (name, value)
        checked.append(name)
    assert len(checked) > 25, checked
    # An "empty" default: the setting the variable feeds holds nothing while it is unset.
    empty = [name for name, cell in tabled.items() if cell.startswith("empty")]
    for name in (name for name in empty if name in settings_env_names()):
        given = Settings.from_env({**SECRETS, **PROBES.get(name, {name: "probe"})})
        fed = [f.name for f in fields(Settings) if getattr(given, f.name) != getattr(unset, f.name)]
        assert fed, name
        assert all(not getattr(unset, field) for field in fed), (name, fed)
        checked.append(name)
    assert len(checked) > 35, checked


def expand(value: str, defaults: dict[str, str]) -> str:
    """``value`` with each ``$NAME`` replaced by that variable's tabled default."""
    return re.sub(r"\$([A-Z][A-Z0-9_]+)", lambda ref: defaults.get(ref[1], ref[0]), value)
