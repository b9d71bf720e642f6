"""The stack's commands: up, down, status, logs, and ensure_infra for the tests."""

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from contextlib import contextmanager
from dataclasses import dataclass

from bangke_stack import probes
from bangke_stack.build import BuildError, build_all
from bangke_stack.layout import (
    GATEWAY_URL,
    KAFKA_BOOTSTRAP,
    MONGO_URI,
    REPO_ROOT,
    S3_ACCESS_KEY,
    S3_ENDPOINT,
    S3_SECRET_KEY,
    Layout,
)
from bangke_stack.parts import ALL_PARTS, GATEWAY_PART, INFRA_PARTS, SERVICE_PARTS, Options, Part, find_part
from bangke_stack.process import (
    PidRecord, group_rss_kib, port_owner, read_pid, read_supervisor_state, spawn, stop_all, tail,
)

Echo = Callable[[str], None]

TOPICS_TIMEOUT_S = 60.0
PROGRESS_EVERY_S = 10.0


class StackError(RuntimeError):
    """A part of the stack could not be built or started; the message names it and its log."""


@dataclass
class _Launch:
    part: Part
    started_at: float
    process: subprocess.Popen[bytes] | None  # None when the part was already running
    last_reason: str = "not probed yet"


@contextmanager
def _locked(layout: Layout, echo: Echo) -> Iterator[None]:
    """Serialise stack commands, so two test sessions never start the same part twice."""
    layout.run.mkdir(parents=True, exist_ok=True)
    with (layout.run / "stack.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo("waiting for another stack command to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _log_files(layout: Layout, part: Part) -> list[Path]:
    files = [layout.log(part.name)]
    if part is GATEWAY_PART:
        files.append(layout.log("nginx-error"))
    return files


def _failure_report(layout: Layout, part: Part, reason: str) -> str:
    lines = [f"FAILED {part.name}: {reason}"]
    for log_file in _log_files(layout, part):
        lines.append(f"  log: {log_file}")
        lines.extend(f"    | {line}" for line in tail(log_file, 20, since_last_start=True).splitlines())
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _launch(layout: Layout, part: Part, options: Options, echo: Echo) -> _Launch:
    """Start ``part`` unless its pid file names a live process; raises StackError when its port is taken."""
    record = read_pid(layout.pid_file(part.name))
    if record is not None:
        echo(f"  {part.name}: already running (pid {record.pid})")
        return _Launch(part, time.monotonic(), None)
    owner = port_owner(part.port)
    if owner is not None:
        raise StackError(
            f"FAILED {part.name}: port {part.port} is already taken by {owner}, which this stack did not start; "
            f"stop that process and run the command again"
        )
    try:
        part.prepare(layout)
    except BuildError as error:
        raise StackError(f"FAILED {part.name}: {error}") from error
    env = {**os.environ, **part.env(layout, options)}
    process = spawn(
        part.command(layout), cwd=REPO_ROOT, env=env, log_file=layout.log(part.name),
        pid_file=layout.pid_file(part.name),
    )
    echo(f"  {part.name}: started (pid {process.pid}, port {part.port}, log {_relative(layout.log(part.name))})")
    return _Launch(part, time.monotonic(), process)


def _wait_ready(layout: Layout, launches: Sequence[_Launch], echo: Echo) -> list[str]:
    """Probe every launched part until it is ready, exits or passes its timeout; return failure reports."""
    pending = list(launches)
    failures: list[str] = []
    next_progress = time.monotonic() + PROGRESS_EVERY_S
    while pending:
        for launch in list(pending):
            part = launch.part
            elapsed = time.monotonic() - launch.started_at
            exit_code = launch.process.poll() if launch.process is not None else None
            if exit_code is None and launch.process is None and read_pid(layout.pid_file(part.name)) is None:
                exit_code = -1
            if exit_code is not None:
                layout.pid_file(part.name).unlink(missing_ok=True)
                failures.append(_failure_report(layout, part, f"process exited with code {exit_code} after {elapsed:.0f}s"))
                pending.remove(launch)
                continue
            reason = part.probe()
            if reason is None:
                echo(f"  {part.name}: ready after {elapsed:.1f}s")
                pending.remove(launch)
            elif elapsed > part.timeout_s:
                failures.append(
                    _failure_report(layout, part, f"not ready after {part.timeout_s:.0f}s; last probe: {reason}")
                )
                pending.remove(launch)
            else:
                launch.last_reason = reason
        if pending and time.monotonic() >= next_progress:
            waiting = "; ".join(
                f"{launch.part.name} ({time.monotonic() - launch.started_at:.0f}s/{launch.part.timeout_s:.0f}s: "
                f"{launch.last_reason})"
                for launch in pending
            )
            echo(f"  still waiting for {waiting}")
            next_progress = time.monotonic() + PROGRESS_EVERY_S
        if pending:
            time.sleep(0.5)
    return failures


def _start_parts(layout: Layout, parts: Sequence[Part], options: Options, echo: Echo) -> list[str]:
    launches: list[_Launch] = []
    failures: list[str] = []
    for part in parts:
        try:
            launches.append(_launch(layout, part, options, echo))
        except StackError as error:
            failures.append(str(error))
    failures.extend(_wait_ready(layout, launches, echo))
    return failures


def _topic_failures(echo: Echo) -> list[str]:
    """Create the Kafka topics; return the failure message in a list, or an empty list."""
    try:
        _create_topics(echo)
    except StackError as error:
        return [str(error)]
    return []


def _create_topics(echo: Echo) -> None:
    deadline = time.monotonic() + TOPICS_TIMEOUT_S
    while True:
        try:
            created = probes.ensure_topics(KAFKA_BOOTSTRAP)
        except Exception as error:  # noqa: BLE001 - any client error is retried until the deadline
            if time.monotonic() > deadline:
                raise StackError(
                    f"FAILED topics: could not create the Kafka topics within {TOPICS_TIMEOUT_S:.0f}s: {error!r}"
                ) from error
            time.sleep(1.0)
            continue
        echo(f"  topics: {len(created)} created" if created else "  topics: all present")
        return


def _build(layout: Layout, parts: Sequence[str], echo: Echo) -> None:
    try:
        build_all(layout, parts, echo=echo)
    except BuildError as error:
        raise StackError(f"FAILED build: {error}") from error


def build(layout: Layout | None = None, echo: Echo = print) -> None:
    """Fetch the Kafka jars and build FerretDB and versitygw, each only when missing."""
    layout = layout or Layout()
    with _locked(layout, echo):
        _build(layout, ("kafka", "ferretdb", "versitygw"), echo)


def up(options: Options, layout: Layout | None = None, echo: Echo = print) -> int:
    """Start every part that is not running and wait until all are ready; return the exit code."""
    layout = layout or Layout()
    started = time.monotonic()
    with _locked(layout, echo):
        layout.ensure_dirs()
        _build(layout, ("kafka", "ferretdb", "versitygw"), echo)
        echo("starting infrastructure and gateway")
        failures = _start_parts(layout, (*INFRA_PARTS, GATEWAY_PART), options, echo)
        if not failures:
            failures = _topic_failures(echo)
        if failures:
            echo("\n".join(failures))
            echo("infrastructure is not ready, so the services were not started; `make down` stops what did start")
            return 1
        echo("starting services")
        failures = _start_parts(layout, SERVICE_PARTS, options, echo)
    if failures:
        echo("\n".join(failures))
        echo(f"{len(failures)} part(s) failed; the others keep running (`make status`, `make down`)")
        return 1
    echo(_summary(layout, time.monotonic() - started, options))
    return 0


def _summary(layout: Layout, elapsed_s: float, options: Options) -> str:
    lines = [
        f"Bangke local stack is up ({elapsed_s:.0f}s).",
        f"  gateway        {GATEWAY_URL}",
        f"  API docs       {GATEWAY_URL}/api/<service>/docs  (OpenAPI: /api/<service>/openapi.json)",
    ]
    for part in SERVICE_PARTS:
        lines.append(f"  {part.name:<18} {part.urls['direct']}  docs {part.urls['docs']}")
    lines += [
        f"  kafka          {KAFKA_BOOTSTRAP}",
        f"  mongodb        {MONGO_URI}  (FerretDB)",
        f"  object storage http://{S3_ENDPOINT}  (versitygw, access key {S3_ACCESS_KEY})",
        f"  logs           {_relative(layout.logs)}  (`make logs PART=<name>`)",
    ]
    if options.demo_clock:
        lines.append(f"  demo clock     {_relative(layout.demo_clock)}  (write an ISO-8601 instant with offset)")
    lines.append("Stop with `make down`; data stays in .stack/data until `make clean`.")
    return "\n".join(lines)


def down(layout: Layout | None = None, echo: Echo = print) -> int:
    """Stop every part this stack started (services and gateway first, then infrastructure); keep the data."""
    layout = layout or Layout()
    with _locked(layout, echo):
        for group in ((*SERVICE_PARTS, GATEWAY_PART), INFRA_PARTS):
            records: dict[str, PidRecord] = {}
            for part in group:
                record = read_pid(layout.pid_file(part.name))
                if record is not None:
                    records[part.name] = record
            if not records:
                continue
            echo(f"stopping {', '.join(records)}")
            for name, outcome in stop_all(records).items():
                layout.pid_file(name).unlink(missing_ok=True)
                echo(f"  {name}: {outcome} (pid {records[name].pid})")
    echo("stack is down; data kept in " + _relative(layout.data))
    return 0


def status(layout: Layout | None = None, echo: Echo = print) -> int:
    """Print each part as up, down or foreign (its port taken by a process this stack did not start)."""
    layout = layout or Layout()
    echo(f"{'part':<20}{'state':<10}{'ready':<8}{'pid':>8}{'port':>7}{'rss MiB':>9}  detail")
    for part in ALL_PARTS:
        record = read_pid(layout.pid_file(part.name))
        reason = part.probe()
        ready = "yes" if reason is None else "no"
        if record is not None:
            rss = f"{group_rss_kib(record.pid) / 1024:.0f}"
            detail = reason or ""
            if part.supervised:
                detail = " ".join(filter(None, (_supervision(layout, part), detail)))
            echo(f"{part.name:<20}{'up':<10}{ready:<8}{record.pid:>8}{part.port:>7}{rss:>9}  {detail}")
            continue
        owner = port_owner(part.port)
        if owner is not None:
            echo(f"{part.name:<20}{'foreign':<10}{ready:<8}{'-':>8}{part.port:>7}{'-':>9}  port taken by {owner}")
        else:
            echo(f"{part.name:<20}{'down':<10}{'-':<8}{'-':>8}{part.port:>7}{'-':>9}")
    return 0


def _supervision(layout: Layout, part: Part) -> str:
    """Describe a supervised part's child and restarts for `status`: "child 123, 2 restarts (last: signal SIGKILL)"."""
    state = read_supervisor_state(layout.child_state(part.name))
    if state is None:
        return "supervisor starting"
    child = state["child"]
    text = f"child {child.pid}" if child is not None else "child down"
    restarts = state.get("restarts", 0)
    text += f", {restarts} restart{'s' if restarts != 1 else ''}"
    if restarts and state.get("last_exit"):
        text += f" (last: {state['last_exit']} at {state.get('last_restart_at')})"
    return text + ";"


def restart(part_name: str, options: Options | None = None, layout: Layout | None = None, echo: Echo = print) -> int:
    """Stop one part (SIGTERM to its group, SIGKILL after the grace time) and start it again; return the exit code.

    The fault suite restarts Kafka and FerretDB with it. For Kafka the topics are checked again
    afterwards. Services keep their own connections and must reconnect by themselves.
    """
    layout = layout or Layout()
    part = find_part(part_name)
    with _locked(layout, echo):
        record = read_pid(layout.pid_file(part.name))
        if record is not None:
            outcome = stop_all({part.name: record})[part.name]
            layout.pid_file(part.name).unlink(missing_ok=True)
            echo(f"  {part.name}: {outcome} (pid {record.pid})")
        failures = _start_parts(layout, (part,), options or Options(), echo)
        if not failures and part.name == "kafka":
            failures = _topic_failures(echo)
    if failures:
        echo("\n".join(failures))
        return 1
    return 0


def logs(part_name: str | None, lines: int, follow: bool, layout: Layout | None = None, echo: Echo = print) -> int:
    """Print the last ``lines`` lines of one part's log, or of every part's log; ``follow`` runs `tail -F`."""
    layout = layout or Layout()
    parts = [find_part(part_name)] if part_name else list(ALL_PARTS)
    files = [path for part in parts for path in _log_files(layout, part)]
    if part_name is None:
        files.append(layout.log("nginx-access"))
    if follow:
        existing = [str(path) for path in files if path.exists()]
        if not existing:
            echo(f"no log files yet in {layout.logs}")
            return 1
        return subprocess.call(["tail", "-n", str(lines), "-F", *existing])
    for path in files:
        if path.exists():
            echo(f"==> {_relative(path)} <==")
            echo(tail(path, lines))
    return 0


def ensure_infra(echo: Echo | None = None) -> dict[str, str]:
    """Start Kafka (with its topics), FerretDB and versitygw unless their probes pass; return their endpoints.

    A part whose probe passes is used as it is, even when this stack did not start it. Parts
    started here keep running after the caller exits, so the next test run finds them warm; `make
    down` stops them. Raises StackError naming the part and its log when one cannot be started.
    """
    layout = Layout()
    say: Echo = echo or (lambda message: print(message, file=sys.stderr))
    with _locked(layout, say):
        layout.ensure_dirs()
        missing = [part for part in INFRA_PARTS if part.probe() is not None]
        if missing:
            _build(layout, [part.build for part in missing if part.build], say)
            failures = _start_parts(layout, missing, Options(), say)
            if failures:
                raise StackError("\n".join(failures))
        _create_topics(say)
    return {
        "kafka_bootstrap": KAFKA_BOOTSTRAP,
        "mongo_uri": MONGO_URI,
        "s3_endpoint": S3_ENDPOINT,
        "s3_access_key": S3_ACCESS_KEY,
        "s3_secret_key": S3_SECRET_KEY,
    }
