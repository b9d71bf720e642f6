"""The fault driver: a task beside the demo that kills services, restarts Kafka and FerretDB, and injects messages.

The plan is drawn from a seeded random generator. Every service is killed once, and
``extra_kills`` more kills hit services drawn at random. Kafka and FerretDB are restarted once each.
Real messages of the run are produced again twice, and malformed messages go once to every topic
that has consumers. The actions run in a random order with a random pause of ``PAUSE_S`` seconds
before each, so each lands at a random point of the demo. Each is recorded with its time since the
start of the fault run and the demo step in progress. Actions left when the demo ends still run,
marked so in the report, because the suite promises every one of them.
"""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .client import FaultGateway
from .kafka_io import Injections, Message, all_events, malformed_values, produce
from .snapshot import _strings, run_ids
from .stack import KAFKA_BOOTSTRAP, SERVICE_NAMES, kill_service, restart_part, wait_ready

PAUSE_S = (2.0, 7.0)
DUPLICATES_PER_INJECTION = 12
RECOVERY_TIMEOUT_S = 180.0


@dataclass
class FaultRecord:
    at_s: float
    action: str  # kill, restart, duplicate, malformed
    target: str
    step: str
    detail: str = ""
    recovered_s: float | None = None
    ok: bool = True


class FaultDriver:
    def __init__(self, seed: int, gateway: FaultGateway, demo_step: Callable[[], str], demo, consumed_topics: list[str],
                 extra_kills: int = 2, echo: Callable[[str], None] = print) -> None:
        self.rng = random.Random(seed)
        self.gateway = gateway
        self.demo_step = demo_step
        self.demo = demo
        self.consumed_topics = consumed_topics
        self.echo = echo
        self.records: list[FaultRecord] = []
        self.injections = Injections()
        self.started = time.monotonic()
        kills = [("kill", name) for name in SERVICE_NAMES]
        kills += [("kill", self.rng.choice(SERVICE_NAMES)) for _ in range(extra_kills)]
        actions = kills + [("restart", "kafka"), ("restart", "ferretdb"), ("duplicate", "run events"),
                           ("duplicate", "run events"), ("malformed", "consumed topics")]
        self.rng.shuffle(actions)
        self.plan = actions

    def _record(self, action: str, target: str, detail: str = "") -> FaultRecord:
        record = FaultRecord(time.monotonic() - self.started, action, target, self.demo_step(), detail)
        self.records.append(record)
        self.echo(f"  [fault {record.at_s:6.1f}s] {action} {target} during step '{record.step}' {detail}".rstrip())
        return record

    async def run(self) -> None:
        for action, target in self.plan:
            await asyncio.sleep(self.rng.uniform(*PAUSE_S))
            try:
                await getattr(self, f"_{action}")(target)
            except Exception as error:  # noqa: BLE001 - a failed fault action is reported, not fatal
                record = self._record(action, target, f"FAILED: {type(error).__name__}: {error}")
                record.ok = False

    async def _kill(self, service: str) -> None:
        async with self.gateway.gate.closed((service,)):
            pid = kill_service(service)
        record = self._record("kill", f"{service}-svc", f"(SIGKILL pid {pid})")
        record.recovered_s = await wait_ready((service,), RECOVERY_TIMEOUT_S)
        record.ok = record.recovered_s is not None

    async def _restart(self, part: str) -> None:
        if part == "ferretdb":
            # No HTTP write may meet the database while it is away (see client.py). Reads go on and retry.
            async with self.gateway.gate.closed(SERVICE_NAMES):
                record = self._record("restart", part, "(writes held until every service is ready again)")
                code, lines = await restart_part(part)
                ready = await wait_ready(SERVICE_NAMES, RECOVERY_TIMEOUT_S)
        else:
            record = self._record("restart", part)
            code, lines = await restart_part(part)
            ready = await wait_ready(SERVICE_NAMES, RECOVERY_TIMEOUT_S)
        record.recovered_s = time.monotonic() - self.started - record.at_s if ready is not None else None
        record.ok = code == 0 and ready is not None
        if code != 0:
            record.detail += " " + " | ".join(lines[-5:])

    async def _duplicate(self, _target: str) -> None:
        deadline = time.monotonic() + 120
        while not (self.demo.engineers and all(e.engineer_id for e in self.demo.engineers)):
            if time.monotonic() > deadline:
                raise RuntimeError("the demo registered no engineers, so there are no run events to duplicate")
            await asyncio.sleep(1.0)
        ids = run_ids(self.demo)
        candidates: list[Message] = []
        for message in await all_events(KAFKA_BOOTSTRAP):
            body = message.json()
            if body is not None and _strings(body.get("payload")) & ids:
                candidates.append(message)
        chosen = self.rng.sample(candidates, min(DUPLICATES_PER_INJECTION, len(candidates)))
        await produce(KAFKA_BOOTSTRAP, [(m.topic, m.key, m.value, m.headers) for m in chosen])
        self.injections.duplicates.extend(chosen)
        kinds = sorted({f"{m.topic}:{(m.json() or {}).get('type')}" for m in chosen})
        self._record("duplicate", f"{len(chosen)} copies", f"of {len(candidates)} run events ({', '.join(kinds)})")

    async def _malformed(self, _target: str) -> None:
        items = []
        for topic in self.consumed_topics:
            for kind, value in malformed_values(topic):
                items.append((topic, None, value, ()))
                self.injections.malformed.append((topic, kind, value))
        await produce(KAFKA_BOOTSTRAP, items)
        self._record("malformed", f"{len(items)} messages",
                     f"(bad JSON, unknown type, unknown schema version) to {', '.join(self.consumed_topics)}")
