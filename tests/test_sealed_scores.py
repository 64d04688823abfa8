"""What the worker read from a document is never stored in clear: ``profiles.scores`` keeps it
masked (last 3 characters) and sealed with the data key, so neither the database file nor a
backup holds the document number, the MRZ lines or the birth date; erasure removes the sealed
values with the rest. The probe found them in clear in 21 rows and in every backup zip."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from api_helpers import TO_PROCESSING, new_profile_id, walk
from flask.testing import FlaskClient

from gateway.container import Services
from gateway.pb_server import PocketBaseServer
from gateway.services.sealed_scores import SEALED_KEY, mask, reveal_scores, seal_scores
from gateway.worker import verification_job

NUMBER = "ZQ8850934"
MRZ_LINES = [
    "P<UTOQUIRKE<<ANNELISE<<<<<<<<<<<<<<<<<<<<<<<",
    "ZQ8850934<5UTO8203117F3011034<<<<<<<<<<<<<<08",
]
BIRTH_DATE = "1982-03-11"


def document_scores() -> dict[str, Any]:
    """Scores shaped as the pipeline writes them, with what the reader read."""
    read = {
        "mrz_layout": "TD3",
        "document_type": "passport",
        "issuing_state": "UTO",
        "nationality": "UTO",
        "document_number": NUMBER,
        "surname": "QUIRKE",
        "given_names": "ANNELISE",
        "birth_date": BIRTH_DATE,
        "expiry_date": "2030-11-03",
        "sex": "F",
        "optional_data": "",
        "names_truncated": False,
        "a_field_a_new_reader_adds": "SECRETVALUE",
    }
    return {
        "factors": {
            "document": {
                "status": "pass",
                "score": 0.9,
                "reasons": ["document checks passed"],
                "detail": {
                    "fields": read,
                    "checks": [{"name": "mrz_read", "status": "pass", "detail": "TD3 read"}],
                    "mrz": {"lines": MRZ_LINES, "read_lines": MRZ_LINES, "repairs": []},
                    "visual_zone": {"surname": "QUIRKE", "birth_date": BIRTH_DATE},
                },
            },
            "kya": {"status": "pass", "score": 1.0, "reasons": [], "detail": {"checks": []}},
        },
        "points": {"document": 25},
        "settings": {"min_age": 18},
        "timings_ms": {"document": 210.0},
    }


CLEAR_VALUES = [NUMBER, *MRZ_LINES, BIRTH_DATE, "QUIRKE", "ANNELISE", "SECRETVALUE"]


def test_read_values_are_masked_and_sealed() -> None:
    scores = document_scores()
    stored = seal_scores("data-key-0123456789abcdef", copy.deepcopy(scores))
    text = json.dumps(stored)
    for value in CLEAR_VALUES:
        assert value not in text, value
    fields = stored["factors"]["document"]["detail"]["fields"]
    assert fields["document_number"] == "******934"
    assert fields["birth_date"] == "*******-11"
    assert fields["a_field_a_new_reader_adds"] == "********LUE"
    # What a reviewer needs and identifies nobody stays as it was.
    for key in ("document_type", "issuing_state", "expiry_date", "sex", "names_truncated"):
        assert fields[key] == scores["factors"]["document"]["detail"]["fields"][key]
    assert stored["factors"]["document"]["detail"]["checks"][0]["name"] == "mrz_read"
    assert stored["factors"]["document"]["detail"]["mrz"]["lines"][1].endswith("<08")
    assert reveal_scores("data-key-0123456789abcdef", stored) == scores


def test_sealed_values_need_the_data_key() -> None:
    stored = seal_scores("data-key-0123456789abcdef", document_scores())
    with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
        reveal_scores("another-key-0123456789abcdef", stored)


def test_masking_keeps_no_more_than_three_characters() -> None:
    assert mask("AB") == "**"
    assert mask("ABC") == "***"
    assert mask("ABCD") == "*BCD"
    assert mask(["12345", None, True]) == ["**345", None, True]


def decide_with_scores(services: Services, profile_id: str) -> dict[str, Any]:
    """The worker's one writing point, as a verification ends."""
    walk(services.pb, profile_id, *TO_PROCESSING)
    profile = services.pb.get("profiles", profile_id)
    verification_job._finish(
        services,
        profile,
        "manual_review",
        "score 70",
        decision="manual_review",
        reasons=["document checks passed"],
        score=70.0,
        scores=document_scores(),
    )
    return services.pb.get("profiles", profile_id)


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in data_dir.glob("data.db*") if path.is_file())


def test_the_worker_stores_nothing_read_in_clear_not_even_in_a_backup(
    client: FlaskClient,
    services: Services,
    partner: Any,
    pocketbase: PocketBaseServer,
    tmp_path: Path,
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    record = decide_with_scores(services, profile_id)
    assert SEALED_KEY in record["scores"]
    stored_text = json.dumps(record["scores"])
    for value in CLEAR_VALUES:
        assert value not in stored_text, value
    revealed = reveal_scores(services.settings.data_key, record["scores"])
    assert revealed["factors"]["document"]["detail"]["fields"]["document_number"] == NUMBER

    on_disk = database_bytes(pocketbase.data_dir)
    for value in CLEAR_VALUES:
        assert value.encode() not in on_disk, value
    name = f"sealed_{profile_id}.zip"
    services.pb.create_backup(name)
    with zipfile.ZipFile(pocketbase.data_dir / "backups" / name) as backup:
        backed_up = b"".join(backup.read(item) for item in backup.namelist())
    for value in CLEAR_VALUES:
        assert value.encode() not in backed_up, value


def test_erasure_removes_the_sealed_values(
    client: FlaskClient, services: Services, partner: Any
) -> None:
    profile_id = new_profile_id(client, partner.headers)
    decide_with_scores(services, profile_id)
    erased = client.delete(f"/api/profiles/{profile_id}", headers=partner.headers)
    assert erased.status_code == 200, erased.get_json()
    scores = services.pb.get("profiles", profile_id)["scores"]
    assert SEALED_KEY not in scores
    assert "detail" not in json.dumps(scores)
