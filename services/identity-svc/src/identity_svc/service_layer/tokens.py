"""Access tokens (signed JWTs) and refresh tokens (opaque, rotating, stored hashed).

Access tokens live ``access_token_ttl_s`` and carry the caller's role and scope in the claims every
service verifies. Refresh tokens are random strings; only their SHA-256 is stored. Each use of a
refresh token marks it rotated and issues a new one of the same family. Presenting a rotated token
again means it was copied, so the whole family is revoked and its holder must sign in again.

Token times use the wall clock, not the service clock that tests and demos move: verifiers check
``exp`` and ``iat`` against their own wall clock.
"""

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog
from pymongo import ReturnDocument

from ..adapters.keys import ALGORITHM, KeyStore
from ..adapters.repository import Collections
from ..domain.errors import (
    AccountDisabled,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    RefreshTokenRevoked,
)
from ..settings import IdentitySettings

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    account: dict[str, Any]


def refresh_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    """Sign access tokens with the key store's current signer."""

    def __init__(self, keys: KeyStore, settings: IdentitySettings) -> None:
        self.keys = keys
        self.settings = settings

    def access_claims(self, account: dict[str, Any], now: datetime) -> dict[str, Any]:
        issued_at = int(now.timestamp())
        return {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": account["_id"],
            "role": account["role"],
            "provider_id": account.get("provider_id"),
            "outlet_id": account.get("outlet_id"),
            "region_id": account.get("region_id"),
            "name": account.get("name"),
            "typ": "access",
            "iat": issued_at,
            "exp": issued_at + self.settings.access_token_ttl_s,
            "jti": uuid.uuid4().hex,
        }

    def access_token(self, account: dict[str, Any]) -> str:
        key = self.keys.signer()
        claims = self.access_claims(account, self.keys.wall_clock())
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


class RefreshTokens:
    """Refresh token families in the ``refresh_tokens`` collection."""

    def __init__(self, collections: Collections, settings: IdentitySettings, wall_clock: Callable[[], datetime]) -> None:
        self._tokens = collections.refresh_tokens
        self._settings = settings
        self._wall_clock = wall_clock

    async def issue(self, account_id: str, family_id: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = self._wall_clock()
        await self._tokens.insert_one(
            {
                "_id": refresh_token_digest(token),
                "family_id": family_id or uuid.uuid4().hex,
                "account_id": account_id,
                "status": "active",
                "issued_at": now,
                "expires_at": now + timedelta(seconds=self._settings.refresh_token_ttl_s),
            }
        )
        return token

    async def rotate(self, token: str) -> dict[str, Any]:
        """Mark ``token`` used and return its record; raise if it is unknown, expired, revoked or reused."""
        digest = refresh_token_digest(token)
        now = self._wall_clock()
        record = await self._tokens.find_one_and_update(
            {"_id": digest, "status": "active", "expires_at": {"$gt": now}},
            {"$set": {"status": "rotated", "rotated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if record is not None:
            return record

        known = await self._tokens.find_one({"_id": digest})
        if known is None:
            raise RefreshTokenInvalid()
        if known["status"] == "rotated":
            # A used token came back, so someone has a copy. Revoke the family so that neither
            # the copy nor the legitimate successor keeps working.
            await self.revoke_family(known["family_id"], reason="reuse_detected")
            log.warning("auth.refresh_token_reused", account_id=known["account_id"], family_id=known["family_id"])
            raise RefreshTokenReused()
        if known["status"] == "revoked":
            raise RefreshTokenRevoked()
        raise RefreshTokenExpired()

    async def revoke_family(self, family_id: str, *, reason: str) -> int:
        result = await self._tokens.update_many(
            {"family_id": family_id, "status": {"$ne": "revoked"}},
            {"$set": {"status": "revoked", "revoked_at": self._wall_clock(), "revoked_reason": reason}},
        )
        return result.modified_count

    async def revoke(self, token: str) -> None:
        """Revoke the family of ``token``; an unknown token is ignored, so sign-out always succeeds."""
        known = await self._tokens.find_one({"_id": refresh_token_digest(token)})
        if known is not None:
            await self.revoke_family(known["family_id"], reason="signed_out")
            log.info("auth.signed_out", account_id=known["account_id"])


def ensure_active(account: dict[str, Any]) -> None:
    if account.get("status") != "active":
        raise AccountDisabled(account_id=account["_id"])
