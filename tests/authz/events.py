"""Input events the walk produces onto Kafka, as identity-svc and qualification-svc would publish them."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bangke_contracts.identity import (
    EngineerAuthenticated,
    EngineerAuthenticatedPayload,
    EngineerRegistered,
    EngineerRegisteredPayload,
)
from bangke_runtime.personal_data import id_number_digest

from authz.conftest import AuthzEnv
from authz.framework import MEMBERS
from harness.log_scan import id_number

ENGINEERS = ("engineer_a", "engineer_peer", "engineer_far")
ENGINEER_NAME = "张伟"


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout_s: float = 45.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.2)


def engineer_id_numbers(env: AuthzEnv) -> dict[str, str]:
    """A made-up, valid ID number for each engineer of the cast, fixed for the module."""
    if not hasattr(env, "_id_numbers"):
        env._id_numbers = {who: id_number() for who in ENGINEERS}  # type: ignore[attr-defined]
    return env._id_numbers  # type: ignore[attr-defined]


async def register_engineers(env: AuthzEnv, authenticate: bool = True) -> None:
    """Publish identity-svc's registration (and authentication) events for the cast's engineers."""
    now = datetime.now(UTC)
    numbers = engineer_id_numbers(env)
    for who in ENGINEERS:
        member = MEMBERS[who]
        engineer_id = env.subject(who)
        await env.send(EngineerRegistered(producer="identity-svc", payload=EngineerRegisteredPayload(
            engineer_id=engineer_id, provider_id=env.scope_id(member.provider), outlet_id=env.scope_id(member.outlet),
            region_id=env.scope_id(member.region), name=ENGINEER_NAME,
            id_number_sha256=id_number_digest(numbers[who]), registered_at=now,
        )))
        if authenticate:
            await env.send(EngineerAuthenticated(producer="identity-svc", payload=EngineerAuthenticatedPayload(
                engineer_id=engineer_id, method="local_checks", authenticated_at=now,
            )))
