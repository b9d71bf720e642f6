"""The main job end to end, through the gateway of the running local stack (`make up DEMO_CLOCK=1`).

One provider signs up and is approved; a region gets two outlets, their managers, a training manager
and a dispatcher; 50 engineers register with real-name checks. Engineers upload certificates with
photos; outlet managers review them; the nightly registry check runs against a registry snapshot the
demo loads; the training manager spot-checks the next day. Engineers apply for qualifications (one
refused for a missing certificate, one at the cap), take the built-in exams, and the score
collection grants what passed. Orders are dispatched, accepted and completed with evidence. Then a
certificate expires, its qualification lapses, an accepted order is at risk, and a renewal follows.

Every outcome is compared with the business rules; a failed check prints 预期 and 实际, and the
process exits 1. Run it with `make demo` or `uv run --frozen python -m scenarios.demo`.
"""

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from itertools import combinations
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time as clock_time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bangke_contracts.catalogue import load_catalogue

from .client import Actor, ApiError, Gateway, eventually, eventually_each, gather_limited
from .media import jpeg_grey, png
from .people import People, Person
from .report import Report

REPO = Path(__file__).resolve().parents[2]
STACK_DIR = Path(os.environ.get("BANGKE_STACK_DIR") or REPO / ".stack")
CLOCK_FILE = STACK_DIR / "demo-clock"
OPERATOR_FILE = STACK_DIR / "secrets" / "operator.json"
QUESTION_BANKS = REPO / "services" / "exam-svc" / "src" / "exam_svc" / "question_banks"
GATEWAY_URL = os.environ.get("BANGKE_DEMO_GATEWAY", "http://127.0.0.1:8080")
SERVICES = ("identity", "certificate", "review", "qualification", "exam", "order")
CST = ZoneInfo("Asia/Shanghai")
CATALOGUE = load_catalogue()

# Certificate types of the default catalogue.
LV, WH, RAC, GAS, PJT = "low_voltage_electrician", "work_at_height", "refrigeration_ac", "gas_appliance", "pre_job_training"
REGISTRY_TYPES = (LV, WH, RAC)
TYPE_NAMES = {item.code: item.name for item in CATALOGUE.certificate_types}
QUAL_NAMES = {item.code: item.name for item in CATALOGUE.qualification_types}

STATUS_ZH = {
    "pending": "待考试", "granted": "生效", "withdrawn": "已撤回", "lapsed": "已失效",
    "in_effect": "生效", "under_review": "审核中", "rejected": "驳回", "expired": "已过期", "draft": "草稿",
    "superseded": "已被替换",
}
SETTLE_S = 120.0
"""How long the demo waits for one service to see what another did (events travel through Kafka).

Usually a second or two; much longer only when the machine is busy."""


class Abort(Exception):
    """A step could not run; the steps after it depend on it."""


@dataclass
class Engineer:
    number: int
    person: Person
    outlet: str
    actor: Actor
    group: str
    engineer_id: str = ""
    certificates: dict[str, str] = field(default_factory=dict)  # type -> certificate id

    @property
    def label(self) -> str:
        return f"E{self.number:02d}"


@dataclass
class PlannedCertificate:
    engineer: Engineer
    certificate_type: str
    issued_on: date
    expires_on: date
    number: str
    registry: str  # "match", "absent", "mismatch" or "none" (not a registry type)
    certificate_id: str = ""


class Demo:
    def __init__(self) -> None:
        self.report = Report()
        self.gateway = Gateway(GATEWAY_URL)
        self.run_id = uuid.uuid4().hex[:6]
        self.people = People(int(self.run_id, 16))
        self.d0 = self._first_day()
        self.engineers: list[Engineer] = []
        self.plan: list[PlannedCertificate] = []
        self.outlets: dict[str, str] = {}
        self.staff: dict[str, Actor] = {}
        self.orders: dict[str, str] = {}
        self.operator: Actor | None = None
        self.review_index: dict[tuple[str, int], str] = {}
        self.qualification_counts: Counter = Counter()
        self.region_id = ""
        self.provider_id = ""

    # -- time ------------------------------------------------------------------------------------

    @staticmethod
    def _first_day() -> date:
        """Return the day after the later of the wall clock and the demo clock, so the clock never goes back."""
        now = datetime.now(CST)
        text = CLOCK_FILE.read_text().strip() if CLOCK_FILE.exists() else ""
        if text:
            try:
                now = max(now, datetime.fromisoformat(text).astimezone(CST))
            except ValueError:
                pass
        return now.date() + timedelta(days=1)

    def day(self, offset: int) -> date:
        return self.d0 + timedelta(days=offset)

    def at(self, offset: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day(offset), clock_time(hour, minute), CST)

    def set_clock(self, instant: datetime) -> None:
        CLOCK_FILE.write_text(instant.isoformat() + "\n")
        self.report.note(f"演示时钟 → {instant:%Y-%m-%d %H:%M}（北京时间）")

    async def run_job(self, service: str, job: str) -> dict[str, Any]:
        """Trigger a periodic job as the operator; wait when a scheduled run holds the lease."""
        assert self.operator is not None
        for _ in range(40):
            response = await self.operator.send("POST", f"/api/{service}/ops/jobs/{job}/run")
            if response.status_code == 200:
                return response.json().get("result") or {}
            if response.status_code == 409:
                # The job's own schedule fired when the clock moved; let it finish and run again.
                await asyncio.sleep(0.5)
                continue
            raise ApiError("POST", f"/api/{service}/ops/jobs/{job}/run", response.status_code, response.text[:300])
        raise Abort(f"作业 {service}/{job} 一直在运行，无法触发")

    async def scheduled_run_done(self, service: str, job: str, since: datetime) -> None:
        """Wait until the job's own schedule has run to the end for a clock at or after ``since``.

        A clock that jumps ahead makes every periodic job due, and each notices within 5 s. Waiting
        for that run keeps it from landing in the middle of a later step. A service restarted after
        the jump schedules its next run 30 minutes of clock time later, so after 10 s without a run
        this returns anyway.
        """
        assert self.operator is not None
        for _ in range(20):
            jobs = await self.operator.call("GET", f"/api/{service}/ops/jobs")
            runs = next((j["recent_runs"] for j in jobs if j["name"] == job), [])
            if any(
                run["trigger"] == "schedule" and run["status"] != "running" and datetime.fromisoformat(run["clock"]) >= since
                for run in runs
            ):
                return
            await asyncio.sleep(0.5)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Report a step that failed on an unexpected response as blocked, and stop the run."""
        try:
            yield
        except ApiError as error:
            self.report.block(name, f"{error.method} {error.path} 返回 {error.status} {error.code}：{error.message}")
            raise Abort(name) from error

    # -- preflight -------------------------------------------------------------------------------

    async def preflight(self) -> bool:
        self.report.heading("环境检查")
        not_ready = []
        for service in SERVICES:
            try:
                response = await self.gateway.http.get(f"/api/{service}/readyz", timeout=5.0)
                ready = response.status_code == 200
            except Exception:  # noqa: BLE001 - any failure means the stack is not up
                ready = False
            if not ready:
                not_ready.append(service)
        if not_ready:
            print(f"  网关 {GATEWAY_URL} 后的服务未就绪：{', '.join(s + '-svc' for s in not_ready)}")
            print("  请先在仓库根目录运行 `make up DEMO_CLOCK=1`，再运行 `make demo`。")
            return False
        if not OPERATOR_FILE.exists():
            print(f"  找不到运营账号文件 {OPERATOR_FILE}；请用 `make down && make up DEMO_CLOCK=1` 重启本地环境。")
            return False
        print(f"  六个服务经网关 {GATEWAY_URL} 均已就绪；本次运行编号 {self.run_id}")
        credentials = json.loads(OPERATOR_FILE.read_text())
        self.operator = Actor(self.gateway, "运营", credentials["mobile"], credentials["password"])
        try:
            await self.operator.sign_in()
        except ApiError as error:
            print(f"  运营账号无法登录（{error.code}）：identity-svc 启动时未带上 {OPERATOR_FILE} 中的账号，请重启本地环境。")
            return False

        # The clock file counts only when the services run in the demo environment.
        self.set_clock(self.at(0, 9, 0))
        await self.run_job("certificate", "certificate-expiry-reminders")
        jobs = await self.operator.call("GET", "/api/certificate/ops/jobs")
        runs = next((j.get("recent_runs") or [] for j in jobs if j.get("name") == "certificate-expiry-reminders"), [])
        seen = runs[0].get("clock") if runs else None
        seen_day = datetime.fromisoformat(seen.replace("Z", "+00:00")).astimezone(CST).date() if seen else None
        if seen_day != self.d0:
            print("  服务没有使用演示时钟：请用 `make down && make up DEMO_CLOCK=1` 重启本地环境。")
            return False
        self.report.check("服务读取演示时钟", self.d0.isoformat(), seen_day.isoformat())
        return True

    # -- organisation ----------------------------------------------------------------------------

    async def organisation(self) -> None:
        self.report.heading("服务商、大区、网点与管理人员")
        operator = self.operator
        assert operator is not None
        types = await operator.call("GET", "/api/identity/service-types")
        service_type = "installation_maintenance" if any(t["code"] == "installation_maintenance" for t in types) else types[0]["code"]

        admin_person = self.people.person()
        company = f"杭州安家电器服务有限公司（演示{self.run_id}）"
        signup = await self.gateway.request("POST", "/api/identity/providers", json={
            "service_type": service_type,
            "company": {"name": company, "credit_code": self.people.credit_code(), "address": "浙江省杭州市西湖区文三路 100 号"},
            "contact": {"name": admin_person.name, "mobile": admin_person.mobile},
            "settlement_account": {"account_name": company, "bank": "中国工商银行杭州文三路支行",
                                   "account_number": self.people.account_number()},
            "admin": {"name": admin_person.name, "mobile": admin_person.mobile, "password": admin_person.password},
        })
        if signup.status_code != 201:
            raise ApiError("POST", "/api/identity/providers", signup.status_code, signup.json())
        provider = signup.json()
        self.provider_id = provider["id"]
        self.report.check("服务商注册后待审核", "pending", provider["status"])
        self.report.check("结算账号脱敏", True, "*" in provider["settlement_account"]["account_number"])

        admin = Actor(self.gateway, "服务商管理员", admin_person.mobile, admin_person.password)
        early = await admin.error_of("POST", "/api/identity/outlets", json={
            "region_id": "0" * 32, "name": "未审核网点", "address": "浙江省杭州市"})
        self.report.check("未审核的服务商不能建网点", True, early is not None)

        approved = await operator.call("POST", f"/api/identity/providers/{self.provider_id}/approve")
        self.report.check("运营审核通过服务商", "approved", approved["status"])

        region = await operator.call("POST", "/api/identity/regions", json={"name": f"华东演示大区{self.run_id}"})
        self.region_id = region["id"]
        for key, name, address in (("A", "西湖网点", "浙江省杭州市西湖区古墩路 88 号"), ("B", "滨江网点", "浙江省杭州市滨江区江南大道 66 号")):
            outlet = await admin.call("POST", "/api/identity/outlets", json={
                "region_id": self.region_id, "name": f"{name}{self.run_id}", "address": address})
            self.outlets[key] = outlet["id"]

        async def staff(key: str, role: str, creator: Actor, **scope: str) -> None:
            person = self.people.person()
            await creator.call("POST", "/api/identity/staff", json={
                "role": role, "name": person.name, "mobile": person.mobile, "password": person.password, **scope})
            actor = Actor(self.gateway, key, person.mobile, person.password)
            await actor.sign_in()
            self.staff[key] = actor

        await staff("manager_A", "outlet_manager", admin, outlet_id=self.outlets["A"])
        await staff("manager_B", "outlet_manager", admin, outlet_id=self.outlets["B"])
        await staff("dispatcher", "dispatcher", admin, provider_id=self.provider_id, region_id=self.region_id)
        await staff("trainer", "training_manager", operator, region_id=self.region_id)
        not_allowed = await admin.error_of("POST", "/api/identity/staff", json={
            "role": "training_manager", "name": "越权测试", "mobile": self.people.person().mobile,
            "password": "Abcdef123", "region_id": self.region_id})
        self.report.check("服务商管理员不能创建培训经理", True, not_allowed is not None and not_allowed.status == 403)
        self.staff["admin"] = admin
        self.report.note(f"服务商 1 家（已审核），大区 1 个，网点 2 个，网点经理 2 名、培训经理 1 名、派工员 1 名")

    # -- engineers -------------------------------------------------------------------------------

    def cast(self) -> None:
        groups = {
            1: "M", 2: "M", 3: "M", 4: "M", 5: "M", 6: "M", 7: "FULL", 8: "N", 9: "N", 10: "X", 11: "G", 12: "T",
            13: "R", 14: "NONE", 26: "M", 27: "M", 28: "M", 29: "M", 30: "N", 31: "G", 32: "T", 33: "RENEW",
        }
        for number in range(1, 51):
            person = self.people.person()
            outlet = "A" if number <= 25 else "B"
            actor = Actor(self.gateway, f"E{number:02d}", person.mobile, person.password)
            self.engineers.append(Engineer(number, person, outlet, actor, groups.get(number, "NONE")))

    def e(self, number: int) -> Engineer:
        return self.engineers[number - 1]

    async def register_engineers(self) -> None:
        self.report.heading("工程师实名注册")
        self.cast()
        admin = self.staff["admin"]

        async def register(engineer: Engineer) -> dict[str, Any]:
            body = await admin.call("POST", "/api/identity/engineers", json={
                "name": engineer.person.name, "id_number": engineer.person.id_number, "mobile": engineer.person.mobile,
                "outlet_id": self.outlets[engineer.outlet], "password": engineer.person.password})
            engineer.engineer_id = body["id"]
            return body

        bodies = await gather_limited(self.engineers, register)
        authenticated = sum(1 for body in bodies if body.get("authenticated"))
        self.report.check("50 名工程师注册并通过实名校验", 50, authenticated)
        await gather_limited(self.engineers, lambda engineer: engineer.actor.sign_in())

        bad_id = self.people.person()
        wrong = bad_id.id_number[:17] + ("0" if bad_id.id_number[17] != "0" else "1")
        refused = await admin.error_of("POST", "/api/identity/engineers", json={
            "name": bad_id.name, "id_number": wrong, "mobile": bad_id.mobile, "outlet_id": self.outlets["A"],
            "password": bad_id.password})
        self.report.check("校验码错误的身份证号被拒绝", "id_number_check_character",
                          refused.details.get("reason") if refused else "accepted")

        manager_a = self.staff["manager_A"]
        listed = await manager_a.call("GET", "/api/identity/engineers", params={"limit": 100})
        self.report.check("网点经理只看到本网点工程师", 25, len(listed))
        self.report.check("网点经理看到的身份证号已脱敏", True, all("*" in item["id_number"] for item in listed))
        other = await manager_a.error_of("GET", f"/api/identity/engineers/{self.e(40).engineer_id}")
        self.report.check("其他网点的工程师对网点经理不可见（404）", 404, other.status if other else 200)
        self.report.add_summary("工程师：注册 50 名（西湖网点 25 / 滨江网点 25），实名校验通过 50")

    # -- certificates ----------------------------------------------------------------------------

    def plan_certificates(self) -> None:
        d0 = self.d0

        def years(day: date, count: int) -> date:
            return day.replace(year=day.year + count)

        def add(engineer: Engineer, kind: str, issued: date, expires: date, registry: str) -> None:
            if kind in REGISTRY_TYPES:
                number = "T" + engineer.person.id_number
            elif kind == GAS:
                number = f"RQ{self.run_id.upper()}{engineer.number:03d}"
            else:
                number = f"GQ-{self.run_id.upper()}-{engineer.number:03d}"
            self.plan.append(PlannedCertificate(engineer, kind, issued, expires, number, registry))

        rac_issued, wh_issued = d0 - timedelta(days=700), d0 - timedelta(days=1000)
        for engineer in self.engineers:
            match engineer.group:
                case "M":
                    add(engineer, RAC, rac_issued, years(rac_issued, 6) - timedelta(days=1), "match")
                    add(engineer, WH, wh_issued, years(wh_issued, 6) - timedelta(days=1), "match")
                case "FULL":
                    add(engineer, LV, d0 - timedelta(days=400), years(d0 - timedelta(days=400), 6), "match")
                    add(engineer, WH, wh_issued, years(wh_issued, 6) - timedelta(days=1), "match")
                    add(engineer, RAC, rac_issued, years(rac_issued, 6) - timedelta(days=1), "match")
                    add(engineer, GAS, d0 - timedelta(days=365), d0 + timedelta(days=730), "none")
                    add(engineer, PJT, d0 - timedelta(days=30), d0 + timedelta(days=365), "none")
                case "N":
                    add(engineer, LV, d0 - timedelta(days=200), years(d0 - timedelta(days=200), 6), "absent")
                case "X":
                    add(engineer, LV, d0 - timedelta(days=300), years(d0 - timedelta(days=300), 6), "mismatch")
                case "G":
                    add(engineer, GAS, d0 - timedelta(days=100), d0 + timedelta(days=1000), "none")
                case "T":
                    add(engineer, PJT, d0 - timedelta(days=20), d0 + timedelta(days=365), "none")
                case "RENEW":
                    # Expires ten days after the first demo day: the expiry and renewal part uses it.
                    add(engineer, PJT, d0 - timedelta(days=30), d0 + timedelta(days=10), "none")
                case "R":
                    add(engineer, RAC, rac_issued, years(rac_issued, 6) - timedelta(days=1), "match")

    async def certificate_view(self, item: PlannedCertificate) -> dict[str, Any]:
        return await item.engineer.actor.call("GET", f"/api/certificate/certificates/{item.certificate_id}")

    async def upload_photo(self, engineer: Engineer, certificate_id: str, side: str, seed: int) -> None:
        path = f"/api/certificate/certificates/{certificate_id}/photos/{side}"
        upload = await engineer.actor.call("POST", f"{path}/upload-url")
        data, media_type = (png(seed=seed), "image/png") if side == "front" else (jpeg_grey(), "image/jpeg")
        await self.gateway.put_object(upload["url"], data, media_type)
        await engineer.actor.call("PUT", path, json={"key": upload["key"]})

    async def upload_certificates(self) -> None:
        self.report.heading("证书上传（照片直传对象存储）")
        self.plan_certificates()

        async def upload(item: PlannedCertificate) -> dict[str, Any]:
            engineer = item.engineer
            body = {"certificate_type": item.certificate_type, "number": item.number,
                    "holder_name": engineer.person.name, "holder_id_number": engineer.person.id_number,
                    "issued_on": item.issued_on.isoformat(), "expires_on": item.expires_on.isoformat()}

            async def create() -> Any:
                response = await engineer.actor.send("POST", "/api/certificate/certificates", json=body)
                return response

            # certificate-svc learns the engineer's real name from identity-svc's events.
            response, _ = await eventually(create, lambda r: r.status_code != 409 or "engineer_unknown" not in r.text,
                                           timeout_s=SETTLE_S)
            if response.status_code != 201:
                raise ApiError("POST", "/api/certificate/certificates", response.status_code, response.json())
            certificate = response.json()
            item.certificate_id = certificate["certificate_id"]
            engineer.certificates[item.certificate_type] = item.certificate_id
            draft = certificate
            missing = await engineer.actor.error_of("POST", f"/api/certificate/certificates/{item.certificate_id}/submit")
            await self.upload_photo(engineer, item.certificate_id, "front", engineer.number)
            await self.upload_photo(engineer, item.certificate_id, "back", engineer.number)
            submitted = await engineer.actor.call("POST", f"/api/certificate/certificates/{item.certificate_id}/submit")
            return {"draft": draft, "missing": missing, "submitted": submitted}

        results = await gather_limited(self.plan, upload)
        self.report.check("没有照片的草稿不能提交", "photos_missing", results[0]["missing"].code if results[0]["missing"] else "accepted")
        statuses = Counter(r["submitted"]["status"] for r in results)
        self.report.check(f"{len(self.plan)} 张证书提交审核", {"under_review": len(self.plan)}, dict(statuses))
        photos = sum(len(r["submitted"]["versions"][0]["photos"]) for r in results)
        self.report.check("每张证书两张照片（PNG 正面、JPEG 背面）已核验入库", len(self.plan) * 2, photos)

        engineer = self.e(20)
        stranger = await engineer.actor.error_of("POST", "/api/certificate/certificates", json={
            "certificate_type": LV, "number": "T" + self.e(21).person.id_number, "holder_name": self.e(21).person.name,
            "holder_id_number": self.e(21).person.id_number, "issued_on": (self.d0 - timedelta(days=10)).isoformat(),
            "expires_on": (self.d0 + timedelta(days=2000)).isoformat()})
        self.report.check("持证人与实名信息不一致的证书被拒绝", "holder_mismatch", stranger.code if stranger else "accepted")
        kinds = Counter(TYPE_NAMES[p.certificate_type] for p in self.plan)
        self.report.note("；".join(f"{name} {count}" for name, count in kinds.items()))

    # -- reviews ---------------------------------------------------------------------------------

    async def queue(self, actor: Actor) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await actor.call("GET", "/api/review/tasks", params={"limit": 100, "offset": offset})
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    async def task_of(self, actor: Actor, certificate_id: str, version: int = 1) -> dict[str, Any] | None:
        for task in await self.queue(actor):
            if task["certificate_id"] == certificate_id and task["version"] == version:
                return task
        return None

    async def tasks_by_certificate(self, actor: Actor, expected_ids: set[str]) -> dict[str, dict[str, Any]]:
        async def probe() -> dict[str, dict[str, Any]]:
            return {t["certificate_id"]: t for t in await self.queue(actor) if t["certificate_id"] in expected_ids}

        found, _ = await eventually(probe, lambda got: set(got) >= expected_ids, timeout_s=SETTLE_S, interval_s=1.0)
        return found

    async def outlet_reviews(self) -> None:
        self.report.heading("网点经理初审")
        rejected_certificate = next(p for p in self.plan if p.engineer.group == "R")
        tasks: dict[str, dict[str, Any]] = {}
        for key in ("A", "B"):
            manager = self.staff[f"manager_{key}"]
            expected_ids = {p.certificate_id for p in self.plan if p.engineer.outlet == key}
            found = await self.tasks_by_certificate(manager, expected_ids)
            self.report.check(f"{key}网点经理的待审队列收到本网点全部证书", len(expected_ids), len(found))
            tasks.update(found)
        if len(tasks) < len(self.plan):
            raise Abort("审核任务未全部生成")
        self.review_index = {(t["certificate_id"], t["version"]): t["review_id"] for t in tasks.values()}
        self.report.check("审核任务中的身份证号已脱敏", True, all("*" in t["holder_id_number"] for t in tasks.values()))

        task_a = tasks[self.e(1).certificates[RAC]]
        other = await self.staff["manager_B"].error_of("GET", f"/api/review/tasks/{task_a['review_id']}")
        self.report.check("其他网点的审核任务不可见（404）", 404, other.status if other else 200)
        early = await self.staff["trainer"].error_of("POST", f"/api/review/tasks/{task_a['review_id']}/approve")
        self.report.check("培训经理不能代替网点经理初审", "review_not_at_step", early.code if early else "accepted")
        blank = await self.staff["manager_A"].error_of(
            "POST", f"/api/review/tasks/{tasks[rejected_certificate.certificate_id]['review_id']}/reject", json={"reason": " "})
        self.report.check("驳回必须填写原因", "rejection_reason_missing", blank.code if blank else "accepted")

        async def decide(item: PlannedCertificate) -> dict[str, Any]:
            manager = self.staff[f"manager_{item.engineer.outlet}"]
            review_id = tasks[item.certificate_id]["review_id"]
            if item is rejected_certificate:
                return await manager.call("POST", f"/api/review/tasks/{review_id}/reject",
                                          json={"reason": "证书照片模糊，无法辨认证号，请重新拍摄上传"})
            return await manager.call("POST", f"/api/review/tasks/{review_id}/approve")

        decided = await gather_limited(self.plan, decide)
        after = {item.certificate_id: view for item, view in zip(self.plan, decided, strict=True)}
        expected = {p.certificate_id: self.expected_after_outlet(p) for p in self.plan}
        actual = {cid: after[cid]["status"] for cid in expected}
        wrong = {cid for cid in expected if expected[cid] != actual[cid]}
        self.report.check("初审后的去向（长期证书待夜间核验，临时与燃气证书转抽查，驳回结束）",
                          Counter(expected.values()), Counter(actual.values()))
        if wrong:
            self.report.note(f"去向不符的证书：{sorted(wrong)[:5]}")
        gas = next(p for p in self.plan if p.certificate_type == GAS)
        self.report.check("燃气具证书（安监网不收录）从初审次日起可抽查",
                          self.day(1).isoformat(), after[gas.certificate_id]["spot_check_from"])

        engineer = rejected_certificate.engineer
        certificate, _ = await eventually(
            lambda: engineer.actor.call("GET", f"/api/certificate/certificates/{rejected_certificate.certificate_id}"),
            lambda c: c["status"] == "rejected", timeout_s=SETTLE_S)
        self.report.check("工程师看到驳回原因", "证书照片模糊，无法辨认证号，请重新拍摄上传",
                          certificate["versions"][0]["rejection_reason"])
        approved = sum(1 for p in self.plan if p is not rejected_certificate)
        self.report.note(f"初审：通过 {approved} / 驳回 1")

    @staticmethod
    def expected_after_outlet(item: PlannedCertificate) -> str:
        if item.engineer.group == "R":
            return "rejected"
        if item.certificate_type in REGISTRY_TYPES:
            return "awaiting_registry_check"
        return "pending_spot_check"

    # -- the nightly registry check --------------------------------------------------------------

    def snapshot_csv(self) -> bytes:
        header = "姓名,性别,证号,作业类别,操作项目,初领日期,有效期开始日期,有效期结束日期,应复审日期,实际复审日期,发证机关,状态"
        lines = [header]
        for index, item in enumerate(self.plan):
            if item.certificate_type not in REGISTRY_TYPES or item.registry in ("absent", "none"):
                continue
            kind = CATALOGUE.certificates[item.certificate_type]
            end = item.expires_on - timedelta(days=365) if item.registry == "mismatch" else item.expires_on
            # The registry writes the number both ways; the check finds both.
            number = item.number if index % 2 else item.number.removeprefix("T")
            sex = "男" if int(item.engineer.person.id_number[16]) % 2 else "女"
            review = item.issued_on.replace(year=item.issued_on.year + 3)
            lines.append(",".join((
                item.engineer.person.name, sex, number, kind.operation_category or "", kind.operation_item or "",
                item.issued_on.isoformat(), item.issued_on.isoformat(), end.isoformat(), review.isoformat(), "",
                "浙江省应急管理厅", "有效")))
        # Other people's records, as a real export holds.
        for _ in range(3):
            person = self.people.person()
            lines.append(",".join((person.name, "男", "T" + person.id_number, "电工作业", "低压电工作业", "2022-03-01",
                                   "2022-03-01", "2028-02-29", "2025-03-01", "2025-02-20", "浙江省应急管理厅", "有效")))
        return ("\n".join(lines) + "\n").encode("utf-8")

    async def registry_check(self) -> None:
        self.report.heading("当晚：安监网核验")
        operator = self.operator
        assert operator is not None
        self.set_clock(self.at(0, 22, 0))
        snapshot = self.snapshot_csv()
        loaded = await operator.call("PUT", "/api/review/ops/registry-snapshot", content=snapshot,
                                     headers={"Content-Type": "text/csv; charset=utf-8"})
        self.report.check("运营导入安监网快照（CSV，中文列名）", snapshot.count(b"\n") - 1, loaded["records"])
        result = await self.run_job("review", "registry-check")
        self.report.note(f"核验作业结果：已核验 {result.get('done')}，一致 {result.get('found_matching')}，"
                         f"未查到 {result.get('not_found')}，不一致 {result.get('mismatch')}（含其他运行遗留的证书）")

        registry_items = [p for p in self.plan if p.certificate_type in REGISTRY_TYPES and p.engineer.group != "R"]
        trainer = self.staff["trainer"]

        outcome = Counter()
        by_item: dict[str, dict[str, Any]] = {}
        for item in registry_items:
            manager = self.staff[f"manager_{item.engineer.outlet}"]
            by_item[item.certificate_id] = await manager.call("GET", f"/api/review/tasks/{self.review_id(item)}")
        for item in registry_items:
            task = by_item[item.certificate_id]
            decision = next((d for d in task["decisions"] if d["step"] == "registry_check"), None)
            outcome[decision["outcome"] if decision else "not_checked"] += 1
        expected = Counter({"found_matching": sum(1 for p in registry_items if p.registry == "match"),
                            "not_found": sum(1 for p in registry_items if p.registry == "absent"),
                            "mismatch": sum(1 for p in registry_items if p.registry == "mismatch")})
        self.report.check("核验结果：一致 / 未查到 / 不一致", dict(expected), dict(outcome))

        matched = [p for p in registry_items if p.registry == "match"]
        self.report.check("核验一致的长期证书无需抽查即审核通过", len(matched),
                          sum(1 for p in matched if by_item[p.certificate_id]["status"] == "approved"))
        absent = next(p for p in registry_items if p.registry == "absent")
        task = by_item[absent.certificate_id]
        self.report.check("未查到的证书转培训经理抽查，初审次日起可办", ("pending_spot_check", "registry_not_found", self.day(1).isoformat()),
                          (task["status"], task["spot_check_reason"], task["spot_check_from"]))
        mismatch = next(p for p in registry_items if p.registry == "mismatch")
        task = by_item[mismatch.certificate_id]
        fields = [d["field"] for d in task["differences"]]
        self.report.check("不一致的证书立即转抽查并标出差异", ("pending_spot_check", "registry_mismatch", ["validity_end"]),
                          (task["status"], task["spot_check_reason"], fields))

        views, _ = await eventually_each(matched, self.certificate_view, lambda _, c: c["status"] == "in_effect",
                                         timeout_s=SETTLE_S)
        self.report.check("核验一致的证书已生效", len(matched), sum(1 for c in views if c and c["status"] == "in_effect"))

        # The same night the training manager may act on temporary certificates and mismatches only.
        too_early = await trainer.error_of("POST", f"/api/review/tasks/{self.review_id(absent)}/approve")
        self.report.check("未查到的证书当天不能抽查", "spot_check_too_early", too_early.code if too_early else "accepted")
        gas = next(p for p in self.plan if p.certificate_type == GAS)
        too_early = await trainer.error_of("POST", f"/api/review/tasks/{self.review_id(gas)}/approve")
        self.report.check("燃气具证书当天不能抽查", "spot_check_too_early", too_early.code if too_early else "accepted")
        reason = "证书有效期与安监网记录不一致（有效期止相差一年），请核对原件后重新上传"
        rejected = await trainer.call("POST", f"/api/review/tasks/{self.review_id(mismatch)}/reject", json={"reason": reason})
        self.report.check("培训经理驳回不一致的证书", "rejected", rejected["status"])
        temporary = [p for p in self.plan if p.certificate_type == PJT]
        approved = [await trainer.call("POST", f"/api/review/tasks/{self.review_id(p)}/approve") for p in temporary]
        self.report.check("临时证书（岗前培训合格证）当天抽查通过", ["approved"] * len(temporary), [t["status"] for t in approved])

    def review_id(self, item: PlannedCertificate, version: int = 1) -> str:
        """The review id of a certificate version, as the outlet managers' queues showed it."""
        return self.review_index[(item.certificate_id, version)]

    async def spot_checks(self) -> None:
        self.report.heading("次日：培训经理抽查")
        self.set_clock(self.at(1, 9, 30))
        trainer = self.staff["trainer"]
        waiting = [p for p in self.plan if p.registry == "absent" or p.certificate_type == GAS]
        queue = {t["certificate_id"]: t for t in await self.queue(trainer)}
        self.report.check("培训经理的抽查队列（未查到、燃气具）今天均可办理",
                          [True] * len(waiting), [queue.get(p.certificate_id, {}).get("spot_check_allowed_today") for p in waiting])
        decided = [await trainer.call("POST", f"/api/review/tasks/{self.review_id(p)}/approve") for p in waiting]
        self.report.check("次日抽查通过", ["approved"] * len(waiting), [t["status"] for t in decided])

        expected_effective = [p for p in self.plan if p.engineer.group not in ("R", "X")]

        final = {p.certificate_id: "rejected" if p.engineer.group in ("R", "X") else "in_effect" for p in self.plan}
        views, _ = await eventually_each(self.plan, self.certificate_view,
                                         lambda p, c: c["status"] == final[p.certificate_id], timeout_s=SETTLE_S)
        counts = Counter(c["status"] for c in views if c)
        self.report.check("证书最终状态", {"in_effect": len(expected_effective), "rejected": 2}, dict(counts))
        mismatch = next(p for p in self.plan if p.registry == "mismatch")
        certificate = await mismatch.engineer.actor.call("GET", f"/api/certificate/certificates/{mismatch.certificate_id}")
        decisions = [(d["step"], d["outcome"]) for d in certificate["versions"][0]["decisions"]]
        self.report.check("每个决定都有记录（谁、何时、结论、原因）",
                          [("outlet_review", "approved"), ("registry_check", "mismatch"), ("spot_check", "rejected")], decisions)
        self.report.add_summary(f"证书审核：通过 {counts.get('in_effect', 0)} / 驳回 {counts.get('rejected', 0)}"
                                f"（安监网核验一致 {sum(1 for p in self.plan if p.registry == 'match' and p.engineer.group != 'R')}，"
                                f"抽查通过 {len(waiting) + sum(1 for p in self.plan if p.certificate_type == PJT)}）")

    # -- qualifications and exams ----------------------------------------------------------------

    async def apply(self, engineer: Engineer, qualification_type: str, *, expect_certificates: bool = True) -> Any:
        """Apply; wait while qualification-svc has not yet seen the engineer or their certificates."""

        async def attempt() -> Any:
            return await engineer.actor.send("POST", "/api/qualification/qualifications",
                                             json={"qualification_type": qualification_type})

        def settled(response: Any) -> bool:
            if response.status_code in (201,):
                return True
            code = response.json().get("error", {}).get("code")
            if code == "engineer_not_authenticated":
                return False
            return not (expect_certificates and code == "certificate_not_in_effect")

        response, _ = await eventually(attempt, settled, timeout_s=SETTLE_S, interval_s=1.0)
        return response

    def answers(self, qualification_type: str, questions: list[dict[str, Any]], score: int) -> dict[str, str]:
        """Return the choices for the attempt's ``questions`` that earn exactly ``score`` with the bank's points."""
        bank = json.loads((QUESTION_BANKS / f"{qualification_type}.json").read_text(encoding="utf-8"))
        key = {q["question_id"]: q["answer"] for q in bank["questions"]}
        points = {q["question_id"]: q["points"] for q in questions}
        total = sum(points.values())
        ids = sorted(points)
        right = next(
            (set(chosen) for size in range(len(ids) + 1) for chosen in combinations(ids, size)
             if int(Decimal(100 * sum(points[i] for i in chosen)) / Decimal(total) + Decimal("0.5")) == score),
            None,
        )
        if right is None:
            raise Abort(f"{qualification_type}: no set of correct choices gives the score {score}; pick a score the bank's points allow")
        return {
            q["question_id"]: key[q["question_id"]] if q["question_id"] in right
            else next(o["key"] for o in q["options"] if o["key"] != key[q["question_id"]])
            for q in questions
        }

    async def take_exam(self, engineer: Engineer, qualification_type: str, score: int = 100) -> dict[str, Any]:
        """Start an attempt and submit choices that give the score ``score``."""

        async def listed() -> list[dict[str, Any]]:
            return await engineer.actor.call("GET", "/api/exam/exams")

        await eventually(listed, lambda exams: any(x["qualification_type"] == qualification_type for x in exams),
                         timeout_s=SETTLE_S, interval_s=1.0)
        attempt = await engineer.actor.call("POST", "/api/exam/attempts", json={"qualification_type": qualification_type})
        answers = self.answers(qualification_type, attempt["questions"], score)
        return await engineer.actor.call("POST", f"/api/exam/attempts/{attempt['attempt_id']}/answers", json={"answers": answers})

    async def qualifications_of(self, engineer: Engineer) -> dict[str, dict[str, Any]]:
        items = await engineer.actor.call("GET", "/api/qualification/qualifications")
        found: dict[str, dict[str, Any]] = {}
        for item in items:
            if item["status"] in ("pending", "granted") or item["qualification_type"] not in found:
                found[item["qualification_type"]] = item
        return found

    async def qualifications(self) -> None:
        self.report.heading("资质申请")
        missing = await self.apply(self.e(14), "ac_repair", expect_certificates=False)
        body = missing.json()
        self.report.check("缺少证书的申请被拒绝", "certificate_not_in_effect", body.get("error", {}).get("code", missing.status_code))
        self.report.check("拒绝信息说明先上传哪张证书", True, "制冷与空调设备安装修理作业" in body.get("error", {}).get("message", ""))
        self.report.note(f"提示：{body.get('error', {}).get('message', '')}")

        full = self.e(7)
        codes = [q.code for q in CATALOGUE.qualification_types]
        responses = [await self.apply(full, code) for code in codes[:11]]
        self.report.check("持全部五类证书的工程师申请目录中前 10 项资质", [201] * 10, [r.status_code for r in responses[:10]])
        eleventh = responses[10].json().get("error", {})
        self.report.check("已有 10 项（申请中与生效合计）时第 11 项申请被拒绝", (409, "qualification_limit_reached"),
                          (responses[10].status_code, eleventh.get("code")))
        self.report.note(f"第 11 项申请的答复：{eleventh.get('message', '')}")
        duplicate = await full.actor.error_of("POST", "/api/qualification/qualifications", json={"qualification_type": codes[0]})
        self.report.check("重复申请同一资质被拒绝，并提示续期证书而不是重新申请", ("qualification_already_held", True),
                          (duplicate.code if duplicate else None, duplicate is not None and "证书" in duplicate.message))
        withdrawn = await full.actor.call("POST", f"/api/qualification/qualifications/{responses[9].json()['qualification_id']}/withdraw")
        again = await self.apply(full, codes[10])
        self.report.check("撤回一项后可申请第 11 种（撤回的不计入上限）", ("withdrawn", 201), (withdrawn["status"], again.status_code))

        self.report.heading("资格考试与成绩采集")
        # The clock moved to the next morning: the collection that this made due runs before any exam.
        await self.scheduled_run_done("exam", "collect_scores", self.at(1, 9, 30))
        split = [self.e(n) for n in (1, 4, 5, 6, 26, 27, 28, 29)]
        plan: list[tuple[Engineer, str, int]] = [(e, "split_ac_installation", 100) for e in split]
        plan += [(self.e(2), "ac_repair", 80), (self.e(3), "ac_repair", 79), (self.e(33), "smart_lock_installation", 100)]
        plan += [(self.e(n), "tv_wall_mounting", 100) for n in range(15, 26)]
        plan += [(self.e(34), "washing_machine_installation", 60)]
        plan += [(self.e(n), "washing_machine_installation", 100) for n in range(35, 51)]

        async def apply_and_sit(entry: tuple[Engineer, str, int]) -> tuple[int, int]:
            engineer, code, score = entry
            response = await self.apply(engineer, code)
            if response.status_code != 201:
                raise ApiError("POST", "/api/qualification/qualifications", response.status_code, response.json())
            attempt = await self.take_exam(engineer, code, score)
            return attempt["score"], sum(q["points"] for q in attempt["questions"])

        scores = await gather_limited(plan, apply_and_sit)
        self.report.check("考试成绩", [p[2] for p in plan], [s[0] for s in scores])
        self.report.check("空调维修考试按题计分，满分 100 分", [100, 100], [scores[8][1], scores[9][1]])

        before = await self.qualifications_of(self.e(2))
        self.report.check("采集成绩之前，考了 80 分的资质仍未生效（无人手工操作）", "pending", before["ac_repair"]["status"])
        collected = await self.run_job("exam", "collect_scores")
        self.report.note(f"成绩采集作业：{collected}")

        def settled(entry: tuple[Engineer, str, int], views: dict[str, dict[str, Any]]) -> bool:
            view = views[entry[1]]
            return view["status"] == ("granted" if entry[2] >= 80 else "pending") and bool(view["exam_results"])

        expected = ["granted" if p[2] >= 80 else "pending" for p in plan]
        views, _ = await eventually_each(plan, lambda p: self.qualifications_of(p[0]), settled, timeout_s=SETTLE_S)
        actual = [views[i][p[1]]["status"] for i, p in enumerate(plan)]
        self.report.check("80 分及以上自动生效，低于 80 分不生效", Counter(expected), Counter(actual))
        e02 = (await self.qualifications_of(self.e(2)))["ac_repair"]
        self.report.check("恰好 80 分：资质生效", ("granted", 80), (e02["status"], e02["passed_score"]))
        e03 = (await self.qualifications_of(self.e(3)))["ac_repair"]
        self.report.check("79 分：资质未生效，提示可重考", ("pending", "take_exam", [79]),
                          (e03["status"], e03["next_step"]["code"], [r["score"] for r in e03["exam_results"]]))

        again = await self.run_job("exam", "collect_scores")
        await asyncio.sleep(2.0)
        e02_again = (await self.qualifications_of(self.e(2)))["ac_repair"]
        self.report.check("同一成绩采集两次不产生变化", (e02["granted_at"], 1), (e02_again["granted_at"], len(e02_again["exam_results"])))
        self.report.note(f"第二次采集：{again}")

        e34 = self.e(34)
        retake = await self.take_exam(e34, "washing_machine_installation")
        await self.run_job("exam", "collect_scores")
        view, _ = await eventually(lambda: self.qualifications_of(e34),
                                   lambda v: v["washing_machine_installation"]["status"] == "granted", timeout_s=SETTLE_S)
        q = view["washing_machine_installation"]
        self.report.check("未通过后重考 100 分，资质生效", ("granted", [60, 100]),
                          (q["status"], [r["score"] for r in q["exam_results"]]))
        self.report.note(f"重考成绩 {retake['score']}")
        e03_retake = await self.take_exam(self.e(3), "ac_repair", 95)
        await self.run_job("exam", "collect_scores")
        view, _ = await eventually(lambda: self.qualifications_of(self.e(3)),
                                   lambda v: v["ac_repair"]["status"] == "granted", timeout_s=SETTLE_S)
        self.report.check("79 分后重考 95 分，资质生效", ("granted", 95, [79, 95]),
                          (view["ac_repair"]["status"], e03_retake["score"],
                           [r["score"] for r in view["ac_repair"]["exam_results"]]))

        e01 = (await self.qualifications_of(self.e(1)))["split_ac_installation"]
        wh = next(p for p in self.plan if p.engineer is self.e(1) and p.certificate_type == WH)
        self.report.check("空调安装资质有效期取决于最早到期的证书（高处作业证）",
                          (wh.expires_on.isoformat(), WH), (e01["valid_until"], (e01["limiting_certificate"] or {}).get("certificate_type")))
        tv = (await self.qualifications_of(self.e(15)))["tv_wall_mounting"]
        self.report.check("无需证书的资质有效期至 2099-12-31", "2099-12-31", tv["valid_until"])
        e33 = (await self.qualifications_of(self.e(33)))["smart_lock_installation"]
        renew_item = next(p for p in self.plan if p.engineer.group == "RENEW")
        self.report.check("智能门锁安装资质随岗前培训合格证到期", renew_item.expires_on.isoformat(), e33["valid_until"])

        manager_b = self.staff["manager_B"]
        scoped = await manager_b.call("GET", "/api/qualification/qualifications")
        self.report.check("网点经理只看到本网点的资质", {self.outlets["B"]}, {q["outlet_id"] for q in scoped})
        await self.summarise_qualifications()

    async def summarise_qualifications(self) -> None:
        views = await gather_limited(self.engineers, lambda e: e.actor.call("GET", "/api/qualification/qualifications"))
        counts = Counter(item["status"] for items in views for item in items)
        self.qualification_counts = counts
        self.report.note("资质：" + " / ".join(f"{STATUS_ZH.get(k, k)} {v}" for k, v in sorted(counts.items())))

    # -- orders ----------------------------------------------------------------------------------

    async def create_order(self, service_type: str, outlet: str, start: datetime, hours: int = 2) -> dict[str, Any]:
        customer = self.people.person()
        return await self.staff["dispatcher"].call("POST", "/api/order/orders", json={
            "service_type": service_type, "outlet_id": self.outlets[outlet], "region_id": self.region_id,
            "customer": {"name": customer.name, "mobile": customer.mobile, "address": "浙江省杭州市西湖区文一西路 998 号 3 幢 1201 室"},
            "appointment": {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat(),
                            "timezone": "Asia/Shanghai"},
            "external_reference": f"JD{self.run_id}{len(self.orders) + 1:03d}"})

    async def eligible(self, order_id: str, expected: set[str], timeout_s: float = SETTLE_S) -> set[str]:
        async def probe() -> set[str]:
            found = await self.staff["dispatcher"].call("GET", f"/api/order/orders/{order_id}/eligible-engineers")
            return {item["engineer_id"] for item in found}

        got, _ = await eventually(probe, lambda ids: ids == expected, timeout_s=timeout_s, interval_s=1.0)
        return got

    def labels(self, ids: set[str]) -> list[str]:
        by_id = {e.engineer_id: e.label for e in self.engineers}
        return sorted(by_id.get(i, i[:8]) for i in ids)

    async def evidence(self, engineer: Engineer, order_id: str, kind: str, seed: int) -> dict[str, Any]:
        upload = await engineer.actor.call("POST", f"/api/order/orders/{order_id}/evidence/uploads",
                                           json={"kind": kind, "content_type": "image/png"})
        await self.gateway.put_object(upload["url"], png(seed=seed), "image/png")
        return await engineer.actor.call("POST", f"/api/order/orders/{order_id}/evidence",
                                         json={"kind": kind, "key": upload["key"], "note": f"{kind} 现场拍摄"})

    async def orders_flow(self) -> None:
        self.report.heading("派单、接单与无纸化作业")
        dispatcher = self.staff["dispatcher"]
        order = await self.create_order("split_ac_installation", "A", self.at(2, 10, 0))
        o1 = order["order_id"]
        self.orders["O1"] = o1
        self.report.check("派工员创建空调安装工单", ("open", "split_ac_installation"), (order["status"], order["qualification_type"]))
        expected = {self.e(n).engineer_id for n in (1, 4, 5, 6)}
        got = await self.eligible(o1, expected)
        self.report.check("可派工程师：西湖网点空调安装资质生效者", self.labels(expected), self.labels(got))
        refused = await dispatcher.error_of("POST", f"/api/order/orders/{o1}/offer", json={"engineer_id": self.e(3).engineer_id})
        self.report.check("不能派给没有空调安装资质的工程师（E03 只申请了空调维修）", "engineer_not_eligible", refused.code if refused else "accepted")
        refused = await dispatcher.error_of("POST", f"/api/order/orders/{o1}/offer", json={"engineer_id": self.e(26).engineer_id})
        self.report.check("不能派给其他网点的工程师", "engineer_not_eligible", refused.code if refused else "accepted")
        offered = await dispatcher.call("POST", f"/api/order/orders/{o1}/offer", json={"engineer_id": self.e(1).engineer_id})
        self.report.check("派单给 E01", "offered", offered["status"])
        e01 = self.e(1)
        accepted = await e01.actor.call("POST", f"/api/order/orders/{o1}/accept")
        self.report.check("E01 接单", "accepted", accepted["status"])
        self.report.check("接单后工程师可见客户完整电话", True, "*" not in accepted["customer"]["mobile"])

        o2 = (await self.create_order("tv_wall_mounting", "A", self.at(2, 14, 0)))["order_id"]
        self.orders["O2"] = o2
        await self.eligible(o2, {self.e(n).engineer_id for n in range(15, 26)})
        pooled = await dispatcher.call("POST", f"/api/order/orders/{o2}/publish")
        self.report.check("电视挂装工单发布到抢单池", "pooled", pooled["status"])
        pool15 = await self.e(15).actor.call("GET", "/api/order/orders/pool")
        pool14 = await self.e(14).actor.call("GET", "/api/order/orders/pool")
        self.report.check("抢单池只向有资质的工程师展示", (True, False),
                          (o2 in {o["order_id"] for o in pool15}, o2 in {o["order_id"] for o in pool14}))
        grabbed = await self.e(15).actor.call("POST", f"/api/order/orders/{o2}/accept")
        self.report.check("E15 从抢单池接单", "accepted", grabbed["status"])

        renew = self.e(33)
        renew_item = next(p for p in self.plan if p.engineer is renew)
        o3 = (await self.create_order("smart_lock_installation", "B", self.at((renew_item.expires_on - self.d0).days, 14, 0)))["order_id"]
        self.orders["O3"] = o3
        await self.eligible(o3, {renew.engineer_id})
        await dispatcher.call("POST", f"/api/order/orders/{o3}/offer", json={"engineer_id": renew.engineer_id})
        accepted3 = await renew.actor.call("POST", f"/api/order/orders/{o3}/accept")
        self.report.check(f"E33 接智能门锁安装工单（预约在证书到期当天 {renew_item.expires_on}）", "accepted", accepted3["status"])

        self.report.heading("上门作业（预约当天）")
        self.set_clock(self.at(2, 9, 50))
        checked = await e01.actor.call("POST", f"/api/order/orders/{o1}/check-in",
                                       json={"location": {"latitude": 30.2741, "longitude": 120.1551}, "note": "已到客户家"})
        self.report.check("E01 上门签到", "checked_in", checked["status"])
        await self.evidence(e01, o1, "serial_number_photo", 1)
        await self.evidence(e01, o1, "before_photo", 2)
        await e01.actor.call("POST", f"/api/order/orders/{o1}/notes", json={"text": "内机挂板已固定，外机支架承重检查合格"})
        early = await e01.actor.error_of("POST", f"/api/order/orders/{o1}/complete")
        self.report.check("缺少施工后照片时不能完工", "evidence_missing", early.code if early else "accepted")
        if early is not None:
            self.report.note(f"提示：{early.message}")
        await self.evidence(e01, o1, "after_photo", 3)
        done = await e01.actor.call("POST", f"/api/order/orders/{o1}/complete")
        self.report.check("凭证齐全后完工", ("completed", []), (done["status"], done["missing_evidence"]))
        order_view = await dispatcher.call("GET", f"/api/order/orders/{o1}")
        steps = [entry.get("action") or entry.get("kind") or entry.get("type") for entry in order_view.get("job_log", [])]
        self.report.check("作业记录每一步都有时间和操作人", True,
                          all(entry.get("at") or entry.get("recorded_at") or entry.get("time") for entry in order_view.get("job_log", []))
                          and all(entry.get("actor_id") or entry.get("actor") for entry in order_view.get("job_log", [])))
        self.report.note("工单 O1 作业记录：" + " → ".join(str(s) for s in steps))

        self.set_clock(self.at(2, 14, 5))
        e15 = self.e(15)
        await e15.actor.call("POST", f"/api/order/orders/{o2}/check-in", json={})
        await self.evidence(e15, o2, "before_photo", 4)
        await self.evidence(e15, o2, "after_photo", 5)
        done2 = await e15.actor.call("POST", f"/api/order/orders/{o2}/complete")
        self.report.check("E15 完成电视挂装工单", "completed", done2["status"])

    # -- expiry and renewal ----------------------------------------------------------------------

    async def expiry_and_renewal(self) -> None:
        renew = self.e(33)
        item = next(p for p in self.plan if p.engineer is renew)
        days_left = (item.expires_on - self.d0).days
        manager_b = self.staff["manager_B"]

        self.report.heading("到期提醒")
        self.set_clock(self.at(days_left - 7, 9, 30))
        await self.run_job("certificate", "certificate-expiry-reminders")
        mine, _ = await eventually(lambda: renew.actor.call("GET", "/api/certificate/notifications"),
                                   lambda items: any(n["certificate_id"] == item.certificate_id for n in items), timeout_s=10)
        reminder = next((n for n in mine if n["certificate_id"] == item.certificate_id), None)
        self.report.check("到期前 7 天提醒工程师", 7, reminder["days_before"] if reminder else None)
        theirs = await manager_b.call("GET", "/api/certificate/notifications")
        self.report.check("同时提醒网点经理", True, any(n["certificate_id"] == item.certificate_id for n in theirs))
        if reminder:
            self.report.note(f"提醒：{reminder['message']}")

        self.report.heading("证书到期：资质失效，工单出现风险")
        self.set_clock(self.at(days_left + 1, 0, 30))
        swept = await self.run_job("certificate", "certificate-expiry-sweep")
        self.report.note(f"到期清理作业：{swept}")
        certificate, _ = await eventually(
            lambda: renew.actor.call("GET", f"/api/certificate/certificates/{item.certificate_id}"),
            lambda c: c["status"] == "expired", timeout_s=SETTLE_S)
        self.report.check(f"岗前培训合格证过了 {item.expires_on} 即失效", "expired", certificate["status"])
        view, _ = await eventually(lambda: self.qualifications_of(renew),
                                   lambda v: v["smart_lock_installation"]["status"] == "lapsed", timeout_s=SETTLE_S)
        lapsed = view["smart_lock_installation"]
        self.report.check("依赖该证书的智能门锁安装资质失效", "lapsed", lapsed["status"])
        o3 = self.orders["O3"]
        dispatcher = self.staff["dispatcher"]
        risky, _ = await eventually(lambda: dispatcher.call("GET", "/api/order/orders/at-risk"),
                                    lambda items: any(o["order_id"] == o3 for o in items), timeout_s=SETTLE_S)
        risk = next((o["at_risk"] for o in risky if o["order_id"] == o3), None)
        self.report.check("已接工单 O3 出现风险（资质失效）", "qualification_lapsed", (risk or {}).get("reason"))
        seen_b = await manager_b.call("GET", "/api/order/supervision", params={"kind": "at_risk"})
        self.report.check("网点经理的监督列表里也有这张工单", True, any(o["order_id"] == o3 for o in seen_b))
        o4 = (await self.create_order("smart_lock_installation", "B", self.at(days_left + 3, 10, 0)))["order_id"]
        self.orders["O4"] = o4
        await asyncio.sleep(1.0)
        got = await self.eligible(o4, set())
        self.report.check("资质失效的工程师不再被派单", [], self.labels(got))

        self.report.heading("证书重审（续期）")
        renewal = await renew.actor.call("POST", f"/api/certificate/certificates/{item.certificate_id}/renewal", json={
            "issued_on": self.day(days_left + 1).isoformat(), "expires_on": self.day(days_left + 1 + 365).isoformat()})
        version = renewal["latest_version"]
        await self.upload_photo(renew, item.certificate_id, "front", 99)
        await self.upload_photo(renew, item.certificate_id, "back", 99)
        submitted = await renew.actor.call("POST", f"/api/certificate/certificates/{item.certificate_id}/submit")
        self.report.check("续期版本提交审核", ("under_review", version), (submitted["versions"][0]["status"], submitted["versions"][0]["version"]))

        task, _ = await eventually(lambda: self.task_of(manager_b, item.certificate_id, version), lambda t: t is not None,
                                   timeout_s=SETTLE_S, interval_s=1.0)
        if task is None:
            raise Abort("续期证书的审核任务未生成")
        self.report.check("续期审核任务标明是续期", True, task["renewal"])
        await manager_b.call("POST", f"/api/review/tasks/{task['review_id']}/approve")
        spot = await self.staff["trainer"].call("POST", f"/api/review/tasks/{task['review_id']}/approve")
        self.report.check("续期证书经初审与抽查通过", "approved", spot["status"])
        certificate, _ = await eventually(
            lambda: renew.actor.call("GET", f"/api/certificate/certificates/{item.certificate_id}"),
            lambda c: c["status"] == "in_effect", timeout_s=SETTLE_S)
        self.report.check("新版本生效，有效期延至一年后", ("in_effect", self.day(days_left + 1 + 365).isoformat()),
                          (certificate["status"], certificate["valid_until"]))

        def renewal_seen(views: dict[str, dict[str, Any]]) -> bool:
            view = views["smart_lock_installation"]
            return view["status"] == "granted" or all(c["in_effect"] for c in view["required_certificates"])

        # Wait until qualification-svc has seen the renewed certificate, then give it a moment more.
        view, _ = await eventually(lambda: self.qualifications_of(renew), renewal_seen, timeout_s=SETTLE_S, interval_s=1.0)
        view, restored = await eventually(lambda: self.qualifications_of(renew),
                                          lambda v: v["smart_lock_installation"]["status"] == "granted", timeout_s=5)
        after = view["smart_lock_installation"]
        self.report.check("续期生效后资质恢复，有效期随新证书延长（无需重新申请）",
                          ("granted", self.day(days_left + 1 + 365).isoformat()), (after["status"], after["valid_until"]))
        if not restored:
            self.report.note(f"资质服务此时给工程师的下一步：{after['next_step']['code']}：{after['next_step']['message']}")
        risky, cleared = await eventually(lambda: dispatcher.call("GET", "/api/order/orders/at-risk"),
                                          lambda items: all(o["order_id"] != o3 for o in items), timeout_s=10)
        self.report.check("续期后工单 O3 的风险解除", True, cleared)
        got = await self.eligible(o4, {renew.engineer_id}, timeout_s=10)
        self.report.check("续期后该工程师重新可被派单", ["E33"], self.labels(got))

        if not restored:
            self.report.heading("产品给出的恢复路径：重新申请并考试（仅作说明）")
            response = await self.apply(renew, "smart_lock_installation")
            if response.status_code == 201:
                await self.take_exam(renew, "smart_lock_installation")
                await self.run_job("exam", "collect_scores")
                view, _ = await eventually(lambda: self.qualifications_of(renew),
                                           lambda v: v["smart_lock_installation"]["status"] == "granted", timeout_s=SETTLE_S)
                _, cleared = await eventually(lambda: dispatcher.call("GET", "/api/order/orders/at-risk"),
                                              lambda items: all(o["order_id"] != o3 for o in items), timeout_s=SETTLE_S)
                self.report.note(f"重新申请并考 100 分后：资质 {STATUS_ZH.get(view['smart_lock_installation']['status'])}，"
                                 f"有效期至 {view['smart_lock_installation']['valid_until']}；O3 风险{'已解除' if cleared else '仍在'}")
            else:
                self.report.note(f"重新申请被拒：{response.json()}")

    async def summarise(self) -> None:
        await self.summarise_qualifications()
        counts = self.qualification_counts
        self.report.add_summary("资质：" + " / ".join(f"{STATUS_ZH.get(k, k)} {v}" for k, v in sorted(counts.items())))
        dispatcher = self.staff["dispatcher"]
        orders = await dispatcher.call("GET", "/api/order/orders")
        mine = [o for o in orders if o["order_id"] in set(self.orders.values())]
        statuses = Counter(o["status_name"] for o in mine)
        risky = sum(1 for o in mine if o.get("at_risk"))
        self.report.add_summary("工单：" + " / ".join(f"{k} {v}" for k, v in statuses.items()) + f"；有风险 {risky}")


STEPS = (
    ("服务商、大区、网点与管理人员", "organisation"),
    ("工程师实名注册", "register_engineers"),
    ("证书上传", "upload_certificates"),
    ("网点经理初审", "outlet_reviews"),
    ("当晚安监网核验", "registry_check"),
    ("次日培训经理抽查", "spot_checks"),
    ("资质申请、考试与成绩采集", "qualifications"),
    ("派单、接单与完工", "orders_flow"),
    ("证书到期与续期", "expiry_and_renewal"),
    ("汇总", "summarise"),
)


async def run() -> int:
    started = time.monotonic()
    demo = Demo()
    print(f"帮客演示：网关 {GATEWAY_URL}，演示首日 {demo.d0}（北京时间）")
    try:
        if not await demo.preflight():
            return 2
        for index, (name, method) in enumerate(STEPS):
            try:
                with demo.step(name):
                    await getattr(demo, method)()
            except Abort as error:
                if not demo.report.blocked:
                    demo.report.block(name, str(error))
                for later, _ in STEPS[index + 1:]:
                    demo.report.block(later, f"依赖前面的步骤「{name}」，未执行")
                break
        return demo.report.finish(time.monotonic() - started, demo.gateway.requests)
    finally:
        await demo.gateway.close()


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
