"""Tokens every service must reject with 401, a stable code and a Simplified Chinese message."""

import base64
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from authz.framework import CHINESE
from harness.tokens import AUDIENCE, ISSUER


@dataclass(frozen=True, slots=True)
class BadToken:
    case: str
    authorization: str | None
    code: str


def tamper_payload(token: str, **changes: object) -> str:
    """Rewrite claims of a signed token and keep its old signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def foreign_signature(claims: dict[str, object], kid: str) -> str:
    """Sign ``claims`` with a new RSA key that no JWKS publishes, under ``kid``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def access_claims(subject: str, role: str, issued_at: float, ttl_s: int) -> dict[str, object]:
    return {
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "role": role, "typ": "access",
        "iat": int(issued_at), "exp": int(issued_at + ttl_s), "jti": uuid.uuid4().hex,
    }


def bad_tokens(valid: str, expired: str, refresh: str) -> list[BadToken]:
    """The five cases, from a valid access token, an expired one and a refresh token."""
    kid = jwt.get_unverified_header(valid)["kid"]
    claims = access_claims("someone", "operator", time.time(), 900)
    return [
        BadToken("no token", None, "token_missing"),
        BadToken("not a bearer token", f"Basic {valid}", "token_missing"),
        BadToken("expired", f"Bearer {expired}", "token_expired"),
        BadToken("tampered payload", f"Bearer {tamper_payload(valid, role='operator')}", "token_invalid"),
        BadToken("unknown key", f"Bearer {foreign_signature(claims, 'unknown-' + uuid.uuid4().hex[:6])}", "token_invalid"),
        BadToken("known kid, wrong key", f"Bearer {foreign_signature(claims, kid)}", "token_invalid"),
        BadToken("refresh token as access token", f"Bearer {refresh}", "token_invalid"),
        BadToken("garbage", "Bearer not-a-jwt", "token_invalid"),
    ]


async def token_problems(base_url: str, method: str, path: str, tokens: list[BadToken]) -> list[str]:
    """Call ``path`` with each bad token; return every case not answered 401 with its code in Chinese."""
    problems = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        for token in tokens:
            headers = {"Authorization": token.authorization} if token.authorization else {}
            response = await client.request(method, path, headers=headers)
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if response.status_code != 401 or error.get("code") != token.code:
                problems.append(f"{token.case}: expected 401 {token.code}, got {response.status_code} {response.text[:160]}")
            elif not CHINESE.search(error.get("message", "")):
                problems.append(f"{token.case}: message is not in Chinese: {error.get('message')!r}")
    return problems


def signer_bad_tokens(signer, subject: str, role: str = "engineer") -> list[BadToken]:
    """The bad tokens for services that trust the test signer's JWKS."""
    valid = signer.token(role, subject)
    expired = signer.token(role, subject, issued_at=time.time() - 3600, ttl_s=600)
    refresh = signer.token(role, subject, token_type="refresh")
    return bad_tokens(valid, expired, refresh)
