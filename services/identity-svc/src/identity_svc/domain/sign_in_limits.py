"""Counting failed sign-ins in fixed windows, per mobile number and per client address.

Each window is ``window_s`` seconds long and aligned to the Unix epoch, so every replica computes the
same window and the counters (stored in MongoDB) hold across replicas. A fixed window lets up to twice
the limit through around a window boundary; that is accepted for its single-document counters.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Window:
    index: int
    ends_at: datetime

    def retry_after_s(self, now: datetime) -> int:
        return max(1, int((self.ends_at - now).total_seconds() + 0.999))


def window_of(now: datetime, window_s: int) -> Window:
    index = int(now.timestamp()) // window_s
    return Window(index=index, ends_at=datetime.fromtimestamp((index + 1) * window_s, UTC))


def is_blocked(failures: int, limit: int) -> bool:
    return failures >= limit


def keep_counters_until(window: Window, window_s: int) -> datetime:
    """Return when a counter of ``window`` may be deleted: one window after it ended."""
    return window.ends_at + timedelta(seconds=window_s)
