"""Random identities and the ICAO 9303 MRZ lines that go with them.

Kept apart from the drawing code so tests and the eval can build correct MRZs (and corrupt them)
without rendering an image.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

import numpy as np

from gateway.verification.documents.mrz import check_digit
from gateway.verification.names import TRANSLITERATIONS

SURNAMES = [
    "MÜLLER", "ERIKSSON", "SANTOSO", "GARCÍA", "NGUYEN", "O'BRIEN", "KOWALSKI", "HØJBERG",
    "SCHMIDT", "ROSSI", "DUBOIS", "TANAKA", "OKAFOR", "SILVA", "JOHANSSON", "PETROVA",
    "WIJAYA", "HALIM", "STRAUß", "LEE", "VAN DER BERG", "ABDULLAH", "FERNÁNDEZ", "NOVAK",
]  # fmt: skip
GIVEN_NAMES = [
    "ANNA", "MARIA", "JÜRGEN", "BUDI", "SITI", "JOSÉ", "LÉA", "KENJI", "CHIOMA", "LUCAS",
    "SØREN", "AMIR", "DEWI", "PAUL", "ELENA", "RAHUL", "NUR", "ZOË", "TOMASZ", "IVAN",
]  # fmt: skip
# MRZ issuing codes with the nationality printed; "D" is how Germany appears in an MRZ.
STATES = ["UTO", "D", "FRA", "IDN", "NLD", "GBR", "ITA", "ESP", "SWE", "POL", "JPN", "GBD"]


def mrz_name_text(name: str) -> str:
    """A name as ICAO 9303-3 writes it: transliterated, letters only, fillers for the rest."""
    upper = name.upper()
    spelled = "".join(TRANSLITERATIONS.get(c, c) for c in upper)
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c)
    )
    plain = plain.replace("'", "")
    return "".join(c if "A" <= c <= "Z" else "<" for c in plain)


def mrz_name_field(surname: str, given_names: str, width: int) -> str:
    text = f"{mrz_name_text(surname)}<<{mrz_name_text(given_names)}"
    return text[:width].ljust(width, "<")


def _pad(value: str, width: int) -> str:
    return value[:width].ljust(width, "<")


def _yymmdd(value: dt.date) -> str:
    return value.strftime("%y%m%d")


@dataclass(frozen=True)
class Identity:
    surname: str
    given_names: str
    sex: str
    birth_date: dt.date
    expiry_date: dt.date
    issuing_state: str
    nationality: str
    document_number: str
    optional_data: str


def random_identity(rng: np.random.Generator, today: dt.date | None = None) -> Identity:
    """A plausible adult identity with a document valid for 1-10 more years."""
    today = today or dt.date.today()
    state = str(rng.choice(STATES))
    birth = today - dt.timedelta(days=int(rng.integers(19 * 365, 75 * 365)))
    expiry = today + dt.timedelta(days=int(rng.integers(60, 10 * 365)))
    alphabet = "ABCDEFGHJKLMNPRTUVWXYZ"
    number = str(rng.choice(list(alphabet))) + "".join(
        str(d) for d in rng.integers(0, 10, size=int(rng.integers(7, 9)))
    )
    given = " ".join(rng.choice(GIVEN_NAMES, size=int(rng.integers(1, 3)), replace=False))
    optional = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(0, 11))))
    return Identity(
        surname=str(rng.choice(SURNAMES)),
        given_names=given,
        sex=str(rng.choice(["M", "F"])),
        birth_date=birth,
        expiry_date=expiry,
        issuing_state=state,
        nationality=state,
        document_number=number,
        optional_data=optional,
    )


def td3_lines(identity: Identity, document_code: str = "P<") -> tuple[str, str]:
    """The two 44-character lines of a passport, every check digit computed."""
    line1 = _pad(document_code, 2) + _pad(identity.issuing_state, 3)
    line1 += mrz_name_field(identity.surname, identity.given_names, 39)
    number = _pad(identity.document_number, 9)
    optional = _pad(identity.optional_data, 14)
    optional_check = "<" if set(optional) == {"<"} else str(check_digit(optional))
    line2 = number + str(check_digit(number)) + _pad(identity.nationality, 3)
    birth, expiry = _yymmdd(identity.birth_date), _yymmdd(identity.expiry_date)
    line2 += birth + str(check_digit(birth)) + identity.sex + expiry + str(check_digit(expiry))
    line2 += optional + optional_check
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return line1, line2 + str(check_digit(composite))


def td1_lines(identity: Identity, document_code: str = "I<") -> tuple[str, str, str]:
    """The three 30-character lines of an ID card, every check digit computed."""
    number = _pad(identity.document_number, 9)
    line1 = _pad(document_code, 2) + _pad(identity.issuing_state, 3) + number
    line1 += str(check_digit(number)) + _pad(identity.optional_data, 15)
    birth, expiry = _yymmdd(identity.birth_date), _yymmdd(identity.expiry_date)
    line2 = birth + str(check_digit(birth)) + identity.sex + expiry + str(check_digit(expiry))
    line2 += _pad(identity.nationality, 3) + _pad("", 11)
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += str(check_digit(composite))
    return line1, line2, mrz_name_field(identity.surname, identity.given_names, 30)


# Positions of every check digit, per layout, as (line, column): used to corrupt them in tests.
CHECK_DIGIT_POSITIONS = {
    "TD3": [(1, 9), (1, 19), (1, 27), (1, 42), (1, 43)],
    "TD1": [(0, 14), (1, 6), (1, 14), (1, 29)],
}


def corrupt_check_digit(lines: tuple[str, ...], line: int, column: int, shift: int = 1) -> tuple:
    """The same MRZ with one check digit changed to another digit (``<`` becomes a digit)."""
    char = lines[line][column]
    value = 0 if char == "<" else int(char)
    new = str((value + shift) % 10)
    if char == "<" and new == "0":
        new = "1"
    changed = lines[line][:column] + new + lines[line][column + 1 :]
    return tuple(changed if i == line else x for i, x in enumerate(lines))
