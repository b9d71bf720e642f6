"""The fault run's HTTP client: the demo's gateway client with retries up to a deadline and a write gate.

While a service is down, nginx returns 502 (connection refused), and a service whose database or
broker is away returns 503. The client retries such responses until ``RETRY_DEADLINE_S`` has passed.

A retried write must not be applied twice, and the API has no idempotency keys, so the client only
ever retries a write that cannot have been applied:

- the fault driver closes the gate of a service before it kills it and waits until no write to
  that service is in flight, so a kill never lands in the middle of an HTTP write. The gate opens
  again right after the kill. Writes sent to the dead service meet a refused connection (502 from
  nginx), so they were never delivered;
- around a FerretDB restart the gate of every service stays closed until all services return 200
  from /readyz again, so no write meets a database that is away;
- a write answered 504 (the service may have acted on it) or with a transport error after the
  request was sent is NOT retried; it is counted as ambiguous and the report fails on it.

Reads (GET) are retried on 500, 502, 503 and 504 and on transport errors.
"""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from scenarios.demo.client import ApiError, Gateway, request_headers

RETRY_DEADLINE_S = 180.0
READ_RETRY_STATUSES = (500, 502, 503, 504)
WRITE_RETRY_STATUSES = (502, 503)


def service_of(path: str) -> str:
    """Return the service a gateway path goes to: /api/<service>/... or /auth/... (identity)."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[0] == "auth":
        return "identity"
    if parts[0] == "api" and len(parts) > 1:
        return parts[1]
    return "gateway"


class WriteGate:
    """Gate that delays writes per service while the fault driver kills it or restarts the database."""

    def __init__(self) -> None:
        self._closed: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def write(self, service: str) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed[service])
            self._in_flight[service] += 1
        try:
            yield
        finally:
            async with self._changed:
                self._in_flight[service] -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def closed(self, services: tuple[str, ...]) -> AsyncIterator[None]:
        """Stop new writes to ``services``, wait until none is in flight, and reopen at exit."""
        async with self._changed:
            for service in services:
                self._closed[service] += 1
            await self._changed.wait_for(lambda: all(self._in_flight[s] == 0 for s in services))
        try:
            yield
        finally:
            async with self._changed:
                for service in services:
                    self._closed[service] -= 1
                self._changed.notify_all()


class FaultGateway(Gateway):
    """The demo's Gateway with deadline retries for transient failures and the write gate."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.gate = WriteGate()
        self.retries: Counter[tuple[str, str]] = Counter()  # (service, reason) -> retried attempts
        self.ambiguous: list[str] = []  # writes whose outcome is unknown, because the report fails on any

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = request_headers(token, headers)
        service = service_of(path)
        write = method.upper() not in ("GET", "HEAD")
        retry_statuses = WRITE_RETRY_STATUSES if write else READ_RETRY_STATUSES
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = 0.25
        while True:
            reason = ""
            async with self.slots:
                await self.pacer.wait()
                self.requests += 1
                try:
                    if write:
                        async with self.gate.write(service):
                            response = await self.http.request(
                                method, path, json=json, content=content, params=params, headers=all_headers
                            )
                    else:
                        response = await self.http.request(
                            method, path, json=json, content=content, params=params, headers=all_headers
                        )
                except httpx.ConnectError as error:
                    # Nothing was sent: safe to repeat for any method.
                    reason, response = f"connect: {type(error).__name__}", None
                except httpx.TransportError as error:
                    if write:
                        self.ambiguous.append(f"{method} {path}: {type(error).__name__}")
                        raise ApiError(method, path, 0, {"error": {"code": "no_response", "message": str(error)}}) from error
                    reason, response = f"transport: {type(error).__name__}", None
            if response is not None:
                if response.status_code == 429:
                    await asyncio.sleep(float(response.headers.get("Retry-After") or 1))
                    continue
                if write and response.status_code == 504:
                    self.ambiguous.append(f"{method} {path}: 504")
                    return response
                if response.status_code not in retry_statuses:
                    return response
                reason = f"http {response.status_code}"
            if time.monotonic() + delay > deadline:
                if response is not None:
                    return response
                raise ApiError(method, path, 0, {"error": {"code": "no_response", "message": reason}})
            self.retries[(service, reason)] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, 3.0)
