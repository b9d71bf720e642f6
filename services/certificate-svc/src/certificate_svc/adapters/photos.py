"""Certificate photos in object storage: presigned uploads and checks of what was uploaded.

Keys are ``<engineer>/<certificate>/v<version>/<side>-<random>``, so a key handed back by a phone is
accepted only for the certificate, version and side it was issued for.
"""

import uuid

from bangke_runtime.storage import IMAGE_TYPES, ObjectStorage, PresignedUpload, UploadedObject

from ..domain.errors import PhotoKeyInvalid

BUCKET = "certificates"
PHOTO_TYPES = IMAGE_TYPES
"""JPEG, PNG, HEIC and WebP, recognised by their magic bytes."""


class PhotoStorage:
    def __init__(self, storage: ObjectStorage, *, max_bytes: int, url_expires_s: int) -> None:
        self._storage = storage
        self.bucket = storage.bucket_name(BUCKET)
        self.max_bytes = max_bytes
        self._url_expires_s = url_expires_s

    async def ensure_bucket(self) -> None:
        await self._storage.ensure_bucket(self.bucket)

    @staticmethod
    def key_prefix(engineer_id: str, certificate_id: str, version: int, side: str) -> str:
        return f"{engineer_id}/{certificate_id}/v{version}/{side}-"

    async def presign(self, engineer_id: str, certificate_id: str, version: int, side: str) -> PresignedUpload:
        key = self.key_prefix(engineer_id, certificate_id, version, side) + uuid.uuid4().hex
        return await self._storage.presign_upload(
            self.bucket, key, max_bytes=self.max_bytes, allowed_types=PHOTO_TYPES, expires_s=self._url_expires_s
        )

    async def inspect(self, engineer_id: str, certificate_id: str, version: int, side: str, key: str) -> UploadedObject:
        """Check that ``key`` was issued for this photo and contains an image within the size limit."""
        prefix = self.key_prefix(engineer_id, certificate_id, version, side)
        if not key.startswith(prefix) or "/" in key[len(prefix):] or ".." in key:
            raise PhotoKeyInvalid(field="key", side=side)
        return await self._storage.inspect_upload(
            self.bucket, key, max_bytes=self.max_bytes, allowed_types=PHOTO_TYPES, field=f"photos.{side}"
        )
