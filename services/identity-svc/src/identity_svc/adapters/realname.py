"""Real-name authentication: the adapter interface, and the default that applies local checks only.

An adapter for an external service (for example a licensed identity verification provider) implements
``RealNameVerifier``; the service wires one in ``bootstrap.py``.
"""

from typing import Protocol

from ..domain.engineers import RealNameResult

LOCAL_CHECKS_NOTE = (
    "仅完成本地校验（身份证号格式、地区码、出生日期和校验码），未向公安或第三方实名认证机构核验姓名与身份证号是否一致"
)


class RealNameVerifier(Protocol):
    async def verify(self, name: str, id_number: str) -> RealNameResult:
        """Check that ``name`` and ``id_number`` belong to one real person."""
        ...


class LocalChecksVerifier:
    """Accept every name and ID number that passed the local validators, and report that nothing else was checked."""

    method = "local_checks"

    async def verify(self, name: str, id_number: str) -> RealNameResult:
        return RealNameResult(verified=True, method=self.method, note=LOCAL_CHECKS_NOTE)
