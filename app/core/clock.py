""" "Now" is injected: rules receive dates and datetimes, they never read the clock."""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@runtime_checkable
class Clock(Protocol):
    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved: demo loading and tests."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


def local_today(clock: Clock) -> dt.date:
    """Every date rule runs in Asia/Shanghai."""
    return clock.now().astimezone(SHANGHAI).date()


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
