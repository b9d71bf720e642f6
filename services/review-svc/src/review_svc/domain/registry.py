"""Comparing an uploaded certificate with what the safety registry (安监网) holds for its number.

The registry's public query returns, per certificate: name, sex, certificate number, operation
category (作业类别), operation item (操作项目), first issue date, validity start and end, due and
actual re-examination dates, issuing authority, and a status. One number can carry several records,
because a special-operations certificate is numbered after the holder's ID number and covers every
operation item the holder passed.

A certificate matches when one record of its number has the catalogue's operation category and
item for its type, the same holder name, a validity start equal to the uploaded issue date, a
validity end equal to the uploaded expiry date, and a status that is not revoked.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

RegistryOutcome = Literal["found_matching", "not_found", "mismatch"]

VALID_STATUSES = frozenset({"", "valid", "active", "有效", "正常"})
_NUMBER_WITH_PREFIX = re.compile(r"^T(\d{17}[\dX])$")


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """One certificate as the registry's public query shows it."""

    name: str
    certificate_number: str
    operation_category: str
    operation_item: str
    validity_start: date
    validity_end: date
    sex: str = ""
    first_issue_date: date | None = None
    due_reexamination_date: date | None = None
    actual_reexamination_date: date | None = None
    issuing_authority: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class Difference:
    """A field where the upload and the registry disagree, with both values for the reviewer."""

    field: str
    uploaded: str
    registry: str


@dataclass(frozen=True, slots=True)
class RegistryVerdict:
    outcome: RegistryOutcome
    differences: tuple[Difference, ...] = ()


class UploadedCertificate(Protocol):
    """What the comparison reads from a review task."""

    number: str
    holder_name: str
    issued_on: date
    expires_on: date


def normalise_number(number: str) -> str:
    """Return the lookup key of a certificate number: upper case, no spaces, no leading ``T``.

    Special-operations numbers are written both as ``T`` plus the ID number and as the bare ID
    number, so both spellings find the same record.
    """
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", number)).upper()
    prefixed = _NUMBER_WITH_PREFIX.match(compact)
    return prefixed.group(1) if prefixed else compact


def normalise_name(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def is_revoked(status: str) -> bool:
    return status.strip().lower() not in VALID_STATUSES


def compare_with_registry(
    certificate: UploadedCertificate,
    operation_category: str | None,
    operation_item: str | None,
    records: list[RegistryRecord],
) -> RegistryVerdict:
    """Compare the upload with the registry records of its number.

    ``operation_category`` and ``operation_item`` come from the catalogue entry of the certificate's
    type. Among several records, the one with the fewest differences is reported.
    """
    if not records:
        return RegistryVerdict("not_found")
    candidates = [
        record
        for record in records
        if record.operation_category == operation_category and record.operation_item == operation_item
    ]
    if not candidates:
        first = records[0]
        return RegistryVerdict(
            "mismatch",
            (
                Difference("operation_category", operation_category or "", first.operation_category),
                Difference("operation_item", operation_item or "", first.operation_item),
            ),
        )
    best = min((_differences(certificate, record) for record in candidates), key=len)
    if not best:
        return RegistryVerdict("found_matching")
    return RegistryVerdict("mismatch", best)


def _differences(certificate: UploadedCertificate, record: RegistryRecord) -> tuple[Difference, ...]:
    found: list[Difference] = []
    if normalise_name(certificate.holder_name) != normalise_name(record.name):
        found.append(Difference("holder_name", certificate.holder_name, record.name))
    if certificate.issued_on != record.validity_start:
        found.append(Difference("validity_start", certificate.issued_on.isoformat(), record.validity_start.isoformat()))
    if certificate.expires_on != record.validity_end:
        found.append(Difference("validity_end", certificate.expires_on.isoformat(), record.validity_end.isoformat()))
    if is_revoked(record.status):
        found.append(Difference("status", "valid", record.status))
    return tuple(found)
