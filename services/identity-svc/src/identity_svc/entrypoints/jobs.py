"""Periodic clean-up: expired refresh tokens and old sign-in failure counters.

MongoDB TTL indexes would do this, but FerretDB v1 does not support them, so a job deletes them.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from bangke_runtime.jobs import Every, PeriodicJob

from ..adapters.repository import Collections
from ..service_layer.sign_in import SignInLimiter

CLEAN_UP_INTERVAL_S = 3600
REFRESH_TOKEN_KEEP_AFTER_EXPIRY = timedelta(days=1)


def clean_up_job(collections: Collections, limiter: SignInLimiter) -> PeriodicJob:
    async def clean_up(_logical_now: datetime) -> dict[str, Any]:
        # Token and counter times are wall-clock times (see service_layer/tokens.py), so is this cut-off.
        now = datetime.now(UTC)
        tokens = await collections.refresh_tokens.delete_many({"expires_at": {"$lt": now - REFRESH_TOKEN_KEEP_AFTER_EXPIRY}})
        counters = await limiter.delete_expired(now)
        return {"refresh_tokens_deleted": tokens.deleted_count, "sign_in_counters_deleted": counters}

    return PeriodicJob(
        name="clean-up-sessions",
        schedule=Every(CLEAN_UP_INTERVAL_S),
        run=clean_up,
        lease_s=600,
        description="Delete refresh tokens a day after they expired, and sign-in failure counters of past windows.",
    )
