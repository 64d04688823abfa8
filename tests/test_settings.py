"""Settings from the environment: an empty environment gives the dataclass's own defaults."""

from __future__ import annotations

from dataclasses import fields

import pytest

from gateway.settings import Settings, SettingsError

# Derived from the home folder or generated on first start, so never equal to the class default.
DERIVED = {"ekyc_home", "pb_superuser_email", "pb_superuser_password", "link_secret", "data_key"}


def test_empty_environment_gives_the_declared_defaults(tmp_path):
    loaded = Settings.from_env({"EKYC_HOME": str(tmp_path)})
    declared = Settings()
    different = {
        field.name: (getattr(loaded, field.name), getattr(declared, field.name))
        for field in fields(Settings)
        if field.name not in DERIVED
        and getattr(loaded, field.name) != getattr(declared, field.name)
    }
    assert different == {}


def test_values_are_parsed_and_bad_ones_fail_at_start(tmp_path):
    env = {"EKYC_HOME": str(tmp_path), "EKYC_LINK_TTL_S": "600", "GATEWAY_WORKERS": "4"}
    loaded = Settings.from_env(env)
    assert (loaded.link_ttl_s, loaded.gateway_workers) == (600, 4)
    with pytest.raises(SettingsError, match="EKYC_LINK_TTL_S"):
        Settings.from_env({**env, "EKYC_LINK_TTL_S": "0"})
    with pytest.raises(SettingsError, match="GATEWAY_WORKERS"):
        Settings.from_env({**env, "GATEWAY_WORKERS": "many"})


def test_webhook_delivery_and_retention_settings(tmp_path):
    env = {
        "EKYC_HOME": str(tmp_path),
        "EKYC_WEBHOOK_CONCURRENCY": "8",
        "EKYC_WEBHOOK_ENDPOINT_CONCURRENCY": "2",
        "EKYC_WEBHOOK_RETENTION_DAYS": "7",
    }
    loaded = Settings.from_env(env)
    assert (
        loaded.webhook_concurrency,
        loaded.webhook_endpoint_concurrency,
        loaded.webhook_retention_days,
    ) == (8, 2, 7)
    with pytest.raises(SettingsError, match="EKYC_WEBHOOK_RETENTION_DAYS"):
        Settings.from_env({**env, "EKYC_WEBHOOK_RETENTION_DAYS": "0"})
    assert Settings.from_env(env).profile_cache_size == 20_000
    assert Settings.from_env({**env, "EKYC_PROFILE_CACHE_SIZE": "0"}).profile_cache_size == 0
    with pytest.raises(SettingsError, match="EKYC_PROFILE_CACHE_SIZE"):
        Settings.from_env({**env, "EKYC_PROFILE_CACHE_SIZE": "-1"})
    assert Settings.from_env(env).log_flush_ms == 50
    assert Settings.from_env({**env, "EKYC_LOG_FLUSH_MS": "0"}).log_flush_ms == 0
    with pytest.raises(SettingsError, match="EKYC_LOG_FLUSH_MS"):
        Settings.from_env({**env, "EKYC_LOG_FLUSH_MS": "-5"})
    with pytest.raises(SettingsError, match="CONCURRENCY"):
        Settings.from_env({**env, "EKYC_WEBHOOK_ENDPOINT_CONCURRENCY": "0"})
