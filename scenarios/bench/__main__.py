"""`make bench`: end-to-end latency, throughput and memory of the platform on the running local stack.

    uv run --frozen python -m scenarios.bench [--rate 200] [--duration 30] [--warm-up 5] [--grace 30]

It needs the stack of `make up` and never starts, stops or restarts it. See seed.py for how the
engineers are prepared and measure.py for what is timed.
"""

import argparse
import asyncio
import math
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from bangke_runtime.clock import china_date

from . import measure, report, seed, stack


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scenarios.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="certificate events per second (open loop)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds after the warm-up")
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds sent before the measured window")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait for completions after the last send")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of memory sampling after the grace period")
    parser.add_argument("--no-doc", action="store_true", help="print only; do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--samples", type=Path, help="also write every event's times (seconds from the first send) to this CSV file"
    )
    return parser.parse_args(argv)


def _expiry() -> date:
    """Version 2's expiry: six years after the later of today and the demo clock's day, as the registry issues them."""
    today = china_date(datetime.now(UTC))
    override = stack.clock_override()
    if override:
        today = max(today, china_date(datetime.fromisoformat(override)))
    return today + timedelta(days=6 * 365)


async def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    missing = stack.stack_is_up()
    if missing:
        print(f"The local stack is not fully up (not running: {', '.join(missing)}). Start it with `make up`.")
        return 2

    options = sys.argv[1:] if argv is None else argv
    command = "make bench" if not options else f"make bench BENCH_ARGS=\"{' '.join(options)}\""
    context = {
        "command": command,
        "date": datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.node()}: 2 cores, 24 GiB, Debian 12, Python {platform.python_version()}",
        "load_before": stack.load_average(),
        "clock_override_before": stack.clock_override(),
        "other_activity": stack.other_activity(),
        "rate": args.rate, "duration": args.duration, "warm_up": args.warm_up, "grace": args.grace,
    }
    events = math.ceil(args.rate * (args.warm_up + args.duration))
    engineer_count = math.ceil(events / len(seed.PAIRS))
    outlets = max(1, math.ceil(engineer_count / 150))
    regions = max(1, math.ceil(outlets / 2))
    print(f"Bench: {events} certificate events at {args.rate:.0f}/s, {engineer_count} engineers, "
          f"{outlets} outlets in {regions} regions; load average {context['load_before']}", flush=True)

    sampler = stack.MemorySampler.for_stack()
    sampler_task = asyncio.create_task(sampler.run())
    api = seed.Api()
    mongo: AsyncMongoClient = AsyncMongoClient(stack.MONGO_URI, tz_aware=True)
    producer = AIOKafkaProducer(bootstrap_servers=stack.KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    expires_on = _expiry()
    try:
        t = time.monotonic()
        organisation, operator = await seed.set_up_organisation(api, regions, 2)
        print(f"1/4 organisation of run {organisation.run_id} created", flush=True)
        engineers = await seed.register_engineers(api, operator, organisation, engineer_count)
        timings = {"engineers registered and signed in (HTTP)": time.monotonic() - t}
        print(f"2/4 {len(engineers)} engineers registered and signed in ({timings['engineers registered and signed in (HTTP)']:.0f} s)", flush=True)
        timings |= await seed.seed(api, producer, engineers, expires_on)
        problems = await seed.verify_waiting(mongo, engineers)
        print(f"3/4 seeded in {time.monotonic() - t:.0f} s; engineers not in the expected state: {len(problems)}", flush=True)
        for problem in problems[:10]:
            print("   ", problem)
        context["seed_s"] = time.monotonic() - t
        context["seed_timings"] = timings
        context["seed_problems"] = len(problems)

        run = measure.plan(engineers, args.rate, args.warm_up, args.duration)
        context["load_at_start"] = stack.load_average()
        print(f"4/4 measuring: {len(run.samples)} events over {args.warm_up + args.duration:.0f} s, then up to {args.grace:.0f} s of grace", flush=True)
        await measure.measure(run, mongo, expires_on, args.grace)
        context["load_at_end"] = stack.load_average()
        context["clock_override_after"] = stack.clock_override()
        after_start = time.time()
        await asyncio.sleep(args.after)
        sampler.sample()
        summary = measure.summarise(run)
        if args.samples:
            measure.write_samples(run, args.samples)
            print(f"Event times written to {args.samples}", flush=True)
        memory = report.memory_table(sampler, run.started, run.finished, after_start, time.time())
    finally:
        sampler_task.cancel()
        await producer.stop()
        await api.close()
        await mongo.close()

    text = report.render(context, summary, memory, sampler.restarted)
    print()
    print(text)
    if not args.no_doc:
        report.write_doc(text)
        print(f"Written to {report.DOC.relative_to(stack.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
