"""Rules of the engineer aggregate: applying, the cap, exam scores, renewal, expiry and revocation."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bangke_contracts.certificates import (
    CertificateTookEffect,
    CertificateTookEffectPayload,
)
from bangke_contracts.exams import ExamScoreCollected, ExamScoreCollectedPayload
from bangke_contracts.qualifications import QualificationGranted
from qualification_svc.domain import errors as rules
from qualification_svc.domain.model import MAX_QUALIFICATIONS, Engineer, Status
from qualification_svc.domain.next_step import next_step

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
SPLIT_AC = ("refrigeration_ac", "work_at_height")


def engineer(authenticated: bool = True) -> Engineer:
    e = Engineer("eng-1")
    e.register("prov-1", "outlet-1", "region-1", "张伟")
    if authenticated:
        e.authenticate()
    return e


def took_effect(certificate_type: str, expires_on: date, *, certificate_id: str | None = None, version: int = 1,
                replaces: int | None = None) -> CertificateTookEffect:
    return CertificateTookEffect(
        producer="certificate-svc",
        payload=CertificateTookEffectPayload(
            certificate_id=certificate_id or f"cert-{certificate_type}",
            version=version,
            engineer_id="eng-1",
            certificate_type=certificate_type,
            issued_on=date(2024, 1, 1),
            expires_on=expires_on,
            replaces_version=replaces,
            took_effect_at=NOW,
        ),
    )


def give(e: Engineer, event: CertificateTookEffect, now: datetime = NOW) -> None:
    e.certificate_took_effect(event.payload, now, event)


def score(value: int, attempt: str = "a1", qualification_type: str = "split_ac_installation",
          finished_at: datetime | None = None) -> ExamScoreCollected:
    return ExamScoreCollected(
        producer="exam-svc",
        payload=ExamScoreCollectedPayload(
            attempt_id=attempt, engineer_id="eng-1", qualification_type=qualification_type, score=value,
            passed=value >= 80, finished_at=finished_at or NOW + timedelta(minutes=30), collected_at=NOW,
        ),
    )


def record(e: Engineer, event: ExamScoreCollected, now: datetime = NOW) -> str:
    return e.record_exam_score(event.payload, now, event)


def types(e: Engineer) -> list[str]:
    return [event.type for event in e.events]


def ready_engineer() -> Engineer:
    e = engineer()
    give(e, took_effect("refrigeration_ac", date(2028, 6, 30)))
    give(e, took_effect("work_at_height", date(2027, 6, 30)))
    return e


def test_apply_without_certificate_names_it() -> None:
    e = engineer()
    give(e, took_effect("refrigeration_ac", date(2028, 6, 30)))

    with pytest.raises(rules.CertificatesMissing) as raised:
        e.apply("split_ac_installation", SPLIT_AC, NOW)

    assert raised.value.missing == ("work_at_height",)
    assert e.qualifications == []


def test_apply_needs_authentication() -> None:
    e = engineer(authenticated=False)

    with pytest.raises(rules.EngineerNotAuthenticated):
        e.apply("tv_wall_mounting", (), NOW)


def test_unregistered_engineer_cannot_apply() -> None:
    e = Engineer("eng-unknown")
    e.authenticate()

    with pytest.raises(rules.EngineerNotAuthenticated):
        e.apply("tv_wall_mounting", (), NOW)


def test_eleventh_application_rejected() -> None:
    e = engineer()
    for index in range(MAX_QUALIFICATIONS):
        e.apply(f"type_{index}", (), NOW)

    with pytest.raises(rules.QualificationLimitReached):
        e.apply("type_10", (), NOW)

    assert e.active_count() == 10


def test_withdrawn_frees_a_place() -> None:
    e = engineer()
    first = e.apply("type_0", (), NOW)
    for index in range(1, MAX_QUALIFICATIONS):
        e.apply(f"type_{index}", (), NOW)

    e.withdraw(first.qualification_id, NOW)
    e.apply("type_10", (), NOW)

    assert e.active_count() == 10
    assert first.status == Status.WITHDRAWN


def test_same_type_twice_rejected() -> None:
    e = ready_engineer()
    e.apply("split_ac_installation", SPLIT_AC, NOW)

    with pytest.raises(rules.QualificationAlreadyHeld) as raised:
        e.apply("split_ac_installation", SPLIT_AC, NOW)

    assert raised.value.status == Status.PENDING


def test_only_pending_can_be_withdrawn() -> None:
    e = engineer()
    q = e.apply("tv_wall_mounting", (), NOW)
    record(e, score(90, qualification_type="tv_wall_mounting"))

    with pytest.raises(rules.QualificationNotPending):
        e.withdraw(q.qualification_id, NOW)


@pytest.mark.parametrize(("value", "status"), [(79, Status.PENDING), (80, Status.GRANTED), (95, Status.GRANTED)])
def test_pass_mark_is_80(value: int, status: Status) -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)

    record(e, score(value))

    assert q.status == status


def test_grant_valid_until_earliest_expiry() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    e.events.clear()

    assert record(e, score(85)) == "granted"

    assert q.valid_until == date(2027, 6, 30)
    assert q.limiting_certificate_type == "work_at_height"
    assert types(e) == ["qualification.granted"]
    assert e.events[0].payload.score == 85


def test_no_certificates_valid_until_2099() -> None:
    e = engineer()
    q = e.apply("tv_wall_mounting", (), NOW)

    record(e, score(100, qualification_type="tv_wall_mounting"))

    assert q.valid_until == date(2099, 12, 31)
    assert q.limiting_certificate_type is None


def test_duplicate_and_late_scores_change_nothing() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(90, attempt="a2"))
    e.events.clear()

    assert record(e, score(90, attempt="a2")) == "already_granted"
    assert record(e, score(40, attempt="a1")) == "already_granted"

    assert q.status == Status.GRANTED
    assert q.passed_score == 90
    assert e.events == []


def test_failed_then_retake_passes() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)

    assert record(e, score(60, attempt="a1")) == "failed"
    assert record(e, score(60, attempt="a1")) == "duplicate_attempt"
    assert record(e, score(88, attempt="a2")) == "granted"

    assert [r.score for r in q.exam_results] == [60, 88]


def test_attempt_before_application_ignored() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)

    outcome = record(e, score(95, finished_at=NOW - timedelta(days=1)))

    assert outcome == "attempt_before_application"
    assert q.status == Status.PENDING


def test_score_without_application_ignored() -> None:
    e = ready_engineer()

    assert record(e, score(95)) == "no_application"
    assert e.events == []


def test_renewal_extends_validity() -> None:
    e = engineer()
    give(e, took_effect("refrigeration_ac", date(2027, 6, 30), version=1))
    q = e.apply("ac_repair", ("refrigeration_ac",), NOW)
    record(e, score(80, qualification_type="ac_repair"))
    e.events.clear()

    give(e, took_effect("refrigeration_ac", date(2033, 6, 30), version=2, replaces=1))

    assert q.valid_until == date(2033, 6, 30)
    assert types(e) == ["qualification.validity_changed"]
    assert e.events[0].payload.previous_valid_until == date(2027, 6, 30)
    assert len(e.certificates) == 1


def test_renewal_of_non_limiting_leaves_validity() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(80))
    e.events.clear()

    give(e, took_effect("refrigeration_ac", date(2032, 6, 30), version=2, replaces=1))

    assert q.valid_until == date(2027, 6, 30)
    assert q.limiting_certificate_type == "work_at_height"
    assert e.events == []
    assert next_step(e, q, NOW.date()).certificate_type == "work_at_height"


def test_older_version_arriving_late_is_ignored() -> None:
    e = engineer()
    give(e, took_effect("refrigeration_ac", date(2033, 6, 30), version=2, replaces=1))

    give(e, took_effect("refrigeration_ac", date(2027, 6, 30), version=1))

    assert [(c.version, c.expires_on) for c in e.certificates] == [(2, date(2033, 6, 30))]


def test_superseded_before_successor_keeps_version() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(80))
    cause = took_effect("refrigeration_ac", date(2030, 1, 1))

    e.certificate_superseded("cert-refrigeration_ac", 1, NOW, cause)

    assert q.status == Status.GRANTED
    assert len(e.certificates) == 2


@pytest.mark.parametrize("reason", ["certificate_expired", "certificate_revoked"])
def test_certificate_end_lapses_qualification(reason: Any) -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    other = e.apply("tv_wall_mounting", (), NOW)
    record(e, score(80))
    record(e, score(80, attempt="tv", qualification_type="tv_wall_mounting"))
    e.events.clear()
    cause = took_effect("work_at_height", date(2030, 1, 1))

    e.certificate_ended("cert-work_at_height", 1, reason, NOW, cause)

    assert q.status == Status.LAPSED
    assert q.lapse_reason == reason
    assert other.status == Status.GRANTED
    assert types(e) == ["qualification.lapsed"]
    assert next_step(e, q, NOW.date()).code == "renew_certificate"


def test_pass_while_certificate_missing_grants_on_return() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    cause = took_effect("work_at_height", date(2030, 1, 1))
    e.certificate_ended("cert-work_at_height", 1, "certificate_expired", NOW, cause)

    assert record(e, score(90)) == "passed_waiting_for_certificate"
    assert q.status == Status.PENDING

    give(e, took_effect("work_at_height", date(2031, 1, 1), version=2))

    assert q.status == Status.GRANTED
    assert q.valid_until == date(2028, 6, 30)


def test_sweep_lapses_after_valid_until() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(80))
    e.events.clear()

    assert e.lapse_expired(datetime(2027, 6, 30, 15, 59, tzinfo=UTC)) == 0
    assert q.status == Status.GRANTED
    # 2027-06-30 16:00 UTC is midnight in Shanghai: the first day after the last valid day.
    assert e.lapse_expired(datetime(2027, 6, 30, 16, 0, tzinfo=UTC)) == 1

    assert q.status == Status.LAPSED
    assert q.lapse_reason == "expired"
    assert types(e) == ["qualification.lapsed"]


def test_renewal_restores_lapsed_qualification() -> None:
    e = ready_engineer()
    q = e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(80))
    e.lapse_expired(datetime(2027, 7, 2, tzinfo=UTC))
    assert q.status == Status.LAPSED
    events_before_renewal = len(e.events)

    give(e, took_effect("work_at_height", date(2033, 6, 30), version=2, replaces=1), datetime(2027, 7, 2, tzinfo=UTC))
    give(e, took_effect("refrigeration_ac", date(2033, 6, 30), version=2, replaces=1), datetime(2027, 7, 2, tzinfo=UTC))

    assert q.status == Status.GRANTED
    assert q.valid_until == date(2033, 6, 30)
    assert q.lapse_reason is None
    assert any(isinstance(event, QualificationGranted) for event in e.events[events_before_renewal:])


def test_restored_type_not_applied_again() -> None:
    e = ready_engineer()
    e.apply("split_ac_installation", SPLIT_AC, NOW)
    record(e, score(80))
    e.lapse_expired(datetime(2027, 7, 2, tzinfo=UTC))
    give(e, took_effect("work_at_height", date(2033, 6, 30), version=2, replaces=1), datetime(2027, 7, 2, tzinfo=UTC))
    give(e, took_effect("refrigeration_ac", date(2033, 6, 30), version=2, replaces=1), datetime(2027, 7, 2, tzinfo=UTC))

    with pytest.raises(rules.QualificationAlreadyHeld):
        e.apply("split_ac_installation", SPLIT_AC, datetime(2027, 7, 3, tzinfo=UTC))


def test_events_carry_scope_and_cause() -> None:
    e = ready_engineer()
    e.apply("split_ac_installation", SPLIT_AC, NOW)
    event = score(80)

    record(e, event)

    granted = e.events[-1]
    assert granted.payload.outlet_id == "outlet-1"
    assert granted.payload.region_id == "region-1"
    assert granted.causation_id == event.event_id
    assert granted.correlation_id == event.correlation_id
    assert granted.occurred_at == NOW
