"""Names compared the way a reviewer compares them, with the reason said in words.

Partners send names as their own forms hold them: a given name without the middle names printed
on the document, given and family name the other way round, an initial, accents the MRZ cannot
print (ICAO 9303 writes Ü as UE, ß as SS, Ø as OE; some issuers drop the accent instead),
hyphens and apostrophes the MRZ turns into fillers or drops (``JEAN<PAUL``, ``ONEIL``). A
reviewer accepts all of these and looks twice at a name that is missing or different. So the
comparison has three outcomes:

- ``match``: every name on both sides agrees (case, accents, transliteration, spaces, hyphens
  and apostrophes aside);
- ``partial_match``: nothing contradicts, but something is incomplete: the document lists a
  middle name the partner did not send, a name was sent as an initial, the names came in
  another order or split otherwise between given and family name, the issuer cut the name
  field. **A partial match passes** (``applicant_name`` and ``name_coherence`` pass, with the
  same credit as a match): it is how partners' forms hold names, not evidence about the
  applicant. Its reason goes into the decision's reasons, so the partner and the reviewer read
  what was incomplete;
- ``mismatch``: a name differs (another given name, a middle name that disagrees, a family name
  cut to an initial): the check fails.

Each side of a comparison must have at least one name matched in full (an initial alone never
identifies anyone). Reasons name the parts ("given name", "family name"), never the names
themselves: they reach webhooks and logs (see ``documents/checks.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from gateway.verification.scoring import FAIL, PASS

MATCH, PARTIAL, MISMATCH = "match", "partial_match", "mismatch"

# ICAO 9303-3 transliterations that differ from dropping the accent; both spellings are accepted.
TRANSLITERATIONS = {
    "Ä": "AE",
    "Ö": "OE",
    "Ü": "UE",
    "ß": "SS",
    "ẞ": "SS",
    "Ø": "OE",
    "Æ": "AE",
    "Å": "AA",
    "Œ": "OE",
    "Þ": "TH",
    "Ð": "D",
    "Đ": "D",
    "Ł": "L",
    "Ĳ": "IJ",
}
# Letters whose plain spelling is also the transliteration (nothing to drop an accent from).
_NO_PLAIN_FORM = "ßẞØÆŒÞÐĐŁĲ"

# How two single names compare, best first.
_SAME, _TRANSLITERATED, _CUT, _INITIAL = "same", "transliterated", "cut", "initial"
_FULL_KINDS = (_SAME, _TRANSLITERATED, _CUT)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _letters(text: str) -> str:
    return re.sub(r"[^A-Z]", "", _strip_accents(text.upper()))


def name_variants(name: str) -> set[str]:
    """Comparable spellings of a name: upper case, letters only, ICAO and plain transliteration."""
    upper = name.replace("ß", "ẞ").upper()
    icao = "".join(TRANSLITERATIONS.get(c, c) for c in upper)
    plain = "".join(TRANSLITERATIONS.get(c, c) if c in _NO_PLAIN_FORM else c for c in upper)
    return {_letters(icao), _letters(plain)}


def loose_spelling(letters: str) -> str:
    """A spelling with the transliteration digraphs undone (UE, OE, AE -> U, O, A; SS, AA -> S,
    A): MUELLER and MULLER are the same name spelled by two issuers."""
    return re.sub(r"([AOU])E", r"\1", letters).replace("SS", "S").replace("AA", "A")


def names_match(expected: str, read: str, *, read_may_be_truncated: bool = False) -> bool:
    """Whether two whole names are the same allowing case, accents, transliteration and fillers
    (``<``, spaces, hyphens, apostrophes); used where both sides are one reading of one field.

    ``read_may_be_truncated``: an MRZ name that fills its field was cut by the issuer, so the
    printed name only has to be a prefix (2 letters at least) of the expected one.
    """
    read_letters = _letters(read.replace("<", " "))
    if not read_letters:
        return False
    for variant in name_variants(expected):
        if variant == read_letters:
            return True
        if read_may_be_truncated and len(read_letters) >= 2 and variant.startswith(read_letters):
            return True
    return False


def close_spellings(a: str, b: str) -> bool:
    """Equal but for OCR noise once transliteration is undone: one edit per six letters (Ü read
    as O, ß as B), at least one. For two readings of one document, never for a partner's name."""
    a, b = (
        loose_spelling(_letters(a.replace("<", " "))),
        loose_spelling(_letters(b.replace("<", " "))),
    )
    if not a or not b:
        return False
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1] <= max(1, min(len(a), len(b)) // 6)


@dataclass(frozen=True)
class _Name:
    """One name (a word of a given or family name) in every spelling it may take."""

    spellings: frozenset[str]

    @property
    def loose(self) -> frozenset[str]:
        return frozenset(loose_spelling(spelling) for spelling in self.spellings)

    @property
    def is_initial(self) -> bool:
        return all(len(spelling) == 1 for spelling in self.spellings)


def split_names(text: str | None) -> list[_Name]:
    """The words of a name: fillers, spaces and hyphens separate, apostrophes and dots join
    (O'NEIL is ONEIL in the MRZ, "J." is an initial)."""
    cleaned = re.sub(r"['’`´.]", "", str(text or "")).replace("<", " ")
    words = [word for word in re.split(r"[\s\-‐–,]+", cleaned) if word]
    names = [_Name(frozenset(name_variants(word))) for word in words]
    return [name for name in names if any(name.spellings)]


def _joined(names: list[_Name]) -> set[str]:
    joined = {""}
    for name in names:
        joined = {start + spelling for start in joined for spelling in name.spellings}
    return joined


def _compare_one(sent: _Name, read: _Name, *, read_cut: bool, initials: bool) -> str | None:
    if sent.spellings & read.spellings:
        return _SAME
    if sent.is_initial or read.is_initial:
        if not initials:
            return None
        shorter, longer = (sent, read) if sent.is_initial else (read, sent)
        first_letters = {spelling[0] for spelling in longer.spellings}
        return _INITIAL if shorter.spellings & first_letters else None
    if sent.loose & read.loose:
        return _TRANSLITERATED
    if read_cut and any(
        len(r) >= 2 and s.startswith(r) for s in sent.spellings for r in read.spellings
    ):
        return _CUT
    return None


@dataclass
class _PartResult:
    verdict: str
    notes: list[str] = field(default_factory=list)
    sent_left: int = 0  # the partner's names found nowhere on the document
    read_left: int = 0  # the document's names the partner did not send


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else f"{count} {many}"


def _compare_part(
    label: str, sent: list[_Name], read: list[_Name], *, read_cut: bool, initials: bool = True
) -> _PartResult:
    """One part (given names, family name) of the partner's name against the document's."""
    if not read:
        if read_cut:
            return _PartResult(PARTIAL, [f"{label} not printed (the issuer cut the name field)"])
        return _PartResult(MISMATCH, [f"the document shows no {label}"])
    sent_joined, read_joined = _joined(sent), _joined(read)
    if sent_joined & read_joined:
        return _PartResult(MATCH, [f"{label} matches"])
    if read_cut and any(len(r) >= 2 and s.startswith(r) for s in sent_joined for r in read_joined):
        return _PartResult(PARTIAL, [f"{label} matches as far as the issuer printed it"])
    unused = list(range(len(read)))
    kinds: list[str] = []
    order: list[int] = []
    sent_left = 0
    for name in sent:
        best: tuple[int, int] | None = None
        for index in unused:
            kind = _compare_one(name, read[index], read_cut=read_cut, initials=initials)
            rank = (_SAME, _TRANSLITERATED, _CUT, _INITIAL).index(kind) if kind else None
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, index)
        if best is None:
            sent_left += 1
            continue
        kinds.append((_SAME, _TRANSLITERATED, _CUT, _INITIAL)[best[0]])
        order.append(best[1])
        unused.remove(best[1])
    read_left = len(unused)
    if not any(kind in _FULL_KINDS for kind in kinds):
        only_initials = kinds and all(kind == _INITIAL for kind in kinds)
        why = "is only an initial" if only_initials else "differs from the document"
        return _PartResult(MISMATCH, [f"{label} {why}"])
    if sent_left and read_left:
        return _PartResult(MISMATCH, [f"{label} differs from the document: a name disagrees"])
    notes = []
    if read_left:
        one = "a middle name" if label == "given name" else f"another {label}"
        many = "middle names" if label == "given name" else f"more {label}s"
        notes.append(f"the document also lists {_plural(read_left, one, many)}")
    if sent_left:
        notes.append(
            f"the partner sent {_plural(sent_left, 'a name', 'names')} not on the document"
        )
    if _INITIAL in kinds:
        notes.append(f"a {label} is sent as an initial")
    if _CUT in kinds:
        notes.append("as far as the issuer printed it")
    if _TRANSLITERATED in kinds:
        notes.append("spelled with another transliteration (e.g. Ü as UE or U)")
    reordered = order != sorted(order)
    if reordered:
        notes.append(f"{label}s in another order")
    incomplete = read_left or sent_left or reordered or {_INITIAL, _CUT} & set(kinds)
    verdict = PARTIAL if incomplete else MATCH
    return _PartResult(verdict, [f"{label} matches", *notes], sent_left, read_left)


@dataclass(frozen=True)
class NameComparison:
    """The verdict (match, partial_match, mismatch) and the reason, in words without names."""

    verdict: str
    reason: str

    @property
    def passed(self) -> bool:
        return self.verdict != MISMATCH


def _combine(parts: list[_PartResult], extra_note: str | None = None) -> NameComparison:
    verdicts = {part.verdict for part in parts}
    verdict = MISMATCH if MISMATCH in verdicts else PARTIAL if PARTIAL in verdicts else MATCH
    if verdict == MISMATCH:
        notes = [note for part in parts if part.verdict == MISMATCH for note in part.notes]
        return NameComparison(MISMATCH, "; ".join(notes))
    notes = [note for part in parts for note in part.notes]
    if extra_note:
        verdict = PARTIAL
        notes.insert(0, extra_note)
    if verdict == MATCH:
        return NameComparison(MATCH, "name matches the document")
    return NameComparison(verdict, "; ".join(notes))


def compare_names(
    given: str | None,
    family: str | None,
    read_given: str | None,
    read_family: str | None,
    *,
    read_cut: bool = False,
) -> NameComparison:
    """The partner's given and family name against the document's (either may be empty).

    ``read_cut``: the document's name field is full (an MRZ name line without filler), so the
    issuer may have cut the last names short. Tried in order, then with given and family name
    swapped, then as one pool of names split otherwise; the first that does not contradict wins.
    """
    sent_given, sent_family = split_names(given), split_names(family)
    read_given_names, read_family_names = split_names(read_given), split_names(read_family)
    sent_parts = [
        ("given name", sent_given, read_given_names),
        ("family name", sent_family, read_family_names),
    ]
    in_order = [
        _compare_part(label, sent, read, read_cut=read_cut)
        for label, sent, read in sent_parts
        if sent
    ]
    result = _combine(in_order)
    if result.verdict == MATCH or not in_order:
        return result
    if not result.passed and sent_given and sent_family:
        swapped = [
            _compare_part("given name", sent_given, read_family_names, read_cut=False),
            _compare_part("family name", sent_family, read_given_names, read_cut=False),
        ]
        if _combine(swapped).passed:
            return _combine(swapped, "given and family name were sent the other way round")
    pooled = _compare_part(
        "name",
        [*sent_given, *sent_family],
        [*read_given_names, *read_family_names],
        read_cut=False,
        initials=False,
    )
    # Names split otherwise (all in the first-name field, a family name sent as a middle name):
    # taken when it pairs every name on both sides (in another order at most) and the parts
    # did not agree; a name left over would let a given name stand in for a family name.
    complete = pooled.verdict != MISMATCH and not (pooled.sent_left or pooled.read_left)
    if pooled.verdict == MATCH or (complete and not result.passed):
        reason = _combine([pooled]).reason
        return NameComparison(
            PARTIAL, f"names split otherwise between given and family name; {reason}"
        )
    return result


def compare_whole_names(sent: str | None, read: str | None) -> NameComparison:
    """Two whole names in any order (a full name sent, or a document printing one name field).

    Initials do not count here: without the parts, an initial could stand for anything."""
    part = _compare_part(
        "name", split_names(sent), split_names(read), read_cut=False, initials=False
    )
    return _combine([part])


def as_check(name: str, comparison: NameComparison) -> dict[str, str]:
    """A comparison as a check: a partial match passes, and says so in ``verdict``."""
    status = PASS if comparison.passed else FAIL
    return {
        "name": name,
        "status": status,
        "detail": comparison.reason,
        "verdict": comparison.verdict,
    }


def partial_notes(checks: list[dict]) -> list[str]:
    """``name: reason`` of each check that passed on a partial match (for a factor's reasons)."""
    return [
        f"{item.get('name')}: {item.get('detail')}"
        for item in checks
        if item.get("verdict") == PARTIAL
    ]
