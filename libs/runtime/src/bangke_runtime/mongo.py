"""MongoDB access through PyMongo's async API.

Only what both MongoDB and FerretDB v1 support is used: no transactions, change streams, TTL or
partial indexes, ``$lookup``, or accumulators beyond ``$sum``/``$count``. Every change that must be
atomic lives in one document.
"""

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .settings import ServiceSettings


def create_mongo_client(settings: ServiceSettings) -> AsyncMongoClient:
    """Create the client; it connects lazily, on the first operation."""
    return AsyncMongoClient(
        settings.mongo_uri.get_secret_value(),
        tz_aware=True,
        appname=settings.service_name,
        serverSelectionTimeoutMS=5000,
    )


def service_database(client: AsyncMongoClient, settings: ServiceSettings) -> AsyncDatabase:
    return client[settings.database_name]


async def ping(client: AsyncMongoClient) -> None:
    await client.admin.command("ping")
