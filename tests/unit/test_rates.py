"""Fixed windows of the rate limits: every request of one window shares one count, and
the next window starts afresh."""

from __future__ import annotations

import datetime as dt

from app.core.rates import Limit, window_of

HOUR = Limit(5, 3600)


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 5, hh, mm, ss, tzinfo=dt.UTC)


def test_one_window_holds_one_hour_from_the_full_hour() -> None:
    assert window_of(HOUR, at(8, 0)) == window_of(HOUR, at(8, 59, 59))
    assert window_of(HOUR, at(9, 0)) == window_of(HOUR, at(8, 59, 59)) + 1


def test_the_window_does_not_depend_on_the_time_zone_written() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert window_of(HOUR, at(8, 30)) == window_of(HOUR, at(8, 30).astimezone(shanghai))


def test_short_windows_cut_the_hour_finer() -> None:
    ten_minutes = Limit(60, 600)
    assert window_of(ten_minutes, at(8, 9, 59)) + 1 == window_of(ten_minutes, at(8, 10))
