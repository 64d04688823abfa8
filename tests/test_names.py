"""Names compared the way a reviewer would (gateway/verification/names.py): one table of what
partners send against what documents print, with the verdict and the words of the reason."""

from __future__ import annotations

import pytest

from gateway.verification.names import (
    MATCH,
    MISMATCH,
    PARTIAL,
    as_check,
    compare_names,
    compare_whole_names,
    names_match,
    partial_notes,
)

# (sent given, sent family, document given names, document surname, verdict, words in the reason)
CASES = [
    # the same name, however it is spelled
    ("Ada", "Lovelace", "ADA", "LOVELACE", MATCH, "name matches the document"),
    ("ada", "LOVELACE", "ADA", "LOVELACE", MATCH, "name matches"),
    ("Jürgen", "Müller", "JUERGEN", "MUELLER", MATCH, "name matches"),  # ICAO: Ü -> UE
    ("Jürgen", "Müller", "JURGEN", "MULLER", MATCH, "name matches"),  # accent dropped
    ("Jurgen", "Mueller", "JURGEN", "MULLER", MATCH, "name matches"),  # the partner's UE
    ("René", "Strauß", "RENE", "STRAUSS", MATCH, "name matches"),  # é -> E, ß -> SS
    ("Søren", "Højberg", "SOEREN", "HOEJBERG", MATCH, "name matches"),  # Ø -> OE
    ("Jean-Paul", "O'Neil", "JEAN PAUL", "ONEIL", MATCH, "name matches"),  # JEAN<PAUL, ONEIL
    ("Ana", "de la Cruz", "ANA", "DELACRUZ", MATCH, "name matches"),
    ("Ana", "De La Cruz", "ANA", "DE LA CRUZ", MATCH, "name matches"),
    # nothing contradicts, something is incomplete: passes, and says what
    ("Ada", "Lovelace", "ADA MARIE", "LOVELACE", PARTIAL, "the document also lists a middle name"),
    ("Ada", "Lovelace", "ADA MARIE LUISE", "LOVELACE", PARTIAL, "also lists 2 middle names"),
    ("Marie", "Lovelace", "ADA MARIE", "LOVELACE", PARTIAL, "also lists a middle name"),
    ("Lovelace", "Ada", "ADA", "LOVELACE", PARTIAL, "sent the other way round"),
    ("John P.", "Smith", "JOHN PAUL", "SMITH", PARTIAL, "a given name is sent as an initial"),
    ("John", "Smith", "JOHN P", "SMITH", PARTIAL, "the document also lists a middle name"),
    ("Marie Ada", "Lovelace", "ADA MARIE", "LOVELACE", PARTIAL, "given names in another order"),
    (
        "Ada Marie",
        "Lovelace",
        "ADA",
        "LOVELACE",
        PARTIAL,
        "partner sent a name not on the document",
    ),
    ("Ada Lovelace", "", "ADA", "LOVELACE", PARTIAL, "names split otherwise"),
    ("Ana", "García", "ANA", "GARCIA LOPEZ", PARTIAL, "also lists another family name"),
    # another person's name, or too little of it to tell: fails
    ("Eve", "Lovelace", "ADA", "LOVELACE", MISMATCH, "given name differs from the document"),
    ("Ann", "Lee", "ANNE", "LEE", MISMATCH, "given name differs"),
    ("Ada", "L", "ADA", "LOVELACE", MISMATCH, "family name is only an initial"),
    ("Ada", "L.", "ADA", "LOVELACE", MISMATCH, "family name is only an initial"),
    ("J.", "Smith", "JOHN", "SMITH", MISMATCH, "given name is only an initial"),
    ("Ana", "Müller", "ANA", "SCHMIDT", MISMATCH, "family name differs"),
    ("Ana", "Müller", "ANA", "MILLER", MISMATCH, "family name differs"),
    ("John Peter", "Smith", "JOHN PAUL", "SMITH", MISMATCH, "a name disagrees"),
    ("Ada", "Smith", "ADA MARIE", "LOVELACE", MISMATCH, "family name differs"),
    ("Ada", "Lovelace", "", "LOVELACE", MISMATCH, "the document shows no given name"),
    ("Ada", "Lovelace", "LOVELACE ADA", "SMITH", MISMATCH, "family name differs"),
    ("Ana Maria", "García", "ANA", "MARIA GARCIA", PARTIAL, "names split otherwise"),
]


@pytest.mark.parametrize(("given", "family", "read_given", "read_family", "verdict", "why"), CASES)
def test_names_are_compared_as_a_reviewer_would(
    given, family, read_given, read_family, verdict, why
):
    result = compare_names(given, family, read_given, read_family)
    assert (result.verdict, why in result.reason) == (verdict, True), result
    assert result.passed is (verdict != MISMATCH)


def test_reasons_never_repeat_the_names():
    for given, family, read_given, read_family, _, _ in CASES:
        reason = compare_names(given, family, read_given, read_family).reason.upper()
        for word in f"{given} {family} {read_given} {read_family}".upper().split():
            assert len(word) < 4 or word not in reason, (word, reason)


def test_a_name_field_the_issuer_cut_compares_as_far_as_it_was_printed():
    cut = compare_names("Hubert", "Wolfeschlegelsteinhausen", "", "WOLFESCHLEGEL", read_cut=True)
    assert cut.verdict == PARTIAL
    assert "as far as the issuer printed it" in cut.reason
    assert compare_names("Hubert", "Wolfeschlegel", "HU", "WOLFESCHLEGEL", read_cut=True).passed
    # not cut: a prefix is another name; cut: one letter is still not enough
    assert not compare_names("Hubert", "Wolfeschlegelsteinhausen", "HUBERT", "WOLFESCHLEGEL").passed
    assert not compare_names("Hubert", "Wolfeschlegel", "H", "W", read_cut=True).passed


def test_whole_names_in_any_order_without_initials():
    assert compare_whole_names("Anna Maria Eriksson", "ANNA MARIA ERIKSSON").verdict == MATCH
    assert compare_whole_names("ERIKSSON Anna Maria", "ANNA MARIA ERIKSSON").verdict == PARTIAL
    assert compare_whole_names("Anna Eriksson", "ANNA MARIA ERIKSSON").verdict == PARTIAL
    assert compare_whole_names("A Eriksson", "ANNA ERIKSSON").verdict == MISMATCH
    assert compare_whole_names("Anna Larsson", "ANNA ERIKSSON").verdict == MISMATCH


def test_a_partial_match_passes_as_a_check_and_its_reason_is_kept_for_the_decision():
    partial = as_check("applicant_name", compare_names("Ada", "Lovelace", "ADA MARIE", "LOVELACE"))
    assert partial["status"] == "pass" and partial["verdict"] == PARTIAL
    full = as_check("name_coherence", compare_names("Ada", "Lovelace", "ADA", "LOVELACE"))
    wrong = as_check("name_coherence", compare_names("Eve", "Lovelace", "ADA", "LOVELACE"))
    assert wrong["status"] == "fail"
    assert partial_notes([partial, full, wrong]) == [
        "applicant_name: given name matches; the document also lists a middle name; "
        "family name matches"
    ]


def test_one_field_read_twice_allows_fillers_and_truncation_only_when_cut():
    assert names_match("anna-maria", "ANNA<MARIA")
    assert not names_match("Anna", "ANNE")
    assert not names_match("Wolfeschlegelsteinhausen", "WOLFESCHLEGEL")
    assert names_match("Wolfeschlegelsteinhausen", "WOLFESCHLEGEL", read_may_be_truncated=True)
