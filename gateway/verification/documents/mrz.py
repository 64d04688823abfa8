"""ICAO 9303 machine-readable zones: check digits, the three layouts, and guarded OCR repair.

OCR of an MRZ confuses a handful of glyph pairs (``0/O``, ``1/I``, ``5/S``, ``8/B``, ``2/Z``...).
A field's type settles some of them (a date holds only digits), but a repair is only kept where
the check digits agree afterwards, so a repair can never turn a forged or misread number into a
"valid" one silently: every repair is listed with the check digit that vouches for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.verification.documents.mrz_certainty import VALID, CharacterEvidence, field_statuses
from gateway.verification.documents.mrz_layout import (
    DIGIT_PAIRS,
    FILLER,
    LAYOUTS,
    SPANS,
    Span,
    check_digit,
    composite_data,
    date_well_formed,
    detect_layout,
    digit_matches,
    get_span,
    long_document_number,
    split_mrz_text,
)
from gateway.verification.documents.mrz_repair import (
    Repair,
    code_repairs,
    digit_repairs,
    document_kind_repairs,
    typed_repairs,
)

__all__ = ["LAYOUTS", "SPANS", "CheckDigit", "MrzReading", "Repair", "check_digit", "parse_mrz"]


@dataclass(frozen=True)
class CheckDigit:
    """The outcome of one ICAO check digit."""

    name: str
    valid: bool
    expected: str
    computed: int


@dataclass
class MrzReading:
    """A parsed MRZ: raw field values as printed (before normalisation) and every check digit."""

    layout: str
    lines: tuple[str, ...]
    read_lines: tuple[str, ...]
    fields: dict[str, str]
    check_digits: list[CheckDigit]
    repairs: list[Repair] = field(default_factory=list)
    # per reported field: valid / uncertain / invalid (see mrz_certainty)
    field_status: dict[str, str] = field(default_factory=dict)
    # how the OCR saw each kept character (None: typed text)
    evidence: CharacterEvidence | None = None

    @property
    def char_margins(self) -> list[list[float]] | None:
        return self.evidence.margins if self.evidence else None

    @property
    def all_check_digits_valid(self) -> bool:
        return all(c.valid for c in self.check_digits)

    @property
    def all_fields_valid(self) -> bool:
        """Every check digit agrees and every field was read clearly: nothing for a human."""
        return self.all_check_digits_valid and all(
            status == VALID for status in self.field_status.values()
        )

    def set_evidence(self, evidence: CharacterEvidence) -> None:
        """Record how the OCR saw each character and grade each field by it."""
        self.evidence = evidence
        self.field_status = field_statuses(
            self.lines, self.layout, self.check_digits, evidence, checker=self._checker
        )

    def _checker(self, lines: list[str]) -> dict[str, bool]:
        return {c.name: c.valid for c in _check_all(lines, self.layout, SPANS[self.layout])}

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _split_name(name_field: str) -> tuple[str, str]:
    primary, _, secondary = name_field.partition(FILLER * 2)
    surname = primary.replace(FILLER, " ").strip()
    given = re.sub(r" +", " ", secondary.replace(FILLER, " ")).strip()
    return surname, given


def _check_all(lines: list[str], layout: str, spans: dict[str, Span]) -> list[CheckDigit]:
    results = []
    long_number = long_document_number(lines, layout)
    for value_name, check_name, filler_allowed in DIGIT_PAIRS[layout]:
        value, check = get_span(lines, spans[value_name]), get_span(lines, spans[check_name])
        if value_name == "document_number" and long_number:
            value, check, _ = long_number
        # A, K and U weigh the same as 0 modulo 10: a date holding them is wrong whatever the sum;
        # fillers stand for the unknown parts of a birth date ('<' weighs 0)
        numeric = spans[value_name].kind == "numeric"
        well_formed = not numeric or date_well_formed(value_name, value)
        results.append(
            CheckDigit(
                check_name.removesuffix("_check"),
                well_formed and digit_matches(value, check, filler_allowed=filler_allowed),
                check,
                check_digit(value),
            )
        )
    if "composite_check" not in spans:
        return results  # a visa (MRV-A, MRV-B): no composite digit
    data = composite_data(lines, layout)
    composite = get_span(lines, spans["composite_check"])
    results.append(
        CheckDigit("composite", digit_matches(data, composite), composite, check_digit(data))
    )
    return results


def parse_mrz(
    lines: list[str] | str,
    *,
    repair: bool = True,
    alternatives: dict[tuple[int, int], str] | None = None,
    code_lags: dict[tuple[int, int], dict[str, float]] | None = None,
) -> MrzReading:
    """Parse an MRZ (lines or text); check digits are reported, never raised.

    Malformed input (wrong shape, characters outside the MRZ alphabet) raises ValidationFailed.
    With ``repair`` the OCR confusions are fixed as the module docstring explains.
    ``alternatives`` ({(line, column): glyphs}) is the OCR's evidence: when given, check-digit
    fields only change where the OCR hesitated, so a misprinted (or forged) check digit is not
    "repaired" by bending the number to fit it.
    ``code_lags`` ({(line, column): {glyph: score behind the kept glyph}}) lets a country
    code that is no code be decoded to the likeliest known one (``code_repairs``).
    """
    line_list = split_mrz_text(lines) if isinstance(lines, str) else [x.strip() for x in lines]
    layout = detect_layout(line_list)
    spans = SPANS[layout]
    read_lines = tuple(line_list)
    work = list(line_list)
    repairs: list[Repair] = []
    if repair:
        repairs += typed_repairs(work, layout, spans, alternatives)
        if alternatives is not None:
            repairs += document_kind_repairs(work, spans, alternatives)
            # a first letter repaired to V makes a two-line zone a visa (line 1 and the letter
            # fields of line 2 sit alike in both, so the repairs so far stand)
            layout = detect_layout(work)
            spans = SPANS[layout]
            repairs += code_repairs(work, spans, alternatives, code_lags)
        repairs += digit_repairs(work, layout, spans, alternatives)
    fields = {name: get_span(work, span) for name, span in spans.items() if span.kind != "check"}
    if long_number := long_document_number(work, layout):
        # the rest of the number and its digit are the number's, not optional data
        fields["document_number"] = long_number[0]
        fields["optional_data"] = fields["optional_data"][long_number[2] :]
    fields["document_number"] = fields["document_number"].replace(FILLER, "")
    fields["document_code"] = fields["document_code"].replace(FILLER, "")
    surname, given_names = _split_name(fields.pop("name"))
    fields["surname"], fields["given_names"] = surname, given_names
    check_digits = _check_all(work, layout, spans)
    return MrzReading(
        layout=layout,
        lines=tuple(work),
        read_lines=read_lines,
        fields=fields,
        check_digits=check_digits,
        repairs=repairs,
        field_status=field_statuses(work, layout, check_digits, None),
    )
