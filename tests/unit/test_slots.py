"""Booking slots of a sitting and its booking window, without a database."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from app.scheduling.slots import (
    Slot,
    booking_closes,
    in_window,
    nearest_slots,
    replacement,
    slots_of,
)

MORNING = ("08:30", "11:30")
AFTERNOON = ("14:30", "17:30")


def starts(slots: list[Slot]) -> list[str]:
    return [slot.start.strftime("%H:%M") for slot in slots]


def test_a_morning_of_half_hours_has_six_slots() -> None:
    slots = slots_of([MORNING], 30, 2)
    assert starts(slots) == ["08:30", "09:00", "09:30", "10:00", "10:30", "11:00"]
    assert slots[0] == Slot(time(8, 30), time(9, 0), 2)
    assert slots[-1].end == time(11, 30)
    assert {slot.seats for slot in slots} == {2}


def test_both_sessions_are_cut_and_sorted() -> None:
    slots = slots_of([AFTERNOON, MORNING], 30, 1)
    assert len(slots) == 12
    assert starts(slots)[5:7] == ["11:00", "14:30"]
    assert slots[-1] == Slot(time(17, 0), time(17, 30), 1)
    assert slots == sorted(slots, key=lambda slot: slot.start)


def test_forty_five_minute_slots_drop_the_remainder() -> None:
    slots = slots_of([("08:30", "12:00")], 45, 1)
    assert starts(slots) == ["08:30", "09:15", "10:00", "10:45"]
    assert slots[-1].end == time(11, 30)


def test_a_session_shorter_than_a_slot_has_none() -> None:
    assert slots_of([("08:30", "08:50")], 30, 1) == []


def test_times_may_be_given_as_times() -> None:
    assert slots_of([(time(9, 0), time(10, 0))], 60, 3) == [Slot(time(9, 0), time(10, 0), 3)]


def test_touching_sessions_are_allowed() -> None:
    assert len(slots_of([("08:30", "11:30"), ("11:30", "12:00")], 30, 1)) == 7


def test_overlapping_sessions_are_refused() -> None:
    with pytest.raises(ValueError, match="场次08:30—11:30与11:00—12:00时间重叠"):
        slots_of([("11:00", "12:00"), MORNING], 30, 1)


def test_a_session_inside_another_is_refused() -> None:
    with pytest.raises(ValueError, match="时间重叠"):
        slots_of([("08:00", "17:00"), ("09:00", "10:00"), ("13:00", "14:00")], 30, 1)


@pytest.mark.parametrize(
    ("sessions", "message"),
    [
        ([("11:30", "08:30")], "场次结束时间必须晚于开始时间：11:30—08:30"),
        ([("09:00", "09:00")], "场次结束时间必须晚于开始时间：09:00—09:00"),
        ([("8:30", "11:30")], "时间应为HH:MM格式"),
        ([("08:30", "24:00")], "时间应为HH:MM格式"),
    ],
)
def test_malformed_sessions_are_refused(sessions: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        slots_of(sessions, 30, 1)


def test_slot_length_and_seats_must_be_positive() -> None:
    with pytest.raises(ValueError, match="至少1分钟"):
        slots_of([MORNING], 0, 1)
    with pytest.raises(ValueError, match="至少1个名额"):
        slots_of([MORNING], 30, 0)


def test_bookings_close_at_five_the_day_before() -> None:
    assert booking_closes(date(2026, 3, 11)) == datetime(2026, 3, 10, 17, 0)


def test_bookings_close_across_a_month_end() -> None:
    assert booking_closes(date(2026, 3, 1)) == datetime(2026, 2, 28, 17, 0)


def test_notice_and_closing_time_can_be_set() -> None:
    assert booking_closes(date(2026, 3, 11), notice_days=2, closes_at=time(12, 0)) == datetime(
        2026, 3, 9, 12, 0
    )
    assert booking_closes(date(2026, 3, 11), notice_days=0, closes_at=time(8, 0)) == datetime(
        2026, 3, 11, 8, 0
    )
    with pytest.raises(ValueError):
        booking_closes(date(2026, 3, 11), notice_days=-1)


def test_the_window_runs_from_today_to_thirty_days_ahead() -> None:
    today = date(2026, 3, 10)
    assert in_window(today, today)
    assert in_window(date(2026, 4, 9), today)
    assert not in_window(date(2026, 4, 10), today)
    assert not in_window(date(2026, 3, 9), today)
    assert in_window(date(2026, 3, 17), today, window_days=7)
    assert not in_window(date(2026, 3, 18), today, window_days=7)


MARCH_5 = date(2026, 3, 5)


def test_another_leader_on_the_same_day_takes_over_first() -> None:
    candidates = [(date(2026, 3, 6), 7), (MARCH_5, 9), (MARCH_5, 8)]
    assert replacement(MARCH_5, candidates, today=date(2026, 3, 2)) == 8


def test_the_nearest_day_takes_over_and_a_tie_goes_to_the_later_day() -> None:
    candidates = [(date(2026, 3, 4), 1), (date(2026, 3, 6), 2), (date(2026, 3, 9), 3)]
    assert replacement(MARCH_5, candidates, today=date(2026, 3, 2)) == 2
    assert replacement(MARCH_5, candidates[:1] + candidates[2:], today=date(2026, 3, 2)) == 1


def test_no_replacement_in_the_past_or_beyond_a_week() -> None:
    candidates = [(date(2026, 3, 4), 1), (date(2026, 3, 13), 2)]
    assert replacement(MARCH_5, candidates, today=date(2026, 3, 5)) is None
    assert replacement(MARCH_5, [(date(2026, 3, 12), 4)], today=date(2026, 3, 2)) == 4


def test_slots_are_tried_nearest_first() -> None:
    starts = ["08:30", "09:00", "09:30", "10:00"]
    assert nearest_slots("09:30", starts) == ["09:30", "09:00", "10:00", "08:30"]
    assert nearest_slots("14:30", ["08:30", "09:00"]) == ["09:00", "08:30"]
