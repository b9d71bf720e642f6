"""Figures of one run as Markdown, printed and written between the markers of docs/benchmarks.md."""

import math
from typing import Any

from . import stack

DOC = stack.ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:latest-run:begin -->"
END = "<!-- bench:latest-run:end -->"
LATENCY_TARGET_MS = 250.0
MEMORY_TARGET_MIB = 200.0


def _ms(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.0f} ms"


def memory_table(
    sampler: stack.MemorySampler, run_start: float, run_end: float, after_start: float, after_end: float
) -> list[tuple[str, float | None, float | None]]:
    """(part, peak RSS during the run, RSS after it) in MiB."""
    return [
        (part, sampler.peak(part, run_start, run_end), sampler.peak(part, after_start, after_end))
        for part in stack.SERVICES + stack.INFRA
    ]


def render(
    context: dict[str, Any], summary: dict[str, Any], memory: list[tuple[str, float | None, float | None]], restarted: set[str]
) -> str:
    lines: list[str] = []
    add = lines.append
    p99 = summary["p99_ms"]
    met = not math.isnan(p99) and p99 < LATENCY_TARGET_MS and summary["never_completed_measured"] == 0
    add(f"Command: `{context['command']}`, run {context['date']} on {context['machine']}.")
    add("")
    others = ", ".join(context["other_activity"]) or "nothing else found"
    add(
        f"Load average (1, 5, 15 min) before seeding {context['load_before']}, at the start of the measured run "
        f"{context['load_at_start']}, at its end {context['load_at_end']}. Other processes loading the machine: {others}. "
        f"Demo clock file: {'empty (wall clock)' if not context['clock_override_after'] else context['clock_override_after']}."
    )
    if restarted:
        add(f"WARNING: these parts were restarted during the run, so their figures are partial: {', '.join(sorted(restarted))}.")
    add("")
    add(f"Seeding took {context['seed_s']:.0f} s; engineers not in the expected state afterwards: {context['seed_problems']}.")
    add("")
    add("| seeding step | seconds |")
    add("| --- | --- |")
    for step, seconds in context["seed_timings"].items():
        add(f"| {step} | {seconds:.0f} |" if "retries" not in step else f"| {step} (count) | {seconds:.0f} |")
    add("")
    add(
        f"Input: {summary['events_sent']} `certificate.took_effect` events at {context['rate']:.0f}/s, open loop "
        f"({context['warm_up']:.0f} s warm-up, {context['duration']:.0f} s measured, up to {context['grace']:.0f} s grace). "
        f"Producer send lag behind schedule, p99: {_ms(summary['producer_send_lag_p99_ms'])}."
    )
    add("")
    add("| figure | value | target |")
    add("| --- | --- | --- |")
    add(f"| latency p50 (certificate took effect to eligible in order-svc) | {_ms(summary['p50_ms'])} | |")
    add(f"| latency p99 | {_ms(p99)} | under {LATENCY_TARGET_MS:.0f} ms: {'met' if met else 'MISSED'} |")
    add(f"| latency max | {_ms(summary['max_ms'])} | |")
    add(f"| events measured (after warm-up) | {summary['measured_events']} | |")
    add(f"| of which completed within the run and grace | {summary['completed']} | |")
    add(f"| never completed (all events, warm-up included) | {summary['never_completed']} | 0 |")
    add(f"| of which never granted by qualification-svc | {summary['never_granted']} | |")
    add(f"| of which stored by order-svc only after the grace period | {summary['stored_after_grace']} | |")
    add(f"| completions per second inside the measured window | {summary['throughput_in_window']:.1f} | {context['rate']:.0f} |")
    add(f"| completions per second, first measured send to last completion | {summary['throughput_overall']:.1f} | {context['rate']:.0f} |")
    add("")
    add("Where the time goes, for completed events (p50 / p99 / max):")
    add("")
    add("| hop | p50 | p99 | max |")
    add("| --- | --- | --- | --- |")
    hops = [("event scheduled → `qualification.granted` on Kafka (qualification-svc and its outbox relay)", "hop_to_published_ms")]
    if not context["clock_override_before"] and not context["clock_override_after"]:
        # granted_at is the service clock; with a demo clock set it is not comparable to the wall clock.
        hops += [
            ("of which: event scheduled → qualification-svc handler starts (Kafka delivery and consumer queue)", "hop_to_handler_ms"),
            ("of which: handler starts → `qualification.granted` on Kafka (load, store, outbox relay)", "hop_handler_to_published_ms"),
        ]
    hops.append(("`qualification.granted` on Kafka → order-svc eligibility stored (includes up to 10 ms polling)", "hop_published_to_stored_ms"))
    for label, name in hops:
        h = summary[name]
        add(f"| {label} | {_ms(h['p50'])} | {_ms(h['p99'])} | {_ms(h['max'])} |")
    add("")
    add(
        f"Completion reads: {summary['polls']} `_id` `$in` reads of outlet entries in order-svc's database, one every "
        f"10 ms while events wait; events found stored while an older one of their partition waited: "
        f"{summary.get('settled_ahead', 0)}; heads skipped as stuck: {summary['stuck_skipped']}."
    )
    add("")
    add("Resident memory (MiB), sampled every second:")
    add("")
    add(f"| part | peak during the run | after the run | target |")
    add("| --- | --- | --- | --- |")
    for part, during, after in memory:
        target = f"under {MEMORY_TARGET_MIB:.0f}" if part in stack.SERVICES else "(context)"
        verdict = ""
        if part in stack.SERVICES and during is not None:
            verdict = ": met" if max(during, after or 0) < MEMORY_TARGET_MIB else ": MISSED"
        fmt = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
        add(f"| {part} | {fmt(during)} | {fmt(after)} | {target}{verdict} |")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    """Replace the latest-run section of docs/benchmarks.md, keeping the prose around it."""
    block = f"{BEGIN}\n{text}\n{END}"
    if DOC.exists():
        current = DOC.read_text()
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            _old, tail = rest.split(END, 1)
            DOC.write_text(head + block + tail)
            return
        DOC.write_text(current.rstrip() + "\n\n## Latest run\n\n" + block + "\n")
        return
    DOC.write_text("# Benchmarks of the whole platform\n\n## Latest run\n\n" + block + "\n")
