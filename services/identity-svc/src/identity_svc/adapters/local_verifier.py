"""The runtime's JWT verifier, fed from this service's own key store instead of over HTTP.

Other services fetch the JWKS from ``/auth/.well-known/jwks.json``; identity-svc already has the
keys, so it reads them in memory. That also skips the runtime's 30-second limit on refetching the
JWKS, which would otherwise reject this service's own tokens right after a rotation.
"""

import jwt

from bangke_runtime.auth import JwtVerifier
from bangke_runtime.settings import ServiceSettings

from .keys import KeyStore


class KeyStoreVerifier(JwtVerifier):
    def __init__(self, settings: ServiceSettings, keys: KeyStore) -> None:
        super().__init__(settings)
        self._key_store = keys

    async def _refresh(self, force: bool) -> None:
        await self._key_store.refresh()
        self._keys = {jwk["kid"]: jwt.PyJWK(jwk).key for jwk in self._key_store.jwks()["keys"]}
