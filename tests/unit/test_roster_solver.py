"""The reception-roster solver on small rosters, checked the way a user of the roster would
check it: who sits on which date, what the result says was broken and why a roster that
cannot be made cannot be made. No database; the national calendar comes from
`chinesecalendar` (2026) or the 2024 rules (2027, provisional)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import main
from app.core.workdays import WorkCalendar
from app.scheduling.schemas import (
    Assignment,
    CalendarIn,
    Conflict,
    Instance,
    Interval,
    Official,
    OnRestDay,
    Period,
    Result,
    Rotation,
    Rule,
    RuleKind,
    Status,
    TenureSpan,
    Term,
    Violation,
    Weights,
)
from app.scheduling.sittings import instance_problems, sittings_of
from app.scheduling.solver import solve

CHINA = WorkCalendar.china()
SEED = 7
TIME_LIMIT = 10.0
HAN = re.compile(r"[\u4e00-\u9fff]")
NAMES = {"A": "张建国", "B": "李明", "C": "王芳", "D": "赵强", "E": "孙丽", "F": "周涛"}

d = dt.date


# --------------------------------------------------------------------------- builders


def leader(
    oid: str,
    *,
    away: Iterable[tuple[dt.date, dt.date]] = (),
    reason: str = "",
    tenure: TenureSpan | None = None,
    desired: Iterable[dt.date] = (),
    undesired: Iterable[dt.date] = (),
) -> Official:
    return Official(
        id=oid,
        name=NAMES.get(oid, oid),
        unavailable=[Interval(start=a, end=b, reason=reason) for a, b in away],
        tenure=tenure,
        desired=list(desired),
        undesired=list(undesired),
    )


def leaders(*ids: str) -> list[Official]:
    return [leader(i) for i in ids]


def daily(rid: str, pool: list[str], **kw: Any) -> Rule:
    return Rule(id=rid, kind=RuleKind.daily, pool=pool, **kw)


def monthly(rid: str, pool: list[str], **kw: Any) -> Rule:
    return Rule(id=rid, kind=RuleKind.monthly, pool=pool, **kw)


def weekly(rid: str, pool: list[str], **kw: Any) -> Rule:
    return Rule(id=rid, kind=RuleKind.weekly, pool=pool, **kw)


def roster(
    rules: list[Rule],
    officials: list[Official],
    start: dt.date,
    end: dt.date,
    **kw: Any,
) -> Instance:
    return Instance(
        period=Period(start=start, end=end),
        officials=officials,
        rules=rules,
        **kw,
    )


def run(instance: Instance) -> Result:
    return solve(instance, time_limit=TIME_LIMIT, seed=SEED)


def solved(instance: Instance) -> Result:
    result = run(instance)
    assert result.status is Status.optimal, result.conflicts
    return result


def holders(result: Result, rule: str) -> dict[dt.date, list[str]]:
    out: dict[dt.date, list[str]] = defaultdict(list)
    for a in result.assignments:
        if a.rule == rule:
            out[a.date].append(a.official)
    return {day: sorted(names) for day, names in sorted(out.items())}


def sole(result: Result, rule: str) -> dict[dt.date, str]:
    """The holder of each sitting of a rule that seats one official."""
    out: dict[dt.date, str] = {}
    for day, names in holders(result, rule).items():
        assert len(names) == 1, (day, names)
        out[day] = names[0]
    return out


def dates_of(result: Result, official: str) -> list[dt.date]:
    return sorted(a.date for a in result.assignments if a.official == official)


def of_kind(result: Result, kind: str) -> list[Violation]:
    return [v for v in result.violations if v.kind == kind]


def span(start: dt.date, end: dt.date) -> list[dt.date]:
    return [dt.date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]


def month_of_sitting(instance: Instance, rule: Rule) -> dict[dt.date, tuple[int, int]]:
    return {s.date: s.month for s in sittings_of(rule, instance.period, CHINA)}


def occurrence(instance: Instance, rule: Rule) -> dict[dt.date, int]:
    return {s.date: s.occurrence for s in sittings_of(rule, instance.period, CHINA)}


def first_workday_after_rest(start: dt.date) -> dt.date:
    day = start
    while CHINA.is_rest_day(day):
        day += dt.timedelta(days=1)
    return day


# --------------------------------------------------------------------------- cover


def test_every_sitting_is_held_by_exactly_per_day_distinct_officials() -> None:
    rule = daily("X", ["A", "B", "C", "D"], per_day=2)
    result = solved(roster([rule], leaders("A", "B", "C", "D"), d(2026, 3, 2), d(2026, 3, 8)))
    seats = holders(result, "X")
    assert list(seats) == span(d(2026, 3, 2), d(2026, 3, 8))
    assert all(len(names) == 2 == len(set(names)) for names in seats.values())


def test_a_sitting_that_needs_more_officials_than_the_pool_has_is_infeasible() -> None:
    rule = daily("X", ["A", "B"], per_day=3)
    result = run(roster([rule], leaders("A", "B"), d(2026, 3, 2), d(2026, 3, 4)))
    assert result.status is Status.infeasible
    assert result.assignments == []
    assert result.conflicts and all(c.rules == ["X"] for c in result.conflicts)


# --------------------------------------------------------------------------- fallback


def test_the_fallback_sits_only_in_a_month_the_pool_cannot_cover() -> None:
    rule = monthly("T", ["A", "B", "C"], fallback=["F"])
    officials = [leader("A"), leader("B"), leader("C", away=[(d(2026, 4, 1), d(2026, 4, 30))])]
    officials.append(leader("F"))
    inst = roster([rule], officials, d(2026, 3, 1), d(2026, 4, 30))
    result = solved(inst)
    months = month_of_sitting(inst, rule)
    seats = sole(result, "T")
    by_fallback = [day for day, who in seats.items() if who == "F"]
    assert [months[day] for day in by_fallback] == [(2026, 4)]
    assert result.violations == [Violation("T", "fallback", "F", by_fallback[0], 4, "候补人员接访")]


def test_a_township_whose_secretary_chairs_the_congress_calls_the_fallback_once_a_month() -> None:
    # 三个一: the secretary, the township head and the chair of the people's congress each
    # take one day; one person holds two of the posts, so the fallback takes the third day.
    rule = monthly("T", ["A", "B"], fallback=["F"])
    inst = roster([rule], leaders("A", "B", "F"), d(2026, 3, 1), d(2026, 6, 30))
    result = solved(inst)
    months = month_of_sitting(inst, rule)
    per_month: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for day, who in sole(result, "T").items():
        per_month[months[day]][who] += 1
    assert sorted(per_month) == [(2026, m) for m in (3, 4, 5, 6)]
    assert all(count == Counter({"A": 1, "B": 1, "F": 1}) for count in per_month.values())
    assert {(v.kind, v.official, v.penalty) for v in result.violations} == {("fallback", "F", 4)}
    assert len(result.violations) == 4


# --------------------------------------------------------------------------- one a day


def test_nobody_holds_two_sittings_on_one_date_across_two_rules() -> None:
    rules = [daily("X", ["A", "B"]), daily("Y", ["A", "B"])]
    result = solved(roster(rules, leaders("A", "B"), d(2026, 3, 2), d(2026, 3, 6)))
    x, y = sole(result, "X"), sole(result, "Y")
    assert list(x) == list(y) == span(d(2026, 3, 2), d(2026, 3, 6))
    assert all(x[day] != y[day] for day in x)


def test_two_rules_that_need_more_of_the_same_officials_than_exist_are_infeasible() -> None:
    rules = [daily("X", ["A", "B"], per_day=2), daily("Y", ["A", "B"])]
    result = run(roster(rules, leaders("A", "B"), d(2026, 3, 2), d(2026, 3, 3)))
    assert result.status is Status.infeasible
    assert result.conflicts
    assert {r for c in result.conflicts for r in c.rules} <= {"X", "Y"}
    message = "".join(c.message for c in result.conflicts)
    assert message.count(f"{NAMES['A']}同一天只能在一处接访。") == 1


# --------------------------------------------------------------------------- min gap


def test_three_leaders_cannot_keep_four_days_between_sittings_of_a_daily_rule() -> None:
    rule = daily("X", ["A", "B", "C"], min_gap_days=4)
    result = run(roster([rule], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 3, 10)))
    assert result.status is Status.infeasible
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert (conflict.rules, conflict.officials) == (["X"], ["A", "B", "C"])
    for official in "ABC":
        assert conflict.message.count(f"{NAMES[official]}在X中两次接访至少间隔4天。") == 1


def test_three_leaders_with_a_gap_of_three_days_take_turns() -> None:
    rule = daily("X", ["A", "B", "C"], min_gap_days=3)
    result = solved(roster([rule], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 3, 10)))
    assert list(sole(result, "X")) == span(d(2026, 3, 1), d(2026, 3, 10))
    for official in "ABC":
        for a, b in combinations(dates_of(result, official), 2):
            assert abs((b - a).days) >= 3


# --------------------------------------------------------------------------- pins


def test_a_pinned_assignment_is_kept() -> None:
    rule = daily("X", ["A", "B", "C"])
    pins = [Assignment("X", d(2026, 3, 4), "C"), Assignment("X", d(2026, 3, 5), "C")]
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 3, 2), d(2026, 3, 6), pinned=pins)
    result = solved(inst)
    assert set(pins) <= set(result.assignments)


def test_a_pin_on_an_official_who_is_away_is_infeasible_and_the_conflict_names_it() -> None:
    rule = daily("X", ["A", "B"])
    officials = [leader("A", away=[(d(2026, 3, 3), d(2026, 3, 4))], reason="出差"), leader("B")]
    pin = Assignment("X", d(2026, 3, 4), "A")
    inst = roster([rule], officials, d(2026, 3, 2), d(2026, 3, 6), pinned=[pin])
    result = run(inst)
    assert result.status is Status.infeasible
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert (conflict.rules, conflict.officials, conflict.dates) == (["X"], ["A"], [pin.date])
    assert "固定" in conflict.message and "出差" in conflict.message
    assert NAMES["A"] in conflict.message and "3月4日" in conflict.message


def test_a_pin_on_a_member_whose_term_in_the_rule_has_ended_is_refused() -> None:
    # A left the township pool on 4 March; pinning them there on the 5th cannot seat a
    # second official on a one-seat sitting.
    rule = daily("X", ["A", "B"], terms=[Term(official="A", end=d(2026, 3, 4))])
    pin = Assignment("X", d(2026, 3, 5), "A")
    inst = roster([rule], leaders("A", "B"), d(2026, 3, 2), d(2026, 3, 6), pinned=[pin])
    result = run(inst)
    assert result.status is Status.infeasible
    assert [(c.rules, c.officials, c.dates) for c in result.conflicts] == [
        (["X"], ["A"], [pin.date])
    ]
    assert "固定" in result.conflicts[0].message


# --------------------------------------------------------------------------- balance


def test_a_leader_in_post_half_the_period_gets_about_half_the_sittings() -> None:
    # 60 days; the first 30 split among five leaders (6 each), the last 30 among six
    # (5 each): the five carry 11, the newcomer 5.
    ids = ["A", "B", "C", "D", "E"]
    newcomer = leader("F", tenure=TenureSpan(start=d(2026, 3, 31)))
    rule = daily("X", [*ids, "F"])
    inst = roster([rule], [*leaders(*ids), newcomer], d(2026, 3, 1), d(2026, 4, 29))
    result = solved(inst)
    assert result.load == {"A": 11, "B": 11, "C": 11, "D": 11, "E": 11, "F": 5}
    assert abs(2 * result.load["F"] - result.load["A"]) <= 1
    assert of_kind(result, "load") == []


def test_a_load_that_cannot_be_fair_is_reported_against_both_officials() -> None:
    rule = daily("X", ["A", "B"])
    officials = [leader("A", away=[(d(2026, 3, 2), d(2026, 3, 4))]), leader("B")]
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 5)))
    assert result.load == {"A": 1, "B": 3}
    assert sorted((v.kind, v.official, v.penalty, v.detail) for v in result.violations) == [
        ("load", "A", 10, "应承担2次，实际偏少"),
        ("load", "B", 10, "应承担2次，实际偏多"),
    ]


def rest_days_held(result: Result, official: str) -> int:
    return sum(CHINA.is_rest_day(day) for day in dates_of(result, official))


def test_weekend_duty_is_shared_out_on_its_own() -> None:
    # Two weeks: ten working days and four weekend days for two leaders.
    rule = daily("X", ["A", "B"])
    result = solved(roster([rule], leaders("A", "B"), d(2026, 3, 2), d(2026, 3, 15)))
    assert result.load == {"A": 7, "B": 7}
    assert rest_days_held(result, "A") == rest_days_held(result, "B") == 2
    assert result.violations == []


def test_weekend_duty_that_cannot_be_shared_is_reported_but_the_total_stays_fair() -> None:
    rule = daily("X", ["A", "B"])
    weekends = [(d(2026, 3, 7), d(2026, 3, 8)), (d(2026, 3, 14), d(2026, 3, 15))]
    officials = [leader("A", away=weekends), leader("B")]
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 15)))
    assert result.load == {"A": 7, "B": 7}
    assert rest_days_held(result, "B") == 4
    assert sorted((v.kind, v.official, v.penalty) for v in result.violations) == [
        ("rest_load", "A", 12),
        ("rest_load", "B", 12),
    ]


# --------------------------------------------------------------------------- 三个一


def test_each_member_takes_one_of_the_three_days_every_month() -> None:
    rule = monthly("T", ["A", "B", "C"])
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 5, 31))
    result = solved(inst)
    months = month_of_sitting(inst, rule)
    taken = Counter((months[day], who) for day, who in sole(result, "T").items())
    assert len(taken) == 9 and set(taken.values()) == {1}
    assert result.violations == []


def test_two_members_for_three_days_a_month_break_once_a_month_and_nothing_else() -> None:
    rule = monthly("T", ["A", "B"])
    inst = roster([rule], leaders("A", "B"), d(2026, 3, 1), d(2026, 6, 30))
    result = solved(inst)
    once = of_kind(result, "once_per_month")
    assert sorted(v.date for v in once if v.date) == [d(2026, m, 1) for m in (3, 4, 5, 6)]
    assert {v.penalty for v in once} == {20}
    assert of_kind(result, "load") == []
    assert result.load == {"A": 6, "B": 6}


# --------------------------------------------------------------------------- rotation


def test_rotate_gives_each_member_another_day_the_next_month() -> None:
    rule = monthly("T", ["A", "B", "C"])
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 6, 30))
    result = solved(inst)
    k = occurrence(inst, rule)
    for official in "ABC":
        days_taken = [k[day] for day in dates_of(result, official)]
        assert len(days_taken) == 4
        assert all(a != b for a, b in pairwise(days_taken))
    assert result.violations == []


def test_fixed_keeps_each_member_on_the_same_day_every_month() -> None:
    rule = monthly("T", ["A", "B", "C"], rotation=Rotation.fixed)
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 6, 30))
    result = solved(inst)
    k = occurrence(inst, rule)
    for official in "ABC":
        assert len({k[day] for day in dates_of(result, official)}) == 1
    assert result.violations == []


def test_a_member_free_only_on_the_first_two_months_running_is_reported_for_rotation() -> None:
    rule = monthly("T", ["A", "B", "C"])
    away = [(d(2026, 3, 5), d(2026, 3, 31)), (d(2026, 4, 5), d(2026, 4, 30))]
    officials = [leader("A", away=away), leader("B"), leader("C")]
    result = solved(roster([rule], officials, d(2026, 3, 1), d(2026, 4, 30)))
    assert dates_of(result, "A") == [d(2026, 3, 2), d(2026, 4, 1)]
    assert [(v.kind, v.official, v.date, v.penalty) for v in result.violations] == [
        ("rotation", "A", d(2026, 4, 1), 2)
    ]


def test_a_member_who_cannot_keep_a_fixed_day_is_reported_for_rotation() -> None:
    rule = monthly("T", ["A", "B", "C"], rotation=Rotation.fixed)
    away = [(d(2026, 3, 5), d(2026, 3, 31)), (d(2026, 4, 1), d(2026, 4, 5))]
    officials = [leader("A", away=away), leader("B"), leader("C")]
    result = solved(roster([rule], officials, d(2026, 3, 1), d(2026, 4, 30)))
    assert dates_of(result, "A")[0] == d(2026, 3, 2)
    assert len(dates_of(result, "A")) == 2
    # A leaves the 1st in April, so whoever takes it there leaves their own day: two breaks.
    rotation = sorted((v.kind, v.official, v.penalty) for v in result.violations)
    assert len(rotation) == 2 and rotation[0] == ("rotation", "A", 2)
    assert rotation[1] in {("rotation", "B", 2), ("rotation", "C", 2)}
    april_first = sole(result, "T")[d(2026, 4, 1)]
    assert april_first == rotation[1][1]


# --------------------------------------------------------------------------- primary


def test_the_village_secretary_sits_every_week_and_the_deputy_only_when_they_are_away() -> None:
    rule = weekly("V", ["A", "B"], primary="A")
    officials = [leader("A", away=[(d(2026, 3, 16), d(2026, 3, 20))]), leader("B")]
    result = solved(roster([rule], officials, d(2026, 3, 1), d(2026, 4, 30)))
    seats = sole(result, "V")
    assert all(day.isoweekday() == 2 for day in seats)
    assert {day for day, who in seats.items() if who == "B"} == {d(2026, 3, 17)}
    assert len(seats) == 9
    assert result.violations == []


def test_a_secretary_held_elsewhere_on_the_village_day_is_reported() -> None:
    village = weekly("V", ["A", "B"], primary="A")
    township = monthly("T", ["A", "C"], days_of_month=[10], once_per_member_per_month=False)
    pin = Assignment("T", d(2026, 3, 10), "A")
    inst = roster(
        [village, township], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 3, 31), pinned=[pin]
    )
    result = solved(inst)
    assert sole(result, "V")[d(2026, 3, 10)] == "B"
    assert [(v.kind, v.official, v.date, v.penalty) for v in of_kind(result, "primary")] == [
        ("primary", "A", d(2026, 3, 10), 50)
    ]


# --------------------------------------------------------------------------- wishes


def test_desired_dates_are_given_and_undesired_ones_avoided() -> None:
    rule = daily("X", ["A", "B"])
    officials = [leader("A", desired=[d(2026, 3, 4)], undesired=[d(2026, 3, 2)]), leader("B")]
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 5)))
    seats = sole(result, "X")
    assert seats[d(2026, 3, 4)] == "A" and seats[d(2026, 3, 2)] == "B"
    assert result.violations == []


def test_an_undesired_date_that_cannot_be_avoided_is_reported() -> None:
    rule = daily("X", ["A", "B"])
    officials = [
        leader("A", undesired=[d(2026, 3, 2)]),
        leader("B", away=[(d(2026, 3, 2), d(2026, 3, 2))]),
    ]
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 5)))
    assert sole(result, "X")[d(2026, 3, 2)] == "A"
    assert result.violations == [Violation("X", "undesired", "A", d(2026, 3, 2), 3, "不希望的日期")]


def test_two_officials_wanting_the_same_seat_leave_one_wish_unmet() -> None:
    rule = daily("X", ["A", "B"])
    officials = [leader("A", desired=[d(2026, 3, 3)]), leader("B", desired=[d(2026, 3, 3)])]
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 5)))
    unmet = [(v.kind, v.date, v.penalty) for v in result.violations]
    assert unmet == [("desired", d(2026, 3, 3), 3)]
    loser = result.violations[0].official
    assert sole(result, "X")[d(2026, 3, 3)] == ({"A", "B"} - {loser}).pop()


# --------------------------------------------------------------------------- calendar


def test_it_moves_the_first_past_national_day() -> None:
    assert not CHINA.is_provisional(2026)
    rule = monthly("T", ["A", "B", "C"])
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 9, 1), d(2026, 11, 30))
    result = solved(inst)
    moved = first_workday_after_rest(d(2026, 10, 1))
    assert moved == d(2026, 10, 8)
    assert all(CHINA.is_rest_day(day) for day in span(d(2026, 10, 1), d(2026, 10, 7)))
    assert CHINA.describe(d(2026, 10, 1)).name == "国庆节"
    october = [day for day in sole(result, "T") if day.month == 10]
    assert october[0] == moved
    assert d(2026, 10, 1) not in sole(result, "T")
    assert month_of_sitting(inst, rule)[moved] == (2026, 10)


def test_it_moves_the_twenty_first_past_the_spring_festival() -> None:
    rule = monthly("T", ["A", "B", "C"])
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 2, 1), d(2026, 2, 28))
    result = solved(inst)
    after = first_workday_after_rest(d(2026, 2, 21))
    assert CHINA.describe(d(2026, 2, 17)).name == "春节"
    assert all(CHINA.is_rest_day(day) for day in span(d(2026, 2, 21), after - dt.timedelta(1)))
    expected = [first_workday_after_rest(d(2026, 2, 1)), d(2026, 2, 11), after]
    assert list(sole(result, "T")) == expected
    assert after > d(2026, 2, 21)


def test_a_day_moved_into_the_next_month_still_belongs_to_its_own_month() -> None:
    # 30 May 2026 is a Saturday: its sitting is held on Monday 1 June, for May.
    rule = monthly("T", ["A", "B", "C"], days_of_month=[10, 20, 30])
    inst = roster([rule], leaders("A", "B", "C"), d(2026, 5, 1), d(2026, 6, 30))
    assert CHINA.roll_forward(d(2026, 5, 30)) == d(2026, 6, 1)
    months = month_of_sitting(inst, rule)
    assert months[d(2026, 6, 1)] == (2026, 5)
    result = solved(inst)
    seats = sole(result, "T")
    may = [who for day, who in seats.items() if months[day] == (2026, 5)]
    june = [who for day, who in seats.items() if months[day] == (2026, 6)]
    assert sorted(may) == sorted(june) == ["A", "B", "C"]
    assert result.violations == []


def test_skip_drops_a_monthly_day_on_a_rest_day_and_keep_holds_it_there() -> None:
    period = (d(2026, 2, 1), d(2026, 2, 28))
    skip = monthly("T", ["A", "B", "C"], on_rest_day=OnRestDay.skip)
    keep = monthly("T", ["A", "B", "C"], on_rest_day=OnRestDay.keep)
    skipped = solved(roster([skip], leaders("A", "B", "C"), *period))
    kept = solved(roster([keep], leaders("A", "B", "C"), *period))
    assert list(sole(skipped, "T")) == [d(2026, 2, 11)]
    assert list(sole(kept, "T")) == [d(2026, 2, 1), d(2026, 2, 11), d(2026, 2, 21)]


def test_a_working_saturday_counts_as_a_working_day() -> None:
    saturday = next(
        day
        for day in span(d(2026, 1, 1), d(2026, 12, 31))
        if day.isoweekday() == 6 and CHINA.describe(day).workday
    )
    assert CHINA.describe(saturday).name == "调休上班"
    rule = monthly("T", ["A", "B"], days_of_month=[saturday.day], on_rest_day=OnRestDay.skip)
    month_start = saturday.replace(day=1)
    result = solved(roster([rule], leaders("A", "B"), month_start, saturday))
    assert list(sole(result, "T")) == [saturday]
    sitting = sittings_of(rule, Period(start=month_start, end=saturday), CHINA)[0]
    assert not sitting.rest_day


def test_weekly_sittings_on_a_holiday_are_skipped_and_daily_ones_kept() -> None:
    rules = [weekly("V", ["A"], primary="A"), daily("X", ["B", "C"])]
    result = solved(roster(rules, leaders("A", "B", "C"), d(2026, 10, 1), d(2026, 10, 31)))
    assert CHINA.is_rest_day(d(2026, 10, 6))
    assert list(sole(result, "V")) == [d(2026, 10, 13), d(2026, 10, 20), d(2026, 10, 27)]
    assert list(sole(result, "X")) == span(d(2026, 10, 1), d(2026, 10, 31))


# --------------------------------------------------------------------------- who may sit


def test_a_leader_leaves_the_pool_when_their_tenure_ends_and_a_newcomer_joins_on_arrival() -> None:
    change = d(2026, 3, 9)
    officials = [
        leader("A", tenure=TenureSpan(end=change)),
        leader("B"),
        leader("C", tenure=TenureSpan(start=change)),
    ]
    rule = daily("X", ["A", "B", "C"])
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 15)))
    leaving, joining = dates_of(result, "A"), dates_of(result, "C")
    assert leaving and max(leaving) < change
    assert joining and min(joining) >= change
    assert list(sole(result, "X")) == span(d(2026, 3, 2), d(2026, 3, 15))


def test_a_township_head_promoted_to_the_county_leaves_the_township_pool_on_that_day() -> None:
    promoted = d(2026, 4, 1)
    township = monthly("T", ["A", "B", "C"], terms=[Term(official="A", end=promoted)])
    county = daily("X", ["A", "D", "E"])
    inst = roster(
        [township, county], leaders("A", "B", "C", "D", "E"), d(2026, 3, 1), d(2026, 4, 30)
    )
    result = solved(inst)
    in_township = [day for day, who in sole(result, "T").items() if who == "A"]
    assert len(in_township) == 1 and in_township[0] < promoted
    assert any(day >= promoted for day, who in sole(result, "X").items() if who == "A")


def test_nobody_is_rostered_inside_an_unavailability_and_both_ends_count() -> None:
    officials = [
        leader("A", away=[(d(2026, 3, 5), d(2026, 3, 5))]),
        leader("B", away=[(d(2026, 3, 2), d(2026, 3, 4))]),
    ]
    rule = daily("X", ["A", "B"])
    result = solved(roster([rule], officials, d(2026, 3, 2), d(2026, 3, 6)))
    seats = sole(result, "X")
    assert [seats[day] for day in span(d(2026, 3, 2), d(2026, 3, 5))] == ["A", "A", "A", "B"]


# --------------------------------------------------------------------------- re-planning


def test_an_absence_changes_only_the_absent_leaders_sittings_inside_it() -> None:
    ids = ["A", "B", "C", "D", "E", "F", "G", "H"]
    rule = daily("X", ids, min_gap_days=3)
    inst = roster([rule], leaders(*ids), d(2026, 3, 1), d(2026, 4, 30))
    first = solved(inst)
    start, end = d(2026, 3, 16), d(2026, 3, 29)
    absent = sole(first, "X")[start]
    moved = {a for a in first.assignments if a.official == absent and start <= a.date <= end}
    assert len(moved) >= 1
    officials = [
        leader(o, away=[(start, end)], reason="学习") if o == absent else leader(o) for o in ids
    ]
    again = roster([rule], officials, inst.period.start, inst.period.end)
    again.previous = first.assignments
    second = solved(again)
    assert set(first.assignments) - set(second.assignments) == moved
    assert {a.date for a in set(second.assignments) - set(first.assignments)} == {
        a.date for a in moved
    }
    assert second.changes == second.min_changes == len(moved)
    assert all(not (start <= day <= end) for day in dates_of(second, absent))


def test_an_absence_that_neighbours_must_make_room_for_moves_as_few_sittings_as_possible() -> None:
    # Four leaders three days apart: A B C D A B C D A B. A is away on the 5th and nobody
    # else may take it without breaking a gap, so a neighbour swaps with A: two changes.
    ids = ["A", "B", "C", "D"]
    rule = daily("X", ids, min_gap_days=3)
    days = span(d(2026, 3, 2), d(2026, 3, 11))
    previous = [Assignment("X", day, ids[i % 4]) for i, day in enumerate(days)]
    absent = leader("A", away=[(days[4], days[4])])
    inst = roster([rule], [absent, *leaders("B", "C", "D")], days[0], days[-1], previous=previous)
    result = solved(inst)
    changed = set(previous) - set(result.assignments)
    assert previous[4] in changed and len(changed) == 2
    assert sole(result, "X")[days[4]] != "A"
    for official in ids:
        assert all((b - a).days >= 3 for a, b in pairwise(dates_of(result, official)))
    assert result.changes == result.min_changes == 2


# --------------------------------------------------------------------------- explanations


def test_a_township_short_of_leaders_in_march_is_explained_by_that_month_alone() -> None:
    township = monthly("T01", ["A", "B", "C"], per_day=2, name="东山镇")
    # 西河镇 can be rostered, though only with one leader sitting twice each month.
    healthy = monthly("T02", ["D", "E", "F"], name="西河镇", days_of_month=[1, 8, 15, 22])
    march = (d(2027, 3, 1), d(2027, 3, 31))
    officials = [
        leader("A"),
        leader("B", away=[march], reason="出差"),
        leader("C", away=[march], reason="住院"),
        *leaders("D", "E", "F"),
    ]
    inst = roster([township, healthy], officials, d(2027, 1, 1), d(2027, 5, 31))
    result = run(inst)
    assert result.status is Status.infeasible
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    sittings = month_of_sitting(inst, township)
    march_sittings = [day for day, month in sittings.items() if month == (2027, 3)]
    assert len(march_sittings) == 3
    assert conflict.rules == ["T01"]
    assert conflict.officials == ["A", "B", "C"]
    assert conflict.dates == march_sittings
    message = conflict.message
    assert HAN.search(message) and "3月" in message and NAMES["A"] in message
    assert "出差" in message and "住院" in message
    assert not re.search(r"(?<!\d)(1|2|4|5)月", message)
    assert "T02" not in message and "西河镇" not in message
    assert result.assignments == [] and result.violations == [] and result.load == {}


# --------------------------------------------------------------------------- provisional years


def test_a_year_whose_holidays_are_not_published_gets_a_warning() -> None:
    assert CHINA.is_provisional(2027)
    rule = monthly("T", ["A", "B", "C"])
    result = solved(roster([rule], leaders("A", "B", "C"), d(2027, 4, 1), d(2027, 6, 30)))
    assert len(result.warnings) == 1 and "2027年" in result.warnings[0]


def provisional_rest_weekdays(year: int) -> list[dt.date]:
    days = span(d(year, 1, 1), d(year, 12, 31))
    return [day for day in days if day.isoweekday() <= 5 and CHINA.is_rest_day(day)]


def test_listing_the_year_in_the_instance_calendar_makes_it_official() -> None:
    rule = monthly("T", ["A", "B", "C"])
    calendar = CalendarIn(rest_days=provisional_rest_weekdays(2027))
    inst = roster([rule], leaders("A", "B", "C"), d(2027, 4, 1), d(2027, 6, 30), calendar=calendar)
    result = solved(inst)
    assert result.warnings == []


def test_a_published_notice_that_moves_one_monthly_day_moves_only_that_sitting() -> None:
    rule = monthly("T", ["A", "B", "C"])
    inst = roster([rule], leaders("A", "B", "C"), d(2027, 4, 1), d(2027, 6, 30))
    first = solved(inst)
    provisional_day = CHINA.roll_forward(d(2027, 5, 1))
    assert provisional_day in sole(first, "T")
    # The notice gives five days for Labour Day, so the 1st of May sitting moves a day on.
    notice = CalendarIn(rest_days=[*provisional_rest_weekdays(2027), provisional_day])
    again = roster(
        [rule],
        leaders("A", "B", "C"),
        inst.period.start,
        inst.period.end,
        calendar=notice,
        previous=first.assignments,
    )
    second = solved(again)
    assert second.warnings == []
    new_day = provisional_day + dt.timedelta(days=1)
    before = {a for a in first.assignments if a.date != provisional_day}
    after = {a for a in second.assignments if a.date != new_day}
    assert before == after
    assert new_day in sole(second, "T")
    assert provisional_day not in sole(second, "T")
    assert second.changes == second.min_changes == 1


# --------------------------------------------------------------------------- the contract


def test_it_refuses_unknown_officials_a_primary_outside_the_pool_and_duplicate_ids() -> None:
    rules = [weekly("V", ["A", "Z"], primary="B"), daily("X", ["A"])]
    inst = roster(rules, [leader("A"), leader("B"), leader("B")], d(2026, 3, 1), d(2026, 3, 31))
    problems = instance_problems(inst)
    assert "领导编号重复：B" in problems
    assert "规则V引用了不存在的领导：Z" in problems
    assert "规则V的主接访人B不在接访人员中" in problems
    assert len(problems) == 3


def test_a_sound_instance_has_no_problems() -> None:
    inst = roster([daily("X", ["A"])], leaders("A"), d(2026, 3, 1), d(2026, 3, 31))
    assert instance_problems(inst) == []


def test_the_contract_speaks_from_and_to() -> None:
    raw = msgspec.json.decode(
        msgspec.json.encode(leader("A", away=[(d(2026, 3, 1), d(2026, 3, 2))]))
    )
    assert raw["unavailable"] == [{"from": "2026-03-01", "to": "2026-03-02", "reason": ""}]


DOC = Path(__file__).resolve().parents[2] / "docs" / "roster-contract.md"
CONTRACT = (
    Instance, Period, Official, Interval, TenureSpan, Rule, Term, Assignment, CalendarIn,
    Weights, Result, Violation, Conflict,
)  # fmt: skip


def test_the_contract_document_names_every_field_and_every_default_weight() -> None:
    text = DOC.read_text(encoding="utf-8")
    for struct in CONTRACT:
        for f in msgspec.structs.fields(struct):
            assert f"`{f.encode_name}`" in text, f"{struct.__name__}.{f.encode_name}"
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d+) \|", text, re.M))
    assert rows == {f.name: str(f.default) for f in msgspec.structs.fields(Weights)}
    example = re.search(r"## The instance\n\n```json\n(.*?)```", text, re.S)
    assert example is not None
    assert instance_problems(msgspec.json.decode(example.group(1), type=Instance)) == []


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"JIEFANG_VAR_DIR": str(tmp_path / "var")}


def test_the_command_writes_an_optimal_roster(tmp_path: Path, env: dict[str, str]) -> None:
    inst = roster(
        [monthly("T", ["A", "B", "C"])], leaders("A", "B", "C"), d(2026, 3, 1), d(2026, 3, 31)
    )
    path, out = tmp_path / "instance.json", tmp_path / "roster.json"
    path.write_bytes(msgspec.json.encode(inst))
    args = ["roster", "solve", str(path), "--out", str(out), "--no-db"]
    outcome = CliRunner().invoke(main, [*args, "--time-limit", "10", "--seed", "1"], env=env)
    assert outcome.exit_code == 0, outcome.output
    result = msgspec.json.decode(out.read_bytes(), type=Result)
    assert result.status is Status.optimal
    assert [a.date for a in result.assignments] == [d(2026, 3, 2), d(2026, 3, 11), d(2026, 3, 23)]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "无法读取排班输入文件"),
        (
            b'{"period": {"start": "2026-03-01", "end": "2026-03-31"}, "officials": [],'
            b' "rules": [{"id": "T", "kind": "monthly", "pool": ["A"]}]}',
            "引用了不存在的领导：A",
        ),
    ],
)
def test_the_command_refuses_a_bad_file_in_chinese(
    tmp_path: Path, env: dict[str, str], content: bytes, words: str
) -> None:
    path = tmp_path / "instance.json"
    path.write_bytes(content)
    args = ["roster", "solve", str(path), "--no-db", "--time-limit", "10", "--seed", "1"]
    outcome = CliRunner().invoke(main, args, env=env)
    assert outcome.exit_code != 0
    assert words in outcome.output
