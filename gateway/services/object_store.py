"""The S3-compatible store the KYC Service keeps its images in, read by object key.

The gateway reads an object through a presigned GET (valid ``S3_PRESIGN_TTL_S``, 5 minutes by
default), the same URL form the KYC Service hands out, with path-style addressing
(``endpoint/bucket/key``) because self-hosted stores (SeaweedFS, MinIO) rarely have
per-bucket DNS names. boto3 only signs; the bytes come over ``requests`` with a size cap, so a
huge object is refused before it is held in memory.

Every failure becomes one of three clear answers, never a hang: the object is missing
(``ObjectMissing``, 422: the caller named a key that is not there), the store refused our
credentials (``ObjectStoreDenied``, 502: an operator must fix the configuration), or the store
did not answer in time (``ObjectStoreUnavailable``, 503 with Retry-After). Only the last is
retried, a few times with a short backoff: a missing object or a refused key will not appear by
asking again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
import structlog

from gateway.errors import (
    ObjectMissing,
    ObjectStoreDenied,
    ObjectStoreUnavailable,
    PayloadTooLarge,
)

log = structlog.get_logger("gateway.object_store")

FETCH_ATTEMPTS = 3
FETCH_BACKOFF_S = (0.2, 0.8)


@dataclass(frozen=True)
class ObjectStoreConfig:
    """Where the store is and how to sign for it (``S3_*`` settings)."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    bucket: str
    presign_ttl_s: int = 300
    timeout_s: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.endpoint and self.access_key and self.secret_key)


class ObjectStore:
    """Presigned reads of one bucket (another bucket may be named per call)."""

    def __init__(self, config: ObjectStoreConfig) -> None:
        self.config = config
        self._client: Any = None
        self._http = requests.Session()

    @property
    def configured(self) -> bool:
        return self.config.configured

    def client(self) -> Any:
        """The boto3 S3 client (built on first use: importing boto3 costs ~0.3 s)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.config.endpoint,
                region_name=self.config.region,
                aws_access_key_id=self.config.access_key,
                aws_secret_access_key=self.config.secret_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    signature_version="s3v4",
                    connect_timeout=self.config.timeout_s,
                    read_timeout=self.config.timeout_s,
                    retries={"max_attempts": 1},
                ),
            )
        return self._client

    def presigned_get(self, key: str, bucket: str | None = None) -> str:
        """A GET URL for ``key`` valid for ``presign_ttl_s`` seconds (signed locally, no I/O)."""
        return self.client().generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket or self.config.bucket, "Key": key},
            ExpiresIn=self.config.presign_ttl_s,
        )

    def fetch(self, key: str, *, max_bytes: int, field: str, bucket: str | None = None) -> bytes:
        """The object's bytes; ``ObjectMissing``, ``ObjectStoreDenied``, ``PayloadTooLarge`` or,
        after ``FETCH_ATTEMPTS`` network failures, ``ObjectStoreUnavailable``."""
        if not self.configured:
            raise ObjectStoreDenied("No object store is configured (S3_ENDPOINT, S3_ACCESS_KEY)")
        last_error = ""
        for attempt in range(FETCH_ATTEMPTS):
            if attempt:
                time.sleep(FETCH_BACKOFF_S[min(attempt - 1, len(FETCH_BACKOFF_S) - 1)])
            try:
                return self._fetch_once(key, max_bytes=max_bytes, field=field, bucket=bucket)
            except ObjectStoreUnavailable as error:
                last_error = error.detail
                log.warning("object_fetch_retry", field=field, attempt=attempt + 1)
        raise ObjectStoreUnavailable(f"{field}: {last_error}")

    def _fetch_once(self, key: str, *, max_bytes: int, field: str, bucket: str | None) -> bytes:
        url = self.presigned_get(key, bucket)
        try:
            with self._http.get(url, stream=True, timeout=self.config.timeout_s) as response:
                if response.status_code == 404:
                    raise ObjectMissing(
                        f"{field}: no object under that key", errors={field: ["not_found"]}
                    )
                if response.status_code in (401, 403):
                    raise ObjectStoreDenied(
                        f"{field}: the store refused the gateway's credentials "
                        f"({response.status_code}); check S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET"
                    )
                if response.status_code >= 500:
                    raise ObjectStoreUnavailable(f"the store answered {response.status_code}")
                if response.status_code != 200:
                    raise ObjectStoreDenied(f"{field}: the store answered {response.status_code}")
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise PayloadTooLarge(f"{field}: the object is larger than {max_bytes} bytes")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(
                            f"{field}: the object is larger than {max_bytes} bytes"
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.RequestException as exc:
            raise ObjectStoreUnavailable(
                f"the store did not answer ({type(exc).__name__})"
            ) from exc
