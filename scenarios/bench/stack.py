"""What the benchmark reads from the running local stack: addresses, service pids, memory and consumer lag.

The stack is the one `make up` starts (deploy/local): every part is a plain process whose pid file is
in `.stack/run/`. The benchmark never starts or stops parts; it only reads their pid files and
/proc, asks Kafka for offsets and reads FerretDB by `_id`.
"""

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".stack" / "run"
CLOCK_FILE = ROOT / ".stack" / "demo-clock"

KAFKA = "127.0.0.1:19092"
MONGO_URI = "mongodb://127.0.0.1:27017/"
IDENTITY_URL = "http://127.0.0.1:8101"
QUALIFICATION_URL = "http://127.0.0.1:8104"

SERVICES = ("identity-svc", "certificate-svc", "review-svc", "qualification-svc", "exam-svc", "order-svc")
INFRA = ("kafka", "ferretdb")


def pid_of(part: str) -> int | None:
    """Return the pid of ``part``'s own process, if it is alive.

    A service runs under a supervisor whose pid is in ``<part>.pid``. The service's own process is the
    child named in ``<part>.child``, so that is the process whose memory counts.
    """
    try:
        child = json.loads((RUN_DIR / f"{part}.child").read_text())
        pid = int(child["child_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            pid = int((RUN_DIR / f"{part}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
    return pid if Path(f"/proc/{pid}").exists() else None


def rss_mib(pid: int) -> float | None:
    """Resident memory of one process in MiB, from /proc (VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def clock_override() -> str:
    """The instant written into the demo clock file, or '' when the services run on the wall clock."""
    try:
        return CLOCK_FILE.read_text().strip()
    except OSError:
        return ""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class MemorySampler:
    """Samples the RSS of the six services (and Kafka and FerretDB, for context) once a second."""

    pids: dict[str, int]
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    restarted: set[str] = field(default_factory=set)

    @classmethod
    def for_stack(cls) -> "MemorySampler":
        pids = {part: pid for part in SERVICES + INFRA if (pid := pid_of(part)) is not None}
        return cls(pids)

    def sample(self) -> None:
        now = time.time()
        for part, pid in self.pids.items():
            if pid_of(part) != pid:
                # The stack was restarted under us; that part's figures no longer describe one process.
                self.restarted.add(part)
                continue
            value = rss_mib(pid)
            if value is not None:
                self.samples.setdefault(part, []).append((now, value))

    async def run(self, interval_s: float = 1.0) -> None:
        while True:
            self.sample()
            await asyncio.sleep(interval_s)

    def peak(self, part: str, start: float, end: float) -> float | None:
        values = [v for t, v in self.samples.get(part, []) if start <= t <= end]
        return max(values) if values else None

    def last(self, part: str) -> float | None:
        values = self.samples.get(part)
        return values[-1][1] if values else None


async def end_offsets(topics: list[str]) -> dict[TopicPartition, int]:
    # A producer's partitions_for waits for the topic's metadata; a fresh consumer knows no partitions yet.
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(await producer.partitions_for(topic))]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await producer.stop()


async def wait_for_groups(
    groups: dict[str, list[str]], timeout_s: float, label: str, poll_s: float = 1.0
) -> float:
    """Wait until every consumer group has committed up to the end offsets seen now; return seconds waited.

    ``groups`` maps a consumer group to the topics it must have caught up on. A group that has
    committed nothing for a partition counts as behind unless that partition is empty.
    """
    topics = sorted({topic for group_topics in groups.values() for topic in group_topics})
    targets = await end_offsets(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    started = time.monotonic()
    last_report = started
    try:
        while True:
            behind: dict[str, int] = {}
            for group, group_topics in groups.items():
                committed = await admin.list_consumer_group_offsets(group)
                lag = 0
                for tp, end in targets.items():
                    if tp.topic not in group_topics:
                        continue
                    meta = committed.get(tp)
                    lag += max(0, end - (meta.offset if meta is not None and meta.offset >= 0 else 0))
                if lag:
                    behind[group] = lag
            waited = time.monotonic() - started
            if not behind:
                return waited
            if waited > timeout_s:
                raise TimeoutError(f"{label}: consumer groups still behind after {timeout_s:.0f} s: {behind}")
            if time.monotonic() - last_report >= 10:
                print(f"  {label}: waiting {waited:.0f} s, messages still to consume per group: {behind}", flush=True)
                last_report = time.monotonic()
            await asyncio.sleep(poll_s)
    finally:
        await admin.close()


def stack_is_up() -> list[str]:
    """Return the parts whose process is not running."""
    return [part for part in SERVICES + INFRA if pid_of(part) is None]


def other_activity() -> list[str]:
    """Name what else runs on the machine that loads it: test runs, the demo, benchmarks of others."""
    seen: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "pytest" in command and "python" in command:
            seen.append("pytest")
        elif "scenarios.demo" in command:
            seen.append("the demo scenario")
        elif "/benchmarks/" in command:
            seen.append("a service benchmark")
    return sorted(set(seen))
