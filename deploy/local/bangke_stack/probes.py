"""Readiness probes of each part and the topic set-up; a probe returns None when ready, else the reason."""

import asyncio

import httpx
import urllib3
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from bangke_contracts.topics import TopicSpec, all_topic_specs
from minio import Minio
from minio.error import S3Error
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bangke_stack.layout import GATEWAY_URL, KAFKA_BOOTSTRAP, MONGO_URI, S3_ACCESS_KEY, S3_ENDPOINT, S3_SECRET_KEY

PROBE_TIMEOUT_S = 3.0
# Kafka returns this code when the topic already exists; another process may create it first.
TOPIC_ALREADY_EXISTS = 36


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


async def _kafka_metadata(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(admin.start(), PROBE_TIMEOUT_S)
        await asyncio.wait_for(admin.describe_cluster(), PROBE_TIMEOUT_S)
    finally:
        await admin.close()


def probe_kafka(bootstrap: str = KAFKA_BOOTSTRAP) -> str | None:
    """Check that the broker returns cluster metadata."""
    try:
        asyncio.run(_kafka_metadata(bootstrap))
    except (KafkaError, OSError, TimeoutError) as error:
        return _describe(error)
    return None


async def _ensure_topics(bootstrap: str, specs: list[TopicSpec]) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=1,
                        topic_configs={"retention.ms": str(spec.retention_ms)},
                    )
                    for spec in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    message = rest[0] if rest else ""
                    raise KafkaError(f"creating topic {topic} failed with error code {code}: {message}")
        created = set(await admin.list_topics())
        absent = [spec.name for spec in specs if spec.name not in created]
        if absent:
            raise KafkaError(f"topics still missing after creation: {', '.join(absent)}")
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def ensure_topics(bootstrap: str = KAFKA_BOOTSTRAP, prefix: str = "") -> list[str]:
    """Create every topic of ``all_topic_specs(prefix)`` that is missing; return the names created.

    Existing topics are left as they are, even when their partitions or retention differ from the
    declaration, because shrinking partitions is impossible and changing retention is an operator's call.
    """
    return asyncio.run(_ensure_topics(bootstrap, all_topic_specs(prefix)))


def probe_ferretdb(uri: str = MONGO_URI) -> str | None:
    """Check that the MongoDB wire protocol server accepts the ``ping`` command."""
    timeout_ms = int(PROBE_TIMEOUT_S * 1000)
    client: MongoClient = MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
    except PyMongoError as error:
        return _describe(error)
    finally:
        client.close()
    return None


def probe_s3(endpoint: str = S3_ENDPOINT) -> str | None:
    """Check that the S3 server accepts a signed ListBuckets request with the local credentials."""
    http = urllib3.PoolManager(timeout=urllib3.Timeout(PROBE_TIMEOUT_S), retries=False)
    client = Minio(endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False, http_client=http)
    try:
        client.list_buckets()
    except (S3Error, urllib3.exceptions.HTTPError, OSError) as error:
        return _describe(error)
    finally:
        http.clear()
    return None


def probe_http(url: str) -> str | None:
    """Check that ``url`` returns 200; otherwise return the status and the start of the body."""
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        return _describe(error)
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text.strip()[:160]}"
    return None


def probe_gateway() -> str | None:
    return probe_http(f"{GATEWAY_URL}/healthz")
