"""The measured run: certificate events at a fixed rate, and the moment order-svc shows each engineer eligible.

Timestamps of one event, all on this machine's wall clock:

- ``scheduled``: when the open-loop producer was due to send `certificate.took_effect` (version 2).
  Latency counts from here, so a producer that falls behind its schedule is charged to the system.
- ``granted_at``: qualification-svc's handler time, from the `qualification.granted` payload (valid only
  while the demo clock file is empty, which the run checks).
- ``published``: the Kafka record timestamp of `qualification.granted`, set when the outbox relay sent it.
- ``stored``: the first read that finds order-svc's eligibility document granted and in effect.

Completion is detected without loading FerretDB with scans. order-svc consumes each partition of
qualifications.v1 in offset order, so per partition the oldest granted event not yet seen stored is
the next to complete. Every ``POLL_S`` one poller reads the outlet entries of the first ``READ_AHEAD``
waiting events of every partition with one ``_id`` ``$in`` query and marks every one found as stored.
So an event is seen at most ``POLL_S`` plus one read after order-svc stored it, and the benchmark's
reads cost FerretDB the same whatever the number of partitions.
"""

import asyncio
import csv
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from bangke_contracts.topics import CERTIFICATES, QUALIFICATIONS
from order_svc.adapters.eligibility_store import OUTLET_ENTRIES_COLLECTION, entry_id

from . import stack
from .seed import PAIRS, Engineer, took_effect

POLL_S = 0.01
STUCK_AFTER_S = 2.0
READ_AHEAD = 32
READ_CHUNK = 500


@dataclass
class Sample:
    engineer: Engineer
    certificate_type: str
    qualification_type: str
    scheduled: float = 0.0
    sent: float | None = None
    acked: float | None = None
    granted_at: float | None = None
    published: float | None = None
    partition: int | None = None
    offset: int | None = None
    stored: float | None = None
    warm_up: bool = False
    index: int = -1
    """Position in ``Run.samples``."""

    @property
    def key(self) -> tuple[str, str]:
        return self.engineer.engineer_id, self.qualification_type


@dataclass
class Run:
    samples: list[Sample]
    rate: float
    warm_up_s: float
    duration_s: float
    grace_s: float
    started: float = 0.0
    producer_done: float = 0.0
    finished: float = 0.0
    polls: int = 0
    settled_ahead: int = 0
    """Events found stored by a read made while an older event of their partition was still waiting."""
    stuck_skipped: int = 0
    granted_seen: int = 0
    by_key: dict[tuple[str, str], Sample] = field(default_factory=dict)


def plan(engineers: list[Engineer], rate: float, warm_up_s: float, duration_s: float) -> Run:
    """One event per (engineer, pair), ordered so that consecutive events belong to different engineers."""
    total = math.ceil(rate * (warm_up_s + duration_s))
    samples = [Sample(e, c, q) for c, q in PAIRS for e in engineers][:total]
    for index, sample in enumerate(samples):
        sample.index = index
    if len(samples) < total:
        raise ValueError(f"{total} events planned but only {len(samples)} engineer-certificate pairs seeded")
    run = Run(samples, rate, warm_up_s, duration_s, 0.0)
    run.by_key = {s.key: s for s in samples}
    return run


async def _produce(run: Run, producer: AIOKafkaProducer, expires_on: date) -> None:
    """Open loop: each event goes out at its slot whatever happened to the earlier ones."""
    interval = 1.0 / run.rate
    warm_up_events = int(run.rate * run.warm_up_s)
    pending: list[asyncio.Future[Any]] = []

    def acked(sample: Sample) -> Any:
        def done(_future: asyncio.Future[Any]) -> None:
            sample.acked = time.time()
        return done

    for index, sample in enumerate(run.samples):
        sample.scheduled = run.started + index * interval
        sample.warm_up = index < warm_up_events
        delay = sample.scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        now = datetime.now(UTC)
        event = took_effect(sample.engineer, sample.certificate_type, 2, now, expires_on)
        sample.sent = time.time()
        future = await producer.send(
            CERTIFICATES, event.model_dump_json().encode(), key=event.key().encode(),
            headers=[("content-type", b"application/json")],
        )
        future.add_done_callback(acked(sample))
        pending.append(future)
    await asyncio.gather(*pending)
    run.producer_done = time.time()


async def _watch_grants(run: Run, consumer: AIOKafkaConsumer, queues: dict[int, deque[Sample]], woken: asyncio.Event) -> None:
    """Read qualifications.v1 from where it ended before the run; note each grant of a planned pair."""
    import json

    async for record in consumer:
        try:
            data = json.loads(record.value)
        except ValueError:
            continue
        if data.get("type") != "qualification.granted":
            continue
        payload = data["payload"]
        sample = run.by_key.get((payload["engineer_id"], payload["qualification_type"]))
        if sample is None or sample.published is not None:
            continue
        sample.published = record.timestamp / 1000
        sample.granted_at = datetime.fromisoformat(payload["granted_at"]).timestamp()
        sample.partition, sample.offset = record.partition, record.offset
        run.granted_seen += 1
        queues.setdefault(record.partition, deque()).append(sample)
        woken.set()


def _entry_id(sample: "Sample") -> str:
    return entry_id(sample.qualification_type, sample.engineer.outlet_id, sample.engineer.engineer_id)


async def _stored_entries(db: Any, samples: list["Sample"]) -> set[str]:
    """Return the ``_id`` of each outlet entry of ``samples`` that order-svc has stored, as dispatch reads them."""
    cursor = db[OUTLET_ENTRIES_COLLECTION].find({"_id": {"$in": [_entry_id(s) for s in samples]}}, {"_id": 1})
    return {entry["_id"] async for entry in cursor}


async def _read_ahead(run: "Run", db: Any, queues: "dict[int, deque[Sample]]") -> None:
    """Read the entries of the first ``READ_AHEAD`` waiting events of each partition; mark those found as stored."""
    ahead = {partition: [s for s in list(queue)[:READ_AHEAD] if s.stored is None] for partition, queue in queues.items()}
    samples = [sample for waiting in ahead.values() for sample in waiting]
    if not samples:
        return
    found: set[str] = set()
    for start in range(0, len(samples), READ_CHUNK):
        found |= await _stored_entries(db, samples[start : start + READ_CHUNK])
        run.polls += 1
    now = time.time()
    for waiting in ahead.values():
        older_waiting = False
        for sample in waiting:
            if _entry_id(sample) not in found:
                older_waiting = True
                continue
            sample.stored = now
            if older_waiting:
                run.settled_ahead += 1


def _advance(run: "Run", queues: "dict[int, deque[Sample]]", head_since: dict[int, float]) -> None:
    """Drop the stored events from the front of each queue, and a head that order-svc moved past."""
    now = time.monotonic()
    for partition, queue in queues.items():
        moved = False
        while queue and queue[0].stored is not None:
            queue.popleft()
            moved = True
        if moved or partition not in head_since:
            head_since[partition] = now
        if queue and now - head_since[partition] > STUCK_AFTER_S and any(
            sample.stored is not None for sample in list(queue)[1:READ_AHEAD]
        ):
            # A later grant of this partition is stored, so order-svc moved past the head without
            # projecting it. The final check reads the head again; the queue goes on meanwhile.
            queue.popleft()
            run.stuck_skipped += 1
            head_since[partition] = now
            while queue and queue[0].stored is not None:
                queue.popleft()


async def _poll(run: Run, mongo: AsyncMongoClient, queues: dict[int, deque[Sample]], woken: asyncio.Event) -> None:
    db = mongo["bangke_order_svc"]
    head_since: dict[int, float] = {}
    while True:
        if not any(queues.values()):
            woken.clear()
            await woken.wait()
            head_since.clear()
            continue
        await _read_ahead(run, db, queues)
        _advance(run, queues, head_since)
        await asyncio.sleep(POLL_S)


async def measure(run: Run, mongo: AsyncMongoClient, expires_on: date, grace_s: float) -> None:
    run.grace_s = grace_s
    start_offsets = await stack.end_offsets([QUALIFICATIONS])
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.KAFKA, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    consumer.assign(list(start_offsets))
    for tp, offset in start_offsets.items():
        consumer.seek(tp, offset)

    producer = AIOKafkaProducer(bootstrap_servers=stack.KAFKA, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()

    queues: dict[int, deque[Sample]] = {tp.partition: deque() for tp in start_offsets}
    woken = asyncio.Event()
    tasks = [
        asyncio.create_task(_watch_grants(run, consumer, queues, woken)),
        asyncio.create_task(_poll(run, mongo, queues, woken)),
    ]
    run.started = time.time() + 0.5
    try:
        await _produce(run, producer, expires_on)
        end_of_sending = run.started + len(run.samples) / run.rate
        while time.time() < end_of_sending + grace_s:
            if all(s.stored is not None for s in run.samples):
                break
            await asyncio.sleep(0.2)
        run.finished = time.time()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()
        await producer.stop()

    # Grants skipped as stuck, or found late, get one last read by _id to tell "stored late" from "never".
    db = mongo["bangke_order_svc"]
    late = [sample for sample in run.samples if sample.stored is None and sample.published is not None]
    for start in range(0, len(late), READ_CHUNK):
        chunk = late[start : start + READ_CHUNK]
        found = await _stored_entries(db, chunk)
        for sample in chunk:
            if _entry_id(sample) in found:
                sample.stored = math.inf  # stored, but after the run's grace period or while skipped as stuck


SAMPLE_COLUMNS = ("index", "partition", "offset", "warm_up", "scheduled", "sent", "acked", "granted_at", "published", "stored")


def write_samples(run: Run, path: Path) -> None:
    """Write one CSV row per event: its times in seconds from the run's start, empty where not seen.

    ``granted_at`` is on the services' clock: it lines up with the other times only while the demo
    clock file is empty. ``stored`` is ``inf`` for an event stored after the grace period.
    """
    def offset(value: float | None) -> str:
        return "" if value is None else f"{value - run.started:.4f}"

    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SAMPLE_COLUMNS)
        for sample in run.samples:
            writer.writerow([
                sample.index, "" if sample.partition is None else sample.partition,
                "" if sample.offset is None else sample.offset, int(sample.warm_up),
                *(offset(getattr(sample, name)) for name in SAMPLE_COLUMNS[4:]),
            ])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(run: Run) -> dict[str, Any]:
    measured = [s for s in run.samples if not s.warm_up]
    window_start = run.started + run.warm_up_s
    window_end = window_start + run.duration_s
    done = [s for s in measured if s.stored is not None and math.isfinite(s.stored)]
    latencies = [(s.stored - s.scheduled) * 1000 for s in done]  # type: ignore[operator]
    completed_in_window = sum(
        1 for s in run.samples if s.stored is not None and math.isfinite(s.stored) and window_start <= s.stored < window_end
    )
    last_completion = max((s.stored for s in done), default=math.nan)  # type: ignore[type-var]
    send_lag = [(s.sent - s.scheduled) * 1000 for s in run.samples if s.sent is not None]

    def hop(values: list[float]) -> dict[str, float]:
        return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values) if values else math.nan}

    with_hops = [s for s in done if s.granted_at is not None and s.published is not None]
    return {
        "events_sent": len(run.samples),
        "measured_events": len(measured),
        "completed": len(done),
        "never_completed": sum(1 for s in run.samples if s.stored is None or not math.isfinite(s.stored)),
        "never_completed_measured": len(measured) - len(done),
        "stored_after_grace": sum(1 for s in run.samples if s.stored == math.inf),
        "never_granted": sum(1 for s in run.samples if s.published is None),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else math.nan,
        "throughput_in_window": completed_in_window / run.duration_s,
        "throughput_overall": len(done) / (last_completion - window_start) if done else 0.0,
        "producer_send_lag_p99_ms": percentile(send_lag, 99),
        "hop_to_published_ms": hop([(s.published - s.scheduled) * 1000 for s in with_hops]),  # type: ignore[operator]
        "hop_to_handler_ms": hop([(s.granted_at - s.scheduled) * 1000 for s in with_hops]),  # type: ignore[operator]
        "hop_handler_to_published_ms": hop([(s.published - s.granted_at) * 1000 for s in with_hops]),  # type: ignore[operator]
        "hop_published_to_stored_ms": hop([(s.stored - s.published) * 1000 for s in with_hops]),  # type: ignore[operator]
        "polls": run.polls,
        "settled_ahead": run.settled_ahead,
        "stuck_skipped": run.stuck_skipped,
        "window_start": window_start,
        "window_end": window_end,
        "finished": run.finished,
        "last_completion": last_completion,
    }
