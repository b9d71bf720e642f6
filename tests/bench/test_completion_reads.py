"""The benchmark's completion reads: one ``$in`` read settles every waiting event found stored, in every partition."""

import asyncio
import time
from collections import deque
from typing import Any

from order_svc.adapters.eligibility_store import entry_id
from scenarios.bench.measure import READ_AHEAD, STUCK_AFTER_S, Run, Sample, _advance, _read_ahead
from scenarios.bench.seed import Engineer


class Cursor:
    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self._documents = iter(documents)

    def __aiter__(self) -> "Cursor":
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return next(self._documents)
        except StopIteration:
            raise StopAsyncIteration from None


class EntriesDb:
    """order-svc's database reduced to the outlet entries of some engineers, whatever collection is requested."""

    def __init__(self, stored: list[str]) -> None:
        self.ids = {entry_id("ac_repair", "o1", engineer_id) for engineer_id in stored}
        self.requests: list[list[str]] = []

    def __getitem__(self, _name: str) -> "EntriesDb":
        return self

    def find(self, document_filter: dict[str, Any], _projection: dict[str, Any]) -> Cursor:
        requested = document_filter["_id"]["$in"]
        self.requests.append(requested)
        return Cursor([{"_id": value} for value in requested if value in self.ids])


def waiting_queues(*counts: int) -> tuple[Run, dict[int, deque[Sample]]]:
    """Events of engineers e0, e1, ... spread over one queue per partition, ``counts[p]`` in partition p."""
    samples, queues = [], {}
    for partition, count in enumerate(counts):
        queues[partition] = deque()
        for _ in range(count):
            index = len(samples)
            engineer = Engineer(engineer_id=f"e{index}", outlet_id="o1", region_id="r", login=None)  # type: ignore[arg-type]
            sample = Sample(engineer, "refrigeration_ac", "ac_repair", index=index)
            samples.append(sample)
            queues[partition].append(sample)
    return Run(samples, rate=200, warm_up_s=0, duration_s=1, grace_s=0), queues


def test_read_settles_every_partition() -> None:
    run, queues = waiting_queues(3, 2)
    db = EntriesDb(stored=["e0", "e2", "e4"])

    asyncio.run(_read_ahead(run, db, queues))

    assert [sample.stored is not None for sample in run.samples] == [True, False, True, False, True]
    assert run.polls == len(db.requests) == 1
    # e2 waited behind e1 in partition 0; e4 waited behind e3 in partition 1.
    assert run.settled_ahead == 2


def test_stored_heads_leave_their_queue() -> None:
    run, queues = waiting_queues(3, 1)
    db = EntriesDb(stored=["e0", "e1", "e3"])
    asyncio.run(_read_ahead(run, db, queues))

    _advance(run, queues, {})

    assert [sample.engineer.engineer_id for sample in queues[0]] == ["e2"]
    assert not queues[1]
    assert run.stuck_skipped == 0


def test_stuck_head_skipped() -> None:
    run, queues = waiting_queues(3)
    db = EntriesDb(stored=["e1"])
    asyncio.run(_read_ahead(run, db, queues))

    _advance(run, queues, {0: time.monotonic()})
    assert len(queues[0]) == 3
    _advance(run, queues, {0: time.monotonic() - STUCK_AFTER_S - 1})

    # e0 is left to the final check; e1 was stored, so e2 is the head now.
    assert [sample.engineer.engineer_id for sample in queues[0]] == ["e2"]
    assert run.stuck_skipped == 1


def test_read_limited_to_waiting_events() -> None:
    run, queues = waiting_queues(READ_AHEAD + 5)
    run.samples[1].stored = 1.0
    db = EntriesDb(stored=[])

    asyncio.run(_read_ahead(run, db, queues))

    requested = db.requests[0]
    assert len(requested) == READ_AHEAD - 1
    assert entry_id("ac_repair", "o1", "e1") not in requested
    assert entry_id("ac_repair", "o1", f"e{READ_AHEAD}") not in requested
