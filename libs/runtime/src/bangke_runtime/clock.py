"""Time source of the services.

Production reads the wall clock. Test and demo configurations may point ``clock_file`` at a file that
contains an ISO-8601 instant, so that a scenario can move every service to "the next day" at once.
"""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    """Wall clock, or a controllable one when ``clock_file`` is given."""

    def __init__(self, clock_file: Path | None = None) -> None:
        self._clock_file = clock_file

    def now(self) -> datetime:
        """Return the current instant, timezone-aware in UTC."""
        if self._clock_file is not None and self._clock_file.exists():
            text = self._clock_file.read_text().strip()
            if text:
                instant = datetime.fromisoformat(text)
                if instant.tzinfo is None:
                    raise ValueError(f"clock file {self._clock_file} contains a naive time {text!r}; add an offset such as +08:00")
                return instant.astimezone(UTC)
        return datetime.now(UTC)

    def today_in_china(self) -> date:
        return china_date(self.now())


def china_date(instant: datetime) -> date:
    """Return the calendar date of ``instant`` in China Standard Time."""
    return instant.astimezone(CHINA_TZ).date()


def end_of_china_day(day: date) -> datetime:
    """Return the first instant after ``day`` ends in China, in UTC.

    A certificate valid until 2027-06-30 is in effect through that whole day in Asia/Shanghai,
    so it stops being effective at this instant.
    """
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ).astimezone(UTC)
