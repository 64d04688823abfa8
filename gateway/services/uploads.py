"""The one upload policy: every file the gateway stores passes ``accept_upload`` first.

The hosted flow's captures, the reviewer's documents and any later intake meet the same rules:
the size is bounded before anything is parsed, the type is judged by the bytes (never by the
name or the Content-Type header), images are checked for their pixel count before decoding and
stored as a fresh JPEG without metadata (``image_policy``), and a PDF, accepted only where the
caller allows it (the reviewer's ``other`` documents), is checked for structure, page count and
active content and stored as a rewritten copy (``pdf_policy``). Anything else is refused with a
4xx problem before the caller can store anything.

Paths that take images only and need their pixels as well (the hosted flow's quality checks, the
KYC Service and partner intakes) call ``image_policy.clean_image`` itself: the same rules, and
the same stored copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ImageTooLarge, ImageTypeRefused, ValidationFailed
from gateway.services.file_types import PDF_TYPE, sniff_image_type
from gateway.services.image_policy import MAX_IMAGE_BYTES, clean_image
from gateway.services.pdf_policy import clean_pdf

__all__ = ["StoredUpload", "accept_upload", "sniff_image_type"]


@dataclass(frozen=True)
class StoredUpload:
    """The copy of an upload that may be stored, with the name and type to store it under."""

    filename: str
    content: bytes
    mime_type: str


def accept_upload(
    field: str, content: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, allow_pdf: bool = False
) -> StoredUpload:
    """Check one uploaded file against the policy; return the clean copy to store.

    Raises ``ImageTooLarge`` (413) over ``max_bytes``, ``ImageTypeRefused`` (415) for a type not
    accepted here, and a 422 (``ImageRefused``, ``PdfRefused``, or ``validation_failed`` for an
    empty file) for content that cannot be made safe.
    """
    if not content:
        raise ValidationFailed(f"{field} is empty", errors={field: ["empty"]})
    if len(content) > max_bytes:
        raise ImageTooLarge(
            f"{field} is {len(content)} bytes; at most {max_bytes} are accepted",
            errors={field: ["too_large"]},
        )
    mime_type = sniff_image_type(content, allow_pdf=allow_pdf)
    if mime_type is None:
        accepted = "a JPEG, PNG or WebP image" + (" or a PDF" if allow_pdf else "")
        raise ImageTypeRefused(
            f"{field} is not {accepted}", errors={field: ["unsupported content"]}
        )
    if mime_type == PDF_TYPE:
        return StoredUpload(f"{field}.pdf", clean_pdf(content, field=field), PDF_TYPE)
    image = clean_image(content, max_bytes=max_bytes, field=field)
    return StoredUpload(f"{field}.{image.extension}", image.content, image.mime_type)
