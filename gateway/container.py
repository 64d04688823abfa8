"""The services one app (or one worker process) uses, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.services.api_keys import KeyAuthenticator
from gateway.services.pocketbase import PocketBase, PocketBaseConfig
from gateway.services.profiles import LinkConfig, ProfileService
from gateway.settings import Settings


@dataclass
class Services:
    """Everything a request handler may call, so routes never construct their own clients."""

    settings: Settings
    pb: PocketBase
    keys: KeyAuthenticator
    profiles: ProfileService

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Wire the services for ``settings``."""
        pb = PocketBase(
            PocketBaseConfig(
                url=settings.pocketbase_url,
                email=settings.pb_superuser_email,
                password=settings.pb_superuser_password,
                timeout_s=settings.pb_timeout_s,
            )
        )
        return cls(
            settings=settings,
            pb=pb,
            keys=KeyAuthenticator(pb, settings.valid_api_keys),
            profiles=ProfileService(
                pb,
                LinkConfig(
                    frontend_url=settings.kyc_frontend_url,
                    link_secret=settings.link_secret,
                    data_key=settings.data_key,
                    idempotency_ttl_s=settings.idempotency_ttl_s,
                ),
            ),
        )
