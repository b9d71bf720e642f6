from datetime import UTC, date, datetime, time

import pytest

from bangke_runtime.clock import Clock, china_date, end_of_china_day
from bangke_runtime.jobs import DailyAt, Every


def test_china_date_crosses_midnight_before_utc():
    assert china_date(datetime(2026, 12, 4, 16, 0, tzinfo=UTC)) == date(2026, 12, 5)
    assert china_date(datetime(2026, 12, 4, 15, 59, tzinfo=UTC)) == date(2026, 12, 4)


def test_end_of_china_day():
    assert end_of_china_day(date(2027, 6, 30)) == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)


def test_daily_schedule_in_china_time():
    schedule = DailyAt(time(1, 0))
    assert schedule.next_after(datetime(2026, 12, 4, 16, 30, tzinfo=UTC)) == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert schedule.next_after(datetime(2026, 12, 4, 17, 0, tzinfo=UTC)) == datetime(2026, 12, 5, 17, 0, tzinfo=UTC)


def test_interval_schedule():
    start = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert Every(1800).next_after(start) == datetime(2026, 12, 4, 0, 30, tzinfo=UTC)


def test_clock_file_moves_time(tmp_path):
    clock_file = tmp_path / "clock"
    clock = Clock(clock_file)
    before = clock.now()
    assert before.tzinfo is not None

    clock_file.write_text("2027-07-01T00:00:00+08:00")
    assert clock.now() == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)
    assert clock.today_in_china() == date(2027, 7, 1)


def test_clock_file_rejects_naive_time(tmp_path):
    clock_file = tmp_path / "clock"
    clock_file.write_text("2027-07-01T00:00:00")
    with pytest.raises(ValueError, match="naive"):
        Clock(clock_file).now()
