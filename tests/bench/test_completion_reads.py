"""The benchmark's completion reads: one read of an outlet document settles every event it lists."""

import asyncio
from typing import Any

from order_svc.adapters.eligibility_store import holder_key
from scenarios.bench.measure import Run, Sample, _read_outlet
from scenarios.bench.seed import Engineer


class OneOutletDb:
    """order-svc's database reduced to one outlet document, whatever collection is asked for."""

    def __init__(self, listed: list[str]) -> None:
        self.document = {"holders": {holder_key(engineer_id): "2032-12-03" for engineer_id in listed}}
        self.reads = 0

    def __getitem__(self, _name: str) -> "OneOutletDb":
        return self

    async def find_one(self, *_args: Any) -> dict[str, Any]:
        self.reads += 1
        return self.document


def waiting_run(outlets: list[str]) -> Run:
    samples = []
    for index, outlet_id in enumerate(outlets):
        engineer = Engineer(engineer_id=f"e{index}", outlet_id=outlet_id, region_id="r", login=None)  # type: ignore[arg-type]
        samples.append(Sample(engineer, "refrigeration_ac", "ac_repair", index=index))
    run = Run(samples, rate=200, warm_up_s=0, duration_s=1, grace_s=0)
    for sample in samples:
        run.waiting.setdefault((sample.qualification_type, sample.engineer.outlet_id), set()).add(sample.index)
    return run


def test_read_settles_listed_events() -> None:
    run = waiting_run(["o1", "o1", "o1", "o2"])
    db = OneOutletDb(listed=["e0", "e2", "e3"])

    assert asyncio.run(_read_outlet(run, db, run.samples[0]))

    assert [sample.stored is not None for sample in run.samples] == [True, False, True, False]
    assert run.polls == db.reads == 1
    assert run.settled_by_other_reads == 1
    # e1 is not listed yet and still waits. e3 waits on another outlet, which was not read.
    assert run.waiting[("ac_repair", "o1")] == {1}
    assert run.waiting[("ac_repair", "o2")] == {3}


def test_unlisted_event_keeps_waiting() -> None:
    run = waiting_run(["o1", "o1"])
    db = OneOutletDb(listed=["e1"])

    assert not asyncio.run(_read_outlet(run, db, run.samples[0]))

    assert run.samples[0].stored is None
    assert run.samples[1].stored is not None
    assert run.waiting[("ac_repair", "o1")] == {0}
