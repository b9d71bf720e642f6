"""Run services for tests: in-process on a free port, or as a child process that a test may kill."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bangke_runtime.runtime import Runtime
from bangke_runtime.settings import ServiceSettings

BuildFunction = Callable[[Any], tuple[Runtime, FastAPI]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class InProcessService:
    """A service's FastAPI app served by uvicorn inside the test's event loop."""

    def __init__(self, build: BuildFunction, settings: ServiceSettings) -> None:
        self.settings = settings
        self.runtime, self.app = build(settings)
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=settings.http_port, log_config=None, lifespan="on")
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    @property
    def prefix(self) -> str:
        return f"/api/{self.settings.service_name.removesuffix('-svc')}"

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url + self.prefix, timeout=30.0, **kwargs)

    async def start(self, timeout_s: float = 60.0) -> None:
        self._task = asyncio.create_task(self._server.serve())
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._server.started:
            if self._task.done():
                self._task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.settings.service_name} did not start in {timeout_s} s")
            await asyncio.sleep(0.05)
        await self.runtime.wait_started(timeout_s)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait_for(self._task, timeout=30)
        self._task = None


class ChildService:
    """A service started as ``python -m <package>`` in a child process, for crash tests."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=self.env, stdout=log_file, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        """Kill the process with SIGKILL: no shutdown hook, no commit, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def settings_env(settings: ServiceSettings) -> dict[str, str]:
    """Render settings as the BANGKE_* environment a child process reads."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"BANGKE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env
