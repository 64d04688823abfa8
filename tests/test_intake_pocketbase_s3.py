"""PocketBase's own files on the same S3 as the intake: a capture stored through the gateway's
store client lands in the bucket, not on PocketBase's disk, and is read back from there.

A PocketBase of its own: switching the session's shared one would move every other test's files.
"""

from __future__ import annotations

import pytest
from intake_fixtures import s3_client, shared_s3
from worker_helpers import jpeg

from gateway.pb_server import PocketBaseServer
from gateway.services.pb_storage import FileStorageS3, use_local_files, use_s3_for_files
from gateway.services.pocketbase import PocketBase
from gateway.services.pocketbase_transport import PocketBaseConfig

FILES_BUCKET = "pocketbase-files"


@pytest.fixture
def own_pocketbase(tmp_path):
    server = PocketBaseServer.throwaway(tmp_path, email="s3@ekyc.test")
    yield server
    server.stop()


def test_captures_are_stored_in_and_served_from_the_bucket(
    request, tmp_path_factory, own_pocketbase
):
    import numpy as np

    s3 = shared_s3(request.config, tmp_path_factory)
    client = s3_client(s3)
    if FILES_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=FILES_BUCKET)
    pb = PocketBase(
        PocketBaseConfig(
            url=own_pocketbase.url,
            email=own_pocketbase.superuser_email,
            password=own_pocketbase.superuser_password,
        )
    )
    target = FileStorageS3(s3.endpoint, FILES_BUCKET, "us-east-1", s3.access_key, s3.secret_key)
    use_s3_for_files(pb, target)

    partner = pb.create("partners", {"name": "S3 files", "slug": "s3-files", "status": "active"})
    profile = pb.upsert_profile(
        partner["id"],
        {
            "external_ref": "s3-files-1",
            "link_nonce": "n" * 16,
            "link_expires_at": "2099-01-01 00:00:00.000Z",
            "retention_until": "2099-01-01 00:00:00.000Z",
            "status_actor": "system",
        },
    )["profile"]
    photo = jpeg(np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    stored = pb.update(
        "profiles",
        profile["id"],
        {},
        files={"document_front": [("document_front.jpg", photo, "image/jpeg")]},
    )
    name = stored["document_front"]

    keys = [item["Key"] for item in client.list_objects_v2(Bucket=FILES_BUCKET).get("Contents", [])]
    assert any(key.endswith(f"{profile['id']}/{name}") for key in keys), keys
    on_disk = list((own_pocketbase.data_dir / "storage").rglob(name))
    assert on_disk == []
    assert pb.download_file("profiles", profile["id"], name) == photo

    # Wrong credentials are refused when set, not at the first upload.
    wrong = FileStorageS3(s3.endpoint, FILES_BUCKET, "us-east-1", s3.access_key, "not-it")
    with pytest.raises(Exception, match="cannot reach"):
        use_s3_for_files(pb, wrong)
    use_local_files(pb)
