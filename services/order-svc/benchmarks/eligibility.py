"""Benchmark the dispatch eligibility query on the real FerretDB.

Seeds the eligibility projection for 100,000 engineers (200 per outlet, 20 outlets per region) with
10 qualifications each, in the layout order-svc keeps. That is one engineer document per engineer
with its holdings, one outlet entry per holding in effect and one region document with the shortlist
per (qualification type, region). It then times, for random orders, the two reads of dispatch:

- ``EligibilityStore.eligible``, the call behind ``GET /orders/{id}/eligible-engineers``: one query of
  the outlet's entries by their indexed ``scope``, or one lookup by ``_id`` of the region document,
  then the filter by the appointment's last day and the sort in memory;
- ``EligibilityStore.holding_in_area``, the check behind offers, acceptances and the order pool.

It prints p50, p99 and max in milliseconds.

    . /tmp/pre/env.sh  # or set BANGKE_TEST_MONGO_URI
    uv run --frozen python services/order-svc/benchmarks/eligibility.py --drop

Use ``--skip-seed`` to time the queries again on data seeded by an earlier run; ``--drop`` removes the
benchmark database at the end.
"""

import argparse
import asyncio
import os
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from pymongo import AsyncMongoClient

from bangke_runtime.clock import china_date
from bangke_runtime.serialised import SerialisedDatabase, WritePolicy, is_ferretdb
from order_svc.adapters.eligibility_store import (
    ENGINEERS_COLLECTION,
    OUTLET_ENTRIES_COLLECTION,
    EligibilityStore,
    Holder,
    entry_id,
    holding_fields,
    region_collection,
    scope_id,
    shortlist,
)
from order_svc.domain.eligibility import Holding, HoldingStatus, last_day_needed

QUALIFICATION_TYPES = (
    "split_ac_installation", "ac_repair", "central_ac_installation", "electric_water_heater_installation",
    "gas_water_heater_installation", "range_hood_hob_installation", "tv_wall_mounting",
    "washing_machine_installation", "water_purifier_installation", "smart_lock_installation",
)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TODAY = china_date(NOW)
BATCH = 2000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mongo-uri", default=os.environ.get("BANGKE_TEST_MONGO_URI", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--database", default="bench_order_svc_eligibility")
    parser.add_argument("--engineers", type=int, default=100_000)
    parser.add_argument("--engineers-per-outlet", type=int, default=200)
    parser.add_argument("--outlets-per-region", type=int, default=20)
    parser.add_argument("--qualifications", type=int, default=10, help="Qualifications per engineer, at most 10.")
    parser.add_argument("--shortlist", type=int, default=200, help="Region shortlist size: the listing limit.")
    parser.add_argument("--queries", type=int, default=1000, help="Timed queries per kind.")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--drop", action="store_true", help="Drop the benchmark database afterwards.")
    return parser.parse_args()


def holding(rng: random.Random, engineer_id: str, qualification_type: str, outlet: str, region: str) -> Holding:
    """Return a made-up holding: 90 % in effect until a day in the next two years, 10 % lapsed."""
    valid_until = TODAY + timedelta(days=rng.randint(0, 730))
    status = HoldingStatus.GRANTED if rng.random() < 0.9 else HoldingStatus.LAPSED
    return Holding(
        engineer_id=engineer_id, qualification_id=f"q-{engineer_id}-{qualification_type}",
        qualification_type=qualification_type, outlet_id=outlet, region_id=region, status=status,
        valid_until=valid_until,
    )


async def insert(collection, documents: list[dict]) -> None:
    for start in range(0, len(documents), BATCH):
        await collection.insert_many(documents[start : start + BATCH], ordered=False)


def dimensions(args: argparse.Namespace) -> tuple[int, int]:
    outlets = args.engineers // args.engineers_per_outlet
    return outlets, max(outlets // args.outlets_per_region, 1)


async def seed(db, args: argparse.Namespace) -> dict[str, int]:
    """Write the documents order-svc would hold after projecting every grant and lapse."""
    rng = random.Random(7)
    _, regions = dimensions(args)
    types = QUALIFICATION_TYPES[: args.qualifications]
    counts = {"holdings": 0, "engineer documents": 0, "outlet entries": 0, "region documents": 0, "collections": 0}
    await EligibilityStore(db, args.shortlist).create_indexes()
    collections: set[str] = set()
    engineer = 0
    for region_index in range(regions):
        region = f"region-{region_index:03d}"
        region_holders: dict[str, list[Holder]] = {qualification_type: [] for qualification_type in types}
        engineer_documents: dict[str, list[dict]] = {}
        outlet_entries: dict[str, list[dict]] = {}
        for outlet_index in range(args.outlets_per_region):
            outlet = f"outlet-{region_index:03d}-{outlet_index:03d}"
            for _ in range(args.engineers_per_outlet):
                engineer_id, name = f"eng-{engineer:06d}", f"工程师{engineer}"
                holdings = {}
                for qualification_type in types:
                    item = holding(rng, engineer_id, qualification_type, outlet, region)
                    holdings[qualification_type] = holding_fields(item)
                    counts["holdings"] += 1
                    if item.in_effect:
                        outlet_entries.setdefault(OUTLET_ENTRIES_COLLECTION, []).append(
                            {"_id": entry_id(qualification_type, outlet, engineer_id),
                             "scope": scope_id(qualification_type, outlet), "engineer_id": engineer_id,
                             "valid_until": item.valid_until.isoformat(), "name": name}
                        )
                        region_holders[qualification_type].append(Holder(engineer_id, item.valid_until.isoformat(), name))
                engineer_documents.setdefault(ENGINEERS_COLLECTION, []).append(
                    {"_id": engineer_id, "name": name, "outlet_id": outlet, "region_id": region, "holdings": holdings,
                     "listed": {qualification_type: [outlet, region] for qualification_type in types},
                     "processed_events": [f"event-{engineer_id}-{n}" for n in range(2 * len(types))]}
                )
                engineer += 1
        region_documents = {region_collection(region): [
            {"_id": scope_id(qualification_type, region), "qualification_type": qualification_type, "region_id": region,
             "version": 1, "outlets": [f"outlet-{region_index:03d}-{n:03d}" for n in range(args.outlets_per_region)],
             "holders": shortlist(holders, args.shortlist)}
            for qualification_type, holders in region_holders.items()
        ]}
        kinds = (("engineer documents", engineer_documents), ("outlet entries", outlet_entries), ("region documents", region_documents))
        for kind, batches in kinds:
            for name, documents in batches.items():
                await insert(db[name], documents)
                counts[kind] += len(documents)
                collections.add(name)
        counts["collections"] = len(collections)
        print(f"seeded region {region_index + 1}/{regions}", flush=True)
    return counts


def random_order(rng: random.Random, args: argparse.Namespace, area: str) -> tuple[str, str, date]:
    """Return the qualification type, area id and last day of a made-up order in the next 60 days."""
    _, regions = dimensions(args)
    qualification_type = rng.choice(QUALIFICATION_TYPES[: args.qualifications])
    region_index = rng.randrange(regions)
    if area == "outlet":
        area_id = f"outlet-{region_index:03d}-{rng.randrange(args.outlets_per_region):03d}"
    else:
        area_id = f"region-{region_index:03d}"
    appointment_end = NOW + timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23))
    return qualification_type, area_id, last_day_needed(appointment_end, NOW)


async def time_listings(store: EligibilityStore, args: argparse.Namespace, area: str, seed_value: int) -> list[float]:
    rng = random.Random(seed_value)
    timings, found = [], []
    for _ in range(args.queries):
        qualification_type, area_id, last_day = random_order(rng, args, area)
        started = time.perf_counter()
        result = await store.eligible(area, qualification_type, area_id, last_day, limit=args.shortlist)
        timings.append((time.perf_counter() - started) * 1000)
        found.append(len(result))
    print(f"{area} listing: engineers returned per query: mean {statistics.mean(found):.0f}, min {min(found)}, max {max(found)}")
    return timings


async def time_checks(store: EligibilityStore, args: argparse.Namespace) -> list[float]:
    rng = random.Random(17)
    timings = []
    for _ in range(args.queries):
        engineer = rng.randrange(args.engineers)
        outlet_index = engineer // args.engineers_per_outlet
        region = f"region-{outlet_index // args.outlets_per_region:03d}"
        qualification_type = rng.choice(QUALIFICATION_TYPES[: args.qualifications])
        started = time.perf_counter()
        found_holding = await store.holding_in_area("region", qualification_type, region, f"eng-{engineer:06d}")
        timings.append((time.perf_counter() - started) * 1000)
        assert found_holding is not None
    return timings


def report(label: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{label}: {len(ordered)} queries, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms", flush=True)


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


async def main() -> None:
    args = parse_args()
    client = AsyncMongoClient(args.mongo_uri, tz_aware=True)
    policy = WritePolicy()
    policy.single_writer = await is_ferretdb(client[args.database])
    db = SerialisedDatabase(client[args.database], policy)
    try:
        if not args.skip_seed:
            await client.drop_database(args.database)
            started = time.perf_counter()
            counts = await seed(db, args)
            print(f"seeding: {counts} in {time.perf_counter() - started:.0f} s, load average {load_average()}")
        store = EligibilityStore(db, args.shortlist)
        await time_listings(store, args, "outlet", 3)  # warm-up
        for area, seed_value in (("outlet", 11), ("region", 13)):
            report(f"{area} listing", await time_listings(store, args, area, seed_value))
            print(f"load average {load_average()}", flush=True)
        report("holding check", await time_checks(store, args))
        print(f"load average {load_average()}", flush=True)
    finally:
        if args.drop:
            await client.drop_database(args.database)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
