"""Module-scoped fixtures for the authorisation walk: each test module starts its service once.

The root conftest's ``start_service`` is function-scoped; starting a service for each of some forty
operations would take minutes, so these fixtures give each module its own topic prefix, databases
and running services, and stop them when the module ends.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bangke_runtime.settings import ServiceSettings
from harness.infra_types import Infra
from harness.kafka_tools import create_topics, produce_raw
from harness.services import BuildFunction, InProcessService, free_port
from harness.tokens import TestSigner

from authz.framework import MEMBERS


@dataclass
class AuthzEnv:
    """One module's isolated names, its running services and a way to send events."""

    token: str
    infra: Infra
    signer: TestSigner
    directory: Path

    @property
    def topic_prefix(self) -> str:
        return f"t{self.token}."

    def scope_id(self, label: str | None) -> str | None:
        """Map a cast label (P1, O2, R1) to this module's id of that provider, outlet or region."""
        return None if label is None else f"{label.lower()}-{self.token}"

    def subject(self, who: str) -> str:
        return f"{who}-{self.token}"

    def settings(self, settings_cls: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        name = settings_cls.model_fields["service_name"].default
        values: dict[str, Any] = {
            "environment": "test",
            "http_port": free_port(),
            "kafka_bootstrap": self.infra.kafka_bootstrap,
            "topic_prefix": self.topic_prefix,
            "consumer_group_prefix": self.topic_prefix,
            "mongo_uri": self.infra.mongo_uri,
            "mongo_database": f"t{self.token}_{name.replace('-', '_')}",
            "s3_endpoint": self.infra.s3_endpoint,
            "s3_access_key": self.infra.s3_access_key,
            "s3_secret_key": self.infra.s3_secret_key,
            "s3_bucket_prefix": f"t{self.token}-",
            "jwt_jwks_file": self.signer.jwks_file,
            "clock_file": self.directory / "clock.txt",
            "outbox_poll_interval_s": 0.2,
            "handler_retry_backoff_s": 0.05,
        }
        values.update(overrides)
        return settings_cls(**values)

    async def send(self, event: Any) -> None:
        """Produce ``event`` onto its prefixed topic, keyed as the relay would key it."""
        await produce_raw(
            self.infra.kafka_bootstrap, self.topic_prefix + event.topic, event.model_dump_json().encode(),
            key=event.key().encode(),
        )


@dataclass
class SignedTarget:
    """A running service whose callers carry tokens from the test signer, scoped as the cast says."""

    service: InProcessService
    env: AuthzEnv

    @property
    def base_url(self) -> str:
        return self.service.base_url

    @property
    def prefix(self) -> str:
        return self.service.prefix

    def headers(self, who: str) -> dict[str, str]:
        member = MEMBERS[who]
        return self.env.signer.headers(
            member.role, self.env.subject(who), provider_id=self.env.scope_id(member.provider),
            outlet_id=self.env.scope_id(member.outlet), region_id=self.env.scope_id(member.region),
        )


Launch = Callable[..., Awaitable[InProcessService]]


@pytest.fixture(scope="module")
async def authz_env(infra: Infra, signer: TestSigner, tmp_path_factory: pytest.TempPathFactory) -> AuthzEnv:
    env = AuthzEnv(uuid.uuid4().hex[:10], infra, signer, tmp_path_factory.mktemp("authz"))
    await create_topics(infra.kafka_bootstrap, env.topic_prefix)
    return env


@pytest.fixture(scope="module")
async def launch(authz_env: AuthzEnv) -> AsyncIterator[Launch]:
    """Start services in-process for the whole module; stop them when the module ends."""
    running: list[InProcessService] = []

    async def start(build: BuildFunction, settings_cls: type[ServiceSettings], **overrides: Any) -> InProcessService:
        service = InProcessService(build, authz_env.settings(settings_cls, **overrides))
        await service.start()
        running.append(service)
        return service

    yield start
    for service in reversed(running):
        await service.stop()
