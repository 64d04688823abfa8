"""KYA: email syntax (MX through an injected lookup), E.164 phone, country and name coherence."""

from __future__ import annotations

import pytest

from gateway.verification.kya import (
    check_country,
    check_email,
    check_name,
    check_phone,
    email_syntax_problem,
    kya_factor,
)


def statuses(checks):
    return {item["name"]: item["status"] for item in checks}


@pytest.mark.parametrize(
    "email", ["ana@example.com", "a.b+tag@mail.example.co.uk", "x_y@xn--bcher-kva.example"]
)
def test_valid_emails(email):
    assert email_syntax_problem(email) is None


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("ana.example.com", "exactly one @"),
        ("ana@@example.com", "exactly one @"),
        (".ana@example.com", "before @"),
        ("ana..b@example.com", "before @"),
        ("ana@example", "domain"),
        ("ana@-example.com", "domain"),
        ("ana@example.c0m", "top-level"),
        ("a" * 65 + "@example.com", "before @"),
    ],
)
def test_invalid_emails_say_why(email, problem):
    assert problem in email_syntax_problem(email)


def test_mx_runs_only_with_a_lookup_and_reports_each_outcome():
    assert statuses(check_email("ana@example.com")) == {"email_syntax": "pass"}
    assert statuses(check_email("ana@example.com", mx_lookup=lambda domain: True)) == {
        "email_syntax": "pass",
        "email_mx": "pass",
    }
    assert (
        statuses(check_email("ana@example.com", mx_lookup=lambda domain: False))["email_mx"]
        == "fail"
    )
    assert (
        statuses(check_email("ana@example.com", mx_lookup=lambda domain: None))["email_mx"]
        == "not_checked"
    )
    seen = []
    check_email("Ana@Example.COM", mx_lookup=lambda domain: seen.append(domain) or True)
    assert seen == ["example.com"]
    assert statuses(check_email(None)) == {"email_syntax": "not_checked"}


def test_phone_e164():
    assert statuses(check_phone("+14155552671")) == {"phone_e164": "pass"}
    assert statuses(check_phone("+6281234567890")) == {"phone_e164": "pass"}
    assert statuses(check_phone("4155552671")) == {"phone_e164": "fail"}
    assert statuses(check_phone("+1 415 555 2671")) == {"phone_e164": "fail"}
    # Right shape, but no such number in the plan (US area code 000).
    assert statuses(check_phone("+10005552671")) == {"phone_e164": "fail"}
    assert statuses(check_phone("")) == {"phone_e164": "not_checked"}
    assert "another country" in check_phone("+14155552671", "IDN")[0]["detail"]
    assert "another country" not in check_phone("+14155552671", "USA")[0]["detail"]


def test_country_coherence():
    document = {"issuing_state": "D", "nationality": "DEU"}
    assert statuses(check_country({"document_country": "DEU", "country": "DEU"}, document)) == {
        "document_country_coherence": "pass",
        "country_coherence": "pass",
    }
    assert statuses(check_country({"document_country": "FRA"}, document)) == {
        "document_country_coherence": "fail"
    }
    # Living abroad: nationality matches, that is enough.
    abroad = {"issuing_state": "IDN", "nationality": "IDN"}
    assert statuses(check_country({"country": "NLD"}, abroad)) == {"country_coherence": "fail"}
    assert statuses(check_country({"country": "IDN"}, abroad)) == {"country_coherence": "pass"}
    assert statuses(check_country({}, document)) == {"country_coherence": "not_checked"}
    assert statuses(check_country({"country": "IDN"}, None)) == {"country_coherence": "not_checked"}


@pytest.mark.parametrize(
    ("first", "last", "given", "surname"),
    [
        ("Ana", "Müller", "ANA", "MUELLER"),
        ("Ana", "Müller", "ANA", "MULLER"),
        ("anA", "de la Cruz", "ANA", "DE LA CRUZ"),
        ("José", "Núñez", "JOSE", "NUNEZ"),
        ("Ana", "Müller", "MUELLER", "ANA"),  # order swapped by the partner
    ],
)
def test_name_coherence_tolerates_case_accents_transliteration(first, last, given, surname):
    applicant = {"first_name": first, "last_name": last}
    result = check_name(applicant, {"given_names": given, "surname": surname})
    assert result[0]["status"] == "pass"


def test_name_coherence_catches_another_name_and_reports_missing_input():
    applicant = {"first_name": "Ana", "last_name": "Müller"}
    assert check_name(applicant, {"given_names": "ANA", "surname": "SCHMIDT"})[0]["status"] == (
        "fail"
    )
    assert check_name(applicant, {})[0]["status"] == "not_checked"
    assert check_name({}, {"surname": "X"})[0]["status"] == "not_checked"
    assert check_name(applicant, {"full_name": "Ana Mueller"})[0]["status"] == "pass"
    # the partner's given name only: passes as a partial match, and the factor says why
    document = {"given_names": "ANA LUISE", "surname": "MUELLER"}
    [partial] = check_name(applicant, document)
    assert (partial["status"], partial["verdict"]) == ("pass", "partial_match")
    factor = kya_factor(applicant, document)
    assert factor["status"] == "pass" and factor["score"] == 1.0
    assert (
        "name_coherence: given name matches; the document also lists a middle name"
        in (factor["reasons"][1])
    )


def test_factor_score_and_status():
    applicant = {
        "first_name": "Ana",
        "last_name": "Müller",
        "email": "ana@example.com",
        "phone": "+4915123456789",
        "country": "DEU",
    }
    document = {"given_names": "ANA", "surname": "MUELLER", "issuing_state": "D"}
    result = kya_factor(applicant, document)
    assert result["status"] == "pass"
    assert result["score"] == 1.0
    result = kya_factor({**applicant, "phone": "12345"}, document)
    assert result["status"] == "fail"
    assert result["score"] == pytest.approx(3 / 4)
    assert result["reasons"] == ["phone is not in E.164 form (+ and 7-15 digits)"]
    assert kya_factor({})["status"] == "not_checked"
    # Details never carry the applicant's data.
    text = repr(kya_factor(applicant, document))
    assert "ana@example.com" not in text and "4915123456789" not in text


class LoopbackDns:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP): MX for mail.test, NXDOMAIN else."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        while self.running:
            try:
                wire, address = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name == "mail.test.":
                response.answer.append(
                    dns.rrset.from_text(name, 300, "IN", "MX", "10 mx.mail.test.")
                )
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), address)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def test_mx_lookup_asks_a_real_dns_server():
    from gateway.verification.kya import dns_mx_lookup

    server = LoopbackDns()
    try:
        lookup = dns_mx_lookup(timeout_s=2.0, nameservers=["127.0.0.1"], port=server.port)
        assert lookup is not None
        assert lookup("mail.test") is True
        assert lookup("nomail.test") is False
        assert statuses(check_email("ana@mail.test", mx_lookup=lookup))["email_mx"] == "pass"
        assert statuses(check_email("ana@nomail.test", mx_lookup=lookup))["email_mx"] == "fail"
    finally:
        server.close()


def test_an_unreachable_dns_is_not_checked_never_passed():
    import socket

    from gateway.verification.kya import dns_mx_lookup

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        lookup = dns_mx_lookup(
            timeout_s=0.3, nameservers=["127.0.0.1"], port=silent.getsockname()[1]
        )
        assert lookup is not None
        assert lookup("mail.test") is None
        result = statuses(check_email("ana@mail.test", mx_lookup=lookup))
    assert result["email_mx"] == "not_checked"
