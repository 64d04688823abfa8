"""Per-partner settings: defaults, merge, validation on write.

Stored as JSON on the partner record, holding only what the partner (or the operator) changed;
everything else falls back to ``DEFAULT_SETTINGS``. The worker applies the effective settings at
decision time and records them with the scores, so a decision can be explained later even after
the settings change. Reads never fail (``effective_settings``); writes are validated as a whole
(``validate_settings``) so an inconsistent combination (weights not summing to 100, a review
threshold above the approval one) is refused before it can reach a decision.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pycountry
import structlog

from gateway.errors import Forbidden, ValidationFailed
from gateway.services.audit import append_audit
from gateway.services.pocketbase import PocketBase
from gateway.services.quotas import validate_quotas
from gateway.verification.documents.normalize import DOCUMENT_TYPES
from gateway.verification.liveness.challenge import OFFERED_PROMPTS, PROMPTS

log = structlog.get_logger("gateway.settings")

# The prompts a partner may allow: only those the liveness evaluation validated, as the issuer
# offers them (one list, kept in gateway/verification/liveness/challenge.py).
LIVENESS_PROMPTS = OFFERED_PROMPTS
_WITHDRAWN_PROMPTS = frozenset(PROMPTS) - frozenset(OFFERED_PROMPTS)
CHECKS = ("liveness", "face_match", "document", "kya", "registry")
SCORED_FACTORS = ("liveness", "face_match", "document", "kya")
REGISTRY_KINDS = ("national_id", "professional")
# Keys only the operator may change: a partner must not raise its own rate limit or quotas, nor
# point the worker's registry calls (which carry credentials) at a URL of its choosing.
OPERATOR_ONLY_KEYS = frozenset({"rate_limit", "capture_upload_rate_limit", "registry", "quotas"})
SECRET_PATHS = (("registry", "auth_header_value"),)
REDACTED = "***"

# The most challenges a partner may let one capture link draw: each is a new prompt order.
MAX_CHALLENGES_PER_LINK = 20

DEFAULT_SETTINGS: dict[str, Any] = {
    "thresholds": {"approve": 80, "review": 60},
    "weights": {"liveness": 30, "face_match": 40, "document": 25, "kya": 5},
    "required_checks": {
        "liveness": True,
        "face_match": True,
        "document": True,
        "kya": False,
        "registry": False,
    },
    "face_match_threshold": 0.75,
    "min_age": 18,
    "allowed_document_types": list(DOCUMENT_TYPES),
    "allowed_countries": [],  # empty: every country
    "link_ttl_s": None,  # None: the gateway-wide EKYC_LINK_TTL_S
    "rate_limit": None,  # None: the gateway-wide EKYC_RATE_LIMIT
    "capture_upload_rate_limit": None,  # None: the capture flow's own default per link
    "retention_days": 90,
    "allowed_return_urls": [],
    "branding": {"name": None, "accent_color": "#1f4fd1"},
    # max_challenges: the challenges one capture link may draw (docs/hosted-flow.md).
    "liveness": {"prompts": list(LIVENESS_PROMPTS), "prompt_count": 3, "max_challenges": 5},
    "kya": {"email_mx": False, "phone": True, "country_coherence": True, "name_coherence": True},
    "review_email": None,
    # Every request of this partner's keys must carry X-API-TIMESTAMP and X-API-SIGN.
    "require_signed_requests": False,
    # {check: {monthly: N}}: N checks a calendar month (UTC), then 429 (gateway.services.quotas).
    "quotas": {},
    "registry": {
        "enabled": False,
        "kind": "national_id",
        "url": None,
        "auth_header_name": "Authorization",
        "auth_header_value": None,
        "timeout_s": 5.0,
        "retries": 2,
    },
}

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}\Z")  # \Z: "$" lets a final "\n" in
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The partner's stored settings laid over the defaults."""
    return _merge(DEFAULT_SETTINGS, _upper_case_countries(_without_withdrawn_prompts(stored)))


def liveness_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``liveness`` group, or nothing when it is not an object (typed into the admin UI)."""
    group = settings.get("liveness")
    return group if isinstance(group, dict) else {}


def max_challenges(settings: Mapping[str, Any]) -> int:
    """The challenges one link may draw (partner setting ``liveness.max_challenges``)."""
    default = DEFAULT_SETTINGS["liveness"]["max_challenges"]
    value = liveness_settings(settings).get("max_challenges", default)
    return _in_range_or_default("max_challenges", value, 1, MAX_CHALLENGES_PER_LINK, default)


MAX_RETENTION_DAYS = 3650
MIN_LINK_TTL_S, MAX_LINK_TTL_S = 300, 30 * 86_400


def link_ttl_s(settings: Mapping[str, Any]) -> int | None:
    """The partner's capture-link lifetime, or None for the gateway's (``EKYC_LINK_TTL_S``)."""
    value = settings.get("link_ttl_s")
    if value is None:
        return None
    return _in_range_or_default("link_ttl_s", value, MIN_LINK_TTL_S, MAX_LINK_TTL_S, None)


def retention_days(settings: Mapping[str, Any]) -> int:
    """The partner's ``retention_days``."""
    default = DEFAULT_SETTINGS["retention_days"]
    value = settings.get("retention_days")
    return _in_range_or_default("retention_days", value, 1, MAX_RETENTION_DAYS, default)


def _in_range_or_default(name: str, value: Any, low: int, high: int, default: Any) -> Any:
    """``value`` if it is an integer from ``low`` to ``high``, else ``default`` with a warning.

    Writes through the API and the CLI are validated whole; an edit in the admin UI is checked
    only in part (pb_hooks), and settings stored before a check was added are not checked
    again, so another shape can be read here. The capture flow and profile creation then work
    under the default, rather than answer 500 to every applicant of that partner."""
    if _integer(value) and low <= value <= high:
        return value
    log.warning("setting_invalid", setting=name, value=repr(value)[:40], used=default)
    return default


def _upper_case_countries(stored: dict[str, Any]) -> dict[str, Any]:
    """``allowed_countries`` upper case: validation accepts "idn", and the worker matches the
    document's issuer ("IDN") and the hosted flow its country list against the codes as read.
    Applied when settings are written and when they are read (codes stored before the write
    did it, or typed in the admin UI)."""
    countries = stored.get("allowed_countries")
    if isinstance(countries, list):
        stored["allowed_countries"] = [
            code.upper() if isinstance(code, str) else code for code in countries
        ]
    return stored


def _without_withdrawn_prompts(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored settings without prompts withdrawn since they were written (``look_up``).

    They read back without them (no prompt left: the default), so a partner's next write is
    not refused for a prompt they can no longer be offered; a write that names one is.
    """
    cleaned = copy.deepcopy(stored) if isinstance(stored, dict) else {}
    liveness = cleaned.get("liveness")
    if isinstance(liveness, dict) and isinstance(liveness.get("prompts"), list):
        kept = [prompt for prompt in liveness["prompts"] if prompt not in _WITHDRAWN_PROMPTS]
        if kept:
            liveness["prompts"] = kept
        else:
            del liveness["prompts"]
    return cleaned


def merge_patch(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 merge patch: objects merge, ``null`` removes a key (back to its default)."""
    result = copy.deepcopy(stored)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        elif isinstance(value, dict):
            result[key] = merge_patch({}, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- validation ------------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.items.setdefault(path, []).append(message)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(errors: _Errors, path: str, value: dict[str, Any], known: dict[str, Any]) -> None:
    for key in value:
        if key not in known:
            errors.add(f"{path}.{key}" if path else key, "unknown setting")


def _check_bools(errors: _Errors, path: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        if not isinstance(item, bool):
            errors.add(f"{path}.{key}", "must be true or false")


def validate_settings(settings: dict[str, Any]) -> None:
    """Raise ``ValidationFailed`` (errors keyed by dotted path) unless ``settings`` — effective
    settings, i.e. defaults merged with the partner's — are complete and consistent."""
    errors = _Errors()
    _unknown_keys(errors, "", settings, DEFAULT_SETTINGS)
    # Every problem is reported in one answer: a group that is not an object is named once and
    # its inner rules are skipped (they would only repeat it), the other groups are still checked.
    groups: dict[str, dict[str, Any]] = {}
    for key in ("thresholds", "weights", "required_checks", "branding", "liveness", "kya"):
        if isinstance(settings.get(key), dict):
            groups[key] = settings[key]
        else:
            errors.add(key, "must be an object")

    thresholds = groups.get("thresholds", DEFAULT_SETTINGS["thresholds"])
    _unknown_keys(errors, "thresholds", thresholds, DEFAULT_SETTINGS["thresholds"])
    approve, review = thresholds.get("approve"), thresholds.get("review")
    for name, value in (("approve", approve), ("review", review)):
        if not _number(value) or not 0 <= value <= 100:
            errors.add(f"thresholds.{name}", "must be a number from 0 to 100")
    if _number(approve) and _number(review) and review > approve:
        errors.add("thresholds.review", "must not be above thresholds.approve")

    weights = groups.get("weights", DEFAULT_SETTINGS["weights"])
    _unknown_keys(errors, "weights", weights, DEFAULT_SETTINGS["weights"])
    if all(_number(weights.get(name)) and weights[name] >= 0 for name in SCORED_FACTORS):
        if abs(sum(weights[name] for name in SCORED_FACTORS) - 100) > 1e-6:
            errors.add("weights", "must sum to 100")
    else:
        errors.add("weights", f"{', '.join(SCORED_FACTORS)} must be non-negative numbers")

    required = groups.get("required_checks", DEFAULT_SETTINGS["required_checks"])
    _unknown_keys(errors, "required_checks", required, DEFAULT_SETTINGS["required_checks"])
    _check_bools(errors, "required_checks", required)

    threshold = settings.get("face_match_threshold")
    if not _number(threshold) or not 0 < threshold < 1:
        errors.add("face_match_threshold", "must be a number between 0 and 1")
    min_age = settings.get("min_age")
    if not _integer(min_age) or not 0 <= min_age <= 120:
        errors.add("min_age", "must be an integer from 0 to 120")

    types = settings.get("allowed_document_types")
    if not isinstance(types, list) or not types or any(t not in DOCUMENT_TYPES for t in types):
        errors.add("allowed_document_types", f"must be a non-empty subset of {DOCUMENT_TYPES}")
    countries = settings.get("allowed_countries")
    if not isinstance(countries, list):
        errors.add("allowed_countries", "must be a list of ISO 3166 alpha-3 codes")
    else:
        for code in countries:
            if not isinstance(code, str) or pycountry.countries.get(alpha_3=code.upper()) is None:
                errors.add("allowed_countries", f"not an ISO 3166 alpha-3 code: {code!r}")

    ttl = settings.get("link_ttl_s")
    if ttl is not None and (not _integer(ttl) or not MIN_LINK_TTL_S <= ttl <= MAX_LINK_TTL_S):
        errors.add(
            "link_ttl_s", "must be an integer from 300 (5 min) to 2592000 (30 days), or null"
        )
    if not isinstance(settings.get("require_signed_requests"), bool):
        errors.add("require_signed_requests", "must be true or false")
    retention = settings.get("retention_days")
    if not _integer(retention) or not 1 <= retention <= MAX_RETENTION_DAYS:
        errors.add("retention_days", f"must be an integer from 1 to {MAX_RETENTION_DAYS}")
    _validate_rate_limit(errors, "rate_limit", settings.get("rate_limit"))
    _validate_rate_limit(
        errors, "capture_upload_rate_limit", settings.get("capture_upload_rate_limit")
    )
    _validate_return_urls(errors, settings.get("allowed_return_urls"))

    branding = groups.get("branding", DEFAULT_SETTINGS["branding"])
    _unknown_keys(errors, "branding", branding, DEFAULT_SETTINGS["branding"])
    name = branding.get("name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name.strip()) <= 100):
        errors.add("branding.name", "must be 1 to 100 characters or null")
    color = branding.get("accent_color")
    if not isinstance(color, str) or not _HEX_COLOR.match(color):
        errors.add("branding.accent_color", "must be a #rrggbb colour")

    liveness = groups.get("liveness", DEFAULT_SETTINGS["liveness"])
    _unknown_keys(errors, "liveness", liveness, DEFAULT_SETTINGS["liveness"])
    prompts = liveness.get("prompts")
    if (
        not isinstance(prompts, list)
        or not prompts
        or any(p not in LIVENESS_PROMPTS for p in prompts)
    ):
        errors.add("liveness.prompts", f"must be a non-empty subset of {LIVENESS_PROMPTS}")
    count = liveness.get("prompt_count")
    if not _integer(count) or not 1 <= count <= 6:
        errors.add("liveness.prompt_count", "must be an integer from 1 to 6")
    elif isinstance(prompts, list) and len(set(prompts)) < 2 and count > 1:
        errors.add("liveness.prompts", "two different prompts are needed for more than one")
    draws = liveness.get("max_challenges")
    if not _integer(draws) or not 1 <= draws <= MAX_CHALLENGES_PER_LINK:
        errors.add(
            "liveness.max_challenges", f"must be an integer from 1 to {MAX_CHALLENGES_PER_LINK}"
        )

    kya = groups.get("kya", DEFAULT_SETTINGS["kya"])
    _unknown_keys(errors, "kya", kya, DEFAULT_SETTINGS["kya"])
    _check_bools(errors, "kya", kya)

    email = settings.get("review_email")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        errors.add("review_email", "must be an email address or null")

    for path, messages in validate_quotas(settings.get("quotas")).items():
        for message in messages:
            errors.add(path, message)
    _validate_registry(errors, settings.get("registry"), required.get("registry") is True)
    if errors.items:
        problems = "; ".join(
            f"{path}: {', '.join(messages)}" for path, messages in errors.items.items()
        )
        raise ValidationFailed(f"Invalid partner settings: {problems}", errors=errors.items)


def _validate_rate_limit(errors: _Errors, key: str, value: Any) -> None:
    if value is None:
        return
    from limits import parse_many  # as gateway.settings does: the limiter's own grammar

    try:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        parse_many(value)
    except ValueError:
        errors.add(key, "must be a rate such as '120/minute' (several joined by ';'), or null")


def _validate_return_urls(errors: _Errors, value: Any) -> None:
    if not isinstance(value, list) or len(value) > 20:
        errors.add("allowed_return_urls", "must be a list of at most 20 URL prefixes")
        return
    for prefix in value:
        parts = urlsplit(prefix) if isinstance(prefix, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors.add("allowed_return_urls", f"not an http(s) URL prefix: {prefix!r}")
        elif not parts.path:
            # "https://shop.example" would also admit "https://shop.example.evil.test".
            errors.add("allowed_return_urls", f"must end the host with '/': {prefix!r}")


def _validate_registry(errors: _Errors, registry: Any, required: bool) -> None:
    if not isinstance(registry, dict):
        errors.add("registry", "must be an object")
        return
    _unknown_keys(errors, "registry", registry, DEFAULT_SETTINGS["registry"])
    if not isinstance(registry.get("enabled"), bool):
        errors.add("registry.enabled", "must be true or false")
    if registry.get("kind") not in REGISTRY_KINDS:
        errors.add("registry.kind", f"must be one of {REGISTRY_KINDS}")
    url = registry.get("url")
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            errors.add("registry.url", "must be an http(s) URL")
    if registry.get("enabled") and not url:
        errors.add("registry.url", "is required when the registry is enabled")
    if required and not registry.get("enabled"):
        errors.add("required_checks.registry", "needs registry.enabled")
    name = registry.get("auth_header_name")
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        errors.add("registry.auth_header_name", "must be an HTTP header name")
    value = registry.get("auth_header_value")
    if value is not None and (not isinstance(value, str) or "\n" in value or "\r" in value):
        errors.add("registry.auth_header_value", "must be a single-line string or null")
    timeout = registry.get("timeout_s")
    if not _number(timeout) or not 0.1 <= timeout <= 30:
        errors.add("registry.timeout_s", "must be a number of seconds from 0.1 to 30")
    retries = registry.get("retries")
    if not _integer(retries) or not 0 <= retries <= 5:
        errors.add("registry.retries", "must be an integer from 0 to 5")


# -- reading and writing ---------------------------------------------------------------------------


def redacted(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings safe to show: credentials replaced by ``***``."""
    shown = copy.deepcopy(settings)
    for section, key in SECRET_PATHS:
        if isinstance(shown.get(section), dict) and shown[section].get(key):
            shown[section][key] = REDACTED
    return shown


def get_partner_settings(pb: PocketBase, partner_id: str) -> dict[str, Any]:
    """A partner's effective settings, credentials redacted."""
    partner = pb.get("partners", partner_id)
    return redacted(effective_settings(partner.get("settings")))


def set_partner_settings(
    pb: PocketBase,
    partner_id: str,
    patch: dict[str, Any],
    *,
    actor: str,
    operator: bool = False,
) -> dict[str, Any]:
    """Apply a merge patch to a partner's settings after validating the result as a whole.

    A partner (``operator=False``) may not change ``OPERATOR_ONLY_KEYS``. Returns the new
    effective settings (redacted). The change is audit-logged by key name, never by value.
    """
    if not isinstance(patch, dict):
        raise ValidationFailed("Settings must be a JSON object")
    if not operator:
        refused = sorted(OPERATOR_ONLY_KEYS & set(patch))
        if refused:
            raise Forbidden(
                f"Only the operator may change {', '.join(refused)}",
                errors={key: ["operator only"] for key in refused},
            )
    partner = pb.get("partners", partner_id)
    stored = partner.get("settings") if isinstance(partner.get("settings"), dict) else {}
    new_stored = _upper_case_countries(merge_patch(_without_withdrawn_prompts(stored), patch))
    effective = _merge(DEFAULT_SETTINGS, new_stored)
    validate_settings(effective)
    pb.update("partners", partner_id, {"settings": new_stored})
    append_audit(pb, actor, "partner.settings_changed", partner_id, {"keys": sorted(patch)})
    return redacted(effective)
