"""Settings, read once from the environment into a frozen, typed object.

Secrets the operator did not provide (PocketBase superuser, link-signing key, data-encryption key)
are generated on first start and kept in ``EKYC_HOME/secrets.json`` with 0600 permissions, so a
second start on the same home reuses the same data and keeps old links valid.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

SECRETS_FILE = "secrets.json"


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; raised at start-up, never later."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _pairs(env: dict[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """``a=x,b=y`` as ``(("a", "x"), ("b", "y"))``."""
    pairs = []
    for item in (env.get(name) or "").split(","):
        if not item.strip():
            continue
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise SettingsError(f"{name} must be id=value pairs separated by commas, got {item!r}")
        pairs.append((left.strip(), right.strip()))
    return tuple(pairs)


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as a browser's Origin header spells it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def load_or_create_secrets(home: Path) -> dict[str, str]:
    """Return the generated secrets kept in ``home``, creating them (0600) on first use."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "pb_superuser_email": "ekyc-gateway@localhost.localdomain",
        "pb_superuser_password": secrets.token_urlsafe(24),
        "link_secret": secrets.token_urlsafe(32),
        "data_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=2)
    return values


@dataclass(frozen=True)
class Settings:
    """Everything the gateway, the worker and the CLI need to know about their environment."""

    ekyc_home: Path = Path(".ekyc")
    pocketbase_url: str = "http://127.0.0.1:8090"
    pb_superuser_email: str = ""
    pb_superuser_password: str = field(default="", repr=False)
    pb_timeout_s: float = 10.0
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_workers: int = 2
    public_base_url: str = "http://127.0.0.1:8000"
    kyc_frontend_url: str = "http://127.0.0.1:8000/flow"
    link_secret: str = field(default="", repr=False)
    data_key: str = field(default="", repr=False)
    link_ttl_s: int = 86_400
    valid_api_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit: str = "60/minute"
    redis_url: str = ""
    idempotency_ttl_s: int = 86_400
    max_upload_bytes: int = 10 * 1024 * 1024
    worker_processes: int = 1
    worker_lease_s: int = 600
    max_processing_attempts: int = 3
    log_level: str = "INFO"
    log_json: bool = True
    # The served gateway writes its log lines every this many ms from one thread (0: each line at
    # once); gateway/logging_setup.py says why.
    log_flush_ms: int = 50
    webhook_allow_private: bool = False
    smtp_url: str = ""
    # A PEM file of the CAs trusted for HTTPS webhook receivers; empty: the public CAs (certifi).
    webhook_ca_bundle: str = ""
    # Webhook attempts in flight per worker, and per endpoint across all workers (docs/webhooks.md).
    webhook_concurrency: int = 64
    webhook_endpoint_concurrency: int = 16
    # Days delivered webhook events and their delivery rows are kept (replay), then pruned daily.
    webhook_retention_days: int = 30
    # Profiles whose poll view the gateway keeps in memory, kept current by PocketBase's change
    # stream (docs/performance.md); 0: every poll reads PocketBase.
    profile_cache_size: int = 20_000
    # The KYC Service intake (docs/intake.md): its shared secrets (several during a rotation),
    # the S3-compatible store its images are in, and the PostgreSQL its results are written to.
    kyc_service_secrets: tuple[str, ...] = field(default=(), repr=False)
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    s3_bucket: str = "kyc-data"
    s3_presign_ttl_s: int = 300
    # Partners' own buckets for POST /api/verifications object keys: ((partner id, bucket), ...).
    partner_s3_buckets: tuple[tuple[str, str], ...] = ()
    s3_timeout_s: float = 10.0
    postgres_url: str = field(default="", repr=False)
    kyc_result_key: str = field(default="", repr=False)
    kyc_stuck_timeout_min: int = 30

    @property
    def flow_cross_origin(self) -> str | None:
        """The origin of ``KYC_FRONTEND_URL`` when the flow's pages are served from elsewhere than
        the gateway: the one origin whose pages may call the flow API (CORS). None when same-origin.
        """
        frontend = _origin(self.kyc_frontend_url)
        return frontend if frontend != _origin(self.public_base_url) else None

    @property
    def rate_limit_storage_uri(self) -> str:
        """Redis when configured (shared by every gunicorn worker and machine), else memory."""
        return self.redis_url or "memory://"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Parse the environment once; unknown values fail here, at start-up."""
        env = dict(os.environ if env is None else env)
        default = cls()  # each default is written once, on the field above
        home = Path(env.get("EKYC_HOME") or default.ekyc_home).resolve()
        generated: dict[str, str] = {}
        needs_generated = not all(
            env.get(name)
            for name in (
                "PB_SUPERUSER_EMAIL",
                "PB_SUPERUSER_PASSWORD",
                "EKYC_LINK_SECRET",
                "EKYC_DATA_KEY",
            )
        )
        if needs_generated:
            generated = load_or_create_secrets(home)
        port = _int(env, "GATEWAY_PORT", default.gateway_port)
        public = env.get("EKYC_PUBLIC_URL") or f"http://127.0.0.1:{port}"
        pb_port = _int(env, "POCKETBASE_PORT", int(urlsplit(default.pocketbase_url).port or 0))
        settings = cls(
            ekyc_home=home,
            pocketbase_url=(env.get("POCKETBASE_URL") or f"http://127.0.0.1:{pb_port}").rstrip("/"),
            pb_superuser_email=env.get("PB_SUPERUSER_EMAIL") or generated["pb_superuser_email"],
            pb_superuser_password=env.get("PB_SUPERUSER_PASSWORD")
            or generated["pb_superuser_password"],
            gateway_host=env.get("GATEWAY_HOST") or default.gateway_host,
            gateway_port=port,
            gateway_workers=_int(env, "GATEWAY_WORKERS", default.gateway_workers),
            public_base_url=public.rstrip("/"),
            kyc_frontend_url=(env.get("KYC_FRONTEND_URL") or f"{public.rstrip('/')}/flow").rstrip(
                "/"
            ),
            link_secret=env.get("EKYC_LINK_SECRET") or generated["link_secret"],
            data_key=env.get("EKYC_DATA_KEY") or generated["data_key"],
            link_ttl_s=_int(env, "EKYC_LINK_TTL_S", default.link_ttl_s),
            valid_api_keys=tuple(
                key.strip() for key in (env.get("VALID_API_KEYS") or "").split(",") if key.strip()
            ),
            rate_limit=env.get("EKYC_RATE_LIMIT") or default.rate_limit,
            redis_url=env.get("REDIS_URL") or "",
            idempotency_ttl_s=_int(env, "EKYC_IDEMPOTENCY_TTL_S", default.idempotency_ttl_s),
            max_upload_bytes=_int(env, "EKYC_MAX_UPLOAD_BYTES", default.max_upload_bytes),
            worker_processes=_int(env, "EKYC_WORKER_PROCESSES", default.worker_processes),
            worker_lease_s=_int(env, "EKYC_WORKER_LEASE_S", default.worker_lease_s),
            max_processing_attempts=_int(
                env, "EKYC_MAX_PROCESSING_ATTEMPTS", default.max_processing_attempts
            ),
            log_level=(env.get("EKYC_LOG_LEVEL") or default.log_level).upper(),
            log_json=_bool(env, "EKYC_LOG_JSON", default.log_json),
            log_flush_ms=_int(env, "EKYC_LOG_FLUSH_MS", default.log_flush_ms),
            webhook_allow_private=_bool(
                env, "EKYC_WEBHOOK_ALLOW_PRIVATE", default.webhook_allow_private
            ),
            smtp_url=env.get("EKYC_SMTP_URL") or "",
            webhook_ca_bundle=env.get("EKYC_WEBHOOK_CA_BUNDLE") or "",
            webhook_concurrency=_int(env, "EKYC_WEBHOOK_CONCURRENCY", default.webhook_concurrency),
            webhook_endpoint_concurrency=_int(
                env, "EKYC_WEBHOOK_ENDPOINT_CONCURRENCY", default.webhook_endpoint_concurrency
            ),
            webhook_retention_days=_int(
                env, "EKYC_WEBHOOK_RETENTION_DAYS", default.webhook_retention_days
            ),
            profile_cache_size=_int(env, "EKYC_PROFILE_CACHE_SIZE", default.profile_cache_size),
            kyc_service_secrets=tuple(
                secret.strip()
                for secret in (env.get("KYC_SERVICE_SECRET") or "").split(",")
                if secret.strip()
            ),
            s3_endpoint=(env.get("S3_ENDPOINT") or default.s3_endpoint).rstrip("/"),
            s3_region=env.get("S3_REGION") or default.s3_region,
            s3_access_key=env.get("S3_ACCESS_KEY") or default.s3_access_key,
            s3_secret_key=env.get("S3_SECRET_KEY") or default.s3_secret_key,
            s3_bucket=env.get("S3_BUCKET") or default.s3_bucket,
            s3_presign_ttl_s=_int(env, "S3_PRESIGN_TTL_S", default.s3_presign_ttl_s),
            partner_s3_buckets=_pairs(env, "EKYC_PARTNER_S3_BUCKETS"),
            postgres_url=env.get("POSTGRES_URL") or default.postgres_url,
            kyc_result_key=env.get("KYC_RESULT_KEY") or default.kyc_result_key,
            kyc_stuck_timeout_min=_int(env, "KYC_STUCK_TIMEOUT_MIN", default.kyc_stuck_timeout_min),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail fast on values that would only break later, under load."""
        if len(self.link_secret) < 16:
            raise SettingsError("EKYC_LINK_SECRET must be at least 16 characters")
        if len(self.data_key) < 16:
            raise SettingsError("EKYC_DATA_KEY must be at least 16 characters")
        if self.link_ttl_s <= 0:
            raise SettingsError("EKYC_LINK_TTL_S must be positive")
        if min(self.webhook_concurrency, self.webhook_endpoint_concurrency) < 1:
            raise SettingsError("EKYC_WEBHOOK_CONCURRENCY and _ENDPOINT_CONCURRENCY must be >= 1")
        if self.webhook_retention_days < 1:
            raise SettingsError("EKYC_WEBHOOK_RETENTION_DAYS must be at least 1")
        if self.profile_cache_size < 0:
            raise SettingsError("EKYC_PROFILE_CACHE_SIZE must be 0 (off) or more")
        if not 0 <= self.log_flush_ms <= 10_000:
            raise SettingsError("EKYC_LOG_FLUSH_MS must be 0 (each line at once) to 10000")
        if self.postgres_url and not self.kyc_result_key:
            raise SettingsError("POSTGRES_URL is set: KYC_RESULT_KEY (the result's AES key) too")
        if self.kyc_result_key:
            from gateway.services.result_seal import parse_key  # local: cryptography is heavy

            try:
                parse_key(self.kyc_result_key)
            except ValueError as exc:
                raise SettingsError(f"KYC_RESULT_KEY: {exc}") from exc
        if self.kyc_stuck_timeout_min <= 0:
            raise SettingsError("KYC_STUCK_TIMEOUT_MIN must be positive")
        if self.webhook_ca_bundle and not Path(self.webhook_ca_bundle).is_file():
            raise SettingsError(f"EKYC_WEBHOOK_CA_BUNDLE is not a file: {self.webhook_ca_bundle}")
        from limits import parse  # local: keeps import of settings cheap for the CLI

        try:
            parse(self.rate_limit)
        except ValueError as exc:
            raise SettingsError(f"EKYC_RATE_LIMIT is not a rate: {self.rate_limit!r}") from exc

    def child_env(self) -> dict[str, str]:
        """The environment that makes a child process (gunicorn, worker) see these settings."""
        return {
            "EKYC_HOME": str(self.ekyc_home),
            "POCKETBASE_URL": self.pocketbase_url,
            "PB_SUPERUSER_EMAIL": self.pb_superuser_email,
            "PB_SUPERUSER_PASSWORD": self.pb_superuser_password,
            "GATEWAY_PORT": str(self.gateway_port),
            "EKYC_PUBLIC_URL": self.public_base_url,
            "KYC_FRONTEND_URL": self.kyc_frontend_url,
            "EKYC_LINK_SECRET": self.link_secret,
            "EKYC_DATA_KEY": self.data_key,
        }


SETTING_NAMES = tuple(f.name for f in fields(Settings))
