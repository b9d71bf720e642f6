"""Signing keys and access tokens for tests of services other than identity-svc.

The services verify tokens against a JWKS; tests point them at a JWKS file holding this module's
public key, and mint tokens with the same claims identity-svc issues.
"""

import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "bangke-identity"
AUDIENCE = "bangke"


class TestSigner:
    """An RSA key pair whose public half is published in a JWKS file."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        self.jwks_file = directory / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [jwk]}))

    def token(
        self,
        role: str,
        subject: str,
        *,
        provider_id: str | None = None,
        outlet_id: str | None = None,
        region_id: str | None = None,
        ttl_s: int = 900,
        token_type: str = "access",
        issued_at: float | None = None,
    ) -> str:
        now = issued_at if issued_at is not None else time.time()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role,
            "provider_id": provider_id,
            "outlet_id": outlet_id,
            "region_id": region_id,
            "typ": token_type,
            "iat": int(now),
            "exp": int(now + ttl_s),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})

    def headers(self, role: str, subject: str, **scope: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject, **scope)}"}
