"""The services one app (or one worker process) uses, built once from the settings.

Every route reaches its service the same way, ``services().<name>``; nothing else builds a
service or hands the store client and the data key around. The queue is handed in (the web app
passes ``gateway.handoff``'s functions) rather than imported, so the container, which the worker
also uses, does not depend on the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.services.api_keys import KeyAuthenticator
from gateway.services.capture import CaptureService
from gateway.services.capture_link import CaptureConfig
from gateway.services.checks import CheckService
from gateway.services.intake.kyc_service import IntakeConfig, KycIntakeService
from gateway.services.intake.partner_verifications import PartnerVerificationService
from gateway.services.object_store import ObjectStore, ObjectStoreConfig
from gateway.services.operator import OperatorService
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import PocketBaseConfig
from gateway.services.profiles import LinkConfig, ProfileService
from gateway.services.request_signing import RequestVerifier
from gateway.services.result_sink import ResultSink, ResultSinkConfig
from gateway.services.usage import UsageMeter
from gateway.services.usage_reports import UsageReports
from gateway.services.webhooks.partner_api import WebhookService
from gateway.settings import Settings


@dataclass
class Services:
    """Everything a request handler may call, so routes never construct their own clients."""

    settings: Settings
    pb: PocketBase
    keys: KeyAuthenticator
    signatures: RequestVerifier
    profiles: ProfileService
    capture: CaptureService
    checks: CheckService
    usage: UsageMeter
    usage_reports: UsageReports
    operator: OperatorService
    webhooks: WebhookService
    object_store: ObjectStore
    kyc_intake: KycIntakeService
    verifications: PartnerVerificationService
    # The KYC Service's PostgreSQL, when POSTGRES_URL is set (None: results stay in PocketBase).
    result_sink: ResultSink | None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        enqueue_verification: Callable[[str], None] | None = None,
        enqueue_delivery: Callable[[str], None] | None = None,
    ) -> Services:
        """Wire the services for ``settings``; without the queue's functions nothing is enqueued
        (the reconciler and the webhook sweeper still pick the work up)."""
        pb = PocketBase(
            PocketBaseConfig(
                url=settings.pocketbase_url,
                email=settings.pb_superuser_email,
                password=settings.pb_superuser_password,
                timeout_s=settings.pb_timeout_s,
            )
        )
        object_store = ObjectStore(
            ObjectStoreConfig(
                endpoint=settings.s3_endpoint,
                region=settings.s3_region,
                access_key=settings.s3_access_key,
                secret_key=settings.s3_secret_key,
                bucket=settings.s3_bucket,
                presign_ttl_s=settings.s3_presign_ttl_s,
                timeout_s=settings.s3_timeout_s,
            )
        )
        profiles = ProfileService(
            pb,
            LinkConfig(
                frontend_url=settings.kyc_frontend_url,
                link_secret=settings.link_secret,
                data_key=settings.data_key,
                idempotency_ttl_s=settings.idempotency_ttl_s,
                link_ttl_s=settings.link_ttl_s,
            ),
            cache_size=settings.profile_cache_size,
        )
        keys = KeyAuthenticator(pb, settings.valid_api_keys)
        return cls(
            settings=settings,
            pb=pb,
            keys=keys,
            signatures=RequestVerifier(pb, settings.data_key),
            profiles=profiles,
            capture=CaptureService(
                pb,
                CaptureConfig(
                    frontend_url=settings.kyc_frontend_url,
                    link_secret=settings.link_secret,
                    max_upload_bytes=settings.max_upload_bytes,
                ),
                enqueue=enqueue_verification,
            ),
            checks=CheckService(max_upload_bytes=settings.max_upload_bytes),
            usage=UsageMeter(pb),
            usage_reports=UsageReports(pb),
            operator=OperatorService(pb, settings.data_key, forget_partner=keys.forget_partner),
            webhooks=WebhookService(
                pb,
                data_key=settings.data_key,
                allow_private_urls=settings.webhook_allow_private,
                enqueue_delivery=enqueue_delivery,
            ),
            object_store=object_store,
            kyc_intake=KycIntakeService(
                pb,
                object_store,
                IntakeConfig(
                    service_secrets=settings.kyc_service_secrets,
                    max_upload_bytes=settings.max_upload_bytes,
                    data_key=settings.data_key,
                ),
                enqueue=enqueue_verification,
            ),
            verifications=PartnerVerificationService(
                pb,
                profiles,
                object_store,
                signing_secret=settings.link_secret,
                max_upload_bytes=settings.max_upload_bytes,
                partner_buckets=dict(settings.partner_s3_buckets),
                enqueue=enqueue_verification,
            ),
            result_sink=ResultSink(
                ResultSinkConfig(
                    postgres_url=settings.postgres_url,
                    result_key=settings.kyc_result_key,
                    stuck_timeout_min=settings.kyc_stuck_timeout_min,
                    data_key=settings.data_key,
                )
            )
            if settings.postgres_url
            else None,
        )

    def close(self) -> None:
        """Stop what these services run in the background (the profile cache's stream thread),
        for a process or a test that is done with them; the services answer on without it."""
        self.profiles.reads.close()
