"""Order rules: evidence required for completion, appointment windows, states, masking and messages."""

from datetime import UTC, date, datetime, timedelta

import pytest

from bangke_contracts.catalogue import load_catalogue
from order_svc.domain.eligibility import EligibilityVerdict, Ineligibility
from order_svc.domain.errors import AppointmentInvalid, EvidenceMissing, OrderStateConflict
from order_svc.domain.orders import (
    OrderStatus,
    OrderView,
    customer_view,
    ensure_complete_evidence,
    ensure_status,
    ineligibility_message,
    missing_evidence,
    validate_appointment,
)
from order_svc.domain.service_types import load_service_types

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
NAMES = {"serial_number_photo": "机身条码照片", "before_photo": "施工前照片", "after_photo": "施工后照片"}


def view(status: OrderStatus = OrderStatus.CHECKED_IN, evidence: tuple[str, ...] = ()) -> OrderView:
    return OrderView(
        order_id="order-1", status=status, outlet_id="outlet-1", region_id="region-1", dispatch_area="outlet",
        qualification_type="split_ac_installation", appointment_start=NOW, appointment_end=NOW + timedelta(hours=2),
        required_evidence=("serial_number_photo", "before_photo", "after_photo"), engineer_id="eng-1",
        evidence_kinds=evidence,
    )


def test_missing_evidence_in_required_order():
    assert missing_evidence(["serial_number_photo", "before_photo", "after_photo"], ["after_photo"]) == [
        "serial_number_photo",
        "before_photo",
    ]


def test_completion_refused_lists_missing_names():
    with pytest.raises(EvidenceMissing) as raised:
        ensure_complete_evidence(view(evidence=("before_photo",)), NAMES)

    assert raised.value.details["missing"] == ["serial_number_photo", "after_photo"]
    assert "机身条码照片" in raised.value.message
    assert "施工后照片" in raised.value.message


def test_completion_allowed_with_all_evidence():
    ensure_complete_evidence(view(evidence=("serial_number_photo", "before_photo", "after_photo", "before_photo")), NAMES)


def test_appointment_end_before_start_rejected():
    with pytest.raises(AppointmentInvalid) as raised:
        validate_appointment(NOW + timedelta(hours=3), NOW + timedelta(hours=2), NOW)

    assert raised.value.details["field"] == "appointment.end"


def test_appointment_longer_than_day_rejected():
    with pytest.raises(AppointmentInvalid):
        validate_appointment(NOW + timedelta(hours=1), NOW + timedelta(hours=26), NOW)


def test_past_appointment_rejected():
    with pytest.raises(AppointmentInvalid):
        validate_appointment(NOW - timedelta(hours=3), NOW - timedelta(hours=1), NOW)


def test_state_guard_names_current_state():
    with pytest.raises(OrderStateConflict) as raised:
        ensure_status(view(status=OrderStatus.COMPLETED), (OrderStatus.OFFERED,), "接单")

    assert "已完工" in raised.value.message
    assert raised.value.details["status"] == "completed"


def test_pool_area_by_outlet_or_region():
    outlet_order = view()
    region_order = OrderView(
        order_id="order-2", status=OrderStatus.POOLED, outlet_id="outlet-1", region_id="region-1", dispatch_area="region",
        qualification_type="tv_wall_mounting", appointment_start=NOW, appointment_end=NOW, required_evidence=(),
    )

    assert outlet_order.in_area_of("outlet-1", "region-9")
    assert not outlet_order.in_area_of("outlet-2", "region-1")
    assert region_order.in_area_of("outlet-2", "region-1")
    assert not region_order.in_area_of("outlet-1", "region-2")


def test_customer_masked_for_others():
    customer = {"name": "王芳", "mobile": "13800138000", "address": "上海市浦东新区世纪大道100号"}

    masked = customer_view(customer, full=False)

    assert masked == {"name": "王*", "mobile": "138****8000", "address": "上海市浦东新****", "masked": True}
    assert customer_view(customer, full=True)["mobile"] == "13800138000"


def test_lapse_message_names_qualification_and_time():
    verdict = EligibilityVerdict(False, Ineligibility.LAPSED, date(2027, 6, 30), datetime(2027, 3, 1, 2, 0, tzinfo=UTC))

    message = ineligibility_message(verdict, "空调安装", "您")

    assert message == "您的「空调安装」资质已于 2027-03-01 10:00（北京时间）失效，不能接此工单"


def test_short_validity_message_gives_last_day():
    verdict = EligibilityVerdict(False, Ineligibility.VALIDITY_TOO_SHORT, date(2027, 3, 5))

    assert "有效期至 2027-03-05" in ineligibility_message(verdict, "空调安装", "该工程师")


def test_service_types_cover_default_catalogue():
    catalogue = load_catalogue()
    service_types = load_service_types()

    service_types.check_against(catalogue)
    covered = {service.qualification_type for service in service_types.service_types}
    assert covered == set(catalogue.qualifications)
    split_ac = service_types.services["split_ac_installation"]
    assert split_ac.required_evidence == ("serial_number_photo", "before_photo", "after_photo")
    assert service_types.services["tv_wall_mounting"].required_evidence == ("before_photo", "after_photo")
    assert service_types.kinds["video"].media == "video"
