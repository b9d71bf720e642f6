"""Object storage for media: buckets, presigned uploads, and checks of what was uploaded.

Phones upload straight to storage with a short-lived presigned PUT URL. A presigned PUT cannot bound
the size or the content type of the body, so nothing is recorded until ``inspect_upload`` has read
the object back: it must exist, be no larger than the limit, and its first bytes must be those of an
allowed type. The minio SDK is blocking, so every call runs in a worker thread.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import filetype
import structlog
from minio import Minio
from minio.error import S3Error

from .errors import ValidationFailed
from .settings import ServiceSettings

log = structlog.get_logger()

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/heic", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
MEGABYTE = 1024 * 1024
SNIFF_BYTES = 262
"""filetype needs at most the first 261 bytes of a file to recognise it."""


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    method: str
    bucket: str
    key: str
    expires_in_s: int
    max_bytes: int
    allowed_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UploadedObject:
    bucket: str
    key: str
    size: int
    media_type: str


class UploadMissing(ValidationFailed):
    code = "upload_missing"
    message = "文件尚未上传，请先上传后再提交"


class UploadTooLarge(ValidationFailed):
    code = "upload_too_large"
    message = "文件过大，请压缩后重新上传"


class UploadWrongType(ValidationFailed):
    code = "upload_wrong_type"
    message = "文件类型不支持，请上传允许的格式"


def sniff_media_type(head: bytes) -> str | None:
    """Return the media type that the magic bytes in ``head`` show, or None."""
    kind = filetype.guess(head)
    return kind.mime if kind is not None else None


class ObjectStorage:
    """Blocking minio clients wrapped for asyncio.

    Two clients: one for the internal endpoint, and one that only signs URLs with the public host
    that phones reach. The signing client has its region set, so presigning makes no request.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        access = settings.s3_access_key.get_secret_value()
        secret = settings.s3_secret_key.get_secret_value()
        self._client = Minio(
            settings.s3_endpoint, access_key=access, secret_key=secret,
            secure=settings.s3_secure, region=settings.s3_region,
        )
        self._signer = Minio(
            settings.s3_public_endpoint or settings.s3_endpoint, access_key=access, secret_key=secret,
            secure=settings.s3_secure, region=settings.s3_region,
        )

    def bucket_name(self, name: str) -> str:
        return self._settings.s3_bucket_prefix + name

    async def ensure_bucket(self, bucket: str) -> None:
        def create() -> None:
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as error:
                    if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
                log.info("storage.bucket_created", bucket=bucket)

        await asyncio.to_thread(create)

    async def ping(self) -> None:
        await asyncio.to_thread(self._client.list_buckets)

    async def presign_upload(
        self, bucket: str, key: str, *, max_bytes: int, allowed_types: frozenset[str], expires_s: int = 600
    ) -> PresignedUpload:
        url = await asyncio.to_thread(
            self._signer.presigned_put_object, bucket, key, timedelta(seconds=expires_s)
        )
        return PresignedUpload(
            url=url, method="PUT", bucket=bucket, key=key, expires_in_s=expires_s,
            max_bytes=max_bytes, allowed_types=tuple(sorted(allowed_types)),
        )

    async def inspect_upload(
        self, bucket: str, key: str, *, max_bytes: int, allowed_types: frozenset[str], field: str
    ) -> UploadedObject:
        """Check an uploaded object before it is recorded; raise a ValidationFailed naming ``field``."""

        def inspect() -> tuple[int, bytes] | None:
            try:
                stat = self._client.stat_object(bucket, key)
            except S3Error as error:
                if error.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise
            response = self._client.get_object(bucket, key, offset=0, length=SNIFF_BYTES)
            try:
                return stat.size or 0, response.read()
            finally:
                response.close()
                response.release_conn()

        found = await asyncio.to_thread(inspect)
        if found is None:
            raise UploadMissing(field=field, key=key, hint="用返回的上传地址 PUT 文件后再提交")
        size, head = found
        if size > max_bytes:
            raise UploadTooLarge(field=field, key=key, size=size, max_bytes=max_bytes)
        media_type = sniff_media_type(head)
        if media_type not in allowed_types:
            raise UploadWrongType(
                field=field, key=key, detected=media_type or "unknown", allowed=sorted(allowed_types)
            )
        return UploadedObject(bucket=bucket, key=key, size=size, media_type=media_type)

    async def remove(self, bucket: str, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, bucket, key)
