"""Eligibility rules: holdings projected from qualification events, and who may take an order."""

from datetime import UTC, date, datetime

from bangke_contracts.qualifications import (
    QualificationApplied,
    QualificationAppliedPayload,
    QualificationGranted,
    QualificationGrantedPayload,
    QualificationLapsed,
    QualificationLapsedPayload,
    QualificationValidityChanged,
    QualificationValidityChangedPayload,
    QualificationWithdrawn,
    QualificationWithdrawnPayload,
)
from order_svc.domain.eligibility import (
    HoldingStatus,
    Ineligibility,
    apply_qualification_event,
    check_eligibility,
    covers_appointment,
    last_day_needed,
)

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
REF = {"engineer_id": "eng-1", "outlet_id": "outlet-1", "region_id": "region-1", "qualification_type": "split_ac_installation"}


def granted(valid_until: date, qualification_id: str = "q-1") -> QualificationGranted:
    return QualificationGranted(
        producer="qualification-svc",
        payload=QualificationGrantedPayload(**REF, qualification_id=qualification_id, valid_until=valid_until, score=90, granted_at=NOW),
    )


def lapsed(qualification_id: str = "q-1") -> QualificationLapsed:
    return QualificationLapsed(
        producer="qualification-svc",
        payload=QualificationLapsedPayload(**REF, qualification_id=qualification_id, reason="certificate_expired", lapsed_at=NOW),
    )


def validity_changed(valid_until: date, previous: date, qualification_id: str = "q-1") -> QualificationValidityChanged:
    return QualificationValidityChanged(
        producer="qualification-svc",
        payload=QualificationValidityChangedPayload(
            **REF, qualification_id=qualification_id, valid_until=valid_until, previous_valid_until=previous, changed_at=NOW
        ),
    )


def applied(qualification_id: str) -> QualificationApplied:
    return QualificationApplied(
        producer="qualification-svc", payload=QualificationAppliedPayload(**REF, qualification_id=qualification_id, applied_at=NOW)
    )


def test_grant_puts_holding_in_effect():
    holding = apply_qualification_event(None, granted(date(2027, 6, 30)))

    assert holding.status == HoldingStatus.GRANTED
    assert holding.effective_until == date(2027, 6, 30)


def test_lapse_ends_holding_and_keeps_time():
    holding = apply_qualification_event(apply_qualification_event(None, granted(date(2027, 6, 30))), lapsed())

    assert holding.status == HoldingStatus.LAPSED
    assert holding.effective_until is None
    assert holding.ended_at == NOW


def test_withdrawal_ends_holding():
    event = QualificationWithdrawn(
        producer="qualification-svc", payload=QualificationWithdrawnPayload(**REF, qualification_id="q-1", withdrawn_at=NOW)
    )
    holding = apply_qualification_event(apply_qualification_event(None, granted(date(2027, 6, 30))), event)

    assert holding.status == HoldingStatus.WITHDRAWN
    assert not holding.in_effect


def test_validity_change_moves_last_day():
    holding = apply_qualification_event(None, granted(date(2027, 6, 30)))

    holding = apply_qualification_event(holding, validity_changed(date(2027, 3, 10), date(2027, 6, 30)))

    assert holding.effective_until == date(2027, 3, 10)


def test_reapplying_keeps_granted_holding():
    holding = apply_qualification_event(None, granted(date(2027, 6, 30), "q-1"))

    after = apply_qualification_event(holding, applied("q-2"))

    assert after == holding


def test_events_about_other_qualification_are_ignored():
    holding = apply_qualification_event(None, granted(date(2027, 6, 30), "q-1"))

    assert apply_qualification_event(holding, lapsed("q-old")) == holding
    assert apply_qualification_event(None, lapsed("q-old")) is None


def test_application_alone_is_pending():
    holding = apply_qualification_event(None, applied("q-1"))

    assert holding.status == HoldingStatus.PENDING
    assert check_eligibility(holding, NOW, NOW).reason == Ineligibility.PENDING


def test_eligible_through_appointment_day_in_china():
    holding = apply_qualification_event(None, granted(date(2027, 3, 5)))
    # 2027-03-05 15:30 UTC is 23:30 on 5 March in China: the last day in effect still covers it.
    end = datetime(2027, 3, 5, 15, 30, tzinfo=UTC)

    verdict = check_eligibility(holding, end, NOW)

    assert verdict.eligible
    assert verdict.valid_until == date(2027, 3, 5)


def test_ineligible_when_window_ends_after_midnight_china():
    holding = apply_qualification_event(None, granted(date(2027, 3, 5)))
    # 2027-03-05 16:30 UTC is 00:30 on 6 March in China, one day past the validity.
    end = datetime(2027, 3, 5, 16, 30, tzinfo=UTC)

    verdict = check_eligibility(holding, end, NOW)

    assert not verdict.eligible
    assert verdict.reason == Ineligibility.VALIDITY_TOO_SHORT
    assert last_day_needed(end, NOW) == date(2027, 3, 6)


def test_expired_holding_is_ineligible():
    holding = apply_qualification_event(None, granted(date(2027, 2, 27)))

    verdict = check_eligibility(holding, NOW, NOW)

    assert verdict.reason == Ineligibility.EXPIRED


def test_lapsed_verdict_says_since_when():
    holding = apply_qualification_event(apply_qualification_event(None, granted(date(2027, 6, 30))), lapsed())

    verdict = check_eligibility(holding, datetime(2027, 3, 2, tzinfo=UTC), NOW)

    assert verdict.reason == Ineligibility.LAPSED
    assert verdict.since == NOW


def test_missing_holding_is_not_held():
    assert check_eligibility(None, NOW, NOW).reason == Ineligibility.NOT_HELD


def test_cover_of_accepted_appointment():
    holding = apply_qualification_event(None, granted(date(2027, 3, 5)))

    assert covers_appointment(holding, datetime(2027, 3, 5, 8, tzinfo=UTC))
    assert not covers_appointment(holding, datetime(2027, 3, 6, 8, tzinfo=UTC))
    assert not covers_appointment(apply_qualification_event(holding, lapsed()), datetime(2027, 3, 2, tzinfo=UTC))
