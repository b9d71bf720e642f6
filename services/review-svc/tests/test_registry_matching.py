"""Matching an upload against the registry's records, and reading registry snapshots."""

from datetime import date

import pytest

from review_svc.adapters.registry import SnapshotRegistry, parse_snapshot
from review_svc.domain.registry import compare_with_registry, normalise_number
from review_svc.errors import RegistrySnapshotInvalid

from review_factories import HOLDER_ID, NUMBER, make_record, make_task

CATEGORY, ITEM = "电工作业", "低压电工作业"


def compare(task, records):
    return compare_with_registry(task, CATEGORY, ITEM, records)


def test_no_record_is_not_found():
    verdict = compare(make_task(), [])

    assert verdict.outcome == "not_found"
    assert verdict.differences == ()


def test_equal_record_matches():
    assert compare(make_task(), [make_record()]).outcome == "found_matching"


def test_other_holder_and_dates_listed():
    record = make_record(name="李四", validity_start=date(2023, 1, 1), validity_end=date(2029, 1, 1))

    verdict = compare(make_task(), [record])

    assert verdict.outcome == "mismatch"
    assert [d.field for d in verdict.differences] == ["holder_name", "validity_start", "validity_end"]
    assert verdict.differences[0].uploaded == "张三"
    assert verdict.differences[0].registry == "李四"
    assert verdict.differences[2].registry == "2029-01-01"


@pytest.mark.parametrize("status", ["revoked", "注销", "吊销", "expired"])
def test_revoked_record_is_mismatch(status):
    verdict = compare(make_task(), [make_record(status=status)])

    assert verdict.outcome == "mismatch"
    assert [d.field for d in verdict.differences] == ["status"]


def test_other_operation_item_is_mismatch():
    verdict = compare(make_task(), [make_record(operation_category="高处作业", operation_item="高处安装、维护、拆除作业")])

    assert verdict.outcome == "mismatch"
    assert {d.field for d in verdict.differences} == {"operation_category", "operation_item"}


def test_matching_record_chosen_among_items():
    height = make_record(operation_category="高处作业", operation_item="高处安装、维护、拆除作业")

    assert compare(make_task(), [height, make_record()]).outcome == "found_matching"


def test_name_spacing_ignored():
    assert compare(make_task(holder_name="张 三"), [make_record()]).outcome == "found_matching"


def test_number_with_or_without_prefix():
    assert normalise_number(NUMBER) == HOLDER_ID
    assert normalise_number(" t" + HOLDER_ID.lower()) == HOLDER_ID
    assert normalise_number("GAS-2024-001") == "GAS-2024-001"


CSV_SNAPSHOT = (
    "\ufeff姓名,性别,证号,作业类别,操作项目,初领日期,有效期开始日期,有效期结束日期,应复审日期,实际复审日期,发证机关,状态\n"
    f"张三,男,{NUMBER},电工作业,低压电工作业,2018-03-01,2024-03-01,2030-02-28,2027-03-01,,北京市应急管理局,有效\n"
)


async def test_csv_snapshot_with_chinese_headers():
    records = parse_snapshot(CSV_SNAPSHOT.encode())
    registry = SnapshotRegistry(records)

    found = await registry.lookup(HOLDER_ID)

    assert len(found) == 1
    assert found[0].validity_end == date(2030, 2, 28)
    assert found[0].actual_reexamination_date is None
    assert compare(make_task(), found).outcome == "found_matching"


async def test_json_lines_snapshot():
    line = (
        '{"name": "张三", "certificate_number": "%s", "operation_category": "电工作业", '
        '"operation_item": "低压电工作业", "validity_start": "2024/03/01", "validity_end": "20300228", "status": "revoked"}'
    ) % NUMBER

    records = parse_snapshot(f"{line}\n\n{line}\n".encode())

    assert len(records) == 2
    assert records[0].validity_start == date(2024, 3, 1)
    assert records[0].status == "revoked"
    assert len(await SnapshotRegistry(records).lookup(NUMBER)) == 2


def test_snapshot_missing_column_rejected():
    with pytest.raises(RegistrySnapshotInvalid) as invalid:
        parse_snapshot("姓名,证号\n张三,T1\n".encode())

    assert "operation_category" in invalid.value.details["missing_columns"]


def test_snapshot_bad_date_names_line():
    bad = CSV_SNAPSHOT.replace("2030-02-28", "2030-13-45")

    with pytest.raises(RegistrySnapshotInvalid) as invalid:
        parse_snapshot(bad.encode())

    assert invalid.value.details["errors"][0]["line"] == 2
    assert "validity_end" in invalid.value.details["errors"][0]["error"]


@pytest.mark.parametrize("data", [b"", b"   \n", b"\xff\xfe\x00"])
def test_snapshot_empty_or_not_utf8_rejected(data):
    with pytest.raises(RegistrySnapshotInvalid):
        parse_snapshot(data)
