"""MongoDB collections of identity-svc and their indexes.

accounts        every person who signs in; engineers carry their ID number and authentication too.
                One ID number and one mobile number per account, enforced by unique indexes.
providers       service providers, their company and settlement details, and the approval decision.
regions         regions (大区), created by operators.
outlets         outlets (网点), each of one provider in one region.
refresh_tokens  refresh tokens by the SHA-256 of their value, grouped in families that rotate.
sign_in_failures  failed sign-in counters per mobile number or client address and window.
"""

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

MOBILE_INDEX = "mobile_unique"
ID_NUMBER_INDEX = "id_number_unique"
CREDIT_CODE_INDEX = "credit_code_unique"
REGION_NAME_INDEX = "region_name_unique"
OUTLET_NAME_INDEX = "outlet_name_unique"


@dataclass(frozen=True, slots=True)
class Collections:
    accounts: AsyncCollection
    providers: AsyncCollection
    regions: AsyncCollection
    outlets: AsyncCollection
    refresh_tokens: AsyncCollection
    sign_in_failures: AsyncCollection

    @classmethod
    def of(cls, db: AsyncDatabase) -> "Collections":
        return cls(
            accounts=db["accounts"],
            providers=db["providers"],
            regions=db["regions"],
            outlets=db["outlets"],
            refresh_tokens=db["refresh_tokens"],
            sign_in_failures=db["sign_in_failures"],
        )

    async def create_indexes(self) -> None:
        await self.accounts.create_index("mobile", unique=True, name=MOBILE_INDEX)
        # Every account has id_number_key: the ID number's digest for engineers, a unique filler for
        # others, because a unique index counts a missing field as a value and partial indexes are out.
        await self.accounts.create_index("id_number_key", unique=True, name=ID_NUMBER_INDEX)
        for field in ("provider_id", "outlet_id", "region_id", "role"):
            await self.accounts.create_index(field)
        await self.providers.create_index("credit_code", unique=True, name=CREDIT_CODE_INDEX)
        await self.providers.create_index("status")
        await self.regions.create_index("name", unique=True, name=REGION_NAME_INDEX)
        await self.outlets.create_index(
            [("provider_id", ASCENDING), ("name", ASCENDING)], unique=True, name=OUTLET_NAME_INDEX
        )
        await self.outlets.create_index("region_id")
        await self.refresh_tokens.create_index("family_id")
        await self.refresh_tokens.create_index("expires_at")
        await self.sign_in_failures.create_index("delete_after")


def duplicated_index(error: DuplicateKeyError) -> str:
    """Return the name of the unique index ``error`` broke, or an empty string when the server did not name it."""
    text = str((error.details or {}).get("errmsg", "")) + " " + str(error)
    for name in (MOBILE_INDEX, ID_NUMBER_INDEX, CREDIT_CODE_INDEX, REGION_NAME_INDEX, OUTLET_NAME_INDEX):
        if name in text:
            return name
    key_pattern = (error.details or {}).get("keyPattern") or {}
    return {"mobile": MOBILE_INDEX, "id_number_key": ID_NUMBER_INDEX}.get(next(iter(key_pattern), ""), "")
