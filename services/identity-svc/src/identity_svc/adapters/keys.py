"""RSA signing keys kept as PEM files in one folder, and the JWKS built from them.

Each key is a file ``<kid>.pem``; the kid starts with the key's creation time in UTC, so sorting the
names sorts the keys by age. Rotation writes a new file. A new key is published in the JWKS at once
and becomes the signer ``activation_delay_s`` later, so verifiers that cached the JWKS can learn it
before they see a token it signed. A key that stopped signing stays in the JWKS until every access
token it signed has expired, then ``rotate`` deletes its file. Replicas that share the folder re-read
it every ``reload_s`` seconds and so follow a rotation that another replica or the CLI made.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

log = structlog.get_logger()

ALGORITHM = "RS256"
RSA_KEY_BITS = 2048
RETIREMENT_LEEWAY_S = 60
"""Extra seconds a retired key stays published, for clock skew between identity-svc and verifiers."""

_KID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    created_at: datetime
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return jwk


@dataclass(frozen=True, slots=True)
class KeyState:
    key: SigningKey
    activates_at: datetime
    retired_at: datetime | None
    published_until: datetime | None


def new_kid(now: datetime) -> str:
    return f"{now.astimezone(UTC).strftime(_KID_TIME_FORMAT)}-{uuid.uuid4().hex[:8]}"


def kid_created_at(kid: str) -> datetime:
    return datetime.strptime(kid.split("-", 1)[0], _KID_TIME_FORMAT).replace(tzinfo=UTC)


def key_states(
    keys: list[SigningKey], now: datetime, *, activation_delay_s: float, token_ttl_s: float
) -> list[KeyState]:
    """Return each key's life cycle, oldest first: when it signs from, stopped signing, leaves the JWKS.

    The oldest key signs from its creation, because nothing else could sign before it.
    """
    ordered = sorted(keys, key=lambda key: key.kid)
    delay = timedelta(seconds=activation_delay_s)
    activations = [key.created_at if i == 0 else key.created_at + delay for i, key in enumerate(ordered)]
    states = []
    for i, key in enumerate(ordered):
        later = [at for at in activations[i + 1 :] if at <= now]
        retired_at = min(later) if later else None
        published_until = (
            retired_at + timedelta(seconds=token_ttl_s + RETIREMENT_LEEWAY_S) if retired_at is not None else None
        )
        states.append(KeyState(key, activations[i], retired_at, published_until))
    return states


def signer_of(states: list[KeyState], now: datetime) -> SigningKey:
    """Return the newest key whose activation time has come."""
    active = [state for state in states if state.activates_at <= now]
    return (active[-1] if active else states[0]).key


def published(states: list[KeyState], now: datetime) -> list[SigningKey]:
    return [state.key for state in states if state.published_until is None or now < state.published_until]


class KeyStore:
    """The key folder, cached in memory and re-read every ``reload_s`` seconds."""

    def __init__(
        self,
        directory: Path,
        *,
        activation_delay_s: float,
        token_ttl_s: float,
        reload_s: float = 10.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.activation_delay_s = activation_delay_s
        self.token_ttl_s = token_ttl_s
        self.reload_s = reload_s
        # Token times are checked by verifiers against their wall clock, so keys use it as well.
        self.wall_clock = wall_clock
        self._keys: list[SigningKey] = []
        self._loaded_at = float("-inf")

    # -- file system (blocking; async callers go through ``refresh``) --------------------------

    def load(self) -> list[SigningKey]:
        """Read every key file of the folder; skip, with a warning, files that are not RSA keys."""
        keys = []
        for path in sorted(self.directory.glob("*.pem")):
            try:
                private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                created_at = kid_created_at(path.stem)
            except (ValueError, TypeError, OSError) as error:
                log.warning("keys.file_skipped", file=path.name, error_type=type(error).__name__)
                continue
            if not isinstance(private_key, rsa.RSAPrivateKey):
                log.warning("keys.file_skipped", file=path.name, error_type="not_an_rsa_key")
                continue
            keys.append(SigningKey(path.stem, created_at, private_key))
        self._keys = keys
        self._loaded_at = time.monotonic()
        return keys

    def _write_new_key(self) -> SigningKey:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = self.wall_clock()
        key = SigningKey(new_kid(now), now, rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS))
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Write under a temporary name and rename, so a replica never reads half a key.
        temporary = self.directory / f".{key.kid}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        temporary.rename(self.directory / f"{key.kid}.pem")
        log.info("keys.created", kid=key.kid)
        return key

    def ensure_key(self) -> None:
        """Generate the first key when the folder contains none."""
        if not self.load():
            self._write_new_key()
            self.load()

    def rotate(self) -> KeyState:
        """Add a key that signs after the activation delay, delete keys no token needs, return the new key."""
        key = self._write_new_key()
        self.load()
        self._prune()
        return next(state for state in self.states() if state.key.kid == key.kid)

    def _prune(self) -> None:
        now = self.wall_clock()
        keep = {key.kid for key in published(self.states(), now)}
        for key in self._keys:
            if key.kid not in keep:
                (self.directory / f"{key.kid}.pem").unlink(missing_ok=True)
                log.info("keys.deleted", kid=key.kid)
        self.load()

    # -- in memory -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read the folder when the cache is older than ``reload_s``."""
        if time.monotonic() - self._loaded_at >= self.reload_s or not self._keys:
            await asyncio.to_thread(self.load)

    def states(self) -> list[KeyState]:
        return key_states(
            self._keys, self.wall_clock(), activation_delay_s=self.activation_delay_s, token_ttl_s=self.token_ttl_s
        )

    def signer(self) -> SigningKey:
        if not self._keys:
            raise RuntimeError(f"no signing key in {self.directory}")
        return signer_of(self.states(), self.wall_clock())

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in published(self.states(), self.wall_clock())]}
