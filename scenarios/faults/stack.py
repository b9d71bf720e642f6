"""The fault suite's handle on the local stack: kill a service's process, restart Kafka or FerretDB, readiness.

It uses the stack's own code (deploy/local/bangke_stack): the supervisor's state file names the
service's process, and ``commands.restart`` stops and starts an infrastructure part as `make up`
would. Every call that blocks runs in a thread, so the demo keeps running meanwhile.
"""

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from bangke_stack import commands  # noqa: E402
from bangke_stack.layout import KAFKA_BOOTSTRAP, SERVICES, Layout  # noqa: E402
from bangke_stack.process import read_supervisor_state  # noqa: E402

LAYOUT = Layout()
SERVICE_NAMES = tuple(service.name for service in SERVICES)
DIRECT_URLS = {service.name: service.direct_url for service in SERVICES}
__all__ = ["KAFKA_BOOTSTRAP", "LAYOUT", "SERVICE_NAMES"]


def supervisor_state(service: str) -> dict | None:
    return read_supervisor_state(LAYOUT.child_state(f"{service}-svc"))


def restart_counts() -> dict[str, int]:
    """Return each service's restart count as its supervisor recorded it."""
    return {name: int((supervisor_state(name) or {}).get("restarts", 0)) for name in SERVICE_NAMES}


def kill_service(service: str) -> int:
    """Send SIGKILL to the service's process (the supervisor's child); return its pid.

    Raises RuntimeError when the service runs without a supervisor or its child is down right now.
    """
    state = supervisor_state(service)
    if state is None:
        raise RuntimeError(f"{service}-svc has no supervisor state; restart the stack with `make down && make up DEMO_CLOCK=1`")
    child = state["child"]
    if child is None:
        raise RuntimeError(f"{service}-svc has no live process to kill")
    os.kill(child.pid, signal.SIGKILL)
    return child.pid


async def restart_part(part: str) -> tuple[int, list[str]]:
    """Restart ``kafka`` or ``ferretdb`` through the stack's own stop and start; return the code and output."""
    lines: list[str] = []
    code = await asyncio.to_thread(commands.restart, part, None, None, lines.append)
    return code, lines


async def readyz(http: httpx.AsyncClient, service: str) -> bool:
    try:
        response = await http.get(f"{DIRECT_URLS[service]}/readyz", timeout=3.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def wait_ready(services: tuple[str, ...], timeout_s: float = 180.0) -> float | None:
    """Wait until every one of ``services`` returns 200 from /readyz; return the seconds it took, or None."""
    started = time.monotonic()
    async with httpx.AsyncClient() as http:
        pending = set(services)
        while pending:
            results = await asyncio.gather(*(readyz(http, s) for s in sorted(pending)))
            pending -= {s for s, ok in zip(sorted(pending), results, strict=True) if ok}
            if not pending:
                break
            if time.monotonic() - started > timeout_s:
                return None
            await asyncio.sleep(0.3)
    return time.monotonic() - started


async def ready_report() -> dict[str, bool]:
    async with httpx.AsyncClient() as http:
        results = await asyncio.gather(*(readyz(http, s) for s in SERVICE_NAMES))
    return dict(zip(SERVICE_NAMES, results, strict=True))
