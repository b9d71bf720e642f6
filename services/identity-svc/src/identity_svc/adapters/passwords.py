"""Password hashing with Argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile).

Hashing and verifying take tens of milliseconds of CPU, so they run in worker threads.
"""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when the mobile number has no account, so that the response time does not reveal it.
_DUMMY_HASH = _hasher.hash("bangke-dummy-password-0")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True when ``password`` matches; a missing hash never matches but costs the same time."""
    return await asyncio.to_thread(_verify, password_hash, password)
