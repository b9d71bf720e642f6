"""`make faults`: the demo once clean, once under faults, and the two final states compared.

1. The demo runs on the stack of `make up DEMO_CLOCK=1` without faults.
2. It runs again while the fault driver (driver.py) kills every service with SIGKILL at random
   moments, restarts Kafka and FerretDB once each, and produces duplicated and malformed messages.
   The supervisors of the stack restart the killed services; nothing else is done by hand.
3. Each run's final state (snapshot.py) is read once it stops changing and compared: it must be
   the same, event for event. Every malformed message must be in its topic's dead-letter topic once
   per consuming service, no effect may be recorded twice, and every service must return 200 from /readyz.

The demo's own output goes to a file per run; this prints the report. Exit 0 when all holds, 1
otherwise, 2 when the stack is not ready.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from scenarios.demo import run as demo_run

from .client import FaultGateway
from .driver import FaultDriver
from .kafka_io import all_events, dead_letters
from .snapshot import api_state, comparable, differences, duplicates_applied, event_counts
from .stack import KAFKA_BOOTSTRAP, LAYOUT, REPO, SERVICE_NAMES, ready_report, restart_counts, wait_ready

SETTLE_INTERVAL_S = 5.0
SETTLE_TIMEOUT_S = 120.0
DEAD_LETTER_TIMEOUT_S = 90.0


class FaultDemo(demo_run.Demo):
    """The demo with the fault suite's gateway client; it records the step in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.gateway = FaultGateway(demo_run.GATEWAY_URL)
        self.current_step = "preflight"


async def run_demo(demo: FaultDemo, on_steps_started: asyncio.Event | None = None) -> int:
    """Run the demo's steps as scenarios.demo.run.run does; return its exit code (0 when every check passed)."""
    started = time.monotonic()
    if not await demo.preflight():
        return 2
    if on_steps_started is not None:
        on_steps_started.set()
    for index, (name, method) in enumerate(demo_run.STEPS):
        demo.current_step = method
        try:
            with demo.step(name):
                await getattr(demo, method)()
        except demo_run.Abort as error:
            if not demo.report.blocked:
                demo.report.block(name, str(error))
            for later, _ in demo_run.STEPS[index + 1:]:
                demo.report.block(later, f"依赖前面的步骤「{name}」，未执行")
            break
    demo.current_step = "(after the demo)"
    return demo.report.finish(time.monotonic() - started, demo.gateway.requests)


@contextlib.contextmanager
def demo_output(path: Path):
    with path.open("w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
        yield


async def settled_state(demo: FaultDemo, echo) -> dict[str, Any]:
    """Read the run's state until two reads in a row agree (events may still be on their way)."""
    started = time.monotonic()
    deadline = started + SETTLE_TIMEOUT_S
    previous = await api_state(demo)
    reads = 1
    while True:
        await asyncio.sleep(SETTLE_INTERVAL_S)
        current = await api_state(demo)
        reads += 1
        if current == previous:
            echo(f"  final state read {reads} times until it stopped changing ({time.monotonic() - started:.0f}s)")
            return current
        if time.monotonic() > deadline:
            echo(f"  state still changing after {SETTLE_TIMEOUT_S:.0f}s; comparing the latest read")
            return current
        previous = current


def consumed_topics() -> dict[str, set[str]]:
    """Return each topic with the services that consume it, from the services' AsyncAPI documents."""
    consumers: dict[str, set[str]] = {}
    for path in sorted((REPO / "contracts" / "asyncapi").glob("*-svc.json")):
        document = json.loads(path.read_text())
        service = path.stem
        channels = document.get("channels", {})
        for operation in document.get("operations", {}).values():
            if operation.get("action") != "receive":
                continue
            channel = channels.get(operation["channel"]["$ref"].rsplit("/", 1)[-1], {})
            if channel.get("address"):
                consumers.setdefault(channel["address"], set()).add(service)
    return consumers


class Outcome:
    def __init__(self, echo) -> None:
        self.echo = echo
        self.failures: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.echo(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""))
        if not ok:
            self.failures.append(name)


async def suite(seed: int, extra_kills: int, out_dir: Path) -> int:
    stdout: TextIO = sys.stdout

    def echo(text: str) -> None:
        print(text, file=stdout, flush=True)

    started = time.monotonic()
    echo(f"Bangke fault suite: seed {seed} (repeat with --seed {seed}); demo output in {out_dir}")
    ready = await ready_report()
    if not all(ready.values()):
        missing = ", ".join(f"{name}-svc" for name, ok in ready.items() if not ok)
        echo(f"not ready: {missing}; start the stack with `make up DEMO_CLOCK=1`")
        return 2
    restarts_before = restart_counts()
    if any(not (LAYOUT.child_state(f"{name}-svc")).exists() for name in SERVICE_NAMES):
        echo("the services run without supervisors; restart the stack with `make down && make up DEMO_CLOCK=1`")
        return 2
    consumers = consumed_topics()

    echo("\n== 1. clean run ==")
    clean = FaultDemo()
    clean_started = time.monotonic()
    with demo_output(out_dir / "clean-demo.txt"):
        clean_code = await run_demo(clean)
    echo(f"  demo exit {clean_code} after {time.monotonic() - clean_started:.0f}s "
         f"({sum(c.passed for c in clean.report.checks)}/{len(clean.report.checks)} checks passed, run {clean.run_id})")
    if clean_code == 2:
        echo("  the stack was not ready for the demo")
        return 2
    clean_state = await settled_state(clean, echo)
    await clean.gateway.close()

    echo("\n== 2. fault run ==")
    faulty = FaultDemo()
    steps_started = asyncio.Event()
    demo_task = asyncio.create_task(_in_file(run_demo(faulty, steps_started), out_dir / "fault-demo.txt"))
    await asyncio.wait([demo_task, asyncio.create_task(steps_started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not steps_started.is_set():
        echo(f"  the demo stopped in its preflight (exit {demo_task.result()}); see {out_dir / 'fault-demo.txt'}")
        return 2
    driver = FaultDriver(seed, faulty.gateway, lambda: faulty.current_step, faulty,
                         sorted(consumers), extra_kills=extra_kills, echo=echo)
    echo("  plan: " + ", ".join(f"{action} {target}" for action, target in driver.plan))
    driver_task = asyncio.create_task(driver.run())
    fault_code = await demo_task
    demo_s = time.monotonic() - driver.started
    echo(f"  demo exit {fault_code} after {demo_s:.0f}s "
         f"({sum(c.passed for c in faulty.report.checks)}/{len(faulty.report.checks)} checks passed, run {faulty.run_id})")
    if not driver_task.done():
        echo("  the demo ended before the driver; the remaining actions run now")
    await driver_task
    everyone_ready = await wait_ready(SERVICE_NAMES, 180.0)
    fault_state = await settled_state(faulty, echo)
    await faulty.gateway.close()

    echo("\n== 3. comparison ==")
    messages = await all_events(KAFKA_BOOTSTRAP)
    clean_events, clean_copies = event_counts(clean, messages)
    fault_events, fault_copies = event_counts(faulty, messages)
    outcome = Outcome(echo)
    outcome.check("clean demo: every check passed", clean_code == 0, f"exit {clean_code}")
    outcome.check("fault demo: every check passed", fault_code == 0,
                  f"exit {fault_code}" + _failed_checks(faulty))
    diffs = differences(comparable(clean_state), comparable(fault_state))
    outcome.check("final state identical (certificates, reviews, qualifications, exams, reminders, orders)",
                  not diffs, f"{len(diffs)} differences" if diffs else
                  f"{len(fault_state['engineers'])} engineers, {len(fault_state['orders'])} orders")
    for line in diffs[:40]:
        echo(f"      {line}")
    event_diffs = differences(clean_events, fault_events)
    outcome.check("events per topic and type identical (distinct event ids)", not event_diffs,
                  f"{sum(fault_events.values())} events in {len(fault_events)} topic/type pairs" if not event_diffs
                  else "; ".join(event_diffs[:20]))
    echo(f"      copies beyond one per event id in the fault run: {_extra_copies(fault_events, fault_copies) or 'none'} "
         f"(clean run: {_extra_copies(clean_events, clean_copies) or 'none'})")
    applied_twice = duplicates_applied(fault_state)
    outcome.check("no effect recorded twice (decisions, job log, exam results, grants, reminders)",
                  not applied_twice, "; ".join(applied_twice[:10]))
    await _check_dead_letters(driver, consumers, outcome)
    outcome.check("no HTTP write with an unknown outcome", not faulty.gateway.ambiguous,
                  "; ".join(faulty.gateway.ambiguous[:10]))
    restarts_after = restart_counts()
    kills: dict[str, int] = {}
    for record in driver.records:
        if record.action == "kill" and record.ok:
            kills[record.target.removesuffix("-svc")] = kills.get(record.target.removesuffix("-svc"), 0) + 1
    restarted = {name: restarts_after[name] - restarts_before[name] for name in SERVICE_NAMES}
    outcome.check("each kill restarted by the supervisor", all(restarted[n] == kills.get(n, 0) for n in SERVICE_NAMES),
                  ", ".join(f"{n} {kills.get(n, 0)} killed/{restarted[n]} restarted" for n in SERVICE_NAMES))
    outcome.check("every fault action done and recovered", all(r.ok for r in driver.records),
                  "; ".join(f"{r.action} {r.target} {r.detail}" for r in driver.records if not r.ok))
    kill_count = sum(kills.values())
    outcome.check("at least five kills covering every service", kill_count >= 5 and set(kills) == set(SERVICE_NAMES),
                  f"{kill_count} kills")
    final_ready = await ready_report()
    outcome.check("every service answers /readyz at the end", everyone_ready is not None and all(final_ready.values()),
                  ", ".join(f"{n} {'ready' if ok else 'NOT READY'}" for n, ok in final_ready.items()))

    _print_faults(echo, driver)
    retries = faulty.gateway.retries
    echo("\n== client retries in the fault run (service, reason: attempts) ==")
    echo("  " + (", ".join(f"{s} {r}: {n}" for (s, r), n in sorted(retries.items())) or "none"))
    echo(f"\nclean run {clean_code == 0 and 'passed' or 'failed'}, fault run demo {demo_s:.0f}s, "
         f"whole suite {time.monotonic() - started:.0f}s, seed {seed}")
    (out_dir / "states.json").write_text(json.dumps({"clean": clean_state, "fault": fault_state,
                                                     "clean_events": clean_events, "fault_events": fault_events},
                                                    ensure_ascii=False, indent=1, sort_keys=True))
    if outcome.failures:
        echo(f"RESULT: FAILED ({len(outcome.failures)}): " + "; ".join(outcome.failures))
        return 1
    echo("RESULT: PASSED: the fault run ended in the same state as the clean run")
    return 0


def _extra_copies(events: dict[str, int], copies: dict[str, int]) -> dict[str, int]:
    return {name: copies[name] - events.get(name, 0) for name in copies
            if copies[name] > events.get(name, 0) and not name.endswith("(certificates)")}


async def _in_file(coroutine, path: Path) -> int:
    with demo_output(path):
        return await coroutine


def _failed_checks(demo: FaultDemo) -> str:
    failed = [f"[{c.section}] {c.name}" for c in demo.report.checks if not c.passed]
    failed += [f"blocked: {step}: {reason}" for step, reason in demo.report.blocked]
    return ("; failed: " + "; ".join(failed[:8])) if failed else ""


async def _check_dead_letters(driver: FaultDriver, consumers: dict[str, set[str]], outcome: Outcome) -> None:
    """Every malformed message must reach <topic>.dlq once from each service that consumes the topic."""
    expected = driver.injections.malformed
    deadline = time.monotonic() + DEAD_LETTER_TIMEOUT_S
    while True:
        letters = await dead_letters(KAFKA_BOOTSTRAP)
        by_value: dict[tuple[str, bytes], list[str]] = {}
        for letter in letters:
            original = letter.header("x-original-topic") or letter.topic.removesuffix(".dlq")
            by_value.setdefault((original, letter.value), []).append(letter.header("x-dead-letter-service") or "?")
        missing = []
        for topic, kind, value in expected:
            services = sorted(by_value.get((topic, value), []))
            want = sorted(consumers.get(topic, set()))
            if services != want:
                missing.append(f"{topic} {kind}: dead-lettered by {services or 'nobody'}, expected {want}")
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(3.0)
    outcome.check("every malformed message in <topic>.dlq once per consuming service", bool(expected) and not missing,
                  f"{len(expected)} messages to {len({t for t, _, _ in expected})} topics" if not missing
                  else "; ".join(missing[:10]))


def _print_faults(echo, driver: FaultDriver) -> None:
    echo("\n== kill points and other faults (time since the fault run started) ==")
    echo(f"  {'at':>7}  {'action':<10} {'target':<20} {'demo step':<22} {'back in':>8}  detail")
    for record in driver.records:
        back = f"{record.recovered_s:.1f}s" if record.recovered_s is not None else "-"
        echo(f"  {record.at_s:6.1f}s  {record.action:<10} {record.target:<20} {record.step:<22} {back:>8}  "
             f"{record.detail}{'' if record.ok else '  [FAILED]'}")
    if driver.injections.duplicates:
        echo("  duplicated messages: " + ", ".join(
            f"{m.topic}#{m.partition}@{m.offset}" for m in driver.injections.duplicates))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault plan (default: drawn and printed)")
    parser.add_argument("--extra-kills", type=int, default=2, help="kills beyond one per service (default 2)")
    args = parser.parse_args(argv)
    # The stack's probes expect "connection refused" while Kafka restarts; aiokafka would log each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    out_dir = LAYOUT.logs / "faults" / datetime.now().strftime("%Y%m%dT%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(suite(seed, args.extra_kills, out_dir))


if __name__ == "__main__":
    sys.exit(main())
