"""Use cases of qualification-svc: load the engineer, apply the rule, store state and events at once."""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog

from bangke_contracts.catalogue import Catalogue, QualificationType
from bangke_contracts.certificates import (
    CertificateEvent,
    CertificateExpired,
    CertificateRevoked,
    CertificateSuperseded,
    CertificateTookEffect,
)
from bangke_contracts.exams import ExamScoreCollected
from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered
from bangke_runtime.clock import Clock
from bangke_runtime.outbox import OutboxRelay

from ..adapters.repository import EngineerRepository
from ..adapters.serialised import KeyedLocks
from ..domain.model import Engineer, Qualification

log = structlog.get_logger()

T = TypeVar("T")

SAVE_ATTEMPTS = 8
"""Optimistic-concurrency retries; each retry reloads the document that another write changed."""


class ConcurrentUpdate(Exception):
    """Another writer changed the engineer's document on every attempt; the caller may retry later."""


class UnknownQualificationType(Exception):
    def __init__(self, qualification_type: str) -> None:
        super().__init__(f"unknown qualification type {qualification_type}")
        self.qualification_type = qualification_type


class QualificationService:
    def __init__(
        self, repository: EngineerRepository, catalogue: Catalogue, clock: Clock, relay: OutboxRelay, locks: KeyedLocks
    ) -> None:
        self.repository = repository
        self.locks = locks
        self.catalogue = catalogue
        self.clock = clock
        self.relay = relay

    async def _change(self, engineer_id: str, change: Callable[[Engineer], T], event_id: str | None = None) -> T | None:
        """Run ``change`` on the stored engineer and store the outcome; None for an event seen before."""
        for _attempt in range(SAVE_ATTEMPTS):
            async with self.locks.hold(engineer_id):
                loaded = await self.repository.load(engineer_id)
                if event_id is not None and event_id in loaded.processed:
                    log.info("qualification.event_skipped_duplicate", engineer_id=engineer_id)
                    return None

                result = change(loaded.engineer)

                saved = await self.repository.save(loaded, event_id)
            if saved:
                if loaded.engineer.events:
                    self.relay.kick()
                return result
            log.info("qualification.save_conflict", engineer_id=engineer_id)
        raise ConcurrentUpdate(engineer_id)

    async def _change_each(self, engineer_id: str, changes: Sequence[tuple[str, Callable[[Engineer], Any]]]) -> int:
        """Apply several events to one engineer in order with one load and one save; return how many applied.

        Every applied event id is stored in the same write as the state and the events it caused, so
        the group is applied whole or not at all. Ids already stored are skipped as redeliveries.
        """
        for _attempt in range(SAVE_ATTEMPTS):
            async with self.locks.hold(engineer_id):
                loaded = await self.repository.load(engineer_id)
                seen = set(loaded.processed)
                pending = []
                for event_id, change in changes:
                    # An id listed already, or twice in one batch (a redelivery), is applied once.
                    if event_id not in seen:
                        seen.add(event_id)
                        pending.append((event_id, change))
                if len(pending) < len(changes):
                    log.info("qualification.event_skipped_duplicate", engineer_id=engineer_id,
                             duplicates=len(changes) - len(pending))
                if not pending:
                    return 0
                for _event_id, change in pending:
                    change(loaded.engineer)
                saved = await self.repository.save(loaded, [event_id for event_id, _change in pending])
            if saved:
                if loaded.engineer.events:
                    self.relay.kick()
                return len(pending)
            log.info("qualification.save_conflict", engineer_id=engineer_id)
        raise ConcurrentUpdate(engineer_id)

    # --- HTTP commands --------------------------------------------------------------------------

    def qualification_type(self, code: str) -> QualificationType:
        found = self.catalogue.qualifications.get(code)
        if found is None:
            raise UnknownQualificationType(code)
        return found

    async def apply(self, engineer_id: str, qualification_type: str) -> tuple[Engineer, Qualification]:
        kind = self.qualification_type(qualification_type)
        now = self.clock.now()

        def change(engineer: Engineer) -> tuple[Engineer, Qualification]:
            return engineer, engineer.apply(kind.code, kind.required_certificates, now)

        engineer, qualification = await self._change(engineer_id, change)  # type: ignore[misc]
        log.info("qualification.applied", engineer_id=engineer_id, qualification_id=qualification.qualification_id,
                 qualification_type=qualification_type)
        return engineer, qualification

    async def withdraw(self, engineer_id: str, qualification_id: str) -> tuple[Engineer, Qualification]:
        now = self.clock.now()

        def change(engineer: Engineer) -> tuple[Engineer, Qualification]:
            return engineer, engineer.withdraw(qualification_id, now)

        result = await self._change(engineer_id, change)
        assert result is not None
        log.info("qualification.withdrawn", engineer_id=engineer_id, qualification_id=qualification_id)
        return result

    # --- events ---------------------------------------------------------------------------------

    async def on_engineer_registered(self, event: EngineerRegistered) -> None:
        p = event.payload
        await self._change(
            p.engineer_id, lambda e: e.register(p.provider_id, p.outlet_id, p.region_id, p.name), str(event.event_id)
        )

    async def on_engineer_authenticated(self, event: EngineerAuthenticated) -> None:
        await self._change(event.payload.engineer_id, lambda e: e.authenticate(), str(event.event_id))

    async def on_certificate_took_effect(self, event: CertificateTookEffect) -> None:
        now = self.clock.now()
        await self._change(
            event.payload.engineer_id,
            lambda e: e.certificate_took_effect(event.payload, now, event),
            str(event.event_id),
        )

    async def on_certificate_superseded(self, event: CertificateSuperseded) -> None:
        p, now = event.payload, self.clock.now()
        await self._change(
            p.engineer_id, lambda e: e.certificate_superseded(p.certificate_id, p.version, now, event), str(event.event_id)
        )

    async def on_certificate_ended(self, event: CertificateExpired | CertificateRevoked) -> None:
        p, now = event.payload, self.clock.now()
        reason = "certificate_revoked" if isinstance(event, CertificateRevoked) else "certificate_expired"
        await self._change(
            p.engineer_id,
            lambda e: e.certificate_ended(p.certificate_id, p.version, reason, now, event),
            str(event.event_id),
        )

    def certificate_change(self, event: CertificateEvent) -> Callable[[Engineer], None] | None:
        """Return the change ``event`` makes to its engineer, or None for an event that changes nothing.

        Submissions, withdrawals and rejections do not change which certificates are in effect.
        """
        now = self.clock.now()
        match event:
            case CertificateTookEffect():
                return lambda e: e.certificate_took_effect(event.payload, now, event)
            case CertificateSuperseded():
                p = event.payload
                return lambda e: e.certificate_superseded(p.certificate_id, p.version, now, event)
            case CertificateExpired() | CertificateRevoked():
                p = event.payload
                reason = "certificate_revoked" if isinstance(event, CertificateRevoked) else "certificate_expired"
                return lambda e: e.certificate_ended(p.certificate_id, p.version, reason, now, event)
        return None

    async def preload(self, engineer_ids: Sequence[str]) -> int:
        """Read the engineers of a batch in one query before their events are applied one by one.

        Every engineer's lock is held for the read, as for any load. Taking them in sorted order cannot
        deadlock because the use cases and the outbox relay each hold one engineer lock at a time.
        NOTE: nothing enforces that; a second place that holds several must take them in sorted order too.
        """
        async with contextlib.AsyncExitStack() as held:
            for engineer_id in sorted(set(engineer_ids)):
                await held.enter_async_context(self.locks.hold(engineer_id))
            return await self.repository.preload(engineer_ids)

    async def on_certificate_events(self, engineer_id: str, events: Sequence[CertificateEvent]) -> int:
        """Apply certificate events of one engineer, in the given order, with one load and one save.

        Each event is recorded as applied, and each validity change publishes its own event, exactly
        as when the events are handled one by one. Returns how many events changed the engineer.
        """
        changes = []
        for event in events:
            if event.payload.engineer_id != engineer_id:
                raise ValueError("every event of a group must concern the same engineer")
            change = self.certificate_change(event)
            if change is not None:
                changes.append((str(event.event_id), change))
        return await self._change_each(engineer_id, changes) if changes else 0

    async def on_exam_score(self, event: ExamScoreCollected) -> None:
        p, now = event.payload, self.clock.now()
        outcome = await self._change(p.engineer_id, lambda e: e.record_exam_score(p, now, event), str(event.event_id))
        log.info("qualification.exam_score_applied", engineer_id=p.engineer_id, attempt_id=p.attempt_id,
                 qualification_type=p.qualification_type, score=p.score, outcome=outcome or "duplicate_event")

    # --- periodic jobs --------------------------------------------------------------------------

    async def sweep_lapses(self, batch_size: int = 500) -> dict[str, Any]:
        """Lapse every qualification whose validity ended before today; safe to run again."""
        now = self.clock.now()
        today = self.clock.today_in_china()
        checked = lapsed = 0
        seen: set[str] = set()
        while True:
            due = [engineer_id for engineer_id in await self.repository.ids_due_for_lapse(today, batch_size) if engineer_id not in seen]
            if not due:
                break
            for engineer_id in due:
                seen.add(engineer_id)
                checked += 1
                lapsed += await self._change(engineer_id, lambda e: e.lapse_expired(now)) or 0
        return {"engineers_checked": checked, "qualifications_lapsed": lapsed}
