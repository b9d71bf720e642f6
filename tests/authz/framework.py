"""Authorisation walk: a table classifies every HTTP operation, and each rule calls it as every principal.

Each service's test module has a table from (method, path) to a rule. A path is the OpenAPI path
template, with the ``/api/<svc>`` prefix. The completeness test compares the table with the running
app's OpenAPI document, so a new endpoint fails the run until someone classifies it.

The cast is twelve principals around engineer A (provider P1, outlet O1, region R1): a second
engineer of the same outlet, an engineer of another provider, outlet and region, the managers,
provider admins and dispatchers of both sides, and an operator. Calls without a token make a
thirteenth case. Objects are created as, or for, engineer A and the P1/O1/R1 side.

Expected outcomes:
- ``Public``: every caller, with or without a token, gets 2xx.
- ``Roles``: callers of the listed roles get 2xx, other roles 403 (404 is accepted), no token 401.
- ``Owned``: the owners (principals in the object's scope) get 2xx, every other principal 403 or
  404, no token 401. Refused callers go first, so a mutating call finds the object untouched.
- ``ListOwned``: owners get 2xx with the object's id in the body; others get 403/404, or 2xx
  without the id.
"""

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

ANONYMOUS = "anonymous"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class Member:
    """One principal of the cast, with scope labels that each target maps to real ids."""

    name: str
    role: str
    provider: str | None
    outlet: str | None
    region: str | None


CAST: tuple[Member, ...] = (
    Member("engineer_a", "engineer", "P1", "O1", "R1"),
    Member("engineer_peer", "engineer", "P1", "O1", "R1"),
    Member("engineer_far", "engineer", "P2", "O2", "R2"),
    Member("outlet_manager_own", "outlet_manager", "P1", "O1", "R1"),
    Member("outlet_manager_far", "outlet_manager", "P2", "O2", "R2"),
    Member("training_manager_own", "training_manager", None, None, "R1"),
    Member("training_manager_far", "training_manager", None, None, "R2"),
    Member("provider_admin_own", "provider_admin", "P1", None, None),
    Member("provider_admin_far", "provider_admin", "P2", None, None),
    Member("dispatcher_own", "dispatcher", "P1", "O1", "R1"),
    Member("dispatcher_far", "dispatcher", "P2", "O2", "R2"),
    Member("operator", "operator", None, None, None),
)
MEMBERS = {member.name: member for member in CAST}
ALL_ROLES = frozenset(member.role for member in CAST)
CALLERS: tuple[str, ...] = (*MEMBERS, ANONYMOUS)


class Target(Protocol):
    """A running service as the rules see it."""

    base_url: str

    def headers(self, who: str) -> dict[str, str]: ...


@dataclass
class Request:
    """One call: path parameters, and a JSON body or query that may be rebuilt for every call."""

    path_params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None

    def body(self) -> Any:
        return self.json() if callable(self.json) else self.json


RequestFactory = Callable[[Any], Awaitable[Request]]
"""Creates what the call needs (an object owned by A's side, a unique name) and returns the call."""


async def no_setup(_target: Any) -> Request:
    return Request()


async def call(target: Target, who: str, method: str, path: str, request: Request) -> httpx.Response:
    url = path.format(**request.path_params)
    headers = {} if who == ANONYMOUS else target.headers(who)
    async with httpx.AsyncClient(base_url=target.base_url, timeout=30.0) as client:
        return await client.request(
            method, url, headers=headers, json=request.body(), params=request.params, content=request.content
        )


def _summary(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:160]}"


def _refusal_problem(response: httpx.Response, expected: set[int]) -> str | None:
    """Return why ``response`` is not a proper refusal, or None when it is one."""
    if response.status_code not in expected:
        return f"expected {sorted(expected)}, got {_summary(response)}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"refusal without the error body: {_summary(response)}"
    if not error.get("code") or not CHINESE.search(error.get("message", "")):
        return f"refusal without a code and a Chinese message: {_summary(response)}"
    return None


@dataclass
class Rule:
    setup: RequestFactory = no_setup
    note: str = ""

    def owners(self) -> frozenset[str]:
        raise NotImplementedError

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        raise NotImplementedError


@dataclass
class Public(Rule):
    """Reachable by anyone, with or without a token."""

    def owners(self) -> frozenset[str]:
        return frozenset(CALLERS)

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        problems = []
        for who in CALLERS:
            response = await call(target, who, method, path, await self.setup(target))
            if not response.is_success:
                problems.append(f"{who}: expected 2xx, got {_summary(response)}")
        return problems


async def _check_owned(
    target: Target, method: str, path: str, request: Request, owners: Iterable[str],
    marker: str | None = None, fresh: RequestFactory | None = None, wrong_step: frozenset[str] = frozenset(),
) -> list[str]:
    """Call as every refused principal first, then as each owner; return the mismatches."""
    owners = set(owners)
    problems = []
    for who in [name for name in CALLERS if name not in owners]:
        response = await call(target, who, method, path, request)
        if who == ANONYMOUS:
            problem = _refusal_problem(response, {401})
        elif who in wrong_step:
            problem = _refusal_problem(response, {403, 404, 409})
        elif marker is not None and response.is_success:
            problem = f"listed the object {marker}" if marker in response.text else None
        else:
            problem = _refusal_problem(response, {403, 404})
        if problem:
            problems.append(f"{who}: {problem}")
    for index, who in enumerate(name for name in CALLERS if name in owners):
        if fresh is not None and index > 0:
            request = await fresh(target)
        response = await call(target, who, method, path, request)
        if not response.is_success:
            problems.append(f"{who}: expected 2xx, got {_summary(response)}")
        elif marker is not None and marker not in response.text:
            problems.append(f"{who}: the object {marker} is missing from {_summary(response)}")
    return problems


@dataclass
class Roles(Rule):
    """Reachable by the given roles whatever the object; ``setup`` builds a call each role may make."""

    roles: frozenset[str] = frozenset()

    def owners(self) -> frozenset[str]:
        return frozenset(m.name for m in CAST if m.role in self.roles)

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        request = await self.setup(target)
        return await _check_owned(target, method, path, request, self.owners())


@dataclass
class Owned(Rule):
    """Reachable only within the scope of an object that ``setup`` creates on A's side.

    ``fresh`` creates a new object for every owner, for calls that change the object's state.
    ``wrong_step`` names principals who may see the object but not act at its current step; they
    may also get 409.
    """

    allowed: frozenset[str] = frozenset()
    fresh: bool = False
    wrong_step: frozenset[str] = frozenset()

    def owners(self) -> frozenset[str]:
        return self.allowed

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        request = await self.setup(target)
        return await _check_owned(
            target, method, path, request, self.allowed, fresh=self.setup if self.fresh else None,
            wrong_step=self.wrong_step,
        )


@dataclass
class ListOwned(Rule):
    """A list whose entries are scoped: ``setup`` returns the call, ``marker_of`` the id of A's object."""

    allowed: frozenset[str] = frozenset()
    marker_of: Callable[[Any], Awaitable[str]] | None = None

    def owners(self) -> frozenset[str]:
        return self.allowed

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        assert self.marker_of is not None, "ListOwned needs marker_of"
        request = await self.setup(target)
        marker = await self.marker_of(target)
        return await _check_owned(target, method, path, request, self.allowed, marker=marker)


def operations(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def classification_problems(openapi: dict[str, Any], table: dict[tuple[str, str], Rule]) -> list[str]:
    """List operations the table does not classify, and table entries the service no longer has."""
    served = operations(openapi)
    problems = [f"unclassified operation: {m} {p}" for m, p in sorted(served - set(table))]
    problems += [f"classified operation the service does not serve: {m} {p}" for m, p in sorted(set(table) - served)]
    return problems


def refusal_details(response: httpx.Response) -> dict[str, Any]:
    return json.loads(response.text).get("error", {})


@dataclass
class RunJob(Rule):
    """POST /ops/jobs/{name}/run: operators only; runs the first job, or requests an unknown one.

    A service without periodic jobs returns 404 ``job_not_found`` to an operator, which still shows the
    operator got past the role check; everyone else must get 403 and no token 401.
    """

    def owners(self) -> frozenset[str]:
        return frozenset({"operator"})

    async def check(self, target: Target, method: str, path: str) -> list[str]:
        listed = await call(target, "operator", "GET", f"{target.prefix}/ops/jobs", Request())  # type: ignore[attr-defined]
        assert listed.status_code == 200, listed.text
        jobs = [job["name"] for job in listed.json()]
        request = Request(path_params={"name": jobs[0] if jobs else "no-such-job"})
        if jobs:
            return await _check_owned(target, method, path, request, self.owners())
        problems = await _check_owned(target, method, path, request, frozenset())
        problems = [problem for problem in problems if not problem.startswith("operator:")]
        response = await call(target, "operator", method, path, request)
        if response.status_code != 404 or refusal_details(response).get("code") != "job_not_found":
            problems.append(f"operator: expected 404 job_not_found, got {_summary(response)}")
        return problems


def ops_table(prefix: str) -> dict[tuple[str, str], Rule]:
    """Probes are public; the periodic-job routes every service gets are for operators only."""
    operator = frozenset({"operator"})
    return {
        ("GET", "/healthz"): Public(),
        ("GET", "/readyz"): Public(),
        ("GET", f"{prefix}/ops/jobs"): Roles(roles=operator),
        ("POST", f"{prefix}/ops/jobs/{{name}}/run"): RunJob(),
    }


async def docs_problems(base_url: str, prefix: str) -> list[str]:
    """Return the documentation and probe routes outside the schema that fail without a token."""
    problems = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        for path in (f"{prefix}/docs", f"{prefix}/openapi.json", f"{prefix}/healthz", f"{prefix}/readyz"):
            response = await client.get(path)
            if response.status_code != 200:
                problems.append(f"GET {path}: expected 200 without a token, got {_summary(response)}")
    return problems
