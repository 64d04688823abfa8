"""PocketBase's own file storage on S3: captures leave the gateway machine's disk.

PocketBase keeps uploaded files (document photos, selfie frames, stamps, reviewer uploads) under
``pb_data/storage`` unless its S3 settings are on; then every new file goes to the bucket and is
served (protected files included, with the same short-lived tokens) from there. This sets those
settings through PocketBase's settings API, as the admin UI's Settings > Files storage does, and
asks PocketBase to test the connection before reporting success. Files stored before the switch
stay on disk and are no longer served: switch before going live, or copy them across.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import StoreError
from gateway.services.pocketbase import PocketBase


@dataclass(frozen=True)
class FileStorageS3:
    """Where PocketBase should keep its files."""

    endpoint: str
    bucket: str
    region: str
    access_key: str
    secret_key: str
    force_path_style: bool = True  # self-hosted stores (SeaweedFS, MinIO) want path-style


def use_s3_for_files(pb: PocketBase, target: FileStorageS3) -> None:
    """Point PocketBase's file storage at ``target`` and check it answers; ``StoreError`` if not
    (PocketBase then keeps the settings, so turn them off again or fix them)."""
    response = pb.request(
        "PATCH",
        "/api/settings",
        json={
            "s3": {
                "enabled": True,
                "bucket": target.bucket,
                "region": target.region,
                "endpoint": target.endpoint,
                "accessKey": target.access_key,
                "secret": target.secret_key,
                "forcePathStyle": target.force_path_style,
            }
        },
    )
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused the S3 settings: {response.text[:300]}")
    check = pb.request("POST", "/api/settings/test/s3", json={"filesystem": "storage"})
    if check.status_code != 204:
        raise StoreError(f"PocketBase cannot reach the S3 store: {check.text[:300]}")


def use_local_files(pb: PocketBase) -> None:
    """Back to ``pb_data/storage``."""
    response = pb.request("PATCH", "/api/settings", json={"s3": {"enabled": False}})
    if response.status_code != 200:
        raise StoreError(f"PocketBase refused the storage settings: {response.text[:300]}")
