"""The parts of the stack: how each one is prepared, started and probed."""

import base64
import json
import secrets
import shutil
import string
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bangke_stack import config, probes
from bangke_stack.build import BuildError
from bangke_stack.process import tail
from bangke_stack.layout import (
    FERRETDB_PORT,
    GATEWAY_PORT,
    GATEWAY_URL,
    HOST,
    JWKS_URL,
    KAFKA_BOOTSTRAP,
    KAFKA_PORT,
    MONGO_URI,
    S3_ACCESS_KEY,
    S3_ENDPOINT,
    S3_SECRET_KEY,
    SERVICES,
    VERSITYGW_PORT,
    Layout,
    Service,
)

# Kafka shares one developer machine with six Python services, so its heap is bounded; 512 MiB ran out
# (OutOfMemoryError in the raft thread) once test runs had created a few thousand partitions.
KAFKA_HEAP = ["-Xms128m", "-Xmx1g"]


@dataclass(frozen=True)
class Options:
    """Choices of one `up`: ``demo_clock`` points every service at ``.stack/demo-clock``."""

    demo_clock: bool = False


@dataclass(frozen=True)
class Part:
    """One process of the stack and what it takes to run it."""

    name: str
    port: int
    timeout_s: float
    command: Callable[[Layout], list[str]]
    probe: Callable[[], str | None]
    prepare: Callable[[Layout], None] = lambda layout: None
    env: Callable[[Layout, Options], dict[str, str]] = lambda layout, options: {}
    build: str | None = None  # the artifact from build.BUILDERS that must exist first
    supervised: bool = False  # runs under supervisor.py, which restarts it after an unexpected exit
    urls: dict[str, str] = field(default_factory=dict)


def _kafka_cluster_id() -> str:
    """Return a random cluster id in Kafka's Uuid form: URL-safe base64 of 16 bytes, unpadded.

    Kafka's own Uuid.randomUuid() draws again when the text starts with "-", because such an id
    reads as a command-line option, so this does the same.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _java() -> str:
    return shutil.which("java") or "java"


def _prepare_kafka(layout: Layout) -> None:
    conf_dir = layout.conf / "kafka"
    config.write_if_changed(conf_dir / "server.properties", config.kafka_properties(layout))
    config.write_if_changed(conf_dir / "log4j2.yaml", config.KAFKA_LOG4J2)
    data_dir = layout.data_dir("kafka")
    if (data_dir / "meta.properties").exists():
        return
    # First start only: formatting writes the cluster id and the initial controller quorum.
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = layout.log("kafka")
    with log_file.open("ab") as log:
        result = subprocess.run(
            [
                _java(), "-Xmx256m", "-cp", f"{layout.kafka_libs}/*", "kafka.tools.StorageTool",
                "format", "-t", _kafka_cluster_id(), "-c", str(conf_dir / "server.properties"), "--standalone",
            ],
            cwd=conf_dir, stdout=log, stderr=subprocess.STDOUT, check=False,
        )
    if result.returncode != 0:
        raise BuildError(f"formatting Kafka storage failed; log: {log_file}\n{tail(log_file, 20)}")


def _kafka_command(layout: Layout) -> list[str]:
    conf_dir = layout.conf / "kafka"
    return [
        _java(), *KAFKA_HEAP, f"-Dlog4j2.configurationFile={conf_dir / 'log4j2.yaml'}",
        "-cp", f"{layout.kafka_libs}/*", "kafka.Kafka", str(conf_dir / "server.properties"),
    ]


def _ferretdb_command(layout: Layout) -> list[str]:
    data_dir = layout.data_dir("ferretdb")
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(layout.bin / "ferretdb"), "--handler=sqlite", f"--sqlite-url=file:{data_dir}/",
        f"--state-dir={data_dir}", f"--listen-addr={HOST}:{FERRETDB_PORT}", "--telemetry=disable",
        "--debug-addr=-",
    ]


def _ferretdb_env(layout: Layout, options: Options) -> dict[str, str]:
    # Go's collector runs when the heap has grown by GOGC percent (100 by default), and FerretDB
    # allocates for every document it decodes. At 400, a CPU profile during `make bench` put 3.8% of
    # FerretDB's time in the collector, and FerretDB stayed under 150 MiB resident.
    return {"GOGC": "400"}


def _versitygw_command(layout: Layout) -> list[str]:
    data_dir = layout.data_dir("s3")
    data_dir.mkdir(parents=True, exist_ok=True)
    return [str(layout.bin / "versitygw"), "--port", f"{HOST}:{VERSITYGW_PORT}", "posix", str(data_dir)]


def _versitygw_env(layout: Layout, options: Options) -> dict[str, str]:
    return {"ROOT_ACCESS_KEY": S3_ACCESS_KEY, "ROOT_SECRET_KEY": S3_SECRET_KEY}


def _prepare_nginx(layout: Layout) -> None:
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (layout.nginx_prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
    config.write_if_changed(layout.conf / "nginx.conf", config.nginx_conf(layout))


def nginx_command(layout: Layout) -> list[str]:
    return [
        shutil.which("nginx") or "/usr/sbin/nginx",
        "-e", str(layout.log("nginx-error")),
        "-p", str(layout.nginx_prefix),
        "-c", str(layout.conf / "nginx.conf"),
    ]


# The local operator account that identity-svc creates at its first start. The demo signs in with
# it to approve providers, create regions and staff, and trigger periodic jobs.
BOOTSTRAP_OPERATOR_MOBILE = "13800000000"


def bootstrap_operator(layout: Layout) -> tuple[str, str]:
    """Return the local operator's mobile and password, generating the password once.

    The password lives in ``.stack/secrets/operator.json`` (mode 0600). identity-svc never changes an
    existing account, so the file must survive restarts. `make clean` keeps it, and `rm -rf .stack`
    removes it together with the data.
    """
    path = layout.secrets / "operator.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return stored["mobile"], stored["password"]
    layout.secrets.mkdir(parents=True, exist_ok=True)
    layout.secrets.chmod(0o700)
    # Letters and digits only, 8 to 64 characters: identity-svc's password rule.
    alphabet = string.ascii_letters + string.digits
    password = "Op" + "".join(secrets.choice(alphabet) for _ in range(20)) + "9"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"mobile": BOOTSTRAP_OPERATOR_MOBILE, "password": password}) + "\n")
    return BOOTSTRAP_OPERATOR_MOBILE, password


def _service_env(service: Service) -> Callable[[Layout, Options], dict[str, str]]:
    def env(layout: Layout, options: Options) -> dict[str, str]:
        values = {
            "BANGKE_ENVIRONMENT": "local",
            "BANGKE_HTTP_PORT": str(service.port),
            "BANGKE_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
            "BANGKE_MONGO_URI": MONGO_URI,
            "BANGKE_S3_ENDPOINT": S3_ENDPOINT,
            "BANGKE_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "BANGKE_S3_SECRET_KEY": S3_SECRET_KEY,
            "BANGKE_JWT_JWKS_URL": JWKS_URL,
            "BANGKE_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        if service.name == "identity":
            keys_dir = layout.secrets / "jwt"
            keys_dir.mkdir(parents=True, exist_ok=True)
            layout.secrets.chmod(0o700)
            values["BANGKE_JWT_KEYS_DIR"] = str(keys_dir)
            mobile, password = bootstrap_operator(layout)
            values["BANGKE_BOOTSTRAP_OPERATOR_MOBILE"] = mobile
            values["BANGKE_BOOTSTRAP_OPERATOR_PASSWORD"] = password
        if options.demo_clock:
            # The runtime honours a clock file only in the test and demo environments.
            layout.demo_clock.touch(exist_ok=True)
            values["BANGKE_ENVIRONMENT"] = "demo"
            values["BANGKE_CLOCK_FILE"] = str(layout.demo_clock)
        return values

    return env


SUPERVISOR = Path(__file__).resolve().parent / "supervisor.py"


def _service_command(service: Service) -> Callable[[Layout], list[str]]:
    # The interpreter of the uv environment that runs this script, so the child is the service
    # itself (as `uv run --frozen python -m <package>` would run it) with no uv parent in between.
    # The supervisor restarts it after a crash or a kill -9. `down` stops both, because they share one process group.
    def command(layout: Layout) -> list[str]:
        return [
            sys.executable, str(SUPERVISOR), "--name", service.part, "--state", str(layout.child_state(service.part)),
            "--", sys.executable, "-m", service.package,
        ]

    return command


def _service_probe(service: Service) -> Callable[[], str | None]:
    def probe() -> str | None:
        direct = probes.probe_http(f"{service.direct_url}/readyz")
        if direct is not None:
            return f"{service.direct_url}/readyz: {direct}"
        via_gateway = probes.probe_http(f"{GATEWAY_URL}/api/{service.name}/readyz")
        if via_gateway is not None:
            return f"gateway /api/{service.name}/readyz: {via_gateway}"
        return None

    return probe


INFRA_PARTS: tuple[Part, ...] = (
    Part(
        "kafka", KAFKA_PORT, 120.0, _kafka_command, probes.probe_kafka,
        prepare=_prepare_kafka, build="kafka", urls={"bootstrap": KAFKA_BOOTSTRAP},
    ),
    Part(
        "ferretdb", FERRETDB_PORT, 45.0, _ferretdb_command, probes.probe_ferretdb,
        env=_ferretdb_env, build="ferretdb", urls={"uri": MONGO_URI},
    ),
    Part(
        "versitygw", VERSITYGW_PORT, 45.0, _versitygw_command, probes.probe_s3,
        env=_versitygw_env, build="versitygw", urls={"endpoint": f"http://{S3_ENDPOINT}"},
    ),
)

GATEWAY_PART = Part(
    "nginx", GATEWAY_PORT, 20.0, nginx_command, probes.probe_gateway,
    prepare=_prepare_nginx, urls={"gateway": GATEWAY_URL},
)

SERVICE_PARTS: tuple[Part, ...] = tuple(
    Part(
        service.part, service.port, 90.0, _service_command(service), _service_probe(service),
        env=_service_env(service),
        supervised=True,
        urls={
            "direct": service.direct_url,
            "api": f"{GATEWAY_URL}/api/{service.name}/",
            "docs": f"{GATEWAY_URL}/api/{service.name}/docs",
        },
    )
    for service in SERVICES
)

ALL_PARTS: tuple[Part, ...] = (*INFRA_PARTS, GATEWAY_PART, *SERVICE_PARTS)


def find_part(name: str) -> Part:
    """Return the part called ``name``; a service may also be named without ``-svc``."""
    for part in ALL_PARTS:
        if name in (part.name, part.name.removesuffix("-svc")):
            return part
    known = ", ".join(part.name for part in ALL_PARTS)
    raise KeyError(f"unknown part {name!r}; known parts: {known}")
