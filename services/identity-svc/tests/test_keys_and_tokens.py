"""Signing keys, rotation and access tokens, verified by the runtime's JwtVerifier against our JWKS."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bangke_runtime.auth import JwtVerifier, TokenExpired, TokenInvalid
from bangke_runtime.settings import ServiceSettings
from identity_svc.adapters.keys import RETIREMENT_LEEWAY_S, KeyStore
from identity_svc.service_layer.tokens import TokenIssuer
from identity_svc.settings import IdentitySettings

ACCOUNT = {
    "_id": "eng-1", "role": "engineer", "provider_id": "p1", "outlet_id": "o1", "region_id": "r1", "name": "张伟",
}


class FakeWallClock:
    def __init__(self) -> None:
        # Start in the past, so that tokens issued after advancing are not issued in the verifier's future.
        self.now = datetime.now(UTC) - timedelta(seconds=30)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_store(directory: Path, clock: FakeWallClock, delay_s: float = 0.0) -> KeyStore:
    store = KeyStore(directory, activation_delay_s=delay_s, token_ttl_s=900, reload_s=0.0, wall_clock=clock)
    store.ensure_key()
    return store


def verifier_for(store: KeyStore, tmp_path: Path) -> JwtVerifier:
    jwks_file = tmp_path / f"jwks-{len(list(tmp_path.glob('jwks-*')))}.json"
    jwks_file.write_text(json.dumps(store.jwks()))
    return JwtVerifier(ServiceSettings(jwt_jwks_file=jwks_file))


def issuer_for(store: KeyStore) -> TokenIssuer:
    return TokenIssuer(store, IdentitySettings(jwt_keys_dir=store.directory))


async def test_token_verifies_with_claims(tmp_path):
    store = make_store(tmp_path / "keys", FakeWallClock())
    token = issuer_for(store).access_token(ACCOUNT)

    principal = await verifier_for(store, tmp_path).verify(token)

    assert principal.subject == "eng-1"
    assert principal.role == "engineer"
    assert (principal.provider_id, principal.outlet_id, principal.region_id) == ("p1", "o1", "r1")
    assert principal.name == "张伟"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == store.signer().kid
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "bangke-identity"
    assert claims["aud"] == "bangke"
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 32


async def test_expired_token_rejected(tmp_path):
    clock = FakeWallClock()
    store = make_store(tmp_path / "keys", clock)
    clock.advance(-1000)
    token = issuer_for(store).access_token(ACCOUNT)
    clock.advance(1000)

    with pytest.raises(TokenExpired):
        await verifier_for(store, tmp_path).verify(token)


async def test_tampered_token_rejected(tmp_path):
    store = make_store(tmp_path / "keys", FakeWallClock())
    token = issuer_for(store).access_token(ACCOUNT)
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["role"] = "operator"
    forged = ".".join([header, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature])

    with pytest.raises(TokenInvalid) as caught:
        await verifier_for(store, tmp_path).verify(forged)
    assert caught.value.details["reason"] == "InvalidSignatureError"


async def test_token_signed_by_other_key_rejected(tmp_path):
    store = make_store(tmp_path / "keys", FakeWallClock())
    genuine = issuer_for(store).access_token(ACCOUNT)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": store.signer().kid})
    unknown_kid = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "not-ours"})
    verifier = verifier_for(store, tmp_path)

    with pytest.raises(TokenInvalid):
        await verifier.verify(forged)
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(unknown_kid)
    assert caught.value.details["reason"] == "unknown_key"


async def test_rotation_keeps_old_tokens_valid(tmp_path):
    clock = FakeWallClock()
    store = make_store(tmp_path / "keys", clock)
    issuer = issuer_for(store)
    old_kid = store.signer().kid
    old_token = issuer.access_token(ACCOUNT)

    clock.advance(1)
    state = store.rotate()
    new_token = issuer.access_token(ACCOUNT)

    assert state.key.kid != old_kid
    assert jwt.get_unverified_header(new_token)["kid"] == state.key.kid
    verifier = verifier_for(store, tmp_path)
    assert (await verifier.verify(old_token)).subject == "eng-1"
    assert (await verifier.verify(new_token)).subject == "eng-1"
    assert {key["kid"] for key in store.jwks()["keys"]} == {old_kid, state.key.kid}


async def test_retired_key_leaves_jwks_after_tokens_expire(tmp_path):
    clock = FakeWallClock()
    store = make_store(tmp_path / "keys", clock)
    old_kid = store.signer().kid
    clock.advance(1)
    new_kid = store.rotate().key.kid

    clock.advance(900 + RETIREMENT_LEEWAY_S - 2)
    assert {key["kid"] for key in store.jwks()["keys"]} == {old_kid, new_kid}
    clock.advance(3)
    assert [key["kid"] for key in store.jwks()["keys"]] == [new_kid]

    clock.advance(1)
    third = store.rotate().key.kid
    assert not (store.directory / f"{old_kid}.pem").exists()
    assert {path.stem for path in store.directory.glob("*.pem")} == {new_kid, third}


async def test_new_key_signs_after_activation_delay(tmp_path):
    clock = FakeWallClock()
    store = make_store(tmp_path / "keys", clock, delay_s=60)
    old_kid = store.signer().kid
    clock.advance(1)
    new_kid = store.rotate().key.kid

    assert store.signer().kid == old_kid
    assert new_kid in {key["kid"] for key in store.jwks()["keys"]}
    clock.advance(61)
    assert store.signer().kid == new_kid


def test_key_files_are_private_and_reloaded(tmp_path):
    clock = FakeWallClock()
    directory = tmp_path / "keys"
    store = make_store(directory, clock)
    files = list(directory.glob("*.pem"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o777 == 0o600

    # A second replica sharing the folder loads a key the first one added.
    other = make_store(directory, clock)
    clock.advance(1)
    added = store.rotate().key.kid
    other.load()
    assert other.signer().kid == added


def test_ensure_key_keeps_existing_key(tmp_path):
    clock = FakeWallClock()
    store = make_store(tmp_path / "keys", clock)
    kid = store.signer().kid
    store.ensure_key()
    assert [path.stem for path in (tmp_path / "keys").glob("*.pem")] == [kid]
