"""Daily jobs: expire certificates past their expiry date, and remind before it comes.

Both are idempotent. The sweep only changes versions still in effect after their expiry date. A
reminder's id is stable (certificate, version, days before), so a rerun on the same day issues nothing new.
"""

from datetime import datetime, timedelta
from typing import Any

import structlog

from bangke_contracts.notifications import ExpiryReminderIssued, ExpiryReminderPayload
from bangke_runtime.clock import china_date

from ..domain.model import Certificate
from ..domain.reminders import due_reminder, reminder_id
from .dependencies import PRODUCER, Dependencies, envelopes
from .reviews import SAVE_ATTEMPTS

log = structlog.get_logger()


async def expire_due_certificates(deps: Dependencies, now: datetime) -> dict[str, Any]:
    """Expire every version in effect whose expiry date is before today in China Standard Time."""
    today = china_date(now)
    expired = 0
    for certificate_id in await deps.certificates.ids_expired_before(today):
        if await _expire(deps, certificate_id, now):
            expired += 1
    return {"day": today.isoformat(), "expired": expired}


async def _expire(deps: Dependencies, certificate_id: str, now: datetime) -> bool:
    for _attempt in range(SAVE_ATTEMPTS):
        certificate = await deps.certificates.get(certificate_id)
        if certificate is None or not certificate.expire_if_due(now):
            return False
        if await deps.certificates.save(certificate, envelopes(certificate.events, now)):
            deps.relay.kick()
            log.info("certificate.expired", certificate_id=certificate_id, engineer_id=certificate.engineer_id)
            return True
    # The certificate keeps changing under the sweep; the next run expires it.
    log.warning("certificate.expiry_deferred", certificate_id=certificate_id, attempts=SAVE_ATTEMPTS)
    return False


async def issue_expiry_reminders(deps: Dependencies, now: datetime) -> dict[str, Any]:
    """Remind the engineer and the outlet manager of each certificate whose reminder is due today."""
    today = china_date(now)
    reminder_days = deps.settings.reminder_days
    last_day = today + timedelta(days=max(reminder_days))
    issued = 0
    async for certificate in deps.certificates.in_effect_expiring_between(today, last_day):
        effective = certificate.effective
        if effective is None:
            continue
        days_before = due_reminder(effective.details.expires_on, today, reminder_days)
        if days_before is None:
            continue
        if await _issue(deps, certificate, days_before, now):
            issued += 1
    if issued:
        deps.relay.kick()
    return {"day": today.isoformat(), "issued": issued}


async def _issue(deps: Dependencies, certificate: Certificate, days_before: int, now: datetime) -> bool:
    effective = certificate.effective
    assert effective is not None
    identifier = reminder_id(certificate.certificate_id, effective.version, days_before)
    payload = ExpiryReminderPayload(
        reminder_id=identifier,
        engineer_id=certificate.engineer_id,
        outlet_id=certificate.outlet_id,
        subject="certificate",
        subject_id=certificate.certificate_id,
        subject_type=certificate.certificate_type,
        expires_on=effective.details.expires_on,
        days_before=days_before,
        created_at=now,
    )
    event = ExpiryReminderIssued(producer=PRODUCER, occurred_at=now, payload=payload)
    notification = {
        "_id": identifier,
        **payload.model_dump(mode="json", exclude={"created_at"}),
        "region_id": certificate.region_id,
        "version": effective.version,
        "created_at": now,
    }
    issued = await deps.notifications.issue(notification, event)
    if issued:
        log.info("certificate.reminder_issued", certificate_id=certificate.certificate_id, version=effective.version,
                 days_before=days_before)
    return issued
