"""Benchmark the dispatch eligibility query on the real FerretDB.

Seeds the eligibility projection for 100,000 engineers (200 per outlet, 20 outlets per region) with
10 qualifications each, that is 1,000,000 engineer-qualification holdings, each stored in its outlet
partition and its region partition as order-svc stores them. It then times
``EligibilityStore.eligible``, the call behind ``GET /orders/{id}/eligible-engineers``, for random
orders, and prints p50, p99 and max in milliseconds.

    . /tmp/pre/env.sh  # or set BANGKE_TEST_MONGO_URI
    uv run --frozen python services/order-svc/benchmarks/eligibility.py

Use ``--skip-seed`` to time the queries again on data seeded by an earlier run; ``--drop`` removes the
benchmark database at the end.
"""

import argparse
import asyncio
import os
import random
import statistics
import time
from datetime import date, timedelta

from pymongo import AsyncMongoClient

from order_svc.adapters.eligibility_store import EligibilityStore, holding_fields, partition_name
from order_svc.domain.eligibility import Holding, HoldingStatus

QUALIFICATION_TYPES = (
    "split_ac_installation", "ac_repair", "central_ac_installation", "electric_water_heater_installation",
    "gas_water_heater_installation", "range_hood_hob_installation", "tv_wall_mounting",
    "washing_machine_installation", "water_purifier_installation", "smart_lock_installation",
)
TODAY = date(2026, 12, 1)
BATCH = 5000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mongo-uri", default=os.environ.get("BANGKE_TEST_MONGO_URI", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--database", default="bench_order_svc_eligibility")
    parser.add_argument("--engineers", type=int, default=100_000)
    parser.add_argument("--engineers-per-outlet", type=int, default=200)
    parser.add_argument("--outlets-per-region", type=int, default=20)
    parser.add_argument("--qualifications", type=int, default=10, help="Qualifications per engineer, at most 10.")
    parser.add_argument("--queries", type=int, default=1000, help="Timed queries per dispatch area kind.")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--drop", action="store_true", help="Drop the benchmark database afterwards.")
    return parser.parse_args()


def holding(rng: random.Random, engineer: int, qualification_type: str, outlet: str, region: str) -> Holding:
    """Return a made-up holding: 90 % in effect until a day in the next two years, 10 % lapsed."""
    valid_until = TODAY + timedelta(days=rng.randint(0, 730))
    status = HoldingStatus.GRANTED if rng.random() < 0.9 else HoldingStatus.LAPSED
    return Holding(
        engineer_id=f"eng-{engineer:06d}", qualification_id=f"q-{engineer:06d}-{qualification_type}",
        qualification_type=qualification_type, outlet_id=outlet, region_id=region, status=status,
        valid_until=valid_until,
    )


async def insert(db, name: str, documents: list[dict]) -> None:
    collection = db[name]
    await collection.create_index("effective_until")
    for start in range(0, len(documents), BATCH):
        await collection.insert_many(documents[start : start + BATCH], ordered=False)


async def seed(db, args: argparse.Namespace) -> tuple[int, float]:
    rng = random.Random(7)
    outlets = args.engineers // args.engineers_per_outlet
    regions = max(outlets // args.outlets_per_region, 1)
    types = QUALIFICATION_TYPES[: args.qualifications]
    holdings = 0
    started = time.perf_counter()
    engineer = 0
    for region_index in range(regions):
        region = f"region-{region_index:03d}"
        region_documents: dict[str, list[dict]] = {qualification_type: [] for qualification_type in types}
        for outlet_index in range(args.outlets_per_region):
            outlet = f"outlet-{region_index:03d}-{outlet_index:03d}"
            outlet_documents: dict[str, list[dict]] = {qualification_type: [] for qualification_type in types}
            for _ in range(args.engineers_per_outlet):
                for qualification_type in types:
                    item = holding(rng, engineer, qualification_type, outlet, region)
                    document = {"_id": item.engineer_id, **holding_fields(item, f"工程师{engineer}"), "processed_events": []}
                    outlet_documents[qualification_type].append(document)
                    region_documents[qualification_type].append(document)
                    holdings += 1
                engineer += 1
            await asyncio.gather(
                *(insert(db, partition_name("outlet", qt, outlet), docs) for qt, docs in outlet_documents.items())
            )
        await asyncio.gather(
            *(insert(db, partition_name("region", qt, region), docs) for qt, docs in region_documents.items())
        )
        elapsed = time.perf_counter() - started
        print(f"seeded region {region_index + 1}/{regions}: {holdings} holdings, {elapsed:.0f} s", flush=True)
    return holdings, time.perf_counter() - started


async def time_queries(store: EligibilityStore, args: argparse.Namespace, area: str) -> list[float]:
    rng = random.Random(11 if area == "outlet" else 13)
    outlets = args.engineers // args.engineers_per_outlet
    regions = max(outlets // args.outlets_per_region, 1)
    timings = []
    found = []
    for _ in range(args.queries):
        qualification_type = rng.choice(QUALIFICATION_TYPES[: args.qualifications])
        region_index = rng.randrange(regions)
        if area == "outlet":
            area_id = f"outlet-{region_index:03d}-{rng.randrange(args.outlets_per_region):03d}"
        else:
            area_id = f"region-{region_index:03d}"
        last_day = TODAY + timedelta(days=rng.randint(1, 60))
        started = time.perf_counter()
        result = await store.eligible(area, qualification_type, area_id, last_day, limit=200)
        timings.append((time.perf_counter() - started) * 1000)
        found.append(len(result))
    print(f"{area}: engineers returned per query: mean {statistics.mean(found):.0f}, min {min(found)}, max {max(found)}")
    return timings


def report(area: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{area}: {len(ordered)} queries, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms")


async def main() -> None:
    args = parse_args()
    client = AsyncMongoClient(args.mongo_uri, tz_aware=True)
    db = client[args.database]
    try:
        if not args.skip_seed:
            await client.drop_database(args.database)
            holdings, seconds = await seed(db, args)
            print(f"seeding: {holdings} holdings ({2 * holdings} documents in outlet and region partitions) in {seconds:.0f} s")
        store = EligibilityStore(db)
        await time_queries(store, args, "outlet")  # warm-up
        for area in ("outlet", "region"):
            report(area, await time_queries(store, args, area))
    finally:
        if args.drop:
            await client.drop_database(args.database)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
