"""Request bodies of the HTTP API and the shape of an order in responses."""

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bangke_contracts.common import Id
from bangke_runtime.auth import Principal

from ..domain.orders import STATUS_NAMES, OrderStatus, customer_view, missing_evidence
from ..service_layer.context import OrderContext
from ..service_layer.scope import sees_customer

Text = Annotated[str, Field(min_length=1, max_length=1000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(Body):
    name: str = Field(min_length=1, max_length=50, examples=["王芳"])
    mobile: str = Field(pattern=r"^1\d{10}$", description="11 digits, starting with 1.", examples=["13800138000"])
    address: str = Field(min_length=5, max_length=200, examples=["上海市浦东新区世纪大道100号2号楼1201室"])


class AppointmentIn(Body):
    start: AwareDatetime = Field(description="Start of the appointment window, ISO 8601 with an offset.")
    end: AwareDatetime = Field(description="End of the window; at most 24 hours after the start.")
    timezone: str = Field("Asia/Shanghai", description="IANA time zone the customer booked in; used for display.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("未知的时区，请填写 IANA 时区名，例如 Asia/Shanghai") from error
        return value


class CreateOrderIn(Body):
    service_type: str = Field(examples=["split_ac_installation"])
    outlet_id: Id
    region_id: Id | None = Field(None, description="Region of the outlet; required when dispatch_area is region.")
    provider_id: Id | None = Field(None, description="Service provider; a dispatcher's token provider wins.")
    dispatch_area: Literal["outlet", "region"] = "outlet"
    customer: CustomerIn
    appointment: AppointmentIn
    external_reference: str | None = Field(None, max_length=100, description="Order number in the retail order system.")


class OfferIn(Body):
    engineer_id: Id
    reason: str | None = Field(None, max_length=200, description="Why the order is reassigned, when it is.")


class DeclineIn(Body):
    reason: str = Field(min_length=1, max_length=200, examples=["当天已满单"])


class LocationIn(Body):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class CheckInIn(Body):
    location: LocationIn | None = None
    note: str | None = Field(None, max_length=500)


class UploadRequestIn(Body):
    kind: str = Field(examples=["serial_number_photo"])
    content_type: str | None = Field(None, examples=["image/jpeg"])


class EvidenceIn(Body):
    kind: str = Field(examples=["serial_number_photo"])
    key: str = Field(min_length=1, max_length=300, description="The key returned with the upload URL.")
    note: str | None = Field(None, max_length=500)


class NoteIn(Body):
    text: Text


def present_order(ctx: OrderContext, principal: Principal, order: dict[str, Any]) -> dict[str, Any]:
    """Render an order for ``principal``: customer data masked unless they may see it in full."""
    service = ctx.service_types.services.get(order["service_type"])
    evidence = order.get("evidence", [])
    body = {
        "order_id": order["_id"],
        "status": order["status"],
        "status_name": STATUS_NAMES[OrderStatus(order["status"])],
        "provider_id": order.get("provider_id"),
        "outlet_id": order["outlet_id"],
        "region_id": order.get("region_id"),
        "dispatch_area": order.get("dispatch_area", "outlet"),
        "service_type": order["service_type"],
        "service_type_name": service.name if service else order["service_type"],
        "qualification_type": order["qualification_type"],
        "qualification_name": ctx.qualification_name(order["qualification_type"]),
        "required_evidence": order.get("required_evidence", []),
        "missing_evidence": missing_evidence(order.get("required_evidence", []), (item["kind"] for item in evidence)),
        "customer": customer_view(order["customer"], full=sees_customer(principal, order)),
        "appointment": {
            "start": order["appointment_start"],
            "end": order["appointment_end"],
            "timezone": order.get("appointment_timezone", "Asia/Shanghai"),
        },
        "offered_to": order.get("offered_to"),
        "engineer_id": order.get("engineer_id"),
        "at_risk": order.get("at_risk"),
        "evidence": [
            {key: item.get(key) for key in ("evidence_id", "kind", "key", "media_type", "size", "note", "recorded_at", "recorded_by")}
            for item in evidence
        ],
        "notes": order.get("notes", []),
        "checked_in_at": order.get("checked_in_at"),
        "completed_at": order.get("completed_at"),
        "created_at": order.get("created_at"),
        "updated_at": order.get("updated_at"),
        "external_reference": order.get("external_reference"),
    }
    if "job_log" in order and (principal.role != "engineer" or order.get("engineer_id") == principal.subject):
        body["job_log"] = order["job_log"]
    return body
