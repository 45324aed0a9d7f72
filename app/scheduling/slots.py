"""Cutting a sitting's sessions into booking slots, and when bookings for a sitting close.

Times are naive Asia/Shanghai wall-clock times: a sitting happens at a place, and its
sessions, slots and booking deadline are read there.

Pure: values in, values out; "today" is passed in, never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Final

__all__ = [
    "DEFAULT_CLOSES_AT",
    "DEFAULT_WINDOW_DAYS",
    "Slot",
    "booking_closes",
    "in_window",
    "nearest_slots",
    "replacement",
    "slots_of",
]

DEFAULT_CLOSES_AT: Final = time(17, 0)
DEFAULT_WINDOW_DAYS: Final = 30

_CLOCK: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_MINUTES_PER_HOUR: Final = 60


@dataclass(frozen=True, slots=True)
class Slot:
    """One bookable stretch [start, end) of a session with its number of seats."""

    start: time
    end: time
    seats: int


def slots_of(
    sessions: Iterable[tuple[str | time, str | time]], slot_minutes: int, seats_per_slot: int
) -> list[Slot]:
    """The slots of a sitting, in time order.

    Each session (start, end) — "HH:MM" texts or times — is cut from its start into slots of
    `slot_minutes`; a remainder at its end shorter than a slot is not bookable. Sessions may
    touch (one ends at 11:30, the next starts at 11:30) but not overlap.
    """
    if slot_minutes < 1:
        raise ValueError(f"每个预约时段至少1分钟，当前为{slot_minutes}分钟")
    if seats_per_slot < 1:
        raise ValueError(f"每个预约时段至少1个名额，当前为{seats_per_slot}个")
    spans = sorted(_minutes(start, end) for start, end in sessions)
    _refuse_overlaps(spans)
    return [
        Slot(_clock(begin), _clock(begin + slot_minutes), seats_per_slot)
        for first, last in spans
        for begin in range(first, last - slot_minutes + 1, slot_minutes)
    ]


def booking_closes(
    sitting_day: date, *, notice_days: int = 1, closes_at: time = DEFAULT_CLOSES_AT
) -> datetime:
    """The naive Asia/Shanghai moment bookings for a sitting on `sitting_day` close.

    By default 17:00 on the calendar day before the sitting; `notice_days=0` closes on the
    sitting day itself at `closes_at`.
    """
    if notice_days < 0:
        raise ValueError(f"notice_days must not be negative: {notice_days}")
    if closes_at.tzinfo is not None:
        raise ValueError("closes_at must be a naive Asia/Shanghai time")
    return datetime.combine(sitting_day - timedelta(days=notice_days), closes_at)


def in_window(sitting_day: date, today: date, window_days: int = DEFAULT_WINDOW_DAYS) -> bool:
    """Whether a sitting lies in the booking window: from today to `window_days` days ahead,
    both ends included. Whether its bookings have already closed is `booking_closes`'s rule."""
    return today <= sitting_day <= today + timedelta(days=window_days)


#: How far a re-plan may move a booked citizen's date: beyond it the booking is cancelled
#: and the citizen asked to choose again.
MAX_SHIFT_DAYS: Final = 7


def replacement(
    day: date, candidates: Iterable[tuple[date, int]], today: date, max_shift: int = MAX_SHIFT_DAYS
) -> int | None:
    """Which sitting takes over the bookings of a cancelled one, among the scheduled
    sittings (day, id) of the same rule: one on the same day (another leader receives),
    else the nearest day within `max_shift` days — the later on a tie, since a citizen can
    still come later but not earlier than told — never before `today`. None: no sitting
    can take them over."""
    usable = [
        (abs((d - day).days), d < day, d, sid)
        for d, sid in candidates
        if d >= today and abs((d - day).days) <= max_shift
    ]
    return min(usable)[3] if usable else None


def nearest_slots(wanted: str, starts: Iterable[str]) -> list[str]:
    """A sitting's slot starts ordered by closeness to the wanted start (the wanted one
    first when it exists, an earlier one before a later one at the same distance)."""
    target = _minute_of_day(wanted)
    return sorted(starts, key=lambda s: (abs(_minute_of_day(s) - target), _minute_of_day(s)))


def _minutes(start: str | time, end: str | time) -> tuple[int, int]:
    first, last = _minute_of_day(start), _minute_of_day(end)
    if last <= first:
        raise ValueError(f"场次结束时间必须晚于开始时间：{_text(first)}—{_text(last)}")
    return first, last


def _minute_of_day(value: str | time) -> int:
    if isinstance(value, time):
        return value.hour * _MINUTES_PER_HOUR + value.minute
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"时间应为HH:MM格式（如08:30），当前为“{value}”")
    return int(match[1]) * _MINUTES_PER_HOUR + int(match[2])


def _refuse_overlaps(spans: list[tuple[int, int]]) -> None:
    for (first_start, first_end), (next_start, next_end) in pairwise(spans):
        if next_start < first_end:
            raise ValueError(
                f"场次{_text(first_start)}—{_text(first_end)}与"
                f"{_text(next_start)}—{_text(next_end)}时间重叠"
            )


def _clock(minute_of_day: int) -> time:
    return time(*divmod(minute_of_day, _MINUTES_PER_HOUR))


def _text(minute_of_day: int) -> str:
    return _clock(minute_of_day).strftime("%H:%M")
