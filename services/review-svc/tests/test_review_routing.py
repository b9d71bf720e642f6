"""Review routing: who acts at which step, where a certificate goes next, and the day-after rule."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from review_svc.domain.registry import Difference, RegistryVerdict
from review_svc.domain.review import (
    Reviewer,
    ReviewStatus,
    SpotCheckReason,
    Step,
    first_spot_check_day,
)
from review_svc.errors import (
    RejectionReasonMissing,
    RejectionReasonTooLong,
    ReviewNotAtStep,
    SelfReviewForbidden,
    SpotCheckTooEarly,
)

from review_factories import ENGINEER, OUTLET, OUTLET_MANAGER, REGION, TRAINING_MANAGER, make_task

CHINA = ZoneInfo("Asia/Shanghai")


def china(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def test_temporary_goes_to_spot_check_then_approved():
    task = make_task(kind="temporary", registry_confirmable=False, certificate_type="pre_job_training")
    approved_at = china(2025, 6, 10, 10, 0)

    task.approve(OUTLET_MANAGER, approved_at)

    assert task.status == ReviewStatus.PENDING_SPOT_CHECK
    assert task.spot_check_reason == SpotCheckReason.TEMPORARY
    assert task.spot_check_from is None
    assert task.completed_at is None

    task.approve(TRAINING_MANAGER, approved_at + timedelta(minutes=5))

    assert task.status == ReviewStatus.APPROVED
    assert task.completed_outcome == "approved"
    assert task.completed_by_role == "training_manager"
    assert [(d.step, d.outcome) for d in task.decisions] == [
        (Step.OUTLET_REVIEW, "approved"),
        (Step.SPOT_CHECK, "approved"),
    ]


def test_long_term_waits_for_registry_check():
    task = make_task()

    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 10, 0))

    assert task.status == ReviewStatus.AWAITING_REGISTRY_CHECK
    assert task.outlet_approved_at == china(2025, 6, 10, 10, 0)
    assert task.completed_at is None


def test_registry_match_completes_without_anyone():
    task = make_task()
    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 10, 0))
    task.new_decisions.clear()

    task.record_registry_result(RegistryVerdict("found_matching"), china(2025, 6, 11, 1, 0))

    assert task.status == ReviewStatus.APPROVED
    assert task.completed_by_role == "registry_check"
    assert [(d.step, d.outcome, d.actor_id) for d in task.new_decisions] == [
        (Step.REGISTRY_CHECK, "found_matching", "registry-check")
    ]
    assert task.just_completed


def test_registry_not_found_allows_spot_check_from_next_day():
    task = make_task()
    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 23, 59))

    task.record_registry_result(RegistryVerdict("not_found"), china(2025, 6, 11, 1, 0))

    assert task.status == ReviewStatus.PENDING_SPOT_CHECK
    assert task.spot_check_reason == SpotCheckReason.REGISTRY_NOT_FOUND
    assert task.spot_check_from == date(2025, 6, 11)


def test_registry_mismatch_keeps_differences_and_allows_at_once():
    task = make_task()
    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 10, 0))
    differences = (Difference("holder_name", "张三", "李四"),)

    task.record_registry_result(RegistryVerdict("mismatch", differences), china(2025, 6, 10, 10, 5))

    assert task.status == ReviewStatus.PENDING_SPOT_CHECK
    assert task.spot_check_reason == SpotCheckReason.REGISTRY_MISMATCH
    assert task.differences == differences
    assert task.spot_check_from is None
    task.approve(TRAINING_MANAGER, china(2025, 6, 10, 10, 6))
    assert task.status == ReviewStatus.APPROVED


def test_not_confirmable_type_goes_straight_to_spot_check():
    task = make_task(certificate_type="gas_appliance", registry_confirmable=False)

    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 0, 1))

    assert task.status == ReviewStatus.PENDING_SPOT_CHECK
    assert task.spot_check_reason == SpotCheckReason.NOT_REGISTRY_CONFIRMABLE
    assert task.spot_check_from == date(2025, 6, 11)


@pytest.mark.parametrize(
    ("approved_at", "too_early", "first_allowed"),
    [
        (china(2025, 6, 10, 23, 59), china(2025, 6, 10, 23, 59), china(2025, 6, 11, 0, 0)),
        (china(2025, 6, 11, 0, 1), china(2025, 6, 11, 23, 59), china(2025, 6, 12, 0, 0)),
    ],
)
def test_spot_check_refused_before_next_china_day(approved_at, too_early, first_allowed):
    task = make_task()
    task.approve(OUTLET_MANAGER, approved_at)
    task.record_registry_result(RegistryVerdict("not_found"), approved_at + timedelta(seconds=30))

    with pytest.raises(SpotCheckTooEarly) as refused:
        task.approve(TRAINING_MANAGER, too_early)
    assert refused.value.details["first_allowed_on"] == first_allowed.astimezone(CHINA).date().isoformat()
    with pytest.raises(SpotCheckTooEarly):
        task.reject(TRAINING_MANAGER, "照片模糊", too_early)
    assert task.status == ReviewStatus.PENDING_SPOT_CHECK

    task.approve(TRAINING_MANAGER, first_allowed)
    assert task.status == ReviewStatus.APPROVED


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)))
def test_first_spot_check_day_is_next_china_date(approved_at):
    first_day = first_spot_check_day(approved_at)
    local = approved_at.astimezone(CHINA)

    assert first_day == local.date() + timedelta(days=1)
    first_instant = datetime.combine(first_day, datetime.min.time(), CHINA)
    assert first_instant > local
    assert first_instant - local <= timedelta(days=1)


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_spot_check_allowed_exactly_from_next_day(approved_at, wait):
    task = make_task()
    task.approve(OUTLET_MANAGER, approved_at)
    task.record_registry_result(RegistryVerdict("not_found"), approved_at)
    acted_at = approved_at + wait

    allowed = acted_at.astimezone(CHINA).date() > approved_at.astimezone(CHINA).date()

    if allowed:
        task.approve(TRAINING_MANAGER, acted_at)
        assert task.status == ReviewStatus.APPROVED
    else:
        with pytest.raises(SpotCheckTooEarly):
            task.approve(TRAINING_MANAGER, acted_at)


def test_outlet_rejection_completes_with_reason():
    task = make_task()

    task.reject(OUTLET_MANAGER, "  照片模糊，请重新拍摄  ", china(2025, 6, 10, 10, 0))

    assert task.status == ReviewStatus.REJECTED
    assert task.completed_outcome == "rejected"
    assert task.completed_reason == "照片模糊，请重新拍摄"
    assert task.decisions[-1].reason == "照片模糊，请重新拍摄"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_rejection_needs_reason(reason):
    task = make_task()

    with pytest.raises(RejectionReasonMissing):
        task.reject(OUTLET_MANAGER, reason, china(2025, 6, 10, 10, 0))
    assert task.status == ReviewStatus.PENDING_OUTLET_REVIEW
    assert task.decisions == []


def test_rejection_reason_length_limited():
    task = make_task()

    with pytest.raises(RejectionReasonTooLong):
        task.reject(OUTLET_MANAGER, "字" * 501, china(2025, 6, 10, 10, 0))


def test_engineer_cannot_review_own_certificate():
    task = make_task()
    own = Reviewer(ENGINEER, "outlet_manager", outlet_id=OUTLET)

    with pytest.raises(SelfReviewForbidden):
        task.approve(own, china(2025, 6, 10, 10, 0))
    assert task.decisions == []


def test_training_manager_cannot_act_at_outlet_step():
    task = make_task()

    with pytest.raises(ReviewNotAtStep):
        task.approve(TRAINING_MANAGER, china(2025, 6, 10, 10, 0))


def test_outlet_manager_cannot_act_twice():
    task = make_task()
    task.approve(OUTLET_MANAGER, china(2025, 6, 10, 10, 0))

    with pytest.raises(ReviewNotAtStep):
        task.approve(OUTLET_MANAGER, china(2025, 6, 10, 10, 1))


def test_scope_by_outlet_and_region():
    task = make_task()

    assert task.in_scope_of(OUTLET_MANAGER)
    assert task.in_scope_of(TRAINING_MANAGER)
    assert not task.in_scope_of(Reviewer("m2", "outlet_manager", outlet_id="outlet-2", region_id=REGION))
    assert not task.in_scope_of(Reviewer("t2", "training_manager", region_id="region-2"))
    assert not task.in_scope_of(Reviewer("m3", "outlet_manager", outlet_id=None))
    assert not task.in_scope_of(Reviewer("e", "engineer", outlet_id=OUTLET, region_id=REGION))


def test_cancel_only_open_reviews():
    open_task = make_task()
    done_task = make_task()
    done_task.reject(OUTLET_MANAGER, "编号不清晰", china(2025, 6, 10, 10, 0))

    assert open_task.cancel(china(2025, 6, 10, 11, 0))
    assert open_task.status == ReviewStatus.CANCELLED
    assert not done_task.cancel(china(2025, 6, 10, 11, 0))
    assert done_task.status == ReviewStatus.REJECTED
