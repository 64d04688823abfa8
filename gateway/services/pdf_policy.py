"""What the gateway accepts as a PDF (a reviewer's ``other`` document), and the copy it stores.

A PDF is a program as much as a picture: it can run JavaScript when opened, launch files, carry
other files inside it, or submit forms. A reviewer opens these files, so only a plain document
is kept:

1. **Structure**: ``%PDF-1.x`` header, ``%%EOF`` at the end, a cross-reference table pypdf reads
   in strict mode, not encrypted (an encrypted file cannot be inspected), 1 to ``MAX_PDF_PAGES``
   pages. The probe's 29-byte file that was only a ``%PDF-1.4`` header fails here.
2. **Content**: every object in the file, including those packed in compressed object streams,
   is walked, and any action or container a viewer could execute or unpack is refused
   (JavaScript, launch, embedded files, rich media, XFA forms, automatic actions, form
   submission). The raw bytes are also searched for the same names, so an object that pypdf's
   cross-reference does not list but a forgiving viewer might find is caught too.
3. **Stored copy**: a new file written from the pages alone: no document information
   dictionary (author, creator, dates), no XMP metadata, no annotations, no outline, no forms.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import warnings
from typing import Any

import structlog
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from gateway.errors import PdfRefused

# A proof of address or a bank statement is a few pages; a scanned contract rarely passes 30.
MAX_PDF_PAGES = 50
# Objects in the whole file: 500 a page at the page limit, far beyond a scan (~5 a page) or an
# office export (fonts, images: tens a page). Walking every object costs ~20 us and ~0.8 KB
# each (measured: 1,000,000 empty objects packed in a 6.6 MB object stream took 25 s of CPU
# and 853 MiB to check), so the count is refused before any object is read.
MAX_PDF_OBJECTS = 25_000
# Names that make a viewer run, open, unpack or send something (ISO 32000-1 sections 7.11,
# 8.5, 12.6, 12.7 and 13.6).
FORBIDDEN_NAMES = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/Launch",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/FileAttachment",
        "/RichMedia",
        "/XFA",
        "/AA",
        "/SubmitForm",
        "/ImportData",
        "/GoToE",
        "/GoToR",
        "/Sound",
        "/Movie",
    }
)


# The same names in the raw bytes outside stream data, with PDF's #xx escapes in any letter
# (/J#61vaScript). Stream data is left out: 10 MB of compressed image data holds "/JS" followed
# by a non-letter about once by chance.
def _escaped(character: int) -> bytes:
    hex_lower, hex_upper = b"%02x" % character, b"%02X" % character
    return b"(?:" + re.escape(bytes([character])) + b"|#" + hex_lower + b"|#" + hex_upper + b")"


_RAW_FORBIDDEN = re.compile(
    b"/(?:"
    + b"|".join(
        b"".join(_escaped(character) for character in name.encode()[1:])
        for name in sorted(FORBIDDEN_NAMES, key=len, reverse=True)
    )
    + b")(?![A-Za-z0-9#])"
)
_STREAM_DATA = re.compile(rb"stream\r?\n.*?endstream", re.DOTALL)
# Page keys not carried into the stored copy: annotations (links, attachments, forms), metadata,
# page-level actions and application data.
_DROPPED_PAGE_KEYS = ("/Annots", "/Metadata", "/AA", "/PieceInfo", "/B", "/Thumb")
EOF_WINDOW_BYTES = 1024


log = structlog.get_logger("gateway.uploads")


def clean_pdf(content: bytes, *, field: str = "other", max_pages: int = MAX_PDF_PAGES) -> bytes:
    """Check ``content`` against the PDF policy and return the copy that may be stored.

    The caller has already bounded the size and judged the type by content. Raises
    ``PdfRefused`` (422) with the reason in ``errors[field]``.
    """
    if not re.match(rb"%PDF-1\.[0-7]", content) or b"%%EOF" not in content[-EOF_WINDOW_BYTES:]:
        raise _refused(field, "not a complete PDF file (header or end marker missing)", "structure")
    if _declared_object_count(content) > MAX_PDF_OBJECTS:
        # Refused before pypdf builds its cross-reference (1.5 million entries fit in 10 MB).
        raise _refused(
            field, f"the PDF has more than {MAX_PDF_OBJECTS} objects", "too_many_objects"
        )
    if _RAW_FORBIDDEN.search(_STREAM_DATA.sub(b"stream endstream", content)):
        raise _refused(field, "the PDF holds scripts, actions or embedded files", "active_content")
    try:
        with warnings.catch_warnings(), _PypdfComplaints() as complaints:
            # Strict: whatever pypdf would only warn about (a repaired cross-reference entry, a
            # stray byte) is damage we refuse rather than guess around. pypdf says so through
            # the warnings module or its logger, even in strict mode.
            warnings.simplefilter("error")
            reader = PdfReader(io.BytesIO(content), strict=True)
            if reader.is_encrypted:
                raise _refused(field, "an encrypted PDF cannot be checked", "encrypted")
            pages = len(reader.pages)
            if not 1 <= pages <= max_pages:
                raise _refused(
                    field, f"the PDF has {pages} pages; 1 to {max_pages} are accepted", "pages"
                )
            if _object_count(reader) > MAX_PDF_OBJECTS:
                raise _refused(
                    field, f"the PDF has more than {MAX_PDF_OBJECTS} objects", "too_many_objects"
                )
            for found in _every_object(reader):
                if _holds_forbidden_name(found):
                    raise _refused(
                        field, "the PDF holds scripts, actions or embedded files", "active_content"
                    )
            if complaints.messages:
                raise _refused(field, "the PDF is damaged or malformed", "structure")
            return _rewrite(reader)
    except PdfRefused:
        raise
    except Exception as exc:
        # pypdf reports damage as its own errors, its warnings (errors here) and, for malformed
        # objects, as whatever Python raises on the way (KeyError, AssertionError: a fuzz run
        # met both). Whatever it is, the file is not one we can vouch for: refused, and the kind
        # of failure logged (never the content).
        log.info("pdf_refused_unreadable", error_type=type(exc).__name__)
        raise _refused(field, "the PDF is damaged or malformed", "structure") from exc


class _PypdfComplaints(logging.Handler):
    """Collects what pypdf logs at warning level while this thread reads a file (other threads'
    files are not this one's concern)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread_id = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.messages.append(record.getMessage())

    def __enter__(self) -> _PypdfComplaints:
        logging.getLogger("pypdf").addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("pypdf").removeHandler(self)


def _refused(field: str, detail: str, reason: str) -> PdfRefused:
    return PdfRefused(detail, errors={field: [reason]})


_SIZE_ENTRY = re.compile(rb"/Size\s+(\d{1,12})")
_INDEX_ENTRY = re.compile(rb"/Index\s*\[([\d\s]{0,4096})\]")


def _declared_object_count(content: bytes) -> int:
    """The largest object count a trailer or cross-reference stream declares (``/Size``, or
    the counts of its ``/Index`` subsections), read from the raw bytes."""
    counts = [int(size) for size in _SIZE_ENTRY.findall(content)]
    for index in _INDEX_ENTRY.findall(content):
        counts.append(sum(int(count) for count in index.split()[1::2]))
    return max(counts, default=0)


def _object_count(reader: PdfReader) -> int:
    """How many objects the cross-reference lists, packed ones included (none is read)."""
    return sum(len(table) for table in reader.xref.values()) + len(reader.xref_objStm)


def _every_object(reader: PdfReader) -> list[Any]:
    """Every indirect object of the file, those in compressed object streams included."""
    numbers: set[tuple[int, int]] = set()
    for generation, table in reader.xref.items():
        numbers.update((number, generation) for number in table)
    numbers.update((number, 0) for number in reader.xref_objStm)
    found = []
    for number, generation in sorted(numbers):
        if number == 0:
            continue
        found.append(reader.get_object(IndirectObject(number, generation, reader)))
    found.append(reader.trailer)
    return found


def _holds_forbidden_name(value: Any, depth: int = 0) -> bool:
    """True when ``value`` (without following references) names a forbidden key or action."""
    if depth > 64:
        raise ValueError("PDF object nested too deeply")
    if isinstance(value, NameObject):
        return str(value) in FORBIDDEN_NAMES
    if isinstance(value, DictionaryObject):
        return any(
            str(key) in FORBIDDEN_NAMES or _holds_forbidden_name(item, depth + 1)
            for key, item in value.items()
        )
    if isinstance(value, ArrayObject):
        return any(_holds_forbidden_name(item, depth + 1) for item in value)
    return False


def _rewrite(reader: PdfReader) -> bytes:
    """A new PDF made of the pages only, without metadata or interactive parts."""
    writer = PdfWriter()
    for page in reader.pages:
        added = writer.add_page(page)
        for key in _DROPPED_PAGE_KEYS:
            if key in added:
                del added[NameObject(key)]
    writer.metadata = None
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
