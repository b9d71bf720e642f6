"""Keep the engineer projection up to date from identity-svc's events."""

import structlog

from bangke_contracts.identity import EngineerAuthenticated, EngineerRegistered

from .dependencies import Dependencies

log = structlog.get_logger()


async def on_engineer_event(deps: Dependencies, event: EngineerRegistered | EngineerAuthenticated) -> None:
    now = deps.clock.now()
    if isinstance(event, EngineerRegistered):
        applied = await deps.engineers.apply_registered(event, now)
    else:
        applied = await deps.engineers.apply_authenticated(event, now)
    log.info("engineer.projected" if applied else "engineer.duplicate_skipped",
             engineer_id=event.payload.engineer_id, type=event.type)
