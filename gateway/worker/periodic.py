"""Periodic jobs: the webhook fan-out and the KYC Service watchdog (every minute), the daily
document-expiry job, the daily retention job and the daily pruning of the webhook outbox. The
consumer must import this module for Huey to schedule them."""

from __future__ import annotations

from datetime import UTC, datetime

from huey import crontab

from gateway.services.expiry import run_expiry_job
from gateway.services.retention import run_retention_job
from gateway.services.webhooks.pruning import prune_outbox
from gateway.worker.queue import huey, worker_services
from gateway.worker.webhook_tasks import sweep_webhooks


@huey.periodic_task(crontab(minute="*"))
def webhook_sweeper() -> dict[str, int]:
    """Fan out outbox events the delivery engine has not (a safety net)."""
    return sweep_webhooks()


@huey.periodic_task(crontab(hour="2", minute="17"))
def document_expiry() -> dict[str, int]:
    """Warn about documents expiring in 90/30/7 days and expire the ones past their date."""
    return run_expiry_job(worker_services().pb).as_dict()


@huey.periodic_task(crontab(hour="3", minute="17"))
def retention() -> dict[str, int]:
    """Erase the personal data of profiles whose retention period has ended."""
    return run_retention_job(worker_services().profiles).as_dict()


@huey.periodic_task(crontab(hour="3", minute="47"))
def outbox_pruning() -> dict[str, int]:
    """Remove webhook events and deliveries past EKYC_WEBHOOK_RETENTION_DAYS, and expired
    idempotency keys."""
    services = worker_services()
    return prune_outbox(
        services.pb, services.settings.webhook_retention_days, datetime.now(UTC)
    ).as_dict()


@huey.periodic_task(crontab(minute="*"))
def kyc_watchdog() -> list[int]:
    """Fail KYC Service rows stuck ``in_review`` past KYC_STUCK_TIMEOUT_MIN (when POSTGRES_URL)."""
    sink = worker_services().result_sink
    return sink.fail_stuck() if sink is not None else []
