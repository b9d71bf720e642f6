"""Keep one service process running: restart it after an unexpected exit, with backoff.

    python supervisor.py --name identity-svc --state .stack/run/identity-svc.child -- python -m identity_svc

The stack starts this script in a new session in place of the service, so the pid file names the
supervisor. `down` signals the whole process group, so the supervisor and its child both get
SIGTERM. The supervisor then waits for the child and exits without restarting it. The child gets no
session of its own, because it must stay in the supervisor's process group.

The state file contains one JSON object, rewritten at each change: the child's pid and kernel start
time (so a recycled pid is never taken for the child), the number of restarts, and the time and
exit status of the latest one. `make status` shows it and the fault suite reads the child's pid from
it. Each restart is logged to the supervisor's stdout, which is the part's log, with the same start
marker as a first start, so a failure report shows the latest run only.

Backoff: the first restart waits ``--first-delay`` seconds, each quick exit in a row doubles the
wait up to ``--max-delay``; a child that ran at least ``--steady-after`` seconds counts as healthy
and resets it. After ``--give-up-after`` quick exits in a row the supervisor exits with the child's
status, so a service that cannot start at all fails `make up` instead of looping for ever.

Only the standard library is used, so it runs with any Python 3.11 interpreter.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

START_MARKER = "=== "
"""Begins the line of each start in a part's log; a failure report shows the log from the last one."""


def start_ticks(pid: int) -> int | None:
    """Return the start time of ``pid`` in clock ticks since boot, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses, so split after its last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _say(name: str, text: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    sys.stdout.write(f"{START_MARKER}{stamp} supervisor {name}: {text}\n")
    sys.stdout.flush()


def describe_exit(code: int) -> str:
    """Describe a Popen return code: "exit 3", or "signal SIGKILL" for a negative one."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


class Supervisor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.command: list[str] = args.command
        self.state_file = Path(args.state)
        self.first_delay: float = args.first_delay
        self.max_delay: float = args.max_delay
        self.steady_after: float = args.steady_after
        self.give_up_after: int = args.give_up_after
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restarts = 0
        self.last_exit: str | None = None
        self.last_restart_at: str | None = None

    def _write_state(self) -> None:
        child = self.child
        state = {
            "supervisor_pid": os.getpid(),
            "child_pid": child.pid if child is not None and child.returncode is None else None,
            "child_start_ticks": start_ticks(child.pid) if child is not None and child.returncode is None else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_restart_at": self.last_restart_at,
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state) + "\n")
        temporary.replace(self.state_file)

    def _on_signal(self, signum: int, _frame: object) -> None:
        # `down` signals the whole group, so the child usually has the signal already. Passing it on
        # covers a signal sent to the supervisor alone.
        self.stopping = True
        if self.child is not None and self.child.returncode is None:
            try:
                self.child.send_signal(signum)
            except ProcessLookupError:
                pass

    def _spawn(self) -> None:
        self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        self._write_state()

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        delay = self.first_delay
        quick_exits = 0
        self._spawn()
        while True:
            assert self.child is not None
            started = time.monotonic()
            code = self.child.wait()
            ran_s = time.monotonic() - started
            self.last_exit = describe_exit(code)
            if self.stopping:
                self._write_state()
                self.state_file.unlink(missing_ok=True)
                return 0
            if ran_s >= self.steady_after:
                delay, quick_exits = self.first_delay, 0
            else:
                quick_exits += 1
            if quick_exits >= self.give_up_after:
                _say(self.name, f"child exited ({self.last_exit}) {quick_exits} times in a row within "
                                f"{self.steady_after:.0f}s of starting; giving up")
                self._write_state()
                return code if code > 0 else 1
            _say(self.name, f"child pid {self.child.pid} exited ({self.last_exit}) after {ran_s:.1f}s; "
                            f"restarting in {delay:.1f}s (restart {self.restarts + 1})")
            self._write_state()
            deadline = time.monotonic() + delay
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.stopping:
                self.state_file.unlink(missing_ok=True)
                return 0
            self.restarts += 1
            self.last_restart_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            _say(self.name, f"starting: {' '.join(self.command)}")
            self._spawn()
            if quick_exits:
                delay = min(delay * 2, self.max_delay)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Restart a child process after an unexpected exit.")
    parser.add_argument("--name", required=True, help="part name, used in the log lines")
    parser.add_argument("--state", required=True, help="JSON file with the child's pid and the restart count")
    parser.add_argument("--first-delay", type=float, default=0.5, help="wait before the first restart, in seconds")
    parser.add_argument("--max-delay", type=float, default=10.0, help="maximum wait between restarts, in seconds")
    parser.add_argument("--steady-after", type=float, default=10.0, help="a child that runs this many seconds resets the backoff")
    parser.add_argument("--give-up-after", type=int, default=8, help="exit after this many quick child exits in a row")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given after --")
    return args


def main(argv: list[str] | None = None) -> int:
    return Supervisor(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
