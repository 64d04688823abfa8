"""The README's partner example, read out of README.md and run as printed.

A new integrator copies the README's commands; if they drift from the product, the first hour
goes on finding out why. So the docs test does not retype them: it takes the fenced ``sh``
blocks from README.md and runs them with bash, changing only what the reader changes too: the
host (``http://127.0.0.1:8000``, the default port, becomes the test stack's) and ``$KEY`` (an
environment variable, set to the key the README's own ``partner create ... --json`` printed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.pb_server import REPO_ROOT

README = REPO_ROOT / "README.md"
README_HOST = "http://127.0.0.1:8000"
PARTNER_CREATE = '.venv/bin/ekyc partner create "Acme Bank" --json'
PARTNER_EXAMPLE = '.venv/bin/ekyc settings set "Acme Bank"'
TRY_IT_CREATE = '.venv/bin/ekyc partner create "Try it" --json'
TRY_IT_DECISION = "/api/profiles/<id> -H"


def sh_blocks(markdown: str) -> list[str]:
    """The bodies of the fenced ``sh`` code blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def block_with(needle: str, markdown: str | None = None) -> str:
    """The one ``sh`` block holding ``needle`` (the test fails if the README lost it)."""
    found = [block for block in sh_blocks(markdown or README.read_text()) if needle in block]
    assert len(found) == 1, f"README.md must hold one sh block with {needle!r}, found {len(found)}"
    return found[0]


def line_starting(prefix: str, block: str) -> str:
    [line] = [line for line in block.splitlines() if line.startswith(prefix)]
    return line


def profile_request(block: str) -> dict[str, Any]:
    """The JSON body of the README's create-profile call (what the document must carry)."""
    body = re.search(r"-d '(\{.*?\})'", block, flags=re.DOTALL)
    assert body, "the README's profile example has no -d '{...}' body"
    return json.loads(body.group(1))


@dataclass
class ReadmeRun:
    """What running the README's commands gave: the partner's key and the created profile."""

    api_key: str
    partner_id: str
    request: dict[str, Any]
    profile: dict[str, Any]


def run_shell(script: str, env: dict[str, str]) -> str:
    """``script`` in bash from the repository root, as a reader pastes it; its stdout."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stderr[-2000:]}"
    return done.stdout


def run_partner_example(url: str, child_env: dict[str, str]) -> ReadmeRun:
    """``partner create "Acme Bank" --json``, then the partner API block (settings, create)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (apt-get install -y curl): the README uses it")
    assert (REPO_ROOT / ".venv/bin/ekyc").exists(), "the README's .venv/bin/ekyc is missing"
    env = {**os.environ, **child_env}
    partner = line_starting(PARTNER_CREATE, block_with(PARTNER_CREATE))
    created = json.loads(run_shell(partner, env))
    example = block_with(PARTNER_EXAMPLE)
    output = run_shell(example.replace(README_HOST, url), {**env, "KEY": created["api_key"]})
    profile = last_json(output)
    return ReadmeRun(created["api_key"], created["partner_id"], profile_request(example), profile)


def last_json(output: str) -> dict[str, Any]:
    """The JSON body curl printed last, on one line (after anything an earlier command said)."""
    return json.loads(output.strip().splitlines()[-1])


def run_try_it(url: str, child_env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "Try it" section's commands: step 2 (partner, key, profile) as printed, then step 4
    (the decision) with the profile's id for ``<id>``, in the same shell, as a reader does.
    Returns the created profile and what step 4 printed. The flow in between is the approved
    journey's (the same pages, a fake camera)."""
    env = {**os.environ, **child_env}
    create = block_with(TRY_IT_CREATE).replace(README_HOST, url)
    decision = block_with(TRY_IT_DECISION).replace(README_HOST, url)
    # the reader keeps the shell (and $KEY) between the steps: here, one script
    printed = run_shell(f'{create}\nprintf "\\n%s\\n" "$KEY"', env)
    body, key = printed.strip().rsplit("\n", 1)
    profile = last_json(body)
    shown = last_json(run_shell(decision.replace("<id>", profile["id"]), {**env, "KEY": key}))
    return profile, shown
