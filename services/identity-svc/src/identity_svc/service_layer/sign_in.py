"""Sign-in with mobile number and password, the refresh grant, and sign-out.

Failed sign-ins are counted per mobile number and per client address in MongoDB, so the limits hold
across replicas. While either count has reached its limit, sign-in is rejected with the time to wait,
before the password is checked.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from ..adapters.passwords import verify_password
from ..adapters.repository import Collections
from ..domain.errors import CredentialsInvalid, RefreshTokenRevoked, TooManyAttempts
from ..domain.sign_in_limits import is_blocked, keep_counters_until, window_of
from ..domain.validation import check_mobile
from ..settings import IdentitySettings
from .tokens import RefreshTokens, TokenIssuer, TokenPair, ensure_active

log = structlog.get_logger()


class SignInLimiter:
    """Failed sign-in counters in the ``sign_in_failures`` collection."""

    def __init__(self, collections: Collections, settings: IdentitySettings) -> None:
        self._failures = collections.sign_in_failures
        self._settings = settings

    def _limits(self, mobile: str, client: str) -> list[tuple[str, str, int]]:
        # Stored as a digest: the counter collection needs no personal data.
        mobile_key = hashlib.sha256(mobile.encode()).hexdigest()[:32]
        return [
            ("mobile", mobile_key, self._settings.sign_in_max_failures_per_mobile),
            ("client", client, self._settings.sign_in_max_failures_per_client),
        ]

    def _counter_id(self, scope: str, key: str, now: datetime) -> str:
        return f"{scope}:{key}:{window_of(now, self._settings.sign_in_window_s).index}"

    async def check(self, mobile: str, client: str, now: datetime) -> None:
        window = window_of(now, self._settings.sign_in_window_s)
        for scope, key, limit in self._limits(mobile, client):
            counter = await self._failures.find_one({"_id": self._counter_id(scope, key, now)})
            if counter is not None and is_blocked(counter["count"], limit):
                raise TooManyAttempts(window.retry_after_s(now), scope)

    async def record_failure(self, mobile: str, client: str, now: datetime) -> int:
        """Count one failure; return how many attempts the mobile number has left in this window."""
        window = window_of(now, self._settings.sign_in_window_s)
        remaining = []
        for scope, key, limit in self._limits(mobile, client):
            counter_id = self._counter_id(scope, key, now)
            await self._failures.update_one(
                {"_id": counter_id},
                {
                    "$inc": {"count": 1},
                    "$setOnInsert": {"delete_after": keep_counters_until(window, self._settings.sign_in_window_s)},
                },
                upsert=True,
            )
            counter = await self._failures.find_one({"_id": counter_id})
            remaining.append(max(0, limit - (counter or {}).get("count", 0)))
        return min(remaining)

    async def clear_mobile(self, mobile: str, now: datetime) -> None:
        scope, key, _limit = self._limits(mobile, "")[0]
        await self._failures.delete_one({"_id": self._counter_id(scope, key, now)})

    async def delete_expired(self, now: datetime) -> int:
        result = await self._failures.delete_many({"delete_after": {"$lt": now}})
        return result.deleted_count


class Sessions:
    def __init__(
        self,
        collections: Collections,
        issuer: TokenIssuer,
        refresh_tokens: RefreshTokens,
        limiter: SignInLimiter,
        settings: IdentitySettings,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._accounts = collections.accounts
        self._issuer = issuer
        self._refresh_tokens = refresh_tokens
        self._limiter = limiter
        self._settings = settings
        self._wall_clock = wall_clock

    async def _pair(self, account: dict[str, Any], family_id: str | None = None) -> TokenPair:
        return TokenPair(
            access_token=self._issuer.access_token(account),
            expires_in=self._settings.access_token_ttl_s,
            refresh_token=await self._refresh_tokens.issue(account["_id"], family_id),
            refresh_expires_in=self._settings.refresh_token_ttl_s,
            account=account,
        )

    async def sign_in(self, mobile: str, password: str, client: str) -> TokenPair:
        mobile = check_mobile(mobile)
        now = self._wall_clock()
        await self._limiter.check(mobile, client, now)

        account = await self._accounts.find_one({"mobile": mobile})
        if not await verify_password(account["password_hash"] if account else None, password):
            remaining = await self._limiter.record_failure(mobile, client, now)
            log.info("auth.sign_in_failed", account_id=account["_id"] if account else None, attempts_left=remaining)
            raise CredentialsInvalid(attempts_left=remaining)
        ensure_active(account)

        await self._limiter.clear_mobile(mobile, now)
        log.info("auth.signed_in", account_id=account["_id"], role=account["role"])
        return await self._pair(account)

    async def refresh(self, refresh_token: str) -> TokenPair:
        record = await self._refresh_tokens.rotate(refresh_token)

        account = await self._accounts.find_one({"_id": record["account_id"]})
        if account is None or account.get("status") != "active":
            await self._refresh_tokens.revoke_family(record["family_id"], reason="account_disabled")
            raise RefreshTokenRevoked()
        # The new access token reloads role and scope from the account, so changes apply at refresh.
        return await self._pair(account, record["family_id"])

    async def sign_out(self, refresh_token: str) -> None:
        await self._refresh_tokens.revoke(refresh_token)
