"""Scope rules, masking, staff creation rights, sign-in windows and the engineer registration events."""

from datetime import UTC, date, datetime

import pytest

from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered
from bangke_runtime.auth import Principal
from bangke_runtime.personal_data import id_number_digest, make_id_number
from identity_svc.domain import access
from identity_svc.domain.engineers import NewEngineer, RealNameResult, register_engineer
from identity_svc.domain.errors import ActionNotAllowed, StaffScopeInvalid
from identity_svc.domain.organisation import resolve_staff_scope
from identity_svc.domain.sign_in_limits import window_of

ENGINEER = {"_id": "e1", "provider_id": "p1", "outlet_id": "o1", "region_id": "r1", "mobile": "13800138000"}
OPERATOR = Principal(subject="op", role="operator")
ADMIN_P1 = Principal(subject="a1", role="provider_admin", provider_id="p1")
ADMIN_P2 = Principal(subject="a2", role="provider_admin", provider_id="p2")
PROVIDER_P1 = {"_id": "p1", "status": "approved"}
OUTLET_O1 = {"_id": "o1", "provider_id": "p1", "region_id": "r1"}
REGION_R1 = {"_id": "r1"}


@pytest.mark.parametrize(
    ("principal", "visible"),
    [
        (OPERATOR, True),
        (Principal(subject="e1", role="engineer"), True),
        (Principal(subject="e2", role="engineer", outlet_id="o1"), False),
        (ADMIN_P1, True),
        (ADMIN_P2, False),
        (Principal(subject="m", role="outlet_manager", provider_id="p1", outlet_id="o1"), True),
        (Principal(subject="m", role="outlet_manager", provider_id="p1", outlet_id="o2"), False),
        (Principal(subject="t", role="training_manager", region_id="r1"), True),
        (Principal(subject="t", role="training_manager", region_id="r2"), False),
        (Principal(subject="d", role="dispatcher", provider_id="p1", region_id="r1"), True),
        (Principal(subject="d", role="dispatcher", provider_id="p2", region_id="r1"), False),
        (Principal(subject="d", role="dispatcher", provider_id="p1", outlet_id="o2"), False),
        (Principal(subject="x", role="outlet_manager"), False),
        (Principal(subject="x", role="unknown"), False),
    ],
)
def test_person_scope(principal, visible):
    assert access.matches(ENGINEER, access.person_filter(principal)) is visible


@pytest.mark.parametrize(
    ("principal", "full"),
    [
        (OPERATOR, True),
        (Principal(subject="e1", role="engineer"), True),
        (ADMIN_P1, True),
        (ADMIN_P2, False),
        (Principal(subject="m", role="outlet_manager", provider_id="p1", outlet_id="o1"), False),
        (Principal(subject="t", role="training_manager", region_id="r1"), False),
    ],
)
def test_personal_data_masking(principal, full):
    number = make_id_number("110101", date(1990, 3, 7), 451)
    assert (access.shown_mobile(principal, ENGINEER) == "13800138000") is full
    assert (access.shown_id_number(principal, ENGINEER, number) == number) is full
    if not full:
        assert access.shown_mobile(principal, ENGINEER) == "138****8000"
        assert access.shown_id_number(principal, ENGINEER, number) == number[:3] + "*" * 11 + number[-4:]


def test_outlet_manager_scope_from_outlet():
    scope = resolve_staff_scope(ADMIN_P1, "outlet_manager", provider=PROVIDER_P1, outlet=OUTLET_O1, region=None)
    assert (scope.provider_id, scope.outlet_id, scope.region_id) == ("p1", "o1", "r1")


def test_outlet_manager_needs_outlet():
    with pytest.raises(StaffScopeInvalid):
        resolve_staff_scope(ADMIN_P1, "outlet_manager", provider=PROVIDER_P1, outlet=None, region=None)


def test_provider_admin_cannot_staff_other_provider():
    with pytest.raises(ActionNotAllowed):
        resolve_staff_scope(ADMIN_P2, "outlet_manager", provider=None, outlet=OUTLET_O1, region=None)


def test_training_manager_only_by_operator():
    with pytest.raises(ActionNotAllowed):
        resolve_staff_scope(ADMIN_P1, "training_manager", provider=PROVIDER_P1, outlet=None, region=REGION_R1)
    scope = resolve_staff_scope(OPERATOR, "training_manager", provider=None, outlet=None, region=REGION_R1)
    assert (scope.provider_id, scope.outlet_id, scope.region_id) == (None, None, "r1")


def test_dispatcher_scope_outlet_or_region():
    by_region = resolve_staff_scope(ADMIN_P1, "dispatcher", provider=PROVIDER_P1, outlet=None, region=REGION_R1)
    assert (by_region.provider_id, by_region.outlet_id, by_region.region_id) == ("p1", None, "r1")
    by_outlet = resolve_staff_scope(OPERATOR, "dispatcher", provider=None, outlet=OUTLET_O1, region=None)
    assert (by_outlet.provider_id, by_outlet.outlet_id) == ("p1", "o1")
    with pytest.raises(StaffScopeInvalid):
        resolve_staff_scope(ADMIN_P1, "dispatcher", provider=PROVIDER_P1, outlet=OUTLET_O1, region=REGION_R1)
    with pytest.raises(StaffScopeInvalid):
        resolve_staff_scope(ADMIN_P1, "dispatcher", provider=PROVIDER_P1, outlet=None, region=None)


def test_sign_in_window_retry_time():
    window = window_of(datetime.fromtimestamp(1_000_000 * 900 + 300, UTC), 900)
    assert window.index == 1_000_000
    assert window.retry_after_s(datetime.fromtimestamp(1_000_000 * 900 + 300, UTC)) == 600


def test_registration_events_carry_digest_not_number():
    number = make_id_number("110101", date(1990, 3, 7), 451)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    engineer = NewEngineer("e1", "张伟", number, "13800138000", "hash", "p1", "o1", "r1", "self")
    document, events = register_engineer(engineer, RealNameResult(True, "local_checks", "note"), now)

    assert [type(event) for event in events] == [EngineerRegistered, EngineerAuthenticated]
    assert events[0].payload.id_number_sha256 == id_number_digest(number)
    assert number not in events[0].model_dump_json()
    assert events[1].payload.method == "local_checks"
    assert events[1].correlation_id == events[0].correlation_id
    assert document["authentication"]["status"] == "authenticated"
    assert document["id_number_key"] == id_number_digest(number)


def test_failed_real_name_check_publishes_registration_only():
    number = make_id_number("110101", date(1990, 3, 7), 451)
    engineer = NewEngineer("e1", "张伟", number, "13800138000", "hash", "p1", "o1", "r1", "self")
    document, events = register_engineer(
        engineer, RealNameResult(False, "external", "不一致", "name_mismatch"), datetime(2025, 6, 1, tzinfo=UTC)
    )
    assert [type(event) for event in events] == [EngineerRegistered]
    assert document["authentication"]["status"] == "failed"
