"""The service supervisor of the local stack: restart after kill -9, clean stop, giving up on a crash loop.

Run with `uv run --frozen pytest deploy/local/tests -q` (a few seconds; no server needed).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUPERVISOR = Path(__file__).resolve().parents[1] / "bangke_stack" / "supervisor.py"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def start(tmp_path: Path, child: list[str], *options: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    state = tmp_path / "part.child"
    log = tmp_path / "part.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, str(SUPERVISOR), "--name", "demo-svc", "--state", str(state), *options, "--", *child],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return process, state, log


def wait_for(condition, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def read_state(state: Path) -> dict | None:
    try:
        return json.loads(state.read_text())
    except (FileNotFoundError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


@pytest.fixture
def cleanup():
    groups: list[int] = []
    yield groups
    for pid in groups:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_killed_child_restarted_and_counted(tmp_path: Path, cleanup: list[int]) -> None:
    process, state, log = start(tmp_path, SLEEPER, "--first-delay", "0.1")
    cleanup.append(process.pid)
    first = wait_for(lambda: (read_state(state) or {}).get("child_pid"))

    os.kill(first, signal.SIGKILL)

    second = wait_for(lambda: (s := read_state(state)) and s["restarts"] == 1 and s["child_pid"] not in (None, first)
                      and s["child_pid"])
    assert alive(second)
    assert read_state(state)["last_exit"] == "signal SIGKILL"
    text = log.read_text()
    assert f"child pid {first} exited (signal SIGKILL)" in text
    assert text.count("=== ") == 2  # the restart notice and the new start, each with the start marker
    assert process.poll() is None


def test_group_sigterm_stops_both(tmp_path: Path, cleanup: list[int]) -> None:
    process, state, _ = start(tmp_path, SLEEPER)
    cleanup.append(process.pid)
    child = wait_for(lambda: (read_state(state) or {}).get("child_pid"))

    os.killpg(process.pid, signal.SIGTERM)  # what `make down` does

    assert process.wait(timeout=10) == 0
    assert not alive(child)
    assert not state.exists()


def test_crash_loop_gives_up(tmp_path: Path, cleanup: list[int]) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    process, state, log = start(tmp_path, failing, "--first-delay", "0.01", "--max-delay", "0.05", "--give-up-after", "3")
    cleanup.append(process.pid)

    assert process.wait(timeout=20) == 3
    assert read_state(state)["restarts"] == 2
    assert "3 times in a row" in log.read_text()
