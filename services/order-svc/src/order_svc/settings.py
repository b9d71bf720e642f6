"""Settings of order-svc, read from BANGKE_* environment variables."""

from pathlib import Path

from pydantic import Field

from bangke_runtime.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    service_name: str = "order-svc"
    http_port: int = 8106

    service_types_file: Path | None = Field(
        None, description="JSON catalogue of service types and evidence rules; the shipped default when empty."
    )
    evidence_bucket: str = Field("order-evidence", description="Bucket of job photos and videos, before the prefix.")
    upload_url_expiry_s: int = Field(600, ge=60, le=3600, description="Seconds a presigned upload URL stays valid.")
    max_image_bytes: int = Field(10 * 1024 * 1024, description="Largest photo accepted as evidence, in bytes.")
    max_video_bytes: int = Field(200 * 1024 * 1024, description="Largest video accepted as evidence, in bytes.")
    eligible_list_limit: int = Field(200, ge=1, description="Most engineers one eligibility listing returns.")
    order_list_limit: int = Field(200, ge=1, description="Most orders one list or supervision query returns.")
    engineer_cache_size: int = Field(
        5000,
        ge=0,
        description="Engineer documents of the eligibility projection kept in memory on FerretDB, where this "
        "process is the only writer; 0 keeps none.",
    )
