"""Small HTTP helpers: one gateway connection, signed-in actors, presigned uploads and polling.

Everything goes through the gateway (http://127.0.0.1:8080 by default) or to the presigned object
storage URLs the services hand out, exactly as the phone and web clients do. The gateway allows
50 requests per second per client address with a burst of 100, so requests are paced below that
and a 429 is retried after its Retry-After.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

REQUESTS_PER_SECOND = 35.0
CONCURRENCY = 6


class ApiError(Exception):
    """A response outside the expected statuses, with the service's stable code and Chinese message."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        self.code: str = (error or {}).get("code") or (f"http_{status}" if status else "no_response")
        self.message: str = (error or {}).get("message") or (str(body)[:300] if body else "")
        self.details: dict[str, Any] = (error or {}).get("details") or {}
        super().__init__(f"{method} {path} -> {status} {self.code}: {self.message}")


class Pacer:
    """Spaces requests out so the client stays under the gateway's per-address rate."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            await asyncio.sleep(delay)


def request_headers(token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    """Return ``headers`` with the bearer ``token`` added when there is one."""
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    return all_headers


class Gateway:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=60.0)
        self.storage = httpx.AsyncClient(timeout=60.0)
        self.pacer = Pacer(REQUESTS_PER_SECOND)
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.requests = 0

    async def close(self) -> None:
        await self.http.aclose()
        await self.storage.aclose()

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
        for attempt in range(8):
            async with self.slots:
                await self.pacer.wait()
                self.requests += 1
                try:
                    response = await self.http.request(
                        method, path, json=json, content=content, params=params, headers=all_headers
                    )
                except httpx.TransportError as error:
                    if attempt == 7:
                        raise ApiError(method, path, 0, {"error": {"code": "no_response", "message": str(error)}}) from error
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            if response.status_code in (502, 503, 504) and _transient(response):
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            return response
        return response

    async def put_object(self, url: str, data: bytes, content_type: str) -> None:
        """Upload to a presigned PUT URL, as a phone does (straight to object storage, not the gateway)."""
        response = await self.storage.put(url, content=data, headers={"Content-Type": content_type})
        if response.status_code >= 300:
            raise ApiError("PUT", url.split("?")[0], response.status_code, response.text[:300])


def _transient(response: httpx.Response) -> bool:
    """Return True for a gateway error page or a service's "busy, try again" response."""
    try:
        code = response.json().get("error", {}).get("code", "")
    except ValueError:
        return True
    return code in ("engineer_busy", "service_unavailable", "upstream_unavailable", "bad_gateway") or not code


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@dataclass
class Actor:
    """A signed-in person: mobile and password, and the access token of their session."""

    gateway: Gateway
    label: str
    mobile: str
    password: str
    account_id: str = ""
    token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    async def sign_in(self) -> None:
        response = await self.gateway.request(
            "POST", "/auth/token", json={"mobile": self.mobile, "password": self.password}
        )
        if response.status_code != 200:
            raise ApiError("POST", "/auth/token", response.status_code, body_of(response))
        data = response.json()
        self.token = data["access_token"]
        self.account_id = data["account_id"]

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with this actor's token; sign in again once when the token has expired."""
        if not self.token:
            await self.sign_in()
        response = await self.gateway.request(method, path, token=self.token, **kwargs)
        if response.status_code == 401:
            await self.sign_in()
            response = await self.gateway.request(method, path, token=self.token, **kwargs)
        return response

    async def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> Any:
        """Send and return the JSON body; raise ApiError for any other status."""
        response = await self.send(method, path, **kwargs)
        if response.status_code not in ok:
            raise ApiError(method, path, response.status_code, body_of(response))
        return body_of(response) if response.content else None

    async def error_of(self, method: str, path: str, **kwargs: Any) -> ApiError | None:
        """Send a request that is expected to fail; return its error, or None when it succeeded."""
        response = await self.send(method, path, **kwargs)
        if response.status_code < 400:
            return None
        return ApiError(method, path, response.status_code, body_of(response))


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.5,
) -> tuple[T, bool]:
    """Call ``probe`` until ``done`` holds or the time is up; return the last value and whether it held.

    Services learn about each other's changes from Kafka, so what one service did shows in another a
    moment later.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if done(value):
            return value, True
        if time.monotonic() >= deadline:
            return value, False
        await asyncio.sleep(interval_s)


async def gather_limited(items: list[Any], work: Callable[[Any], Awaitable[T]], limit: int = CONCURRENCY) -> list[T]:
    """Run ``work`` on every item with at most ``limit`` in flight; results in the items' order."""
    slots = asyncio.Semaphore(limit)

    async def one(item: Any) -> T:
        async with slots:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def eventually_each(
    items: list[Any],
    probe: Callable[[Any], Awaitable[T]],
    done: Callable[[Any, T], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 1.0,
) -> tuple[list[T | None], bool]:
    """Like ``eventually`` for many items: probe only the items not done yet, until all are or time is up.

    Returns the last value seen for each item (in the items' order) and whether all were done.
    """
    deadline = time.monotonic() + timeout_s
    values: list[T | None] = [None] * len(items)
    pending = list(range(len(items)))
    while True:
        seen = await gather_limited(pending, lambda index: probe(items[index]))
        for index, value in zip(pending, seen, strict=True):
            values[index] = value
        pending = [index for index in pending if not done(items[index], values[index])]
        if not pending:
            return values, True
        if time.monotonic() >= deadline:
            return values, False
        await asyncio.sleep(interval_s)
        interval_s = min(interval_s * 1.5, 4.0)
