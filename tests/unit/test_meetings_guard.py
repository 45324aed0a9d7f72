"""The meetings guard (周二无会日 and published sittings), without a database."""

from __future__ import annotations

import datetime as dt

from app.org.rules import ReceptionRole
from app.scheduling.hours import covered, span, whole_day
from app.scheduling.meetings import (
    TUESDAY_REASON,
    Attendee,
    DayFacts,
    MeetingPlan,
    SittingFacts,
    hours_problem,
    level_problem,
    refusals,
)

TUESDAY = dt.date(2026, 3, 10)
WEDNESDAY = dt.date(2026, 3, 11)
SESSIONS = [
    {"key": "pm", "label": "下午", "start": "14:30", "end": "17:30"},
    {"key": "am", "label": "上午", "start": "08:30", "end": "11:30"},
]
SECRETARY = ReceptionRole.village_secretary.value
LEADER = ReceptionRole.county_leader.value
LI = Attendee(7, "李卫东", frozenset({LEADER}))
WANG = Attendee(8, "王秀英", frozenset({SECRETARY}))


def plan(
    day: dt.date,
    start: str = "09:00",
    end: str = "10:00",
    *,
    persons: set[int] | None = None,
    posts: set[int] | None = None,
    unit_kinds: set[str] | None = None,
) -> MeetingPlan:
    return MeetingPlan(
        day,
        dt.time.fromisoformat(start),
        dt.time.fromisoformat(end),
        frozenset(persons or ()),
        frozenset(posts or ()),
        frozenset(unit_kinds or ()),
    )


def sitting(person: int, *keys: str) -> SittingFacts:
    return SittingFacts(person, "县领导坐班接访", "县社会治理中心", tuple(covered(SESSIONS, keys)))


def test_it_refuses_a_tuesday_meeting_of_every_village() -> None:
    reasons = refusals(plan(TUESDAY, unit_kinds={"village"}), [], DayFacts(), [])
    assert reasons == [TUESDAY_REASON]
    assert "周二为无会日" in reasons[0]


def test_it_refuses_a_tuesday_meeting_of_every_community() -> None:
    assert refusals(plan(TUESDAY, unit_kinds={"community"}), [], DayFacts(), []) == [TUESDAY_REASON]


def test_it_refuses_a_tuesday_meeting_requiring_a_village_secretary_post_even_vacant() -> None:
    meeting = plan(TUESDAY, posts={31})
    assert refusals(meeting, [], DayFacts(), [], post_roles={31: SECRETARY}) == [TUESDAY_REASON]


def test_it_refuses_a_tuesday_meeting_requiring_a_person_who_is_a_village_secretary() -> None:
    meeting = plan(TUESDAY, persons={WANG.person_id})
    assert refusals(meeting, [WANG], DayFacts(), []) == [TUESDAY_REASON]


def test_it_allows_a_tuesday_meeting_of_townships_and_county_leaders() -> None:
    meeting = plan(TUESDAY, persons={LI.person_id}, unit_kinds={"township", "street"})
    assert refusals(meeting, [LI], DayFacts(), []) == []


def test_it_allows_village_secretaries_to_meet_on_a_wednesday() -> None:
    assert refusals(plan(WEDNESDAY, unit_kinds={"village"}), [WANG], DayFacts(), []) == []


def test_it_leaves_a_tuesday_that_is_a_rest_day_alone() -> None:
    national_day = dt.date(2026, 10, 6)  # a Tuesday of the National Day holiday
    assert national_day.isoweekday() == 2
    meeting = plan(national_day, unit_kinds={"village"})
    assert refusals(meeting, [], DayFacts(workday=False), []) == []


def test_it_names_the_leader_the_rule_and_the_hours_of_a_colliding_sitting() -> None:
    meeting = plan(WEDNESDAY, "09:00", "10:00", persons={LI.person_id})
    (reason,) = refusals(meeting, [LI], DayFacts(), [sitting(LI.person_id, "am", "pm")])
    assert "李卫东" in reason
    assert "县领导坐班接访" in reason
    assert "上午 08:30—11:30" in reason
    assert "下午" not in reason
    assert "2026-03-11" in reason


def test_a_meeting_in_the_lunch_break_does_not_collide_with_morning_and_afternoon() -> None:
    meeting = plan(WEDNESDAY, "11:30", "14:30", persons={LI.person_id})
    assert refusals(meeting, [LI], DayFacts(), [sitting(LI.person_id, "am", "pm")]) == []


def test_a_whole_day_sitting_covers_the_lunch_break() -> None:
    meeting = plan(WEDNESDAY, "12:00", "13:00", persons={LI.person_id})
    (reason,) = refusals(meeting, [LI], DayFacts(), [sitting(LI.person_id, "day")])
    assert "全天 08:30—17:30" in reason


def test_a_sitting_of_someone_not_required_is_no_collision() -> None:
    meeting = plan(WEDNESDAY, persons={LI.person_id})
    assert refusals(meeting, [LI], DayFacts(), [sitting(99, "am")]) == []


def test_both_reasons_are_given_together() -> None:
    meeting = plan(TUESDAY, persons={LI.person_id}, unit_kinds={"village"})
    reasons = refusals(meeting, [LI], DayFacts(), [sitting(LI.person_id, "am")])
    assert reasons[0] == TUESDAY_REASON
    assert "李卫东" in reasons[1]


def test_a_sitting_covers_the_named_sessions_in_time_order() -> None:
    hours = covered(SESSIONS, ["pm", "am"])
    assert [h.key for h in hours] == ["am", "pm"]
    assert span(hours) == (dt.time(8, 30), dt.time(17, 30))


def test_a_rule_naming_no_session_of_the_venue_covers_the_whole_day() -> None:
    assert covered(SESSIONS, ["evening"]) == [whole_day(SESSIONS)]


def test_hours_and_levels_are_checked() -> None:
    assert hours_problem(dt.time(10), dt.time(9)) is not None
    assert hours_problem(dt.time(9), dt.time(10)) is None
    assert level_problem(["village", "county"]) is not None
    assert level_problem(["village", "street"]) is None
