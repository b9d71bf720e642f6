"""Who sees which people, and who sees their personal data unmasked.

Scopes follow the token's claims: an engineer sees themself, an outlet manager their outlet, a
training manager their region, a dispatcher their provider within their outlet or region, a provider
admin their provider, an operator everyone. ID and mobile numbers are shown in full only to the
person themself, the admins of their provider and operators; everyone else gets masked numbers.
"""

from typing import Any

from bangke_runtime.auth import Principal
from bangke_runtime.personal_data import mask_id_number, mask_mobile

_NOTHING = {"_id": {"$in": []}}


def person_filter(principal: Principal) -> dict[str, Any]:
    """Return the MongoDB filter of the accounts ``principal`` may see; matches nothing for unknown roles."""
    role = principal.role
    if role == "operator":
        return {}
    if role == "engineer":
        return {"_id": principal.subject}
    if role == "provider_admin" and principal.provider_id:
        return {"provider_id": principal.provider_id}
    if role == "outlet_manager" and principal.outlet_id:
        return {"outlet_id": principal.outlet_id}
    if role == "training_manager" and principal.region_id:
        return {"region_id": principal.region_id}
    if role == "dispatcher" and principal.provider_id:
        if principal.outlet_id:
            return {"provider_id": principal.provider_id, "outlet_id": principal.outlet_id}
        if principal.region_id:
            return {"provider_id": principal.provider_id, "region_id": principal.region_id}
    return dict(_NOTHING)


def outlet_filter(principal: Principal) -> dict[str, Any]:
    """Return the MongoDB filter of the outlets ``principal`` may see."""
    role = principal.role
    if role == "operator":
        return {}
    if role == "provider_admin" and principal.provider_id:
        return {"provider_id": principal.provider_id}
    if role in ("engineer", "outlet_manager") and principal.outlet_id:
        return {"_id": principal.outlet_id}
    if role == "training_manager" and principal.region_id:
        return {"region_id": principal.region_id}
    if role == "dispatcher" and principal.provider_id:
        if principal.outlet_id:
            return {"_id": principal.outlet_id}
        if principal.region_id:
            return {"provider_id": principal.provider_id, "region_id": principal.region_id}
    return dict(_NOTHING)


def matches(document: dict[str, Any], scope_filter: dict[str, Any]) -> bool:
    """Return True when ``document`` satisfies a filter built by this module (plain equalities only)."""
    for field, expected in scope_filter.items():
        if isinstance(expected, dict):
            return False
        if document.get(field) != expected:
            return False
    return True


def sees_personal_data(principal: Principal, person: dict[str, Any]) -> bool:
    """Return True when ``principal`` may read ``person``'s ID and mobile numbers in full."""
    if principal.role == "operator" or principal.subject == person["_id"]:
        return True
    return principal.role == "provider_admin" and principal.provider_id is not None and (
        principal.provider_id == person.get("provider_id")
    )


def shown_mobile(principal: Principal, person: dict[str, Any]) -> str:
    return person["mobile"] if sees_personal_data(principal, person) else mask_mobile(person["mobile"])


def shown_id_number(principal: Principal, person: dict[str, Any], id_number: str) -> str:
    return id_number if sees_personal_data(principal, person) else mask_id_number(id_number)
