"""Which sittings a reception rule asks for, and who may hold each of them.

Pure: values in, values out. The calendar decides where a monthly day lands
(a 1st that is National Day moves to the next working day; a 调休 working Saturday is a
working day), the instance decides who is in post and who is away.
"""

from __future__ import annotations

import calendar as stdcal
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby

from app.core.workdays import OfficialYear, WorkCalendar
from app.scheduling.schemas import (
    CalendarIn,
    Instance,
    OnRestDay,
    Period,
    Rule,
    RuleKind,
)

Month = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Sitting:
    """One occurrence of a rule: `date` is where it is held, `origin` the date the rule
    names (the 1st, a Tuesday) before a rest day moved it. A moved day belongs to the
    month of its origin."""

    rule: str
    date: dt.date
    origin: dt.date
    occurrence: int
    rest_day: bool
    per_day: int

    @property
    def month(self) -> Month:
        return (self.origin.year, self.origin.month)


def calendar_of(given: CalendarIn | None, base: WorkCalendar | None = None) -> WorkCalendar:
    """The instance's calendar: every year it lists counts as official; other years come
    from `base` (the database's official years) or the national calendar."""
    if given is None:
        return base or WorkCalendar.china()
    years = {d.year for d in (*given.rest_days, *given.working_days)}
    listed = [
        OfficialYear(
            y,
            frozenset(d for d in given.rest_days if d.year == y),
            frozenset(d for d in given.working_days if d.year == y),
            source="instance",
        )
        for y in sorted(years)
    ]
    return (base or WorkCalendar.china()).with_official(listed)


def days(period: Period) -> Iterator[dt.date]:
    for ordinal in range(period.start.toordinal(), period.end.toordinal() + 1):
        yield dt.date.fromordinal(ordinal)


def months(period: Period) -> Iterator[Month]:
    y, m = period.start.year, period.start.month
    while (y, m) <= (period.end.year, period.end.month):
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def _place(origin: dt.date, policy: OnRestDay, cal: WorkCalendar) -> dt.date | None:
    if cal.is_workday(origin) or policy is OnRestDay.keep:
        return origin
    return None if policy is OnRestDay.skip else cal.roll_forward(origin)


def _origins(rule: Rule, period: Period) -> Iterator[tuple[dt.date, int]]:
    if rule.kind is RuleKind.daily:
        yield from ((d, 0) for d in days(period))
    elif rule.kind is RuleKind.weekly:
        first = period.start + dt.timedelta(days=(rule.weekday - period.start.isoweekday()) % 7)
        for ordinal in range(first.toordinal(), period.end.toordinal() + 1, 7):
            yield dt.date.fromordinal(ordinal), 0
    else:
        for y, m in months(period):
            last = stdcal.monthrange(y, m)[1]
            for k, dom in enumerate(rule.days_of_month):
                if dom <= last and dt.date(y, m, dom) <= period.end:
                    yield dt.date(y, m, dom), k


def sittings_of(rule: Rule, period: Period, cal: WorkCalendar) -> list[Sitting]:
    """The rule's sittings in the period, in date order. Two occurrences landing on one
    date are one sitting (the earlier occurrence names it)."""
    policy = rule.rest_day_policy
    placed: dict[dt.date, Sitting] = {}
    # Look back a month: a day named before the period may be moved into it (a 1st that is
    # a Sunday is held on the 2nd, inside a period that starts on the 2nd).
    wider = Period(period.start - dt.timedelta(days=31), period.end)
    for origin, k in _origins(rule, wider):
        held = _place(origin, policy, cal)
        if held is None or not period.start <= held <= period.end or held in placed:
            continue
        placed[held] = Sitting(rule.id, held, origin, k, cal.is_rest_day(held), rule.per_day)
    return sorted(placed.values(), key=lambda s: s.date)


# --------------------------------------------------------------------------- who may sit


@dataclass(frozen=True, slots=True)
class Presence:
    """When an official may sit: inside the tenure, outside every unavailability."""

    start: dt.date | None
    end: dt.date | None
    away: tuple[tuple[dt.date, dt.date, str], ...]
    away_days: frozenset[dt.date] = frozenset()

    @classmethod
    def of(
        cls,
        start: dt.date | None,
        end: dt.date | None,
        away: tuple[tuple[dt.date, dt.date, str], ...],
    ) -> Presence:
        spans = (range(a.toordinal(), b.toordinal() + 1) for a, b, _ in away)
        return cls(start, end, away, frozenset(dt.date.fromordinal(o) for r in spans for o in r))

    def in_post(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)

    def away_reason(self, day: dt.date) -> str | None:
        if day not in self.away_days:
            return None
        return next((why or "不可用" for a, b, why in self.away if a <= day <= b), "不可用")

    def free(self, day: dt.date) -> bool:
        return day not in self.away_days and self.in_post(day)


def presences(instance: Instance) -> dict[str, Presence]:
    out: dict[str, Presence] = {}
    for o in instance.officials:
        t = o.tenure
        away = tuple((u.start, u.end, u.reason) for u in o.unavailable)
        out[o.id] = Presence.of(t.start if t else None, t.end if t else None, away)
    return out


def _term_spans(rule: Rule) -> dict[str, list[tuple[dt.date | None, dt.date | None]]]:
    spans: dict[str, list[tuple[dt.date | None, dt.date | None]]] = defaultdict(list)
    for term in rule.terms:
        spans[term.official].append((term.start, term.end))
    return spans


def _in_term(spans: list[tuple[dt.date | None, dt.date | None]] | None, day: dt.date) -> bool:
    if spans is None:
        return True
    return any((a is None or a <= day) and (b is None or day < b) for a, b in spans)


@dataclass(slots=True)
class RulePlan:
    """A rule's sittings with, for each, who of the pool and of the fallback may hold it."""

    rule: Rule
    sittings: list[Sitting]
    pool: dict[dt.date, list[str]] = field(default_factory=dict)
    fallback: dict[dt.date, list[str]] = field(default_factory=dict)
    #: Seats per month the pool cannot cover and the fallback can take, so it may.
    deficit: dict[Month, int] = field(default_factory=dict)
    #: The pool members in post (and in term) on each sitting, for the fair share.
    in_post: dict[dt.date, list[str]] = field(default_factory=dict)

    def candidates(self, day: dt.date) -> list[str]:
        return self.pool.get(day, []) + self.fallback.get(day, [])

    def by_month(self) -> Iterator[tuple[Month, list[Sitting]]]:
        for month, group in groupby(self.sittings, key=lambda s: s.month):
            yield month, list(group)


def plan_rule(rule: Rule, sittings: list[Sitting], who: dict[str, Presence]) -> RulePlan:
    spans = _term_spans(rule)
    plan = RulePlan(rule, sittings)
    fallback_only = [o for o in rule.fallback if o not in rule.pool]
    for s in sittings:
        members = [
            o for o in rule.pool if who[o].in_post(s.date) and _in_term(spans.get(o), s.date)
        ]
        plan.in_post[s.date] = members
        plan.pool[s.date] = [o for o in members if who[o].free(s.date)]
        plan.fallback[s.date] = [
            o for o in fallback_only if who[o].free(s.date) and _in_term(spans.get(o), s.date)
        ]
    for month, group in plan.by_month():
        plan.deficit[month] = _month_deficit(rule, group, plan.pool, plan.fallback)
    return plan


def _month_deficit(
    rule: Rule,
    group: list[Sitting],
    pool: dict[dt.date, list[str]],
    fallback: dict[dt.date, list[str]],
) -> int:
    """Seats of the month the pool cannot hold and the fallback can. With
    `once_per_member_per_month` each member counts once in the month (三个一: each main
    leader takes one of the days), so a township whose secretary also chairs the people's
    congress is one short every month. Without a fallback free that month the pool holds
    every seat, and its fair share says so."""
    seats = sum(s.per_day for s in group)
    if rule.kind is RuleKind.monthly and rule.once_per_member_per_month:
        covered = _max_matching([(s.date, s.per_day) for s in group], pool)
    else:
        covered = sum(min(s.per_day, len(pool[s.date])) for s in group)
    spare = sum(min(s.per_day, len(fallback[s.date])) for s in group)
    return min(seats - covered, spare)


def _max_matching(seats: list[tuple[dt.date, int]], pool: dict[dt.date, list[str]]) -> int:
    """Maximum number of seats held by distinct members (Kuhn's augmenting paths; a month
    has a handful of seats, so the simple algorithm is the right one)."""
    slots = [d for d, n in seats for _ in range(n)]
    holder: dict[str, int] = {}

    def augment(i: int, seen: set[str]) -> bool:
        for o in pool[slots[i]]:
            if o in seen:
                continue
            seen.add(o)
            if o not in holder or augment(holder[o], seen):
                holder[o] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(slots)))


# --------------------------------------------------------------------------- fair shares


def fair_share(plan: RulePlan, only_rest_days: bool = False) -> dict[str, float]:
    """Each pool member's share of the rule's seats, tenure-weighted: a seat is split among
    the members in post that day, so someone in post half the period carries about half."""
    share: dict[str, float] = defaultdict(float)
    for month, group in plan.by_month():
        seats = sum(s.per_day for s in group)
        pool_part = (seats - plan.deficit.get(month, 0)) / seats if seats else 0.0
        for s in group:
            members = plan.in_post[s.date]
            if members and (s.rest_day or not only_rest_days):
                for o in members:
                    share[o] += s.per_day * pool_part / len(members)
    return dict(share)


def band(share: float) -> tuple[int, int]:
    """The loads that count as fair for a share: its floor and its ceiling."""
    low = int(share + 1e-9)
    return low, low if abs(share - low) < 1e-9 else low + 1


# --------------------------------------------------------------------------- the contract


def instance_problems(instance: Instance) -> list[str]:
    """What makes an instance unreadable, in Chinese; empty when it can be solved."""
    ids = [o.id for o in instance.officials]
    known = set(ids)
    problems = [f"领导编号重复：{i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if instance.period.end < instance.period.start:
        problems.append("排班期间的结束日期早于开始日期")
    rules = {r.id: r for r in instance.rules}
    if len(rules) != len(instance.rules):
        problems.append("接访规则编号重复")
    for r in instance.rules:
        problems += _rule_problems(r, known)
    for a in (*instance.pinned, *instance.previous):
        if a.rule not in rules or a.official not in known:
            problems.append(f"安排引用了不存在的规则或领导：{a.rule} {a.date} {a.official}")
    return problems


def _rule_problems(rule: Rule, known: set[str]) -> list[str]:
    names = {*rule.pool, *rule.fallback, *(t.official for t in rule.terms)}
    if rule.primary:
        names.add(rule.primary)
    out = [f"规则{rule.id}引用了不存在的领导：{o}" for o in sorted(names - known)]
    if not rule.pool:
        out.append(f"规则{rule.id}没有接访人员")
    if rule.primary and rule.primary not in rule.pool:
        out.append(f"规则{rule.id}的主接访人{rule.primary}不在接访人员中")
    return out
