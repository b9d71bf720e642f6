"""Bring up the whole compose stack, check every service through the gateway, take it down.

Runs only with BANGKE_COMPOSE_SMOKE=1. With Docker (``docker compose`` and a running engine) it uses
deploy/compose/compose.yaml and builds the service images. Otherwise it builds the local images with
deploy/images/build.sh and runs deploy/compose/podman-compose.sh. BANGKE_COMPOSE_ENGINE
(``docker`` or ``podman``) forces one. The stack gets its own project name and a free gateway port on
127.0.0.1, so it runs beside a developer's stack.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
SERVICES = ("identity", "certificate", "review", "qualification", "exam", "order")
READY_TIMEOUT_S = float(os.environ.get("BANGKE_COMPOSE_READY_TIMEOUT_S", "240"))
COMMAND_TIMEOUT_S = 900

pytestmark = [
    pytest.mark.compose,
    pytest.mark.timeout(COMMAND_TIMEOUT_S + READY_TIMEOUT_S + 120),
    pytest.mark.skipif(os.environ.get("BANGKE_COMPOSE_SMOKE") != "1", reason="set BANGKE_COMPOSE_SMOKE=1 to run"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


def _compose_command(project: str) -> tuple[str, list[str]]:
    engine = os.environ.get("BANGKE_COMPOSE_ENGINE") or ("docker" if _docker_compose_works() else "podman")
    if engine == "docker":
        return engine, ["docker", "compose", "-f", str(COMPOSE_DIR / "compose.yaml"), "-p", project]
    if engine == "podman":
        return engine, [str(COMPOSE_DIR / "podman-compose.sh"), "-p", project]
    raise ValueError(f"BANGKE_COMPOSE_ENGINE={engine!r} is invalid: use docker or podman")


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)} exited with {result.returncode}:\n{result.stderr[-4000:]}"


def _wait_ready(client: httpx.Client, path: str) -> httpx.Response:
    deadline = time.monotonic() + READY_TIMEOUT_S
    response: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            response = client.get(path)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(2)
    detail = f"{response.status_code} {response.text[:500]}" if response is not None else "no response"
    pytest.fail(f"{path} not ready within {READY_TIMEOUT_S:.0f} s: {detail}")


def test_compose_stack_ready_through_gateway() -> None:
    project = f"bangke-smoke-{os.getpid()}"
    engine, compose = _compose_command(project)
    gateway_port = _free_port()
    env = dict(os.environ, BANGKE_COMPOSE_GATEWAY_PORT=str(gateway_port))

    if engine == "podman":
        _run([str(REPO_ROOT / "deploy" / "images" / "build.sh")], env)
        up = [*compose, "up", "-d", "--no-build"]
    else:
        up = [*compose, "up", "-d", "--build"]

    try:
        _run(up, env)
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=5) as client:
            _wait_ready(client, "/healthz")
            for service in SERVICES:
                response = _wait_ready(client, f"/api/{service}/readyz")
                assert response.json()["status"] == "ready", f"{service}: {response.text}"
            jwks = _wait_ready(client, "/auth/.well-known/jwks.json")
            assert jwks.json()["keys"], "identity-svc published no signing key"
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, cwd=REPO_ROOT, capture_output=True,
                       timeout=COMMAND_TIMEOUT_S, check=False)
