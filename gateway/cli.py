"""The ``ekyc`` command: run the stack (this module) and administer it (``cli_admin``).

``ekyc up`` starts PocketBase, the gateway (gunicorn) and the worker on 127.0.0.1, prints where to
go, and stops all three on Ctrl-C or SIGTERM. ``serve``, ``pocketbase`` and ``worker`` are the
pieces it is made of, one per container.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.cli_admin import add_admin_commands, positive_int_argument, run_admin_command
from gateway.cli_billing import add_billing_commands
from gateway.cli_webhooks import add_webhook_commands
from gateway.pb_server import PRIVATE_UMASK, REPO_ROOT, PocketBaseServer, make_private
from gateway.processes import ProcessNotReady, stop_process, wait_healthy
from gateway.settings import Settings

GUNICORN_TIMEOUT_S = 60
# Gunicorn's access line at DEBUG: the path without its query (a flow URL's query is the capture
# token), no referrer (a page's URL) and no client address or user agent (personal data).
ACCESS_LOG_FORMAT = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'
# How long `ekyc up` waits for the gateway to answer before it gives up and stops everything.
GATEWAY_START_TIMEOUT_S = 120
# gunicorn's largest request line (its default is 4,094); a longer one, or a header over the field
# limit, is refused by gunicorn itself, as problem JSON through the worker class below.
LIMIT_REQUEST_LINE_BYTES = 8190
LIMIT_REQUEST_FIELD_BYTES = 8190
GUNICORN_WORKER_CLASS = "gateway.gunicorn_worker.ProblemJsonThreadWorker"


def stop_requested() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, so a foreground command can stop cleanly."""
    event = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        event.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    return event


def _pocketbase_port(settings: Settings) -> int:
    return int(settings.pocketbase_url.rsplit(":", 1)[1].split("/")[0])


def _pocketbase(settings: Settings) -> PocketBaseServer:
    return PocketBaseServer(
        data_dir=settings.ekyc_home / "pb_data",
        port=_pocketbase_port(settings),
        superuser_email=settings.pb_superuser_email,
        superuser_password=settings.pb_superuser_password,
    )


def gunicorn_command(settings: Settings) -> list[str]:
    """gunicorn for this machine and these settings.

    With in-memory rate-limit storage every process would count on its own, so the gateway runs
    one process with threads; with Redis it runs ``GATEWAY_WORKERS`` processes sharing the counts.
    """
    processes = settings.gateway_workers if settings.redis_url else 1
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "wsgi:app",
        "--chdir",
        str(REPO_ROOT),
        "--bind",
        f"{settings.gateway_host}:{settings.gateway_port}",
        "--workers",
        str(processes),
        "--worker-class",
        GUNICORN_WORKER_CLASS,
        "--threads",
        "8",
        "--timeout",
        str(GUNICORN_TIMEOUT_S),
        "--graceful-timeout",
        "10",
        "--limit-request-line",
        str(LIMIT_REQUEST_LINE_BYTES),
        "--limit-request-field_size",
        str(LIMIT_REQUEST_FIELD_BYTES),
        # Gunicorn's access log only at DEBUG, without query strings (ACCESS_LOG_FORMAT); the
        # gateway's own request log line already holds method, route, status and latency. Left
        # unset, not /dev/null: with any access log file gunicorn formats every line, ~5 % of a
        # GET's CPU.
        *(
            ["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
            if settings.log_level == "DEBUG"
            else []
        ),
        # Per home, not gunicorn's default in ~/.gunicorn, so two stacks on one machine
        # (two homes, or a test beside a running stack) never share a control socket.
        "--control-socket",
        str(settings.ekyc_home / "gunicorn.ctl"),
    ]


def _child_env(settings: Settings) -> dict[str, str]:
    metrics_dir = settings.ekyc_home / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **settings.child_env(), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def cmd_up(settings: Settings) -> int:
    """Start PocketBase, the gateway and the worker; stop them all on Ctrl-C/SIGTERM."""
    pocketbase = _pocketbase(settings)
    print(f"ekyc: preparing PocketBase in {pocketbase.data_dir}", flush=True)
    pocketbase.prepare()
    pocketbase.start(log_path=settings.ekyc_home / "pocketbase.log")
    env = _child_env(settings)
    gateway = subprocess.Popen(gunicorn_command(settings), env=env)
    worker = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"], env=env, cwd=str(REPO_ROOT)
    )
    children = {"gateway": gateway, "worker": worker}
    stop = stop_requested()
    exit_code = 0
    try:
        # The banner says "up": print it once the gateway answers, not when gunicorn was only
        # spawned (it then takes a second or more to import the app and bind). A Ctrl-C meanwhile
        # stops everything once the wait ends.
        try:
            wait_healthy(
                gateway,
                f"{_local_url(settings.gateway_host, settings.gateway_port)}/health",
                what="the gateway",
                timeout_s=GATEWAY_START_TIMEOUT_S,
            )
        except ProcessNotReady as not_ready:
            print(f"ekyc: {not_ready}; stopping", flush=True)
            return 1
        if not stop.is_set():
            print(_banner(settings, pocketbase.url), flush=True)
        while not stop.is_set():
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"ekyc: {name} exited with {child.returncode}; stopping", flush=True)
                    exit_code = 1
                    stop.set()
            time.sleep(0.2)
    finally:
        for child in (worker, gateway):  # both stop at once, then each gets its grace
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in (worker, gateway):
            stop_process(child, grace_s=15, already_signalled=True)
        pocketbase.stop()
        print("ekyc: stopped", flush=True)
    return exit_code


def _local_url(host: str, port: int) -> str:
    """Where this machine reaches a server bound to ``host``:``port`` (any address: loopback)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:  # a host name
        return f"http://{host or '127.0.0.1'}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def _ekyc_command() -> str:
    """The ``ekyc`` script beside this Python (``.venv/bin/ekyc`` from the repository, where the
    README runs it: it is not on PATH unless the virtualenv is activated)."""
    script = Path(sys.executable).with_name("ekyc")
    if not script.is_file():
        return "ekyc"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _banner(settings: Settings, pocketbase_url: str) -> str:
    """What ``ekyc up`` prints once everything answers: where to go."""
    base = settings.public_base_url
    return "\n".join(
        [
            "",
            "eKYC gateway is up:",
            f"  Partner API    {base}/api/profiles   (header x-api-key)",
            f"  Hosted flow    {settings.kyc_frontend_url}/<profile_id>?t=<token>",
            f"  Health         {base}/health   ready: {base}/health/ready",
            f"  Metrics        {base}/metrics",
            f"  Admin UI       {pocketbase_url}/_/   (superuser: {settings.pb_superuser_email},"
            f" password in {settings.ekyc_home / 'secrets.json'} unless set in env)",
            f"  Make a partner: {_ekyc_command()} partner create '<name>' --json",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def cmd_serve(settings: Settings) -> int:
    """Run only the gateway (gunicorn) in the foreground, e.g. in its own container."""
    os.execve(sys.executable, gunicorn_command(settings), _child_env(settings))
    return 0  # pragma: no cover - execve does not return


def cmd_pocketbase(settings: Settings) -> int:
    """Migrate and run only PocketBase in the foreground, e.g. in its own container."""
    pocketbase = _pocketbase(settings)
    pocketbase.prepare()
    pocketbase.start()
    stop = stop_requested()
    while not stop.is_set() and pocketbase.process and pocketbase.process.poll() is None:
        time.sleep(0.2)
    pocketbase.stop()
    return 0


def cmd_worker(settings: Settings, processes: int | None) -> int:
    """Run the verification worker (Huey consumer) in the foreground."""
    from gateway.worker.consumer import run_consumer

    run_consumer(processes or settings.worker_processes)
    return 0


# What the stack writes at the top of EKYC_HOME (pb_data is tightened by PocketBaseServer).
HOME_FILE_PATTERNS = ("queue.db*", "secrets.json", "pocketbase.log")


def _make_home_private(home: Path) -> None:
    """Tighten what an older version left 0644/0755 in ``home``: only the stack's own files and
    pb_data, never anything else an operator keeps in that folder (EKYC_HOME may be shared)."""
    make_private(home / "pb_data")
    for pattern in HOME_FILE_PATTERNS:
        for path in home.glob(pattern):
            if path.is_file() and not path.is_symlink():
                path.chmod(0o600)


def build_parser() -> argparse.ArgumentParser:
    """The ``ekyc`` argument parser."""
    parser = argparse.ArgumentParser(prog="ekyc", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start PocketBase, the gateway and the worker")
    commands.add_parser("serve", help="run the gateway only (gunicorn)")
    commands.add_parser("pocketbase", help="migrate and run PocketBase only")
    worker = commands.add_parser("worker", help="run the verification worker only")
    worker.add_argument(
        "--processes",
        type=positive_int_argument,
        default=None,
        help="worker processes (default: EKYC_WORKER_PROCESSES)",
    )

    add_admin_commands(commands)
    add_webhook_commands(commands)
    add_billing_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ekyc`` console script."""
    from gateway.errors import GatewayError, StoreCredentialsRefused
    from gateway.logging_setup import configure_logging

    args = build_parser().parse_args(argv)
    os.umask(PRIVATE_UMASK)  # inherited by PocketBase, gunicorn and the worker
    settings = Settings.from_env()
    _make_home_private(settings.ekyc_home)
    configure_logging(settings.log_level, settings.log_json)  # to stderr: stdout is for results
    try:
        if args.command == "up":
            return cmd_up(settings)
        if args.command == "serve":
            return cmd_serve(settings)
        if args.command == "pocketbase":
            return cmd_pocketbase(settings)
        if args.command == "worker":
            return cmd_worker(settings, args.processes)
        return run_admin_command(settings, args)
    except GatewayError as error:
        print(f"ekyc: {error.detail}", file=sys.stderr)
        # Field problems one per line, as the API's `errors` map gives them.
        for path, problems in (
            (error.errors or {}).items() if isinstance(error.errors, dict) else ()
        ):
            for problem in problems if isinstance(problems, list) else [problems]:
                print(f"  {path}: {problem}", file=sys.stderr)
        if isinstance(error, StoreCredentialsRefused):
            # Most often ekyc run from another folder: a home of its own, with new secrets.
            print(
                "  the superuser comes from PB_SUPERUSER_EMAIL and PB_SUPERUSER_PASSWORD, else "
                f"from {settings.ekyc_home / 'secrets.json'}: run ekyc in the folder the stack "
                "runs in, or with its EKYC_HOME",
                file=sys.stderr,
            )
        return 2


if __name__ == "__main__":
    sys.exit(main())
