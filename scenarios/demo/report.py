"""The readable report: sections, checks (预期 vs 实际 when one fails) and steps that could not run."""

import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    section: str
    name: str
    expected: Any
    actual: Any

    @property
    def passed(self) -> bool:
        return self.expected == self.actual


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    section: str = ""
    started: float = field(default_factory=time.monotonic)

    def heading(self, title: str) -> None:
        self.section = title
        print(f"\n== {title} ==（第 {time.monotonic() - self.started:.0f} 秒）", flush=True)

    def note(self, text: str) -> None:
        print(f"   {text}", flush=True)

    def check(self, name: str, expected: Any, actual: Any) -> bool:
        item = Check(self.section, name, expected, actual)
        self.checks.append(item)
        if item.passed:
            print(f"  ✓ {name}：{_show(actual)}", flush=True)
        else:
            print(f"  ✗ {name}", flush=True)
            print(f"      预期：{_show(expected)}", flush=True)
            print(f"      实际：{_show(actual)}", flush=True)
        return item.passed

    def block(self, step: str, reason: str) -> None:
        """Record a step that could not run at all, and why."""
        self.blocked.append((step, reason))
        print(f"  ✗ 无法执行：{step}", flush=True)
        print(f"      原因：{reason}", flush=True)

    def add_summary(self, line: str) -> None:
        self.summary.append(line)

    def finish(self, elapsed_s: float, requests: int) -> int:
        failed = [c for c in self.checks if not c.passed]
        print("\n== 总结 ==")
        for line in self.summary:
            print(f"  {line}")
        print(f"  检查：通过 {len(self.checks) - len(failed)} / 未通过 {len(failed)}；"
              f"无法执行的步骤 {len(self.blocked)}；网关请求 {requests} 次；用时 {elapsed_s:.0f} 秒")
        if failed:
            print("\n未通过的检查：")
            for check in failed:
                print(f"  [{check.section}] {check.name}")
                print(f"      预期：{_show(check.expected)}")
                print(f"      实际：{_show(check.actual)}")
        if self.blocked:
            print("\n无法执行的步骤：")
            for step, reason in self.blocked:
                print(f"  {step}：{reason}")
        ok = not failed and not self.blocked
        print("\n结果：" + ("全部符合业务规则" if ok else "与业务规则不符，详见上文"), flush=True)
        sys.stdout.flush()
        return 0 if ok else 1


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "[" + "、".join(_show(v) for v in value) + "]" if value else "（无）"
    if isinstance(value, dict):
        return "{" + "，".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "（无）"
    return str(value)
