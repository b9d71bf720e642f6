"""The final state of one demo run, read through the APIs and from Kafka, in a form free of generated names.

Each run of the demo has its own people, ids, run id and first day, so two runs never share a raw
value. ``Normaliser`` rewrites every view: known ids become labels (E07, E07.gas_appliance, O1,
outlet A), the run's people become their labels, dates become the planned date they stand for
(E01.work_at_height.expires) or their distance from the first day (d+12), instants become a date
and a wall-clock time in Beijing, unknown ids become <id>, and fields that only carry when a
request happened (``*_at``) are left out. Lists whose order is history (decisions, the job log,
exam results) keep their order; other lists are sorted, so the order in which rows were stored
does not count.

Events on Kafka are counted per topic and type for the run's engineers, orders and organisation,
once per event id (a relay may publish one event twice after a crash, which is allowed: consumers
apply each id once), and the raw copies are counted beside it.
"""

import asyncio
import json
import re
from collections import Counter
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bangke_runtime.personal_data import mask_id_number, mask_mobile

from scenarios.demo.client import gather_limited
from scenarios.demo.run import Demo

from .kafka_io import Message

CST = ZoneInfo("Asia/Shanghai")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# "customer" contains a made-up customer drawn fresh for each order. The other keys record when or where a request went.
DROPPED_KEYS = {"url", "key", "expires_in_s", "request_id", "clock", "at", "time", "timestamp", "customer"}
HISTORY_KEYS = {"decisions", "job_log", "exam_results", "versions"}
READ_CONCURRENCY = 12


class Normaliser:
    def __init__(self, demo: Demo) -> None:
        self.d0 = demo.d0
        self.ids: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.days: dict[date, str] = {}
        for engineer in demo.engineers:
            self.ids[engineer.engineer_id] = engineer.label
            if engineer.actor.account_id:
                self.ids.setdefault(engineer.actor.account_id, f"{engineer.label}.account")
            person = engineer.person
            self.texts[person.id_number] = f"<{engineer.label}.id_number>"
            self.texts[mask_id_number(person.id_number)] = f"<{engineer.label}.id_number masked>"
            self.texts[person.mobile] = f"<{engineer.label}.mobile>"
            self.texts[mask_mobile(person.mobile)] = f"<{engineer.label}.mobile masked>"
            self.texts[person.name] = f"<{engineer.label}.name>"
        for item in demo.plan:
            symbol = f"{item.engineer.label}.{item.certificate_type}"
            self.ids[item.certificate_id] = symbol
            self.days.setdefault(item.issued_on, f"{symbol}.issued")
            self.days.setdefault(item.expires_on, f"{symbol}.expires")
        for name, order_id in demo.orders.items():
            self.ids[order_id] = name
        for name, outlet_id in demo.outlets.items():
            self.ids[outlet_id] = f"outlet {name}"
        for name, actor in demo.staff.items():
            if actor.account_id:
                self.ids[actor.account_id] = name
        if demo.operator is not None and demo.operator.account_id:
            self.ids[demo.operator.account_id] = "operator"
        self.ids[demo.region_id] = "region"
        self.ids[demo.provider_id] = "provider"
        self.texts[demo.run_id.upper()] = "<run>"
        self.texts[demo.run_id] = "<run>"
        # Longest first, so a name never replaces part of a longer one.
        self._text_order = sorted((t for t in self.texts if t), key=len, reverse=True)

    def day(self, value: date) -> str:
        if value.year >= 2090:
            return value.isoformat()  # "no end" dates, such as 2099-12-31
        return self.days.get(value) or f"d{(value - self.d0).days:+d}"

    def text(self, value: str) -> str:
        if value in self.ids:
            return self.ids[value]
        for known in self._text_order:
            if known in value:
                value = value.replace(known, self.texts[known])
        value = HEX_ID.sub(lambda m: self.ids.get(m.group(0), "<id>"), value)

        def instant(match: re.Match[str]) -> str:
            try:
                moment = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
            except ValueError:
                return match.group(0)
            if moment.tzinfo is not None:
                moment = moment.astimezone(CST)
            return f"{self.day(moment.date())}T{moment:%H:%M}"

        value = INSTANT.sub(instant, value)

        def day(match: re.Match[str]) -> str:
            try:
                return self.day(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
            except ValueError:
                return match.group(0)

        return DAY.sub(day, value)

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {
                k: self(v, k)
                for k, v in sorted(value.items())
                if k not in DROPPED_KEYS and not k.endswith("_at") and "masked" not in k
            }
        if isinstance(value, list):
            items = [self(v, key) for v in value]
            if key in HISTORY_KEYS:
                return items
            return sorted(items, key=lambda item: json.dumps(item, ensure_ascii=False, sort_keys=True))
        if isinstance(value, str):
            return self.text(value)
        return value


async def _get(actor: Any, path: str) -> Any:
    response = await actor.send("GET", path)
    if response.status_code != 200:
        return {"http_status": response.status_code}
    return response.json()


async def api_state(demo: Demo) -> dict[str, Any]:
    """Read every engineer's certificates, reviews, qualifications, exams and reminders, and the run's orders."""
    normalise = Normaliser(demo)
    admin = demo.staff["admin"]

    async def engineer_state(engineer: Any) -> tuple[str, dict[str, Any]]:
        actor = engineer.actor
        manager = demo.staff[f"manager_{engineer.outlet}"]
        certificates = await _get(actor, "/api/certificate/certificates")
        review_ids = sorted({
            decision["review_id"]
            for certificate in (certificates if isinstance(certificates, list) else [])
            for version in certificate.get("versions", [])
            for decision in version.get("decisions", [])
            if decision.get("review_id")
        } | {review_id for (certificate_id, _), review_id in demo.review_index.items()
             if certificate_id in engineer.certificates.values()})
        reviews = [await _get(manager, f"/api/review/tasks/{review_id}") for review_id in review_ids]
        state = {
            "identity": await _get(admin, f"/api/identity/engineers/{engineer.engineer_id}"),
            "certificates": certificates,
            "reviews": reviews,
            "qualifications": await _get(actor, "/api/qualification/qualifications"),
            "exam_attempts": await _get(actor, "/api/exam/attempts"),
            "notifications": await _get(actor, "/api/certificate/notifications"),
        }
        # Only the latest reminder is compared; every reminder is kept for the check of duplicates.
        reminders = state.pop("notifications")
        state["latest_reminders"] = latest_reminders(reminders)
        return engineer.label, (normalise(state), normalise(reminders))

    # Reads only, so more of them may be in flight than the demo's writes; the pacer still keeps the
    # client under the gateway's rate limit.
    demo.gateway.slots = asyncio.Semaphore(READ_CONCURRENCY)
    read = dict(await gather_limited(demo.engineers, engineer_state, limit=READ_CONCURRENCY))
    dispatcher = demo.staff["dispatcher"]
    orders = {name: normalise(await _get(dispatcher, f"/api/order/orders/{order_id}"))
              for name, order_id in sorted(demo.orders.items())}
    return {
        "engineers": {label: state for label, (state, _) in read.items()},
        "orders": orders,
        "all_reminders": {label: reminders for label, (_, reminders) in read.items()},
    }


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """Return the part of ``api_state`` that must be equal between runs (all but ``all_reminders``)."""
    return {key: value for key, value in state.items() if key != "all_reminders"}


def latest_reminders(notifications: Any) -> Any:
    """Keep the most urgent expiry reminder of each certificate version.

    Which earlier reminders exist depends on timing, not on faults. The daily reminder job issues the
    nearest threshold reached (30, 7 or 1 days), and its scheduled run notices a jump of the demo's
    clock only within 5 s. So a day on which the demo's clock rests for a few seconds may get no
    scheduled run, and a certificate that took effect a moment after a run gets its 30-day reminder
    only when a later run falls before the 7-day threshold. The most urgent reminder comes from the
    run the demo triggers itself, so it is the same in every run.
    """
    if not isinstance(notifications, list):
        return notifications
    latest: dict[tuple[Any, Any], dict[str, Any]] = {}
    for item in notifications:
        key = (item.get("certificate_id"), item.get("version"))
        if key not in latest or item.get("days_before", 0) < latest[key].get("days_before", 0):
            latest[key] = item
    return list(latest.values())


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def run_ids(demo: Demo) -> set[str]:
    ids = {e.engineer_id for e in demo.engineers} | {p.certificate_id for p in demo.plan}
    ids |= set(demo.orders.values()) | set(demo.outlets.values()) | {demo.region_id, demo.provider_id}
    return {i for i in ids if i}


# Events whose number depends on when the scheduled reminder job ran (see latest_reminders). They are
# counted once per certificate reminded instead of once per event id.
SCHEDULE_DEPENDENT = {"notification.expiry_reminder_issued": "subject_id"}


def event_counts(demo: Demo, messages: list[Message]) -> tuple[dict[str, int], dict[str, int]]:
    """Count the run's events per "topic type": distinct event ids, and raw copies.

    Reminder events are counted per certificate reminded, and their names end in "(certificates)".
    """
    ids = run_ids(demo)
    distinct: dict[str, set[str]] = {}
    copies: Counter[str] = Counter()
    for message in messages:
        body = message.json()
        if body is None or not (_strings(body.get("payload")) & ids):
            continue
        kind = str(body.get("type"))
        if kind in SCHEDULE_DEPENDENT:
            name = f"{message.topic} {kind} (certificates)"
            identity = str((body.get("payload") or {}).get(SCHEDULE_DEPENDENT[kind]))
        else:
            name = f"{message.topic} {kind}"
            identity = str(body.get("event_id"))
        distinct.setdefault(name, set()).add(identity)
        copies[name] += 1
    return {name: len(events) for name, events in sorted(distinct.items())}, dict(sorted(copies.items()))


def duplicates_applied(state: dict[str, Any]) -> list[str]:
    """Find effects recorded twice: repeated decisions, job-log entries, exam results or grants."""
    found: list[str] = []

    def repeated(where: str, items: list[Any]) -> None:
        seen = Counter(json.dumps(item, ensure_ascii=False, sort_keys=True) for item in items)
        for text, count in seen.items():
            if count > 1:
                found.append(f"{where}: {count} x {text[:200]}")

    for label, engineer in state["engineers"].items():
        for certificate in engineer.get("certificates") or []:
            for version in certificate.get("versions", []):
                repeated(f"{label} {certificate.get('certificate_type')} v{version.get('version')} decisions",
                         version.get("decisions", []))
        for review in engineer.get("reviews") or []:
            repeated(f"{label} review decisions", review.get("decisions", []) if isinstance(review, dict) else [])
        qualifications = engineer.get("qualifications") or []
        if isinstance(qualifications, list):
            granted = [q.get("qualification_type") for q in qualifications if q.get("status") == "granted"]
            repeated(f"{label} granted qualifications", granted)
            for q in qualifications:
                repeated(f"{label} {q.get('qualification_type')} exam results", q.get("exam_results", []))
        reminders = state.get("all_reminders", {}).get(label)
        if isinstance(reminders, list):
            repeated(f"{label} reminders", reminders)
    for name, order in state["orders"].items():
        repeated(f"order {name} job log", order.get("job_log", []) if isinstance(order, dict) else [])
    return found


def differences(clean: Any, faulty: Any, path: str = "") -> list[str]:
    """List where two normalised states differ, as "path: clean -> fault run"."""
    if isinstance(clean, dict) and isinstance(faulty, dict):
        found: list[str] = []
        for key in sorted(set(clean) | set(faulty)):
            if key not in faulty:
                found.append(f"{path}/{key}: only in the clean run")
            elif key not in clean:
                found.append(f"{path}/{key}: only in the fault run")
            else:
                found.extend(differences(clean[key], faulty[key], f"{path}/{key}"))
        return found
    if isinstance(clean, list) and isinstance(faulty, list) and len(clean) == len(faulty):
        found = []
        for index, (a, b) in enumerate(zip(clean, faulty, strict=True)):
            found.extend(differences(a, b, f"{path}[{index}]"))
        return found
    if clean != faulty:
        return [f"{path}: {_short(clean)} -> {_short(faulty)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["Normaliser", "api_state", "comparable", "differences", "duplicates_applied", "event_counts"]
