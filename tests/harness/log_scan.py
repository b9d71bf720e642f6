"""Capture every log line the services write during a test run, and fail the run on personal data.

The services configure logging when they are built: ``bangke_runtime.logging.configure_logging``
replaces the root logger's handlers with one stdout handler. This plugin wraps that function (in
``bangke_runtime.logging`` and in ``bangke_runtime.app``, which imported it by name) so that after
each call a file handler is added back beside the new one, rendering with the same formatter, so the
file holds what the services print. Logs written before the first build use a plain formatter.

At the end of the session the file, and every ``*.log`` file under the pytest temp dir (the logs of
child-process services), are scanned for:

- resident ID numbers (17 digits and a check digit or X) and mobile numbers (11 digits from 13 to
  19), each standing alone, not inside a longer run of letters or digits;
- JWTs (``eyJ...`` with three dot-separated parts);
- every value registered with ``register_secret`` (test ID numbers, mobile numbers, passwords),
  also inside longer strings, and the known test passwords.

A finding sets a non-zero exit status and lists file, line and kind, with the value masked. The
scan runs for any subset of tests, since it reads whatever the session logged.
"""

import logging
import random
import re
import string
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bangke_runtime.personal_data import make_id_number

# A run of digits right after a decimal point is a fraction (``write_s=0.008409867999944254``), not a number.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z])")
JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+")
KNOWN_TEST_PASSWORDS = frozenset({"Secret123", "Operator123", "hunter2"})
"""Passwords that test modules hold as literals; ``register_secret`` adds generated ones."""

_REGISTERED: dict[str, str] = {}
_REGION_CODES = ("110101", "310104", "330106", "440305", "510107")


def register_secret(value: str, kind: str) -> str:
    """Record a value that must never reach a log line; return it unchanged."""
    if len(value) >= 6:
        _REGISTERED[value] = kind
    return value


def id_number() -> str:
    """Return a valid, made-up resident ID number, registered for the log scan."""
    birth = date(random.randrange(1960, 2000), random.randrange(1, 13), random.randrange(1, 29))
    number = make_id_number(random.choice(_REGION_CODES), birth, random.randrange(1000))
    return register_secret(number, "id_number")


def mobile() -> str:
    """Return a made-up mobile number, registered for the log scan."""
    number = "1" + random.choice("3456789") + "".join(random.choices(string.digits, k=9))
    return register_secret(number, "mobile")


def password() -> str:
    """Return a password of letters and digits that passes identity-svc's rules, registered for the log scan."""
    return register_secret("Pw" + "".join(random.choices(string.ascii_letters + string.digits, k=10)) + "7", "password")


def mask(value: str) -> str:
    return value[:3] + "*" * max(len(value) - 7, 3) + value[-4:] if len(value) > 8 else "*" * len(value)


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    line: int
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} {mask(self.value)}"


def scan_text(path: Path, text: str, secrets: dict[str, str]) -> list[Finding]:
    """Return every personal-data finding in ``text``, one per value and line."""
    ordered = sorted(secrets, key=len, reverse=True)
    known = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        seen: set[str] = set()
        for kind, pattern in (("id_number", ID_NUMBER), ("mobile", MOBILE), ("jwt", JWT)):
            for match in pattern.finditer(line):
                seen.add(match.group(0))
                findings.append(Finding(path, number, kind, match.group(0)))
        for match in known.finditer(line) if known is not None else ():
            if match.group(0) not in seen:
                findings.append(Finding(path, number, secrets[match.group(0)], match.group(0)))
    return findings


class LogCapture:
    """The pytest plugin: a root-logger file handler that survives ``configure_logging``."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.started = time.time()
        output.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(output, mode="w", encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.handler.setLevel(logging.DEBUG)
        self.findings: list[Finding] = []
        self._originals: list[tuple[Any, Any]] = []

    def install(self) -> None:
        import bangke_runtime.app as runtime_app
        import bangke_runtime.logging as runtime_logging

        original = runtime_logging.configure_logging
        capture = self

        def configure_logging(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            capture.attach()

        configure_logging.__wrapped__ = original  # type: ignore[attr-defined]
        for module in (runtime_logging, runtime_app):
            self._originals.append((module, module.configure_logging))
            module.configure_logging = configure_logging
        logging.getLogger().addHandler(self.handler)

    def attach(self) -> None:
        """Add the file handler back to the root logger, with the formatter the services print with."""
        root = logging.getLogger()
        service_handlers = [h for h in root.handlers if h is not self.handler]
        if service_handlers and service_handlers[0].formatter is not None:
            self.handler.setFormatter(service_handlers[0].formatter)
        if self.handler not in root.handlers:
            root.addHandler(self.handler)

    def uninstall(self) -> None:
        for module, original in self._originals:
            module.configure_logging = original
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()

    def scan(self, temp_root: Path | None) -> list[Finding]:
        secrets = {value: kind for value, kind in _REGISTERED.items()}
        secrets.update({value: "password" for value in KNOWN_TEST_PASSWORDS})
        files = [self.output]
        if temp_root is not None and temp_root.exists():
            files += [
                path for path in sorted(temp_root.rglob("*.log"))
                if path.is_file() and path.stat().st_mtime >= self.started and path != self.output
            ]
        findings = []
        for path in files:
            findings += scan_text(path, path.read_text(encoding="utf-8", errors="replace"), secrets)
        return findings


def _temp_root(config: pytest.Config) -> Path | None:
    factory = getattr(config, "_tmp_path_factory", None)
    return factory.getbasetemp() if factory is not None else None


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.getoption("--no-log-scan", default=False) or hasattr(config, "workerinput"):
        return
    root = _temp_root(config)
    output = (root or Path(config.rootpath) / ".stack" / "logs") / "captured-service-logs.log"
    capture = LogCapture(output)
    capture.install()
    config.stash[_KEY] = capture


_KEY = pytest.StashKey[LogCapture]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-log-scan", action="store_true", default=False,
        help="do not scan the captured service logs for ID numbers, mobile numbers, passwords and tokens",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    capture = session.config.stash.get(_KEY, None)
    if capture is None:
        return
    capture.handler.flush()
    capture.findings = capture.scan(_temp_root(session.config))
    capture.uninstall()
    if capture.findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    capture = config.stash.get(_KEY, None)
    if capture is None:
        return
    if not capture.findings:
        terminalreporter.write_line(f"log scan: no personal data or tokens in {capture.output}")
        return
    terminalreporter.section("log scan: personal data or tokens in service logs", sep="=", red=True, bold=True)
    for finding in capture.findings[:200]:
        terminalreporter.write_line(str(finding))
    if len(capture.findings) > 200:
        terminalreporter.write_line(f"... and {len(capture.findings) - 200} more")
    terminalreporter.write_line("The run fails: services must mask or leave out ID numbers, mobile numbers, passwords and tokens.")
