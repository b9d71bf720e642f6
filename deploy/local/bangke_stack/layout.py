"""File layout of the local stack, and the fixed addresses and versions of its parts.

Everything the stack writes lives under ``<repo>/.stack`` (gitignored): binaries, build caches,
data, logs, pid files and generated configuration. ``make clean`` removes only ``data``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"

KAFKA_VERSION = "4.1.1"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Applied in name order to FerretDB's source before it is built; see each patch and deploy/local/README.md.
FERRETDB_PATCHES = sorted((REPO_ROOT / "deploy" / "local" / "ferretdb").glob("*.patch"))
VERSITYGW_MODULE = "github.com/versity/versitygw"
VERSITYGW_VERSION = "v1.8.0"

KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
FERRETDB_PORT = 27017
VERSITYGW_PORT = 7070
GATEWAY_PORT = 8080

S3_ACCESS_KEY = "bangke-local"
S3_SECRET_KEY = "bangke-local-secret"

KAFKA_BOOTSTRAP = f"{HOST}:{KAFKA_PORT}"
MONGO_URI = f"mongodb://{HOST}:{FERRETDB_PORT}/"
S3_ENDPOINT = f"{HOST}:{VERSITYGW_PORT}"
GATEWAY_URL = f"http://{HOST}:{GATEWAY_PORT}"


@dataclass(frozen=True, slots=True)
class Service:
    """One Bangke service: its name in URLs, its Python package and its HTTP port."""

    name: str
    package: str
    port: int

    @property
    def part(self) -> str:
        return f"{self.name}-svc"

    @property
    def direct_url(self) -> str:
        return f"http://{HOST}:{self.port}"


SERVICES: tuple[Service, ...] = (
    Service("identity", "identity_svc", 8101),
    Service("certificate", "certificate_svc", 8102),
    Service("review", "review_svc", 8103),
    Service("qualification", "qualification_svc", 8104),
    Service("exam", "exam_svc", 8105),
    Service("order", "order_svc", 8106),
)

JWKS_URL = f"http://{HOST}:8101/auth/.well-known/jwks.json"


class Layout:
    """Paths under the stack folder; ``BANGKE_STACK_DIR`` moves the folder (default ``<repo>/.stack``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or Path(os.environ.get("BANGKE_STACK_DIR") or REPO_ROOT / ".stack")).resolve()
        self.bin = self.root / "bin"
        self.build = self.root / "build"
        self.cache = self.root / "cache"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.run = self.root / "run"
        self.conf = self.root / "conf"
        self.secrets = self.root / "secrets"
        self.kafka_libs = self.root / "kafka" / "libs"
        self.nginx_prefix = self.root / "nginx"
        self.demo_clock = self.root / "demo-clock"

    def ensure_dirs(self) -> None:
        for path in (self.bin, self.build, self.cache, self.data, self.logs, self.run, self.conf):
            path.mkdir(parents=True, exist_ok=True)

    def log(self, part: str) -> Path:
        return self.logs / f"{part}.log"

    def pid_file(self, part: str) -> Path:
        return self.run / f"{part}.pid"

    def child_state(self, part: str) -> Path:
        """Return the path of the supervisor's state file of a supervised part (child pid, restart count)."""
        return self.run / f"{part}.child"

    def data_dir(self, part: str) -> Path:
        return self.data / part
