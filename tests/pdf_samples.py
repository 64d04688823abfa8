"""Hand-built PDFs for the upload policy tests: plain ones, and the hostile shapes a probe sends
(JavaScript in an open action, an escaped name, an attachment, a script packed inside a
compressed object stream where no byte search can see it)."""

from __future__ import annotations

import io
import struct
import zlib

from pypdf import PdfWriter

PAGE_TREE = {
    2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
}


def plain_pdf(pages: int = 1, author: str = "") -> bytes:
    """A valid PDF written by pypdf, optionally with an /Author in its information dictionary."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(200, 200)
    if author:
        writer.add_metadata({"/Author": author, "/Creator": "Probe scanner 1.0"})
    return _written(writer)


def pdf_with_attachment() -> bytes:
    """One blank page carrying an embedded file."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_attachment("payload.exe", b"MZ not really")
    return _written(writer)


def encrypted_pdf() -> bytes:
    """One blank page, password-encrypted (nothing in it can be checked)."""
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _body(objects: dict[int, bytes]) -> tuple[bytearray, dict[int, int]]:
    """The header and the numbered objects in order, and each object's byte offset."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    return out, offsets


def classic_pdf(objects: dict[int, bytes]) -> bytes:
    """A PDF with a classic cross-reference table; object 1 is the catalog."""
    out, offsets = _body(objects)
    size = max(objects) + 1
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at)
    return bytes(out)


def js_open_action_pdf(escaped: bool = False) -> bytes:
    """JavaScript run when the file is opened (optionally spelled /J#61vaScript)."""
    name = b"/J#61vaScript" if escaped else b"/JavaScript"
    return classic_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
            **PAGE_TREE,
            4: b"<< /S " + name + b" /J#53 (app.alert\\(1\\)) >>",
        }
    )


def js_in_object_stream_pdf() -> bytes:
    """The script's action dictionary packed in a Flate-compressed object stream, listed by a
    cross-reference stream: invisible to a search of the file's bytes."""
    packed = {4: b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"}
    header = b" ".join(b"%d %d" % (number, 0) for number in packed) + b" "
    body = b"".join(packed.values())
    objstm_data = zlib.compress(header + body)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        **PAGE_TREE,
        5: b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (len(header), len(objstm_data))
        + objstm_data
        + b"\nendstream",
    }
    out, offsets = _body(objects)
    xref_number, size = 6, 7
    offsets[xref_number] = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    for number in range(1, size):
        if number == 4:
            rows.append(struct.pack(">BIH", 2, 5, 0))
        else:
            rows.append(struct.pack(">BIH", 1, offsets[number], 0))
    data = b"".join(rows)
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n"
        % (xref_number, size, len(data))
        + data
        + b"\nendstream\nendobj\n"
    )
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


def many_objects_pdf(count: int) -> bytes:
    """One blank page and ``count`` empty objects packed in one Flate-compressed object stream
    (a million of them fit in 6.6 MB): a bomb for a checker that reads every object."""
    first = 5
    header = b" ".join(b"%d %d" % (first + i, 5 * i) for i in range(count)) + b" "
    packed = zlib.compress(header + b"null " * count, 9)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        **PAGE_TREE,
        4: b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (count, len(header), len(packed))
        + packed
        + b"\nendstream",
    }
    out, offsets = _body(objects)
    xref_number = first + count
    offsets[xref_number] = len(out)
    rows = [struct.pack(">BII", 0, 0, 65535)]
    rows += [struct.pack(">BII", 1, offsets[number], 0) for number in range(1, first)]
    rows += [struct.pack(">BII", 2, 4, index) for index in range(count)]
    rows.append(struct.pack(">BII", 1, offsets[xref_number], 0))
    data = zlib.compress(b"".join(rows), 9)
    out += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 4] /Root 1 0 R /Filter /FlateDecode"
        b" /Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, len(data))
        + data
        + b"\nendstream\nendobj\n"
    )
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)
