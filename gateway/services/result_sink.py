"""The KYC Service's result sink: its ``kyc_verification`` row updated when a verification ends.

With ``POSTGRES_URL`` set, the worker writes exactly the statement the KYC Service's own worker
wrote (so its back end reads the row unchanged)::

    UPDATE kyc_verification SET status = 'ocr_complete' | 'ocr_failed',
        "ocrResult" = <sealed JSON>, "reviewedAt" = NOW() WHERE id = <kycId>

``ocrResult`` is the result JSON sealed with AES-256-GCM (``gateway.services.result_seal``;
format and a decrypt snippet in docs/intake.md). PostgreSQL being down or slow is a transient
error (``ResultSinkUnavailable``): the worker's task retries it, the decision already stored in
PocketBase is not touched.

The watchdog fails rows left ``in_review`` for longer than ``KYC_STUCK_TIMEOUT_MIN`` (by their
``"updatedAt"``) with ``"failureCode" = 'processing_timeout'``, so a lost hand-over can never leave
the KYC Service waiting for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from gateway.services.intake.kyc_result import OCR_FAILED, build_result, kyc_status
from gateway.services.result_seal import parse_key, seal

log = structlog.get_logger("gateway.result_sink")

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 10_000

UPDATE_RESULT = (
    'UPDATE kyc_verification SET status = %s, "ocrResult" = %s, "reviewedAt" = NOW() WHERE id = %s'
)
FAIL_STUCK = (
    "UPDATE kyc_verification SET status = 'ocr_failed', \"failureCode\" = 'processing_timeout', "
    '"reviewedAt" = NOW() '
    "WHERE status = 'in_review' AND \"updatedAt\" < NOW() - make_interval(mins => %s) "
    "RETURNING id"
)


class ResultSinkUnavailable(Exception):
    """PostgreSQL did not take the write (down, slow, restarting): retry later."""


@dataclass(frozen=True)
class ResultSinkConfig:
    """Where the KYC Service's database is, the result key, and the watchdog's patience."""

    postgres_url: str
    result_key: str
    stuck_timeout_min: int = 30
    # The gateway's data key: the stored document values are sealed with it (sealed_scores).
    data_key: str = ""


class ResultSink:
    """Writes KYC Service results and runs the stuck-record watchdog."""

    def __init__(self, config: ResultSinkConfig) -> None:
        self.config = config
        self._key = parse_key(config.result_key)

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(
                self.config.postgres_url,
                connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            raise ResultSinkUnavailable("the KYC Service database did not answer") from exc

    def write(self, profile: dict[str, Any]) -> bool:
        """Write a decided KYC Service profile's result; False if it is not one (or not decided).

        Raises ``ResultSinkUnavailable`` on connection and server errors (the caller retries).
        """
        intake = (profile.get("metadata") or {}).get("kyc_service") or {}
        status = kyc_status(profile)
        if intake.get("kycId") is None or status == "pending":
            return False
        row_id = int(intake["kycId"])
        sealed = seal(self._key, row_id, build_result(profile, data_key=self.config.data_key))
        try:
            with self._connect() as connection:
                updated = connection.execute(UPDATE_RESULT, (status, sealed, row_id)).rowcount
        except psycopg.OperationalError as exc:
            raise ResultSinkUnavailable("the KYC Service database dropped the write") from exc
        if not updated:
            # Nothing to update: the KYC Service never created the row. Logged, not retried.
            log.warning("kyc_result_row_missing", profile_id=profile.get("id"))
        log.info(
            "kyc_result_written",
            profile_id=profile.get("id"),
            status=status,
            failed=status == OCR_FAILED,
        )
        return bool(updated)

    def fail_stuck(self) -> list[int]:
        """Fail rows stuck ``in_review`` past the timeout; returns their ids."""
        try:
            with self._connect() as connection:
                rows = connection.execute(FAIL_STUCK, (self.config.stuck_timeout_min,)).fetchall()
        except psycopg.OperationalError as exc:
            raise ResultSinkUnavailable("the KYC Service database did not answer") from exc
        ids = [int(row[0]) for row in rows]
        if ids:
            log.warning("kyc_rows_timed_out", count=len(ids))
        return ids
