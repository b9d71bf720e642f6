"""Endpoints of the real servers that integration tests run against."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Infra:
    kafka_bootstrap: str
    mongo_uri: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    kind: str
    """Which provisioner started the servers: "docker", "podman" or "local-stack"."""
