"""Registry adapters: where the nightly check looks certificates up.

The default adapter answers from a snapshot of the registry's public query that operators load,
either as a file named in the settings or through the upload endpoint (kept in object storage, so
every replica reads the same one). A snapshot is JSON lines or CSV (UTF-8, with or without BOM);
column names may be the English field names below or the registry's Chinese headers.
"""

import csv
import io
import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any, Protocol

import structlog

from ..domain.registry import RegistryRecord, normalise_number
from ..errors import RegistrySnapshotInvalid

log = structlog.get_logger()

MAX_REPORTED_ERRORS = 20

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "sex": ("sex", "性别"),
    "certificate_number": ("certificate_number", "number", "证号", "证书编号", "证件号码"),
    "operation_category": ("operation_category", "作业类别"),
    "operation_item": ("operation_item", "操作项目", "准操项目"),
    "first_issue_date": ("first_issue_date", "初领日期"),
    "validity_start": ("validity_start", "有效期开始日期", "有效期起"),
    "validity_end": ("validity_end", "有效期结束日期", "有效期止"),
    "due_reexamination_date": ("due_reexamination_date", "应复审日期"),
    "actual_reexamination_date": ("actual_reexamination_date", "实际复审日期"),
    "issuing_authority": ("issuing_authority", "发证机关"),
    "status": ("status", "状态"),
}
REQUIRED_FIELDS = ("name", "certificate_number", "operation_category", "operation_item", "validity_start", "validity_end")
DATE_FIELDS = ("first_issue_date", "validity_start", "validity_end", "due_reexamination_date", "actual_reexamination_date")
_ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}


class RegistryAdapter(Protocol):
    async def lookup(self, number: str) -> list[RegistryRecord]:
        """Return every registry record of the certificate number; an empty list when there is none."""
        ...


class SnapshotRegistry:
    """Look-ups in a registry snapshot held in memory, indexed by the normalised number."""

    def __init__(self, records: list[RegistryRecord]) -> None:
        self._by_number: dict[str, list[RegistryRecord]] = defaultdict(list)
        for record in records:
            self._by_number[normalise_number(record.certificate_number)].append(record)
        self.size = len(records)

    async def lookup(self, number: str) -> list[RegistryRecord]:
        return list(self._by_number.get(normalise_number(number), ()))


class HttpRegistry:
    """Look-ups against an online registry service.

    TODO: the registry's online interface and its credentials are not available yet; until then
    this adapter raises, and the nightly check leaves every certificate waiting for the next run.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def lookup(self, number: str) -> list[RegistryRecord]:
        raise NotImplementedError("the HTTP registry adapter is not implemented; use the snapshot adapter")


def parse_snapshot(data: bytes) -> list[RegistryRecord]:
    """Parse a snapshot in JSON lines or CSV; raise RegistrySnapshotInvalid listing the bad lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RegistrySnapshotInvalid(field="body", hint="文件须为 UTF-8 编码", position=error.start) from error
    stripped = text.lstrip()
    if not stripped:
        raise RegistrySnapshotInvalid(field="body", hint="文件为空")
    rows = _json_lines(text) if stripped.startswith("{") else _csv_rows(text)

    records: list[RegistryRecord] = []
    errors: list[dict[str, Any]] = []
    for line, row in rows:
        try:
            records.append(_record(row))
        except ValueError as error:
            errors.append({"line": line, "error": str(error)})
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
    if errors:
        raise RegistrySnapshotInvalid(field="body", errors=errors)
    return records


def _json_lines(text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise RegistrySnapshotInvalid(field="body", line=line_number, hint=f"不是有效的 JSON：{error.msg}") from error
        if not isinstance(row, dict):
            raise RegistrySnapshotInvalid(field="body", line=line_number, hint="每行应为一个 JSON 对象")
        rows.append((line_number, row))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    headers = {_ALIAS_TO_FIELD.get(name.strip(), name.strip()) for name in reader.fieldnames or []}
    missing = [name for name in REQUIRED_FIELDS if name not in headers]
    if missing:
        raise RegistrySnapshotInvalid(
            field="body", missing_columns=missing, hint="CSV 首行须包含这些列名（英文字段名或安监网中文列名）"
        )
    # Line numbers count the header as line 1; a quoted field spanning lines shifts them.
    return [(index + 2, row) for index, row in enumerate(reader)]


def _record(row: dict[str, Any]) -> RegistryRecord:
    # DictReader puts surplus cells under the key None; they are ignored.
    values = {_ALIAS_TO_FIELD.get(key.strip(), key.strip()): value for key, value in row.items() if key is not None}
    missing = [name for name in REQUIRED_FIELDS if not str(values.get(name) or "").strip()]
    if missing:
        raise ValueError(f"缺少字段：{', '.join(missing)}")
    dates = {name: _parse_date(name, values.get(name)) for name in DATE_FIELDS}
    return RegistryRecord(
        name=str(values["name"]).strip(),
        certificate_number=str(values["certificate_number"]).strip(),
        operation_category=str(values["operation_category"]).strip(),
        operation_item=str(values["operation_item"]).strip(),
        validity_start=dates["validity_start"],  # type: ignore[arg-type]
        validity_end=dates["validity_end"],  # type: ignore[arg-type]
        sex=str(values.get("sex") or "").strip(),
        first_issue_date=dates["first_issue_date"],
        due_reexamination_date=dates["due_reexamination_date"],
        actual_reexamination_date=dates["actual_reexamination_date"],
        issuing_authority=str(values.get("issuing_authority") or "").strip(),
        status=str(values.get("status") or "").strip(),
    )


def _parse_date(name: str, value: Any) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{name} 日期格式无效：{text!r}，应为 YYYY-MM-DD")
