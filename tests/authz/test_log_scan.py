"""The log scan finds personal data and tokens, and its handler survives the services' logging set-up."""

import logging
from pathlib import Path

import pytest

from bangke_runtime.logging import configure_logging
from harness import log_scan
from harness.log_scan import id_number, mobile, password, scan_text

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlbmdpbmVlciJ9.c2lnbmF0dXJlX2J5dGVz"


def test_scan_finds_each_kind():
    number, phone, secret = "11010519491231002X", "13812345678", "Pw0secretvalue7"
    text = f"a id={number}\nb mobile {phone}\nc token {JWT}\nd note=T{number}\ne pw:{secret}\n"

    findings = scan_text(Path("x.log"), text, {number: "id_number", secret: "password"})

    assert [(f.line, f.kind) for f in findings] == [
        (1, "id_number"), (2, "mobile"), (3, "jwt"), (4, "id_number"), (5, "password"),
    ]
    assert all(f.value not in str(f) for f in findings)


def test_scan_ignores_masked_and_ids():
    text = "id 110***********002X mobile 138****5678 [jwt] event_id=3f2a9c1e13812345678ab offset=1700000000000123456"
    text += " write_s=0.008409867999944254 rate=0.13812345678"

    assert scan_text(Path("x.log"), text, {}) == []


def test_generators_register_values():
    values = [id_number(), mobile(), password()]

    findings = scan_text(Path("x.log"), " ".join(values), dict(log_scan._REGISTERED))

    assert {f.value for f in findings} == set(values)


def test_capture_survives_configure_logging(request: pytest.FixtureRequest):
    capture = request.config.stash.get(log_scan._KEY, None)
    if capture is None:
        pytest.skip("log scan is off (--no-log-scan)")

    configure_logging("log-scan-test", "console", "INFO")
    logging.getLogger("log-scan-test").info("log_scan.capture_check marker=%s", "c4f1e7")
    capture.handler.flush()

    assert capture.handler in logging.getLogger().handlers
    assert "log_scan.capture_check marker=c4f1e7" in capture.output.read_text(encoding="utf-8")
