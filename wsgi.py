"""gunicorn entry point: ``gunicorn wsgi:app``."""

from gateway import create_app
from gateway.logging_setup import batch_log_writes
from gateway.settings import Settings

settings = Settings.from_env()
app = create_app(settings)
if settings.log_flush_ms:
    # Requests run on gunicorn's threads here: a line written per request costs them the GIL.
    batch_log_writes(settings.log_flush_ms / 1000)
