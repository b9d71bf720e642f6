"""An nginx gateway for tests, routed to services that the test started on free ports.

It uses the same configuration generator as the local stack, so the routing under test is the
routing that ships.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .services import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))

from bangke_stack.config import render_nginx_conf  # noqa: E402


class TestGateway:
    __test__ = False

    def __init__(self, upstreams: dict[str, int], directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        (directory / "tmp").mkdir(parents=True, exist_ok=True)
        self.access_log = directory / "access.log"
        self.config = directory / "nginx.conf"
        self.config.write_text(
            render_nginx_conf(
                listen=f"127.0.0.1:{self.port}",
                upstreams=upstreams,
                pid_file=directory / "nginx.pid",
                error_log=directory / "error.log",
                access_log=self.access_log,
                temp_dir=directory / "tmp",
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.config), "-p", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("wb"),
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.directory / 'stderr.log').read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"nginx did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
