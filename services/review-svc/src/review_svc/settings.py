"""Settings of review-svc, read from BANGKE_* environment variables."""

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from bangke_runtime.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    service_name: str = "review-svc"
    http_port: int = 8103

    certificate_bucket: str = Field(
        "certificates",
        description="Bucket of certificate-svc that holds the certificate photos (before the bucket prefix).",
    )
    photo_url_ttl_s: int = Field(300, ge=30, le=3600, description="Lifetime of presigned photo URLs, in seconds.")
    queue_page_max: int = Field(100, ge=1, description="Largest page of a review queue.")

    # The relay's periodic scan reads every document of registry_results, 100,000 after one large
    # check, and FerretDB takes tens of seconds for that. Writes announce their outboxes and the relay
    # scans at start, so a rare scan only catches what a lost announcement left behind.
    outbox_full_scan_interval_s: float = Field(
        600.0, gt=0, description="Seconds between full scans for outboxes that no write announced."
    )

    registry_check_enabled: bool = Field(True, description="Run the registry check on its schedule.")
    registry_check_at: time = Field(time(1, 0), description="Time of day of the registry check, China Standard Time.")
    registry_check_concurrency: int = Field(64, ge=1, le=1024, description="Registry look-ups in flight at once.")
    registry_check_batch_size: int = Field(
        250, ge=1, le=2000, description="Check results written per batch document (about 5 KB each in the batch)."
    )
    registry_check_progress_every: int = Field(1000, ge=1, description="Log progress after this many certificates.")
    registry_check_progress_interval_s: float = Field(5.0, gt=0, description="Log progress at least this often, in seconds.")
    registry_check_lease_s: float = Field(
        3 * 3600, gt=0, description="Seconds one replica holds the registry-check lease; longer than the longest run."
    )
    registry_adapter: Literal["snapshot", "http"] = Field("snapshot", description="Where the check looks certificates up.")
    registry_snapshot_file: Path | None = Field(
        None, description="Snapshot file (JSON lines or CSV) read at each run; the uploaded snapshot when empty."
    )
    registry_snapshot_bucket: str = Field("registry-snapshots", description="Bucket of uploaded registry snapshots.")
    registry_snapshot_max_bytes: int = Field(256 * 1024 * 1024, ge=1, description="Largest snapshot upload, in bytes.")
    registry_http_url: str = Field("", description="Base URL of an online registry service (adapter 'http').")
