"""A bounded fuzz run of the upload policy: damaged, truncated and spliced JPEG, PNG, WebP and PDF
files either come out as a clean copy or are refused with a 4xx error, never an unexpected
exception (a 500 on the reviewer route). Derandomized, no example database; about 10 s."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pdf_samples import js_in_object_stream_pdf, js_open_action_pdf, plain_pdf
from PIL import Image

from gateway.errors import GatewayError
from gateway.services.uploads import accept_upload

FUZZ_EXAMPLES = int(os.environ.get("EKYC_FUZZ_EXAMPLES", "150"))


def image(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 90)).save(buffer, kind)
    return buffer.getvalue()


SEEDS = [
    image("JPEG"),
    image("PNG"),
    image("WEBP"),
    plain_pdf(),
    plain_pdf(pages=2, author="Someone"),
    js_open_action_pdf(),
    js_in_object_stream_pdf(),
]


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A seed file with a few bytes changed, cut short, or with bytes spliced in."""
    content = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if len(content) < 12:
            break
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(min_value=0, max_value=len(content) - 1))
        if action == "flip":
            content[at] = draw(st.integers(min_value=0, max_value=255))
        elif action == "cut":
            del content[max(at, 8) :]
        elif action == "insert":
            content[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif len(content) > 10:
            del content[at : at + draw(st.integers(min_value=1, max_value=20))]
    return bytes(content)


@pytest.mark.slow
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(content=damaged_files(), field=st.sampled_from(["document_front", "selfie", "other"]))
def test_damaged_files_are_cleaned_or_refused_never_crash(content: bytes, field: str) -> None:
    try:
        stored = accept_upload(field, content, allow_pdf=field == "other")
    except GatewayError as error:
        assert 400 <= error.status < 500, error
        assert error.errors and field in error.errors
        return
    assert stored.content
    if stored.mime_type == "application/pdf":
        assert b"/JavaScript" not in stored.content and b"/JS" not in stored.content
    else:
        assert stored.mime_type == "image/jpeg"
