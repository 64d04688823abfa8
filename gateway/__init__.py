"""eKYC gateway: partner API, hosted capture flow and verification worker on PocketBase."""

from __future__ import annotations

from flask import Flask

from gateway.flask_app import GatewayFlask
from gateway.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app for ``settings`` (read from the environment when not given)."""
    from gateway import handoff
    from gateway.auth import limiter
    from gateway.container import Services
    from gateway.logging_setup import configure_logging, install_request_logging
    from gateway.metrics import RequestMetrics
    from gateway.problem import register_error_handlers
    from gateway.routes import (
        checks,
        docs,
        flow,
        health,
        intake,
        operator,
        partner_settings,
        profiles,
        reviewer,
        usage,
        verifications,
        webhooks,
    )

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    app = GatewayFlask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes * 5,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
    )
    app.extensions["ekyc"] = Services.build(
        settings,
        enqueue_verification=handoff.enqueue_verification,
        enqueue_delivery=handoff.enqueue_delivery,
    )
    app.extensions["ekyc_metrics"] = RequestMetrics()
    install_request_logging(app)
    register_error_handlers(app)
    limiter.init_app(app)
    for blueprint in (
        health.bp,
        profiles.bp,
        reviewer.bp,
        flow.bp,
        webhooks.bp,
        partner_settings.bp,
        checks.bp,
        docs.bp,
        intake.bp,
        verifications.bp,
        usage.bp,
        operator.bp,
    ):
        app.register_blueprint(blueprint)
    return app
