"""Settings shared by every service, read from ``BANGKE_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Connection and runtime settings of one service process.

    Each service subclasses this with its own defaults (name, port) and options.
    """

    model_config = SettingsConfigDict(env_prefix="BANGKE_", extra="ignore")

    service_name: str = "bangke"
    environment: Literal["local", "test", "demo", "production"] = "local"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    http_host: str = "127.0.0.1"
    http_port: int = 8100

    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = Field(
        "", description="Prefix put before every topic name; tests use it to isolate themselves."
    )
    consumer_group_prefix: str = ""
    handler_attempts: int = Field(
        3, ge=1, description="Attempts of a message handler before the message is dead-lettered."
    )
    handler_retry_backoff_s: float = Field(0.2, ge=0, description="First retry delay in seconds; doubles per attempt.")

    mongo_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongo_database: str = ""

    s3_endpoint: str = "127.0.0.1:7070"
    s3_public_endpoint: str = Field(
        "", description="host:port that phones use for presigned uploads; the internal endpoint when empty."
    )
    s3_access_key: SecretStr = SecretStr("bangke-local")
    s3_secret_key: SecretStr = SecretStr("bangke-local-secret")
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket_prefix: str = ""

    jwt_issuer: str = "bangke-identity"
    jwt_audience: str = "bangke"
    jwt_jwks_url: str = "http://127.0.0.1:8101/auth/.well-known/jwks.json"
    jwt_jwks_file: Path | None = Field(
        None, description="Read the JWKS from this file instead of jwt_jwks_url (tests, air-gapped setups)."
    )

    catalogue_file: Path | None = Field(
        None, description="JSON catalogue of certificate and qualification types; the shipped default when empty."
    )

    outbox_poll_interval_s: float = Field(0.5, gt=0, description="Seconds the relay waits for a write before it looks again.")
    outbox_full_scan_interval_s: float = Field(
        600.0,
        gt=0,
        description=(
            "Seconds between full scans for outboxes that no write announced. Failed writes and failed"
            " publishing start a scan anyway, so this is a safety net."
        ),
    )
    mongo_serialise_writes: Literal["auto", "always", "never"] = Field(
        "auto", description="Serialise writes per collection in this process; auto does it on FerretDB only."
    )

    clock_file: Path | None = Field(
        None,
        description="File holding an ISO-8601 instant that replaces the wall clock; honoured only in test and demo.",
    )

    @property
    def database_name(self) -> str:
        return self.mongo_database or f"bangke_{self.service_name.replace('-', '_')}"

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def group(self, name: str) -> str:
        return self.consumer_group_prefix + name
