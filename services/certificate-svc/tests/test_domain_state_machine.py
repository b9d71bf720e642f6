"""The certificate state machine, without I/O."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bangke_contracts.certificates import (
    CertificateExpired,
    CertificateRejected,
    CertificateRevoked,
    CertificateSubmitted,
    CertificateSuperseded,
    CertificateTookEffect,
    CertificateWithdrawn,
)
from certificate_svc.domain.errors import (
    NoDraft,
    NothingToCorrect,
    NothingUnderReview,
    PhotosMissing,
    RenewalNotLater,
    RenewalNotPossible,
    VersionAlreadyOpen,
)
from certificate_svc.domain.model import Decision, VersionStatus
from certificate_svc.domain.validation import Details

from certificate_factories import ELECTRICIAN, NOW, draft, engineer, in_effect, photo, submitted


def event_types(certificate) -> list[type]:
    return [item.event_cls for item in certificate.events]


def renewed(current: Details) -> Details:
    return replace(current, issued_on=date(2026, 3, 1), expires_on=date(2032, 2, 28))


def decision(review_id: str = "review-1", outcome: str = "approved") -> Decision:
    return Decision(
        review_id=review_id, step="outlet_review", outcome=outcome, actor_id="manager-1", actor_role="outlet_manager",
        reason=None, differences=(), decided_at=NOW,
    )


def test_new_certificate_is_draft_without_events():
    certificate = draft()

    assert certificate.latest.status is VersionStatus.DRAFT
    assert certificate.latest.version == 1
    assert certificate.events == []


def test_submit_needs_both_photos():
    certificate = draft()
    certificate.attach_photo("front", photo("front"))

    with pytest.raises(PhotosMissing) as raised:
        certificate.submit(ELECTRICIAN, engineer(), [], NOW)

    assert raised.value.details["missing"] == ["back"]
    assert certificate.latest.status is VersionStatus.DRAFT
    assert certificate.events == []


def test_submit_records_everything_review_needs():
    certificate = draft()
    certificate.attach_photo("front", photo("front"))
    certificate.attach_photo("back", photo("back"))

    certificate.submit(ELECTRICIAN, engineer(), ["eng-9", "eng-1"], NOW)

    assert certificate.latest.status is VersionStatus.UNDER_REVIEW
    assert event_types(certificate) == [CertificateSubmitted]
    payload = certificate.events[0].payload
    assert payload.kind == "long_term"
    assert payload.registry_confirmable is True
    assert payload.outlet_id == "outlet-1"
    assert payload.region_id == "region-1"
    assert payload.photo_keys == ["eng-1/cert-1/v1/front-abc", "eng-1/cert-1/v1/back-abc"]
    assert payload.number_held_by == ["eng-9"]
    assert payload.renewal is False
    assert certificate.latest.number_held_by == ["eng-9"]
    assert certificate.held_numbers == [payload.number]


def test_submitted_version_is_frozen():
    certificate = submitted()

    with pytest.raises(NoDraft):
        certificate.attach_photo("front", photo("front"))
    with pytest.raises(NoDraft):
        certificate.update_draft({"number": "T1"}, ELECTRICIAN, engineer(), NOW)


def test_approval_takes_effect():
    certificate = submitted()

    applied = certificate.complete_review(1, True, None, "outlet_manager", "review-1", NOW)

    assert applied is True
    assert certificate.status is VersionStatus.IN_EFFECT
    assert event_types(certificate) == [CertificateTookEffect]
    assert certificate.events[0].payload.replaces_version is None
    assert certificate.events[0].payload.expires_on == date(2030, 6, 30)


def test_rejection_keeps_reason():
    certificate = submitted()

    certificate.complete_review(1, False, "照片模糊，请重新拍摄", "outlet_manager", "review-1", NOW)

    assert certificate.latest.status is VersionStatus.REJECTED
    assert certificate.latest.rejection_reason == "照片模糊，请重新拍摄"
    assert event_types(certificate) == [CertificateRejected]
    assert certificate.events[0].payload.reason == "照片模糊，请重新拍摄"


def test_correction_after_rejection_is_new_version():
    certificate = submitted()
    certificate.complete_review(1, False, "有效期填写错误", "outlet_manager", "review-1", NOW)

    corrected = certificate.start_correction({"expires_on": date(2030, 7, 1)}, ELECTRICIAN, engineer(), NOW)

    assert corrected.version == 2
    assert corrected.corrects_version == 1
    assert corrected.details.expires_on == date(2030, 7, 1)
    assert corrected.photos == certificate.version(1).photos
    assert certificate.version(1).status is VersionStatus.REJECTED
    assert certificate.version(1).details.expires_on == date(2030, 6, 30)


def test_correction_needs_rejected_or_withdrawn():
    with pytest.raises(NothingToCorrect):
        submitted().start_correction({}, ELECTRICIAN, engineer(), NOW)


def test_withdraw_only_under_review():
    certificate = submitted()

    certificate.withdraw(NOW)

    assert certificate.latest.status is VersionStatus.WITHDRAWN
    assert event_types(certificate) == [CertificateWithdrawn]
    with pytest.raises(NothingUnderReview):
        certificate.withdraw(NOW)


def test_review_of_withdrawn_version_is_ignored():
    certificate = submitted()
    certificate.withdraw(NOW)
    certificate.events.clear()

    assert certificate.complete_review(1, True, None, "outlet_manager", "review-1", NOW) is False
    assert certificate.record_decision(1, decision()) is False
    assert certificate.latest.status is VersionStatus.WITHDRAWN
    assert certificate.events == []


def test_decisions_recorded_while_under_review_and_for_completing_review():
    certificate = submitted()

    assert certificate.record_decision(1, decision()) is True
    certificate.complete_review(1, True, None, "training_manager", "review-1", NOW)

    assert certificate.record_decision(1, decision(outcome="approved")) is True
    assert certificate.record_decision(1, decision(review_id="review-other")) is False
    assert len(certificate.version(1).decisions) == 2


def test_renewal_keeps_old_version_until_new_takes_effect():
    certificate = in_effect()

    renewal = certificate.start_renewal(renewed(certificate.latest.details), ELECTRICIAN, engineer(), NOW)
    renewal.photos = {"front": photo("front", 2), "back": photo("back", 2)}
    certificate.submit(ELECTRICIAN, engineer(), [], NOW)

    assert certificate.effective.version == 1
    assert certificate.status is VersionStatus.IN_EFFECT
    assert certificate.events[-1].payload.renewal is True
    assert certificate.events[-1].payload.replaces_version == 1

    certificate.events.clear()
    certificate.complete_review(2, True, None, "registry_check", "review-2", NOW)

    assert certificate.effective.version == 2
    assert certificate.version(1).status is VersionStatus.SUPERSEDED
    assert certificate.version(1).superseded_by == 2
    assert event_types(certificate) == [CertificateSuperseded, CertificateTookEffect]
    assert certificate.events[1].payload.replaces_version == 1


def test_renewal_must_expire_later():
    certificate = in_effect()
    current = certificate.latest.details

    with pytest.raises(RenewalNotLater):
        certificate.start_renewal(current, ELECTRICIAN, engineer(), NOW)


def test_renewal_needs_effective_or_expired_version():
    certificate = submitted()
    certificate.complete_review(1, False, "编号错误", "outlet_manager", "review-1", NOW)

    with pytest.raises(RenewalNotPossible):
        certificate.start_renewal(renewed(certificate.latest.details), ELECTRICIAN, engineer(), NOW)


def test_renewal_rejected_while_version_open():
    certificate = in_effect()
    certificate.start_renewal(renewed(certificate.latest.details), ELECTRICIAN, engineer(), NOW)

    with pytest.raises(VersionAlreadyOpen):
        certificate.start_renewal(renewed(certificate.latest.details), ELECTRICIAN, engineer(), NOW)


def test_expiry_starts_after_last_day_in_china():
    certificate = in_effect(expires_on=date(2027, 6, 30))
    last_moment = datetime(2027, 6, 30, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in China

    assert certificate.expire_if_due(last_moment) is False
    assert certificate.status is VersionStatus.IN_EFFECT

    assert certificate.expire_if_due(last_moment + timedelta(seconds=1)) is True
    assert certificate.latest.status is VersionStatus.EXPIRED
    assert event_types(certificate) == [CertificateExpired]
    assert certificate.events[0].payload.expired_on == date(2027, 6, 30)
    assert certificate.effective is None


def test_expired_certificate_can_be_renewed():
    certificate = in_effect(expires_on=date(2027, 6, 30))
    after = datetime(2027, 7, 2, tzinfo=UTC)
    certificate.expire_if_due(after)
    current = certificate.latest.details

    renewal = certificate.start_renewal(
        replace(current, issued_on=date(2027, 7, 1), expires_on=date(2033, 6, 30)), ELECTRICIAN, engineer(), after
    )

    assert renewal.renewal is True
    assert renewal.version == 2


def test_late_approval_of_expired_version_expires_at_once():
    certificate = submitted(expires_on=date(2026, 3, 20))
    later = datetime(2026, 3, 25, tzinfo=UTC)

    certificate.complete_review(1, True, None, "training_manager", "review-1", later)

    assert event_types(certificate) == [CertificateTookEffect, CertificateExpired]
    assert certificate.latest.status is VersionStatus.EXPIRED


def test_revoke_ends_version_in_effect():
    certificate = in_effect()

    certificate.revoke("安监网显示证书已注销", NOW)

    assert certificate.latest.status is VersionStatus.REVOKED
    assert event_types(certificate) == [CertificateRevoked]
