"""Creating accounts: the shared insert with its uniqueness checks, and the bootstrap operator."""

import uuid
from datetime import datetime
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from ..adapters.passwords import hash_password
from ..adapters.repository import ID_NUMBER_INDEX, MOBILE_INDEX, Collections, duplicated_index
from ..domain.errors import IdNumberAlreadyRegistered, MobileAlreadyRegistered
from ..domain.validation import check_mobile, check_password
from ..settings import IdentitySettings

log = structlog.get_logger()


def new_account_id() -> str:
    return uuid.uuid4().hex


def staff_account(
    *,
    account_id: str,
    role: str,
    name: str,
    mobile: str,
    password_hash: str,
    provider_id: str | None,
    outlet_id: str | None,
    region_id: str | None,
    created_by: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "_id": account_id,
        "role": role,
        "status": "active",
        "name": name,
        "mobile": mobile,
        "password_hash": password_hash,
        "provider_id": provider_id,
        "outlet_id": outlet_id,
        "region_id": region_id,
        # Unique filler for the ID number index; only engineers register an ID number.
        "id_number_key": f"none:{account_id}",
        "created_by": created_by,
        "created_at": now,
    }


async def ensure_mobile_free(collections: Collections, mobile: str, field: str = "mobile") -> None:
    if await collections.accounts.count_documents({"mobile": mobile}, limit=1):
        raise MobileAlreadyRegistered(field=field)


async def insert_account(collections: Collections, document: dict[str, Any], mobile_field: str = "mobile") -> None:
    """Insert ``document``; turn a broken unique index into the error that names the field."""
    try:
        await collections.accounts.insert_one(document)
    except DuplicateKeyError as error:
        index = duplicated_index(error)
        if not index:
            # FerretDB v1 does not name the broken index, so look up the account that has the value.
            taken = await collections.accounts.count_documents({"mobile": document["mobile"]}, limit=1)
            index = MOBILE_INDEX if taken else ID_NUMBER_INDEX
        if index == ID_NUMBER_INDEX:
            raise IdNumberAlreadyRegistered(field="id_number") from error
        raise MobileAlreadyRegistered(field=mobile_field) from error


async def ensure_bootstrap_operator(collections: Collections, settings: IdentitySettings, now: datetime) -> None:
    """Create the operator account named in the settings, once; an existing account is left untouched."""
    if not settings.bootstrap_operator_mobile or settings.bootstrap_operator_password is None:
        return
    mobile = check_mobile(settings.bootstrap_operator_mobile, field="BANGKE_BOOTSTRAP_OPERATOR_MOBILE")
    password = check_password(
        settings.bootstrap_operator_password.get_secret_value(), field="BANGKE_BOOTSTRAP_OPERATOR_PASSWORD"
    )
    if await collections.accounts.count_documents({"mobile": mobile}, limit=1):
        return
    account_id = new_account_id()
    document = staff_account(
        account_id=account_id, role="operator", name=settings.bootstrap_operator_name, mobile=mobile,
        password_hash=await hash_password(password), provider_id=None, outlet_id=None, region_id=None,
        created_by="bootstrap", now=now,
    )
    try:
        await collections.accounts.insert_one(document)
    except DuplicateKeyError:
        # Another replica created it at the same moment.
        return
    log.info("accounts.bootstrap_operator_created", account_id=account_id)
