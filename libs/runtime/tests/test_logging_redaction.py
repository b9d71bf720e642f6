import json
import logging

import structlog

from bangke_runtime.logging import configure_logging, redact


def test_redact_masks_personal_data_and_tokens():
    text = "id 11010519491231002X mobile 13812345678 token eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    masked = redact(text)
    assert "11010519491231002X" not in masked
    assert "13812345678" not in masked
    assert "eyJhbGciOi" not in masked
    assert "138****5678" in masked


def test_json_log_lines_hide_secrets(capsys):
    configure_logging("test-svc", "json", "INFO")
    structlog.get_logger().info("engineer.registered", note="id 11010519491231002X", password="hunter2")
    logging.getLogger("other").warning("mobile 13812345678 seen")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines][-2:] == ["engineer.registered", "mobile 138****5678 seen"]
    assert lines[-2]["password"] == "[redacted]"
    assert "11010519491231002X" not in json.dumps(lines, ensure_ascii=False)
