"""Run the worker: a Huey consumer with process workers, periodic jobs on.

Process workers because verification is CPU-bound Python (the GIL would serialise threads);
each process loads the face models once through the ``on_startup`` hook in ``tasks``. SIGINT
stops gracefully (running jobs finish), SIGTERM at once; a job cut short is recovered by the
reconciler when its lease runs out.
"""

from __future__ import annotations

from huey.consumer import Consumer

from gateway.settings import Settings


def build_consumer(workers: int) -> Consumer:
    """A consumer for the project's queue with every task module registered."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    # Importing registers every task and periodic job (verification, lease reconciler, webhook
    # delivery and sweeper, document expiry) on the shared Huey instance.
    from gateway.worker import periodic, reconciler, tasks, webhook_tasks  # noqa: F401
    from gateway.worker.queue import huey

    return huey.create_consumer(
        workers=workers,
        worker_type="process",
        periodic=True,
        check_worker_health=True,
        # An idle worker polls the queue at most this far apart: a queued webhook delivery waits
        # no longer than this to start (a SQLite read each time; nothing for Redis to speak of).
        max_delay=0.5,
    )


def run_consumer(workers: int | None = None) -> None:
    """Block running the worker; `workers` defaults to EKYC_WORKER_PROCESSES."""
    from gateway.logging_setup import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    consumer = build_consumer(workers or settings.worker_processes)
    from gateway.worker.webhook_tasks import start_delivery_engine

    # Webhooks go out from threads of this process, not from the process workers: sending is
    # waiting on receivers, and a slow one must not hold a verification (or another partner) back.
    stop_engine = start_delivery_engine()
    try:
        consumer.run()
    finally:
        stop_engine.set()
