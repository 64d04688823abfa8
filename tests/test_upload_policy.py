"""One upload policy for every path: the probe's malicious uploads, sent to the reviewer documents
route that stored them byte for byte (201), are now refused with a 4xx problem and nothing
stored, or stored only as a clean copy: images re-encoded without metadata and with bounded
pixels, PDFs checked for structure, pages and active content and rewritten."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from api_helpers import assert_problem, attach_files, new_profile_id
from flask.testing import FlaskClient
from pdf_samples import (
    encrypted_pdf,
    js_in_object_stream_pdf,
    js_open_action_pdf,
    many_objects_pdf,
    pdf_with_attachment,
    plain_pdf,
)
from PIL import Image
from pypdf import PdfReader

from gateway.container import Services
from gateway.errors import PdfRefused
from gateway.services.image_policy import MAX_STORED_SIDE_PX
from gateway.services.pdf_policy import _RAW_FORBIDDEN, _STREAM_DATA, MAX_PDF_OBJECTS, clean_pdf
from gateway.services.uploads import accept_upload

GPS_IFD = 0x8825


def jpeg_with_metadata() -> bytes:
    """A photo as a phone writes it: GPS position, camera make and a comment."""
    image = Image.new("RGB", (320, 240), (30, 140, 90))
    exif = Image.Exif()
    exif[0x010F] = "ProbeCam"  # Make
    exif[0x0110] = "ProbeCam Model X"  # Model
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.9)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"home address: 1 Probe Street")
    return buffer.getvalue()


def small_jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG with its frame header rewritten to claim ``width`` x ``height``."""
    data = bytearray(small_jpeg())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def upload(
    client: FlaskClient, headers: dict[str, str], profile_id: str, field: str, content: bytes
):
    return attach_files(client, headers, profile_id, {field: (content, "upload.bin")})


def stored_files(services: Services, profile_id: str) -> list[str]:
    record = services.pb.get("profiles", profile_id)
    names = [record.get(name) for name in ("document_front", "document_back", "selfie")]
    return [name for name in names if name] + list(record.get("other_documents") or [])


# -- refused: 4xx problem, nothing stored ------------------------------------------------------

REFUSED = [
    ("document_front", png_claiming(20_000, 20_000), 422, "image_refused"),
    ("selfie", png_claiming(20_000, 20_000), 422, "image_refused"),
    ("document_front", jpeg_claiming(65_000, 65_000), 422, "image_refused"),
    ("document_front", small_jpeg()[: len(small_jpeg()) // 2], 422, "image_refused"),
    ("other", b"%PDF-1.4\n" + b" " * 20, 422, "pdf_refused"),
    ("other", js_open_action_pdf(), 422, "pdf_refused"),
    ("other", js_open_action_pdf(escaped=True), 422, "pdf_refused"),
    ("other", js_in_object_stream_pdf(), 422, "pdf_refused"),
    ("other", pdf_with_attachment(), 422, "pdf_refused"),
    ("other", encrypted_pdf(), 422, "pdf_refused"),
    ("other", plain_pdf(pages=51), 422, "pdf_refused"),
    ("other", many_objects_pdf(MAX_PDF_OBJECTS + 1), 422, "pdf_refused"),
    ("other", b"<html><script>alert(1)</script></html>", 415, "image_type_refused"),
    ("document_back", plain_pdf(), 415, "image_type_refused"),
    ("selfie", b"", 422, "validation_failed"),
]


@pytest.mark.parametrize(
    ("field", "content", "status", "code"),
    REFUSED,
    ids=[
        "png-bomb-front",
        "png-bomb-selfie",
        "jpeg-claims-65000px",
        "truncated-jpeg",
        "pdf-header-only",
        "pdf-javascript",
        "pdf-escaped-javascript",
        "pdf-javascript-in-object-stream",
        "pdf-attachment",
        "pdf-encrypted",
        "pdf-51-pages",
        "pdf-too-many-objects",
        "html",
        "pdf-outside-other",
        "empty",
    ],
)
def test_refused_uploads_store_nothing(
    client: FlaskClient,
    services: Services,
    reviewer: Any,
    field: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, field, content)
    body = assert_problem(response, status, code)
    assert field in body["errors"]
    assert stored_files(services, profile_id) == []


def test_one_refused_file_stores_none_of_the_others(
    client: FlaskClient, services: Services, reviewer: Any
) -> None:
    profile_id = new_profile_id(client, reviewer.headers)
    response = attach_files(
        client,
        reviewer.headers,
        profile_id,
        {
            "document_front": (small_jpeg(), "front.jpg"),
            "other": (js_open_action_pdf(), "bill.pdf"),
        },
    )
    assert_problem(response, 422, "pdf_refused")
    assert stored_files(services, profile_id) == []


def test_the_object_stream_script_is_invisible_to_a_byte_search() -> None:
    # So the structural walk, not the byte search, is what refuses it.
    content = js_in_object_stream_pdf()
    assert _RAW_FORBIDDEN.search(_STREAM_DATA.sub(b"stream endstream", content)) is None


# -- stored as a clean copy --------------------------------------------------------------------


def download(services: Services, profile_id: str, name: str) -> bytes:
    return services.pb.download_file("profiles", profile_id, name)


def test_gps_camera_and_comment_are_stripped(
    client: FlaskClient, services: Services, reviewer: Any
) -> None:
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, "document_front", jpeg_with_metadata())
    assert response.status_code == 201, response.get_json()
    stored = download(services, profile_id, response.get_json()["documents"]["document_front"])
    assert b"ProbeCam" not in stored and b"Probe Street" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (320, 240)
        assert dict(image.getexif()) == {}
        assert "comment" not in image.info and "exif" not in image.info


def test_a_jpeg_html_polyglot_is_stored_without_its_html(
    client: FlaskClient, services: Services, reviewer: Any
) -> None:
    polyglot = small_jpeg() + b"<html><script>alert(document.cookie)</script></html>"
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, "selfie", polyglot)
    assert response.status_code == 201, response.get_json()
    stored = download(services, profile_id, response.get_json()["documents"]["selfie"])
    assert b"<script" not in stored and b"<html" not in stored


def test_a_large_photo_is_stored_within_the_policy_pixels(
    client: FlaskClient, services: Services, reviewer: Any
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 2500), (10, 10, 10)).save(buffer, "PNG")
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, "document_front", buffer.getvalue())
    assert response.status_code == 201, response.get_json()
    stored = download(services, profile_id, response.get_json()["documents"]["document_front"])
    with Image.open(io.BytesIO(stored)) as image:
        assert max(image.size) == MAX_STORED_SIDE_PX


def test_a_plain_pdf_is_stored_rewritten_without_its_metadata(
    client: FlaskClient, services: Services, reviewer: Any
) -> None:
    original = plain_pdf(pages=2, author="Jane Applicant")
    profile_id = new_profile_id(client, reviewer.headers)
    response = upload(client, reviewer.headers, profile_id, "other", original)
    assert response.status_code == 201, response.get_json()
    [name] = response.get_json()["documents"]["other"]
    assert name.endswith(".pdf")
    stored = download(services, profile_id, name)
    assert b"Jane Applicant" not in stored and b"Probe scanner" not in stored
    reader = PdfReader(io.BytesIO(stored), strict=True)
    assert len(reader.pages) == 2
    assert not reader.metadata


def test_images_are_accepted_as_other_documents_too() -> None:
    stored = accept_upload("other", jpeg_with_metadata(), allow_pdf=True)
    assert stored.mime_type == "image/jpeg" and stored.filename == "other.jpg"
    assert b"ProbeCam" not in stored.content


def test_a_pdf_of_many_objects_is_refused_before_they_are_read() -> None:
    """2 MB, under the upload limit: reading every object took ~7 s of CPU (a million in
    6.6 MB: 25 s and 853 MiB), then the file was accepted."""
    bomb = many_objects_pdf(300_000)
    assert len(bomb) < 10 * 1024 * 1024
    with pytest.raises(PdfRefused) as refused:
        clean_pdf(bomb)
    assert refused.value.errors == {"other": ["too_many_objects"]}


def test_a_pdf_with_many_objects_below_the_limit_is_accepted() -> None:
    stored = clean_pdf(many_objects_pdf(MAX_PDF_OBJECTS - 10))
    assert len(PdfReader(io.BytesIO(stored), strict=True).pages) == 1
