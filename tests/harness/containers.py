"""Start Kafka, a MongoDB-compatible server and S3 object storage in containers for the integration tests.

The engine is Docker when a Docker-compatible API responds to a ping (``DOCKER_HOST`` or
``/var/run/docker.sock``), else Podman. With Podman this module starts ``podman system service`` on a
socket under ``.stack/podman`` and stops it at the end. ``BANGKE_CONTAINER_ENGINE`` (``auto``, ``docker`` or ``podman``) forces one.

Images are settings. On Podman the defaults are the local images that ``deploy/images/build.sh infra``
builds (names in ``deploy/images/images.env``); on Docker they are the official images. Each is
overridden by ``BANGKE_KAFKA_IMAGE``, ``BANGKE_MONGO_IMAGE`` and ``BANGKE_S3_IMAGE``. The image name selects
how a server is started: a name containing ``ferretdb`` or ``versitygw`` gets those servers' options,
any other name the options of ``mongo`` and ``minio``.

Ports are published on 127.0.0.1 only, on host ports that the engine picks. The containers are removed
when the context exits, at interpreter exit, and on SIGINT, SIGTERM or SIGHUP, because the Ryuk reaper
of testcontainers cannot run without a registry.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket as socket_module
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .infra_types import Infra

log = logging.getLogger("bangke.tests")

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO_ROOT / "deploy" / "images"
STACK_DIR = Path(os.environ.get("BANGKE_STACK_DIR", REPO_ROOT / ".stack"))

# Podman on hosts without systemd and with cgroup v1 needs runc and cgroupfs; see that file.
PODMAN_CONF = IMAGES_DIR / "containers.conf"

DOCKER_DEFAULT_IMAGES = {
    "BANGKE_KAFKA_IMAGE": "apache/kafka:4.1.1",
    "BANGKE_MONGO_IMAGE": "mongo:7.0",
    # NOTE: minio tags are release dates; pin one that the Docker host can pull.
    "BANGKE_S3_IMAGE": "minio/minio:latest",
}

# Start command of the Kafka broker in each image; the harness runs it once the advertised listener is known.
KAFKA_START_COMMANDS = {
    "apache/kafka": "/etc/kafka/docker/run",
    "default": "/opt/kafka/bin/start-kafka",
}
ADVERTISED_FILE = "/tmp/bangke-advertised-listeners"

S3_ACCESS_KEY = "bangke-test"
S3_SECRET_KEY = "bangke-test-secret"

LABEL_SESSION = "io.bangke.test-session"
LABEL_OWNER_PID = "io.bangke.test-owner-pid"
LABEL_OWNER_HOST = "io.bangke.test-owner-host"

ENGINE_PING_TIMEOUT_S = 3
SOCKET_START_TIMEOUT_S = 20
CONTAINER_START_TIMEOUT_S = float(os.environ.get("BANGKE_CONTAINER_START_TIMEOUT_S", "120"))


@dataclass(frozen=True, slots=True)
class Engine:
    """A container engine reachable through the Docker API."""

    kind: str
    """"docker" or "podman"."""
    docker_host: str | None
    """Value for DOCKER_HOST, or None for the default socket /var/run/docker.sock."""


def containers_available() -> str | None:
    """Return "docker" or "podman" when containers can be started here, else None.

    Podman counts only when the local images exist, because no registry serves them. Takes about a
    second and leaves nothing running.
    """
    choice = os.environ.get("BANGKE_CONTAINER_ENGINE", "auto")
    if choice not in ("auto", "docker", "podman"):
        raise ValueError(f"BANGKE_CONTAINER_ENGINE={choice!r} is invalid: use auto, docker or podman")

    if choice in ("auto", "docker"):
        engine = _find_docker_api()
        if engine is not None:
            return engine.kind
    if choice in ("auto", "podman") and _podman_works():
        missing = [image for image in _images("podman").values() if not _podman_image_exists(image)]
        if not missing:
            return "podman"
        log.warning(
            "podman works but images are missing (%s); build them with deploy/images/build.sh infra",
            ", ".join(missing),
        )
    return None


@contextlib.contextmanager
def provision_containers() -> Iterator[Infra]:
    """Start Kafka, MongoDB (or FerretDB) and S3 storage, yield their endpoints, then remove them."""
    kind = containers_available()
    if kind is None:
        raise RuntimeError(
            "no container engine works: start Docker, or install Podman and build the images with "
            "deploy/images/build.sh --install infra"
        )

    cleanup = _Cleanup()
    cleanup.install()
    try:
        engine = _find_docker_api()
        if engine is None:
            engine = _start_podman_service(cleanup)
        saved_environment = {key: os.environ.get(key) for key in TESTCONTAINERS_ENV}
        cleanup.add_last(lambda: _restore_environment(saved_environment))
        _configure_testcontainers(engine)
        _remove_stale_containers(engine)
        images = _images(engine.kind)
        log.warning("starting test containers on %s (%s)", engine.kind, ", ".join(images.values()))

        session = uuid.uuid4().hex[:12]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="container-start") as pool:
            kafka = pool.submit(_start_kafka, images["BANGKE_KAFKA_IMAGE"], session, cleanup)
            mongo = pool.submit(_start_mongo, images["BANGKE_MONGO_IMAGE"], session, cleanup)
            s3 = pool.submit(_start_s3, images["BANGKE_S3_IMAGE"], session, cleanup)
            infra = Infra(
                kafka_bootstrap=kafka.result(),
                mongo_uri=mongo.result(),
                s3_endpoint=s3.result(),
                s3_access_key=S3_ACCESS_KEY,
                s3_secret_key=S3_SECRET_KEY,
                kind=engine.kind,
            )
        log.warning("test containers ready on %s in %.1f s", engine.kind, time.monotonic() - started)
        yield infra
    finally:
        cleanup.run()
        cleanup.uninstall()


# Engines


def _find_docker_api() -> Engine | None:
    """Return the engine behind DOCKER_HOST or the default Docker socket when it responds to a ping."""
    import docker
    from docker.errors import DockerException

    docker_host = os.environ.get("DOCKER_HOST")
    if docker_host is None and not Path("/var/run/docker.sock").exists():
        return None
    try:
        client = docker.DockerClient(base_url=docker_host or "unix:///var/run/docker.sock", timeout=ENGINE_PING_TIMEOUT_S)
        try:
            client.ping()
            platform = (client.version().get("Platform") or {}).get("Name", "")
        finally:
            client.close()
    except (DockerException, OSError) as error:
        log.debug("no Docker API at %s: %s", docker_host or "/var/run/docker.sock", error)
        return None
    kind = "podman" if "podman" in platform.lower() else "docker"
    return Engine(kind=kind, docker_host=docker_host)


def _podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(PODMAN_CONF))
    return env


def _podman_works() -> bool:
    if shutil.which("podman") is None:
        return False
    try:
        result = subprocess.run(
            ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
            env=_podman_env(), capture_output=True, text=True, timeout=15, check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("podman info timed out after 15 s")
        return False
    if result.returncode != 0:
        log.warning("podman info failed: %s", result.stderr.strip()[-500:])
        return False
    return True


def _podman_image_exists(image: str) -> bool:
    result = subprocess.run(["podman", "image", "exists", image], env=_podman_env(), check=False, timeout=15)
    return result.returncode == 0


def _socket_path() -> Path:
    """Return a socket path under .stack/podman, or under the temp folder when that path is too long."""
    name = f"api-{os.getpid()}.sock"
    path = STACK_DIR / "podman" / name
    # Linux limits a Unix socket path to 107 bytes.
    if len(str(path)) > 100:
        path = Path(tempfile.gettempdir()) / f"bangke-podman-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _start_podman_service(cleanup: _Cleanup) -> Engine:
    """Start `podman system service` in the background and return it once its API responds to a ping."""
    import docker
    from docker.errors import DockerException

    socket = _socket_path()
    socket.unlink(missing_ok=True)
    log_path = socket.with_suffix(".log")
    docker_host = f"unix://{socket}"
    with log_path.open("ab") as log_file:
        # A new session keeps Ctrl-C in the terminal from stopping the API before the containers are removed.
        process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", docker_host],
            env=_podman_env(), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cleanup.add_last(lambda: _stop_process(process, socket))
    log.warning("started the Podman API service (pid %d) on %s", process.pid, socket)

    deadline = time.monotonic() + SOCKET_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"podman system service exited with {process.returncode}; see {log_path}")
        if socket.exists():
            try:
                client = docker.DockerClient(base_url=docker_host, timeout=ENGINE_PING_TIMEOUT_S)
                try:
                    client.ping()
                finally:
                    client.close()
                return Engine(kind="podman", docker_host=docker_host)
            except (DockerException, OSError):
                pass
        time.sleep(0.1)
    raise TimeoutError(f"the Podman API on {socket} did not answer within {SOCKET_START_TIMEOUT_S} s; see {log_path}")


def _stop_process(process: subprocess.Popen[bytes], socket: Path) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("podman system service (pid %d) ignored SIGTERM; killing it", process.pid)
            process.kill()
            process.wait(timeout=10)
        log.warning("stopped the Podman API service (pid %d)", process.pid)
    socket.unlink(missing_ok=True)
    # The service's log is kept only when it failed, for the error message that points to it.
    if process.returncode in (0, -signal.SIGTERM):
        socket.with_suffix(".log").unlink(missing_ok=True)


TESTCONTAINERS_ENV = (
    "DOCKER_HOST",
    "TESTCONTAINERS_RYUK_DISABLED",
    "TESTCONTAINERS_HOST_OVERRIDE",
    "TESTCONTAINERS_CONNECTION_MODE",
)


def _restore_environment(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _configure_testcontainers(engine: Engine) -> None:
    """Point testcontainers at the engine.

    testcontainers reads most of its settings from the environment when it is imported, so they are set
    both in the environment (for later imports and child processes) and on its configuration object.
    """
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    if engine.docker_host is not None:
        os.environ["DOCKER_HOST"] = engine.docker_host
    if engine.kind == "podman":
        # The reaper image cannot be pulled without a registry; _Cleanup removes the containers instead.
        # Without the host override, testcontainers may decide it runs inside a container and fail
        # reading the gateway address.
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        os.environ["TESTCONTAINERS_HOST_OVERRIDE"] = "127.0.0.1"
        os.environ["TESTCONTAINERS_CONNECTION_MODE"] = "docker_host"
        testcontainers_config.ryuk_disabled = True
        testcontainers_config.tc_host_override = "127.0.0.1"
        testcontainers_config.connection_mode_override = ConnectionMode.docker_host


def _images(kind: str) -> dict[str, str]:
    defaults = _read_images_env() if kind == "podman" else DOCKER_DEFAULT_IMAGES
    return {key: os.environ.get(key) or defaults[key] for key in DOCKER_DEFAULT_IMAGES}


def _read_images_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (IMAGES_DIR / "images.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# Containers


def _remove_stale_containers(engine: Engine) -> None:
    """Remove test containers of this host whose owner process is gone (killed before its cleanup ran)."""
    import docker
    from docker.errors import DockerException

    hostname = socket_module.gethostname()
    client = docker.DockerClient(base_url=engine.docker_host or "unix:///var/run/docker.sock")
    try:
        for container in client.containers.list(all=True, filters={"label": f"{LABEL_OWNER_HOST}={hostname}"}):
            owner = container.labels.get(LABEL_OWNER_PID, "")
            if owner.isdigit() and not _process_exists(int(owner)):
                log.warning("removing container %s left by test process %s", container.short_id, owner)
                container.remove(force=True, v=True)
    except DockerException as error:
        log.warning("removing stale test containers failed: %s", error)
    finally:
        client.close()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True



def _new_container(image: str, session: str, port: int) -> Any:
    from testcontainers.core.container import DockerContainer

    labels = {
        LABEL_SESSION: session,
        LABEL_OWNER_PID: str(os.getpid()),
        LABEL_OWNER_HOST: socket_module.gethostname(),
    }
    container = DockerContainer(image, labels=labels)
    # A one-element tuple publishes on 127.0.0.1 with a host port that the engine picks.
    container.ports[f"{port}/tcp"] = ("127.0.0.1",)
    return container


def _start(container: Any, cleanup: _Cleanup, what: str) -> None:
    cleanup.add_container(container, what)
    started = time.monotonic()
    try:
        container.start()
    finally:
        # A signal may have run the cleanup while this thread was creating the container.
        if cleanup.done:
            cleanup.remove(container, what)
    log.info("%s container %s started in %.1f s", what, container.get_wrapped_container().short_id,
             time.monotonic() - started)


def _start_kafka(image: str, session: str, cleanup: _Cleanup) -> str:
    """Start a single-node KRaft broker and return its bootstrap address as seen from the host.

    The host port is known only after the container starts, so the container waits for a file that
    contains the advertised listener, and the harness writes it with `exec`.
    """
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    start_command = os.environ.get("BANGKE_KAFKA_START_COMMAND") or (
        KAFKA_START_COMMANDS["apache/kafka"] if "apache/kafka" in image else KAFKA_START_COMMANDS["default"]
    )
    script = (
        f'while [ ! -s {ADVERTISED_FILE} ]; do sleep 0.1; done; '
        f'KAFKA_ADVERTISED_LISTENERS="$(cat {ADVERTISED_FILE})" exec {start_command}'
    )
    container = _new_container(image, session, 9092)
    container.with_command(["sh", "-c", script])
    container.with_envs(
        CLUSTER_ID="5L6g3nShT-eMCtK--X86sw",
        KAFKA_NODE_ID="1",
        KAFKA_PROCESS_ROLES="broker,controller",
        KAFKA_LISTENERS="PLAINTEXT://:9092,CONTROLLER://:9093",
        KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
        KAFKA_INTER_BROKER_LISTENER_NAME="PLAINTEXT",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
    )
    _start(container, cleanup, "kafka")

    host = container.get_container_host_ip()
    port = container.get_exposed_port(9092)
    bootstrap = f"{host}:{port}"
    result = container.exec(["sh", "-c", f"echo PLAINTEXT://{bootstrap} > {ADVERTISED_FILE}"])
    if result.exit_code != 0:
        raise RuntimeError(f"writing the advertised listener into the Kafka container failed: {result.output!r}")
    LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(CONTAINER_START_TIMEOUT_S).wait_until_ready(
        container
    )
    return bootstrap


def _start_mongo(image: str, session: str, cleanup: _Cleanup) -> str:
    """Start FerretDB (SQLite backend) or MongoDB without authentication and return its URI."""
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = _new_container(image, session, 27017)
    if "ferretdb" in image.lower():
        # The image's default command is the SQLite setup; only the wait differs from MongoDB.
        ready = LogMessageWaitStrategy("Listening on")
    else:
        container.with_command(["--bind_ip_all"])
        ready = LogMessageWaitStrategy("Waiting for connections")
    container.waiting_for(ready.with_startup_timeout(CONTAINER_START_TIMEOUT_S))
    _start(container, cleanup, "mongo")
    return f"mongodb://{container.get_container_host_ip()}:{container.get_exposed_port(27017)}/"


def _start_s3(image: str, session: str, cleanup: _Cleanup) -> str:
    """Start versitygw (posix backend) or MinIO with the test credentials and return host:port."""
    from testcontainers.core.wait_strategies import CompositeWaitStrategy, HttpWaitStrategy, LogMessageWaitStrategy

    if "versitygw" in image.lower():
        port = 7070
        container = _new_container(image, session, port)
        container.with_envs(ROOT_ACCESS_KEY=S3_ACCESS_KEY, ROOT_SECRET_KEY=S3_SECRET_KEY)
        # The log wait fails fast when the server exits; an anonymous request then gets 403 once it listens.
        ready = CompositeWaitStrategy(
            LogMessageWaitStrategy("service listening on"),
            HttpWaitStrategy(port, "/").for_status_code_matching(lambda status: status < 500),
        )
    else:
        port = 9000
        container = _new_container(image, session, port)
        container.with_command(["server", "/data", "--address", f":{port}"])
        container.with_envs(MINIO_ROOT_USER=S3_ACCESS_KEY, MINIO_ROOT_PASSWORD=S3_SECRET_KEY)
        ready = HttpWaitStrategy(port, "/minio/health/live").for_status_code(200)
    container.waiting_for(ready.with_startup_timeout(CONTAINER_START_TIMEOUT_S))
    _start(container, cleanup, "s3")
    return f"{container.get_container_host_ip()}:{container.get_exposed_port(port)}"


# Cleanup


class _Cleanup:
    """Remove the started containers, then stop the Podman API, exactly once, whichever way the run ends."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._containers: list[tuple[Any, str]] = []
        self._last: list[Callable[[], None]] = []
        self._done = False
        self._previous_handlers: dict[int, Any] = {}

    @property
    def done(self) -> bool:
        return self._done

    def add_container(self, container: Any, what: str) -> None:
        with self._lock:
            if self._done:
                raise RuntimeError(f"not starting the {what} container: the test containers are being removed")
            self._containers.append((container, what))

    def add_last(self, action: Callable[[], None]) -> None:
        with self._lock:
            self._last.append(action)

    def install(self) -> None:
        atexit.register(self.run)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            # An ignored signal stays ignored (for example SIGINT of a background job).
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def uninstall(self) -> None:
        atexit.unregister(self.run)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.warning("received %s; removing the test containers", signal.Signals(signum).name)
        self.run()
        previous = self._previous_handlers.get(signum)
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise SystemExit(128 + signum)

    def run(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            containers = list(reversed(self._containers))
            last = list(self._last)
        for container, what in containers:
            self.remove(container, what)
        for action in last:
            try:
                action()
            except Exception:
                log.exception("cleanup step failed")

    @staticmethod
    def remove(container: Any, what: str) -> None:
        wrapped = getattr(container, "_container", None)
        if wrapped is None:
            return
        try:
            container.stop()
            log.info("removed %s container %s", what, wrapped.short_id)
        except Exception as error:
            # The API may be gone already (for example after SIGKILL of the service); the CLI still works.
            log.warning("removing %s container %s through the API failed (%s); trying the CLI", what,
                        wrapped.short_id, error)
            engine = "podman" if shutil.which("podman") else "docker"
            env = _podman_env() if engine == "podman" else None
            subprocess.run([engine, "rm", "--force", "--volumes", wrapped.id], env=env, check=False,
                           capture_output=True, timeout=60)
