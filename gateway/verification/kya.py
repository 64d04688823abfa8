"""Know-your-applicant checks on what the partner sent: email, phone, country and name coherence.

Cheap, offline by default, and each one its own ``{name, status, detail}`` so a reviewer sees which
one failed. A check without its inputs (no phone sent, no document read) is ``not_checked``, never
``pass``. The MX lookup only runs when the partner enabled it AND a DNS resolver library is
present; otherwise it says why it did not run. Details never repeat the email, phone or name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers

from gateway.verification import names
from gateway.verification.documents.normalize import normalize_country
from gateway.verification.scoring import FAIL, NOT_CHECKED, PASS, factor

# RFC 5321/5322 in the form real mailboxes use: a dot-atom local part and a domain of LDH labels
# with a TLD of letters. Quoted local parts and IP literals are legal but are not how applicants
# write their email; refusing them costs nothing and stops a class of injection games.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})")

MxLookup = Callable[[str], bool | None]  # domain -> has MX / None when the lookup itself failed


def check(name: str, status: str, detail: str) -> dict[str, str]:
    return {"name": name, "status": status, "detail": detail}


def email_syntax_problem(email: str) -> str | None:
    """Why an address is not a deliverable-looking email, or None when it is one."""
    if len(email) > 254:
        return "longer than 254 characters"
    if email.count("@") != 1:
        return "must contain exactly one @"
    local, domain = email.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        return "the part before @ is not valid"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels[:-1]):
        return "the domain is not valid"
    if not _TLD.fullmatch(labels[-1]):
        return "the domain has no valid top-level part"
    return None


def dns_mx_lookup(
    timeout_s: float = 3.0, nameservers: list[str] | None = None, port: int = 53
) -> MxLookup | None:
    """An MX lookup backed by dnspython (None if it is not installed).

    The system's resolvers by default; ``nameservers``/``port`` point it elsewhere. A lookup
    that gets no answer (offline, timeout) returns None, which the check reports as
    ``not_checked``: an unreachable DNS never passes nor fails an applicant.
    """
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        return None
    resolver = dns.resolver.Resolver(configure=nameservers is None)
    if nameservers is not None:
        resolver.nameservers = nameservers
        resolver.port = port

    def lookup(domain: str) -> bool | None:
        try:
            answers = resolver.resolve(domain, "MX", lifetime=timeout_s)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return False
        except dns.exception.DNSException:
            return None
        return len(answers) > 0

    return lookup


def check_email(email: str | None, *, mx_lookup: MxLookup | None = None) -> list[dict[str, str]]:
    """Syntax always; MX only with a lookup function (the partner enabled it)."""
    if not email:
        return [check("email_syntax", NOT_CHECKED, "no email was sent")]
    problem = email_syntax_problem(email.strip())
    if problem:
        return [check("email_syntax", FAIL, f"email is not valid: {problem}")]
    out = [check("email_syntax", PASS, "email is well formed")]
    if mx_lookup is None:
        return out
    domain = email.strip().rsplit("@", 1)[1].lower()
    has_mx = mx_lookup(domain)
    if has_mx is None:
        out.append(check("email_mx", NOT_CHECKED, "the DNS lookup did not answer"))
    elif has_mx:
        out.append(check("email_mx", PASS, "the email domain accepts mail (MX found)"))
    else:
        out.append(check("email_mx", FAIL, "the email domain has no mail server (no MX)"))
    return out


def check_phone(phone: str | None, country_alpha3: str | None = None) -> list[dict[str, str]]:
    """E.164 form and a number that exists in the numbering plan (`phonenumbers`)."""
    if not phone:
        return [check("phone_e164", NOT_CHECKED, "no phone number was sent")]
    phone = phone.strip()
    if not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
        return [check("phone_e164", FAIL, "phone is not in E.164 form (+ and 7-15 digits)")]
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return [check("phone_e164", FAIL, "phone could not be parsed")]
    if not phonenumbers.is_valid_number(parsed):
        return [check("phone_e164", FAIL, "phone is not a valid number for its country code")]
    region = phonenumbers.region_code_for_number(parsed)
    detail = "phone is a valid E.164 number"
    if country_alpha3 and region:
        country = normalize_country(country_alpha3)
        expected_alpha2 = _alpha2(country.alpha3) if country and country.alpha3 else None
        if expected_alpha2 and expected_alpha2 != region:
            detail += " (registered in another country than the applicant's)"
    return [check("phone_e164", PASS, detail)]


def _alpha2(alpha3: str) -> str | None:
    import pycountry

    found = pycountry.countries.get(alpha_3=alpha3)
    return found.alpha_2 if found else None


def _iso(code: str | None) -> str | None:
    if not code:
        return None
    country = normalize_country(str(code))
    if country is None:
        return str(code).upper()
    return country.alpha3 or country.code


def check_country(
    applicant: Mapping[str, Any], document_fields: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """The partner's countries against the issuing state and nationality read on the document.

    The document country the partner announced must be the issuer; the applicant's country must
    be the issuer or the nationality (people live abroad, but a country matching neither is worth
    a look).
    """
    expected_issuer = _iso(applicant.get("document_country"))
    expected_country = _iso(applicant.get("country"))
    if not (expected_issuer or expected_country):
        return [check("country_coherence", NOT_CHECKED, "no country was sent")]
    fields = document_fields or {}
    issuer = _iso(fields.get("issuing_state"))  # as the document reader names it
    nationality = _iso(fields.get("nationality"))
    if not (issuer or nationality):
        return [check("country_coherence", NOT_CHECKED, "no country read from the document")]
    out = []
    if expected_issuer and issuer:
        same = expected_issuer == issuer
        out.append(
            check(
                "document_country_coherence",
                PASS if same else FAIL,
                "document issued by the announced country"
                if same
                else "document issued by another country than announced",
            )
        )
    if expected_country:
        read = {code for code in (issuer, nationality) if code}
        same = expected_country in read
        out.append(
            check(
                "country_coherence",
                PASS if same else FAIL,
                "applicant's country matches the document"
                if same
                else "applicant's country is neither the document's issuer nor its nationality",
            )
        )
    return out or [check("country_coherence", NOT_CHECKED, "nothing comparable was read")]


def check_name(
    applicant: Mapping[str, Any], document_fields: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """Partner's name against the document's, as a reviewer compares them (see names.py): a
    partial match (a middle name not sent, another order) passes and says why."""
    first = str(applicant.get("first_name") or "").strip()
    last = str(applicant.get("last_name") or "").strip()
    if not (first or last):
        return [check("name_coherence", NOT_CHECKED, "no name was sent")]
    fields = document_fields or {}
    surname = str(fields.get("surname") or fields.get("last_name") or "")
    given = str(fields.get("given_names") or fields.get("first_name") or "")
    full_read = str(fields.get("full_name") or fields.get("name") or "")
    if not (surname or given or full_read):
        return [check("name_coherence", NOT_CHECKED, "no name read from the document")]
    if surname or given:
        comparison = names.compare_names(
            first, last, given, surname, read_cut=bool(fields.get("names_truncated"))
        )
        if comparison.passed or not full_read:
            return [names.as_check("name_coherence", comparison)]
    whole = names.compare_whole_names(f"{first} {last}", full_read)
    return [names.as_check("name_coherence", whole)]


def kya_factor(
    applicant: Mapping[str, Any],
    document_fields: Mapping[str, Any] | None = None,
    *,
    mx_lookup: MxLookup | None = None,
    enabled: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """The KYA factor: its score is the share of checks that ran and passed.

    `enabled` holds the partner's switches (``phone``, ``country_coherence``,
    ``name_coherence``; all on when absent); email syntax always runs when an email was sent.
    """
    enabled = enabled or {}
    checks = check_email(applicant.get("email"), mx_lookup=mx_lookup)
    if enabled.get("phone", True):
        checks += check_phone(applicant.get("phone"), applicant.get("country"))
    if enabled.get("country_coherence", True):
        checks += check_country(applicant, document_fields)
    if enabled.get("name_coherence", True):
        checks += check_name(applicant, document_fields)
    ran = [item for item in checks if item["status"] != NOT_CHECKED]
    failed = [item for item in ran if item["status"] == FAIL]
    detail = {"checks": checks}
    if not ran:
        return factor(NOT_CHECKED, None, ["no applicant data to check"], detail)
    score = (len(ran) - len(failed)) / len(ran)
    if failed:
        return factor(FAIL, score, [item["detail"] for item in failed], detail)
    reasons = [f"{len(ran)} applicant data checks passed", *names.partial_notes(checks)]
    return factor(PASS, score, reasons, detail)
