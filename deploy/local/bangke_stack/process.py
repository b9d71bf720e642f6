"""Background processes of the stack: start, pid files, liveness, stop, memory and port owners.

Each part runs in its own session (process group) so that stopping it also stops any child it
spawned. A pid file contains the pid and the kernel start time of the process, so a recycled pid is
never taken for a part of the stack.
"""

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bangke_stack.supervisor import START_MARKER, start_ticks

STOP_GRACE_S = 20.0


@dataclass(frozen=True, slots=True)
class PidRecord:
    pid: int
    start_ticks: int


def read_pid(pid_file: Path) -> PidRecord | None:
    """Return the live process recorded in ``pid_file``; remove the file when that process is gone."""
    try:
        pid_text, ticks_text = pid_file.read_text().split()
        record = PidRecord(int(pid_text), int(ticks_text))
    except (FileNotFoundError, ValueError):
        return None
    if start_ticks(record.pid) != record.start_ticks:
        pid_file.unlink(missing_ok=True)
        return None
    return record


def read_supervisor_state(state_file: Path) -> dict | None:
    """Return the state a supervisor wrote (see supervisor.py), or None when there is none.

    ``child`` in the result is the live child's PidRecord, or None while the child is down (between
    an exit and its restart) or when the recorded pid now belongs to another process.
    """
    try:
        state = json.loads(state_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid, ticks = state.get("child_pid"), state.get("child_start_ticks")
    alive = pid is not None and ticks is not None and start_ticks(pid) == ticks
    state["child"] = PidRecord(pid, ticks) if alive else None
    return state


def spawn(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_file: Path, pid_file: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` detached in its own session, appending its output to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n{START_MARKER}{time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = start_ticks(proc.pid)
    pid_file.write_text(f"{proc.pid} {ticks if ticks is not None else 0}\n")
    return proc


def signal_group(record: PidRecord, sig: signal.Signals) -> None:
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(record.pid, sig)


def stop_all(records: Mapping[str, PidRecord], grace_s: float = STOP_GRACE_S) -> dict[str, str]:
    """Send SIGTERM to every group, wait up to ``grace_s``, then SIGKILL the ones left.

    Returns how each part ended: "stopped" or "killed".
    """
    for record in records.values():
        signal_group(record, signal.SIGTERM)
    outcome: dict[str, str] = {}
    deadline = time.monotonic() + grace_s
    pending = dict(records)
    while pending and time.monotonic() < deadline:
        for name, record in list(pending.items()):
            if start_ticks(record.pid) != record.start_ticks:
                outcome[name] = "stopped"
                del pending[name]
        time.sleep(0.2)
    for name, record in pending.items():
        signal_group(record, signal.SIGKILL)
        outcome[name] = "killed"
    return outcome


def group_rss_kib(pid: int) -> int:
    """Return the resident memory of every process in the group led by ``pid``, in KiB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pid:  # field 5: process group id
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def port_owner(port: int) -> str | None:
    """Describe the process listening on TCP ``port`` ("nginx pid 123"), "unknown process", or None when free."""
    try:
        output = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if not output.strip():
        return None
    match = re.search(r'\("([^"]+)",pid=(\d+)', output)
    if match is None:
        return "unknown process"
    return f"{match.group(1)} pid {match.group(2)}"



def tail(path: Path, lines: int = 30, since_last_start: bool = False) -> str:
    """Return the last ``lines`` lines of a text file, or a note when it does not exist.

    With ``since_last_start``, lines before the last start marker that :func:`spawn` writes are left
    out, so a failure report shows only the latest run.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    all_lines = text.splitlines()
    if since_last_start:
        starts = [index for index, line in enumerate(all_lines) if line.startswith(START_MARKER)]
        if starts:
            all_lines = all_lines[starts[-1] :]
    return "\n".join(all_lines[-lines:])
