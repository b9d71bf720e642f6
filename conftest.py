"""Fixtures shared by the cross-service tests and the services' own integration tests.

Every test that touches the servers gets its own topic prefix, database names, bucket prefix and
consumer groups, so tests can run against a stack that is in use.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bangke_runtime.settings import ServiceSettings
from harness.infra import provision
from harness.infra_types import Infra
from harness.kafka_tools import create_topics, delete_topics
from harness.services import BuildFunction, InProcessService, free_port
from harness.tokens import TestSigner


@dataclass(frozen=True, slots=True)
class Isolation:
    """Names that keep one test's data apart from every other test's."""

    token: str

    @property
    def topic_prefix(self) -> str:
        return f"t{self.token}."

    @property
    def bucket_prefix(self) -> str:
        return f"t{self.token}-"

    def database(self, service: str) -> str:
        return f"t{self.token}_{service.replace('-', '_')}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the servers the integration tests ran on, so the output shows containers or the local stack."""
    from harness.infra import PROVISIONED

    for used in PROVISIONED:
        terminalreporter.write_line(
            f"integration servers: {used.kind} (kafka {used.kafka_bootstrap}, s3 {used.s3_endpoint})"
        )


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provision() as endpoints:
        yield endpoints


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> TestSigner:
    return TestSigner(tmp_path_factory.mktemp("jwks"))


@pytest.fixture
def isolation() -> Isolation:
    return Isolation(uuid.uuid4().hex[:10])


@pytest.fixture
async def serialised_db(infra: Infra, isolation: Isolation) -> AsyncIterator[Any]:
    """A database of this test, written through the runtime's serialising wrapper as a service writes.

    On FerretDB the wrapper treats this process as the only writer, as the services do there.
    """
    from pymongo import AsyncMongoClient

    from bangke_runtime.serialised import SerialisedDatabase, WritePolicy, is_ferretdb

    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    name = isolation.database("serialised")
    policy = WritePolicy()
    policy.single_writer = await is_ferretdb(client[name])
    try:
        yield SerialisedDatabase(client[name], policy)
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.fixture
async def topics(infra: Infra, isolation: Isolation) -> AsyncIterator[list[str]]:
    names = await create_topics(infra.kafka_bootstrap, isolation.topic_prefix)
    yield names
    await delete_topics(infra.kafka_bootstrap, names)


SettingsFactory = Callable[..., Any]


@pytest.fixture
def settings_factory(infra: Infra, isolation: Isolation, signer: TestSigner, tmp_path: Path) -> SettingsFactory:
    """Build a service's settings pointed at the test servers and the test's isolated names."""
    clock_file = tmp_path / "clock.txt"

    def build(settings_cls: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        name = settings_cls.model_fields["service_name"].default
        values: dict[str, Any] = {
            "environment": "test",
            "http_port": free_port(),
            "kafka_bootstrap": infra.kafka_bootstrap,
            "topic_prefix": isolation.topic_prefix,
            "consumer_group_prefix": isolation.topic_prefix,
            "mongo_uri": infra.mongo_uri,
            "mongo_database": isolation.database(name),
            "s3_endpoint": infra.s3_endpoint,
            "s3_access_key": infra.s3_access_key,
            "s3_secret_key": infra.s3_secret_key,
            "s3_bucket_prefix": isolation.bucket_prefix,
            "jwt_jwks_file": signer.jwks_file,
            "clock_file": clock_file,
            "outbox_poll_interval_s": 0.2,
            "handler_retry_backoff_s": 0.05,
        }
        values.update(overrides)
        return settings_cls(**values)

    return build


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    """The file that moves every test service's clock; write an ISO-8601 instant with an offset."""
    return tmp_path / "clock.txt"


StartService = Callable[..., Awaitable[InProcessService]]


@pytest.fixture
async def start_service(topics: list[str], settings_factory: SettingsFactory) -> AsyncIterator[StartService]:
    """Start services in-process against the real servers; stop them when the test ends."""
    running: list[InProcessService] = []

    async def start(build: BuildFunction, settings_cls: type[ServiceSettings], **overrides: Any) -> InProcessService:
        service = InProcessService(build, settings_factory(settings_cls, **overrides))
        await service.start()
        running.append(service)
        return service

    yield start
    for service in reversed(running):
        await service.stop()


# --- Log scan (tests/harness/log_scan.py) -------------------------------------------------------
# Captures every log line the services write during the run and fails the session when one holds
# an ID number, a mobile number, a password or a token. `--no-log-scan` turns it off.
pytest_plugins = ["harness.log_scan"]
# --- end of log scan ----------------------------------------------------------------------------
