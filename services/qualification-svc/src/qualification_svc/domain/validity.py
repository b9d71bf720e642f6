"""Validity of a qualification: the earliest expiry among its required certificates.

A qualification that needs certificates is valid until the earliest expiry date among the current
effective versions of all its required certificates. One that needs none is valid until 2099-12-31.
Dates are calendar days in China Standard Time; a certificate is in effect through its expiry day.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bangke_contracts.qualifications import NO_CERTIFICATE_VALID_UNTIL


@dataclass(frozen=True, slots=True)
class HeldCertificate:
    """One effective certificate version in the engineer's projection."""

    certificate_id: str
    version: int
    certificate_type: str
    expires_on: date

    def in_effect_on(self, day: date) -> bool:
        return day <= self.expires_on


@dataclass(frozen=True, slots=True)
class Validity:
    """Outcome of a validity calculation.

    ``valid_until`` is None when a required certificate type has no version in effect; ``missing``
    then lists those types in the order the qualification type names them.
    """

    valid_until: date | None
    limiting: HeldCertificate | None
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def best_certificate(
    certificate_type: str, certificates: Iterable[HeldCertificate], today: date
) -> HeldCertificate | None:
    """Return the in-effect version of ``certificate_type`` that expires last, or None.

    An engineer normally holds one certificate per type; when two are in effect (a re-upload under a
    new certificate id), the one that lasts longer is the one that counts.
    """
    candidates = [c for c in certificates if c.certificate_type == certificate_type and c.in_effect_on(today)]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.expires_on, c.version, c.certificate_id))


def calculate_validity(
    required_types: Sequence[str], certificates: Iterable[HeldCertificate], today: date
) -> Validity:
    """Calculate validity for a qualification that needs ``required_types``."""
    held = list(certificates)
    if not required_types:
        return Validity(NO_CERTIFICATE_VALID_UNTIL, None, ())
    chosen: list[HeldCertificate] = []
    missing: list[str] = []
    for certificate_type in required_types:
        best = best_certificate(certificate_type, held, today)
        if best is None:
            missing.append(certificate_type)
        else:
            chosen.append(best)
    if missing:
        return Validity(None, None, tuple(missing))
    # Ties go to the type listed first, so the limiting certificate does not flip between equal dates.
    limiting = min(chosen, key=lambda c: c.expires_on)
    return Validity(limiting.expires_on, limiting, ())
