"""Object storage used by reviews: signed links to certificate photos, and registry snapshots.

The photos live in certificate-svc's bucket; reviewers get short-lived presigned GET URLs signed
for the public host. Registry snapshots that operators upload are kept in this service's own
bucket, and a MongoDB document names the current one, so every replica reads the same snapshot.
The minio SDK is blocking, so every call that may touch the network runs in a worker thread.
"""

import asyncio
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minio import Minio
from pymongo.asynchronous.database import AsyncDatabase

from bangke_runtime.storage import ObjectStorage

from ..settings import ReviewSettings

CURRENT_SNAPSHOT_ID = "current"


@dataclass(frozen=True, slots=True)
class PhotoLink:
    key: str
    url: str
    expires_in_s: int


class PhotoLinks:
    """Presigned GET URLs for certificate photos; signing makes no request (the region is set)."""

    def __init__(self, settings: ReviewSettings, storage: ObjectStorage) -> None:
        self._bucket = storage.bucket_name(settings.certificate_bucket)
        self._ttl_s = settings.photo_url_ttl_s
        self._signer = Minio(
            settings.s3_public_endpoint or settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
        )

    async def sign(self, keys: list[str]) -> list[PhotoLink]:
        def sign_all() -> list[PhotoLink]:
            expires = timedelta(seconds=self._ttl_s)
            return [PhotoLink(key, self._signer.presigned_get_object(self._bucket, key, expires), self._ttl_s) for key in keys]

        return await asyncio.to_thread(sign_all)


class SnapshotStore:
    """The registry snapshots operators upload: the bytes in storage, the pointer in MongoDB."""

    def __init__(self, settings: ReviewSettings, storage: ObjectStorage, db: AsyncDatabase) -> None:
        self._bucket = storage.bucket_name(settings.registry_snapshot_bucket)
        self._storage = storage
        self._pointers = db["registry_snapshots"]
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
        )

    async def ensure_bucket(self) -> None:
        await self._storage.ensure_bucket(self._bucket)

    async def save(self, data: bytes, *, records: int, uploaded_by: str, now: datetime) -> dict[str, Any]:
        """Store a validated snapshot and make it the current one; return its description."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"snapshots/{now:%Y%m%dT%H%M%SZ}-{digest[:12]}"
        await asyncio.to_thread(
            self._client.put_object, self._bucket, key, io.BytesIO(data), len(data),
            content_type="application/octet-stream",
        )
        pointer = {
            "object_key": key, "sha256": digest, "bytes": len(data), "records": records,
            "uploaded_by": uploaded_by, "uploaded_at": now,
        }
        # The previous snapshot object stays in the bucket as history; only the pointer moves.
        await self._pointers.update_one({"_id": CURRENT_SNAPSHOT_ID}, {"$set": pointer}, upsert=True)
        return pointer

    async def describe(self) -> dict[str, Any] | None:
        return await self._pointers.find_one({"_id": CURRENT_SNAPSHOT_ID}, {"_id": 0})

    async def load_current(self) -> bytes | None:
        pointer = await self.describe()
        if pointer is None:
            return None

        def read() -> bytes:
            response = self._client.get_object(self._bucket, pointer["object_key"])
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)
