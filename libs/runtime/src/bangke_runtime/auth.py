"""JWT verification: every service checks tokens itself against identity-svc's JWKS.

Tokens are signed with asymmetric keys (RS256 or EdDSA). The JWKS is cached and fetched again when a
token names a key id that is not in the cache, which is how key rotation reaches the services
without a restart. Claims carry the role and the provider, outlet and region scope.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
import structlog
from fastapi import Depends, Request

from .errors import Forbidden, Unauthorized
from .settings import ServiceSettings

log = structlog.get_logger()

ALGORITHMS = ["RS256", "EdDSA"]
JWKS_REFRESH_MIN_INTERVAL_S = 30.0
CLOCK_SKEW_LEEWAY_S = 30
"""Seconds of clock difference between identity-svc and a verifying service that iat and exp tolerate."""


class TokenMissing(Unauthorized):
    code = "token_missing"
    message = "缺少访问令牌，请先登录"


class TokenExpired(Unauthorized):
    code = "token_expired"
    message = "登录已过期，请重新登录"


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    message = "访问令牌无效，请重新登录"


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    message = "当前角色无权执行此操作"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as the verified token states."""

    subject: str
    role: str
    provider_id: str | None = None
    outlet_id: str | None = None
    region_id: str | None = None
    name: str | None = None

    @property
    def engineer_id(self) -> str | None:
        return self.subject if self.role == "engineer" else None


class JwtVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _load_jwks(self) -> dict[str, Any]:
        if self._settings.jwt_jwks_file is not None:
            return json.loads(await asyncio.to_thread(self._settings.jwt_jwks_file.read_text))
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._settings.jwt_jwks_url)
            response.raise_for_status()
            return response.json()

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            if not force and self._keys:
                return
            if force and time.monotonic() - self._fetched_at < JWKS_REFRESH_MIN_INTERVAL_S and self._keys:
                return
            try:
                jwks = await self._load_jwks()
            except (httpx.HTTPError, OSError, ValueError) as error:
                log.warning("auth.jwks_fetch_failed", error_type=type(error).__name__, error=str(error)[:300])
                return
            keys = {}
            for jwk in jwks.get("keys", []):
                try:
                    keys[jwk["kid"]] = jwt.PyJWK(jwk).key
                except (KeyError, jwt.PyJWKError) as error:
                    log.warning("auth.jwk_skipped", kid=jwk.get("kid"), error=str(error)[:200])
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenInvalid(reason="malformed") from error
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS:
            raise TokenInvalid(reason="algorithm_not_allowed")
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise TokenInvalid(reason="unknown_key")
        try:
            claims = jwt.decode(
                token, key, algorithms=ALGORITHMS,
                audience=self._settings.jwt_audience, issuer=self._settings.jwt_issuer,
                leeway=CLOCK_SKEW_LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenExpired() from error
        except jwt.PyJWTError as error:
            raise TokenInvalid(reason=type(error).__name__) from error
        if claims.get("typ") != "access":
            raise TokenInvalid(reason="not_an_access_token")
        return Principal(
            subject=str(claims["sub"]),
            role=str(claims.get("role", "")),
            provider_id=claims.get("provider_id"),
            outlet_id=claims.get("outlet_id"),
            region_id=claims.get("region_id"),
            name=claims.get("name"),
        )


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller of this request."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise TokenMissing()
    verifier: JwtVerifier = request.app.state.runtime.verifier
    return await verifier.verify(token.strip())


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Any:
    """FastAPI dependency that admits only the given roles and returns the principal."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise RoleNotAllowed(role=principal.role, allowed=list(roles))
        return principal

    return Depends(dependency)
