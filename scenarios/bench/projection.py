"""Time the running order-svc applying a burst of ``qualification.granted`` events.

``make bench`` measures the whole path at a fixed rate, and this script isolates order-svc's projection.
It produces ``engineer.registered`` for N made-up engineers (spread over 12 outlets in 6 regions) and
waits until order-svc has committed them. Then it produces N ``qualification.granted`` events at once
and stops the clock when the consumer group ``order-qualifications`` has committed every one, and
prints events per second. The ids are new in every run, so runs repeat on the same stack.

    uv run --frozen python -m scenarios.bench.projection --events 3000
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaProducer

from bangke_contracts.identity import EngineerRegistered, EngineerRegisteredPayload
from bangke_contracts.qualifications import QualificationGranted, QualificationGrantedPayload
from bangke_contracts.topics import IDENTITY_ENGINEERS, QUALIFICATIONS

from . import stack

QUALIFICATION_TYPES = (
    "ac_repair",
    "electric_water_heater_installation",
    "gas_water_heater_installation",
    "smart_lock_installation",
)
OUTLETS = 12
REGIONS = 6


def placement(run_id: str, index: int) -> tuple[str, str]:
    """Return the outlet and region of the engineer ``index`` of this run."""
    return f"probe-{run_id}-outlet-{index % OUTLETS}", f"probe-{run_id}-region-{index % REGIONS}"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="Engineers registered, and grants produced, one per engineer.")
    parser.add_argument("--timeout", type=float, default=900, help="Seconds to wait for order-svc in each step.")
    args = parser.parse_args()
    if args.events < 1:
        parser.error(f"--events must be at least 1, got {args.events}")
    if down := stack.stack_is_up():
        parser.error(f"the stack is not running ({', '.join(down)}); start it with `make up`")

    run_id = uuid.uuid4().hex[:6]
    producer = AIOKafkaProducer(bootstrap_servers=stack.KAFKA, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        for index in range(args.events):
            outlet_id, region_id = placement(run_id, index)
            registered = EngineerRegistered(
                producer="identity-svc",
                payload=EngineerRegisteredPayload(
                    engineer_id=f"probe-{run_id}-{index}", provider_id=f"probe-{run_id}", outlet_id=outlet_id,
                    region_id=region_id, name="测试工程师", id_number_sha256="0" * 64, registered_at=datetime.now(UTC),
                ),
            )
            await producer.send(IDENTITY_ENGINEERS, registered.model_dump_json().encode(), key=registered.key().encode())
        await producer.flush()
        waited = await stack.wait_for_groups({"order-engineers": [IDENTITY_ENGINEERS]}, args.timeout, "registrations", 0.2)
        print(f"{args.events} engineers registered in order-svc after {waited:.1f} s", flush=True)

        started = time.monotonic()
        for index in range(args.events):
            outlet_id, region_id = placement(run_id, index)
            granted = QualificationGranted(
                producer="qualification-svc",
                payload=QualificationGrantedPayload(
                    qualification_id=f"probe-{run_id}-q{index}", engineer_id=f"probe-{run_id}-{index}",
                    outlet_id=outlet_id, region_id=region_id, qualification_type=QUALIFICATION_TYPES[index % len(QUALIFICATION_TYPES)],
                    valid_until=date(2030, 1, 1), score=92, granted_at=datetime.now(UTC),
                ),
            )
            await producer.send(QUALIFICATIONS, granted.model_dump_json().encode(), key=granted.key().encode())
        await producer.flush()
        produced = time.monotonic() - started
        await stack.wait_for_groups({"order-qualifications": [QUALIFICATIONS]}, args.timeout, "grants", 0.1)
        elapsed = time.monotonic() - started
    finally:
        await producer.stop()

    print(
        f"{args.events} grants produced in {produced:.1f} s and applied in {elapsed:.1f} s: "
        f"{args.events / elapsed:.0f} events/s   (load average {stack.load_average()})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
