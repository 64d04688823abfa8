"""The container files, checked against the code (no Docker engine runs here): every command a
service runs exists (console script + CLI subcommand, gunicorn's wsgi:app, the pocketbase binary
and the directories it is pointed at), and every variable a service sets is one the code reads."""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from gateway.cli import build_parser
from gateway.pb_server import pocketbase_binary

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = "/app"  # where the Dockerfile puts the repository
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
SERVICES = COMPOSE["services"]
OUR_SERVICES = ("pocketbase", "gateway", "worker")
SECRETS = ("PB_SUPERUSER_PASSWORD", "EKYC_LINK_SECRET", "EKYC_DATA_KEY")
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (inside a container, by design)
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


def env_names_read_by_the_code() -> set[str]:
    """Every string literal that looks like an env var name in the gateway package and wsgi.py."""
    names: set[str] = set()
    for path in [*(REPO_ROOT / "gateway").rglob("*.py"), REPO_ROOT / "wsgi.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ENV_NAME.match(node.value)
            ):
                names.add(node.value)
    return names


def settings_env_names() -> set[str]:
    """The names Settings.from_env reads (``env.get("NAME")`` / ``_int(env, "NAME", ..)``)."""
    source = (REPO_ROOT / "gateway" / "settings.py").read_text()
    from_env = source[source.index("def from_env") : source.index("def validate")]
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)"', from_env))


def command_words(service: dict) -> list[list[str]]:
    """The commands a service runs, split into words; ``sh -c`` scripts split on ``&&``."""
    command = service.get("command")
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] != ["sh", "-c"]:
        return [words]
    script = words[2].replace("$$", "$")
    commands = []
    for part in script.split("&&"):
        part_words = shlex.split(part)
        if part_words[0] == "exec":
            part_words = part_words[1:]
        commands.append(part_words)
    return commands


def repo_path(container_path: str) -> Path:
    """Where a path inside the image (under /app) lives in this repository."""
    assert container_path.startswith(APP_DIR + "/"), container_path
    return REPO_ROOT / container_path.removeprefix(APP_DIR + "/")


def flag_value(words: list[str], flag: str) -> str | None:
    """The value after ``flag`` in a word list."""
    return words[words.index(flag) + 1] if flag in words else None


def service_env(name: str) -> dict[str, str]:
    """The environment a service sets (YAML merge keys already resolved by the loader)."""
    environment = SERVICES[name].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def test_the_three_services_and_an_optional_redis_profile():
    assert set(OUR_SERVICES) <= set(SERVICES)
    assert SERVICES["redis"]["profiles"] == ["redis"]
    for name in OUR_SERVICES:
        assert "profiles" not in SERVICES[name], name
        assert SERVICES[name]["build"] == "."
    assert len({SERVICES[name]["image"] for name in OUR_SERVICES}) == 1


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_every_command_exists_in_the_code(name):
    scripts = PYPROJECT["project"]["scripts"]
    for words in command_words(SERVICES[name]):
        program = words[0]
        if program in scripts:
            module, function = scripts[program].split(":")
            assert (REPO_ROOT / Path(*module.split("."))).with_suffix(".py").exists()
            assert function == "main"
            build_parser().parse_args(words[1:])  # SystemExit (fails the test) if unknown
        elif program == "gunicorn":
            module, attribute = next(word for word in words if ":" in word).split(":")
            tree = ast.parse((REPO_ROOT / f"{module}.py").read_text())
            targets = {
                target.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            assert attribute in targets
        elif program == "pocketbase":
            assert Path(pocketbase_binary()).exists()
            assert words[1] in {"migrate", "superuser", "serve"}
            for flag in ("--migrationsDir", "--hooksDir"):
                if (value := flag_value(words, flag)) is not None:
                    assert repo_path(value).is_dir(), value
            if words[1] == "serve":
                assert "--automigrate=false" in words and "--hooksWatch=false" in words
        else:
            pytest.fail(f"{name} runs {program!r}, which the project does not provide")


def test_gateway_and_worker_run_the_cli_subcommands():
    assert command_words(SERVICES["gateway"]) == [["ekyc", "serve"]]
    assert command_words(SERVICES["worker"]) == [["ekyc", "worker"]]


@pytest.mark.parametrize("name", OUR_SERVICES)
def test_every_variable_a_service_sets_is_read_by_the_code(name):
    known = env_names_read_by_the_code()
    for variable in service_env(name):
        assert variable in known, f"{name} sets {variable}, which no code reads"


def test_settings_read_every_variable_the_gateway_sets_except_the_shell_ones():
    read_by_settings = settings_env_names()
    assert set(service_env("gateway")) <= read_by_settings
    assert set(service_env("worker")) <= read_by_settings


def test_pocketbase_superuser_variables_reach_its_shell_command():
    script = " ".join(" ".join(words) for words in command_words(SERVICES["pocketbase"]))
    for variable in service_env("pocketbase"):
        assert f"${variable}" in script


def test_secrets_come_from_the_environment_never_from_the_file():
    for name in OUR_SERVICES:
        for variable, value in service_env(name).items():
            if variable in SECRETS:
                assert re.fullmatch(r"\$\{" + variable + r":\?[^}]+\}", value), (name, variable)


def test_gateway_and_worker_share_ekyc_home_and_reach_pocketbase_by_name():
    for name in ("gateway", "worker"):
        env = service_env(name)
        assert env["EKYC_HOME"] == "/data"
        assert "ekyc_home:/data" in SERVICES[name]["volumes"]
        assert env["POCKETBASE_URL"] == "http://pocketbase:8090"
        assert SERVICES[name]["depends_on"]["pocketbase"]["condition"] == "service_healthy"
        assert SERVICES[name]["depends_on"]["redis"]["required"] is False
    serve = command_words(SERVICES["pocketbase"])[-1]
    assert flag_value(serve, "--http") == f"{ALL_INTERFACES}:8090"
    assert service_env("gateway")["GATEWAY_HOST"] == ALL_INTERFACES


def test_dockerfile_base_install_and_unprivileged_user():
    assert re.search(r"^FROM python:3\.11-slim\s*$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^RUN pip install -e \.\s*$", DOCKERFILE, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^WORKDIR /app\s*$", DOCKERFILE, re.MULTILINE)


def test_dockerfile_copies_what_exists_and_what_the_code_needs_beside_it():
    copied = set()
    for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE, re.MULTILINE):
        *sources, _destination = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
            copied.add(source)
    assert {"pyproject.toml", "gateway", "wsgi.py", "pb_migrations", "pb_hooks", "hosted_flow"} <= (
        copied
    )
    default = re.search(r"^CMD\s+(.+)$", DOCKERFILE, re.MULTILINE).group(1)
    assert yaml.safe_load(default) == ["ekyc", "serve"]
