"""Builders of review tasks and registry records for the unit tests."""

from datetime import UTC, date, datetime
from typing import Any

from review_svc.domain.registry import RegistryRecord
from review_svc.domain.review import Reviewer, ReviewTask

ENGINEER = "engineer-1"
OUTLET = "outlet-1"
REGION = "region-1"
OUTLET_MANAGER = Reviewer("manager-1", "outlet_manager", outlet_id=OUTLET, region_id=REGION)
TRAINING_MANAGER = Reviewer("trainer-1", "training_manager", region_id=REGION)
HOLDER_ID = "110101199003074518"
NUMBER = "T" + HOLDER_ID


def make_task(**overrides: Any) -> ReviewTask:
    values: dict[str, Any] = {
        "review_id": "review-1",
        "certificate_id": "certificate-1",
        "version": 1,
        "engineer_id": ENGINEER,
        "outlet_id": OUTLET,
        "region_id": REGION,
        "certificate_type": "low_voltage_electrician",
        "kind": "long_term",
        "registry_confirmable": True,
        "number": NUMBER,
        "holder_name": "张三",
        "holder_id_number": HOLDER_ID,
        "issued_on": date(2024, 3, 1),
        "expires_on": date(2030, 2, 28),
        "photo_keys": ("certificates/c1/front.jpg",),
        "number_held_by": (),
        "renewal": False,
        "submitted_at": datetime(2025, 6, 10, 2, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return ReviewTask(**values)


def make_record(**overrides: Any) -> RegistryRecord:
    values: dict[str, Any] = {
        "name": "张三",
        "certificate_number": NUMBER,
        "operation_category": "电工作业",
        "operation_item": "低压电工作业",
        "validity_start": date(2024, 3, 1),
        "validity_end": date(2030, 2, 28),
        "status": "有效",
    }
    values.update(overrides)
    return RegistryRecord(**values)
