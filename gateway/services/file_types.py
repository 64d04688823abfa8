"""What an uploaded file really is, judged by its bytes, never by its name or header."""

from __future__ import annotations

PDF_TYPE = "application/pdf"


def sniff_image_type(content: bytes, *, allow_pdf: bool = False) -> str | None:
    """The MIME type of JPEG, PNG or WebP content (and PDF when allowed), else None."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if allow_pdf and content.startswith(b"%PDF-"):
        return PDF_TYPE
    return None
