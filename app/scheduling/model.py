"""The CP-SAT model of a roster, one `add_<rule>()` helper per constraint family.

Hard rules are constraints; each soft rule returns `Penalty` terms named after it, so the
result can say which soft rule was broken, for whom, on which date and at what price.
Pure apart from OR-Tools: values in, a model out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from ortools.sat.python import cp_model
from ortools.sat.python.cp_model_helper import Literal

from app.scheduling.hints import DailyHint
from app.scheduling.schemas import Assignment, Instance, Rotation, RuleKind, Weights
from app.scheduling.sittings import RulePlan, Sitting, band, fair_share

Lit = Literal
Key = tuple[str, dt.date, str]  # rule, date, official


@dataclass(frozen=True, slots=True)
class Penalty:
    """One soft-rule term: `weight × value(var)` enters the objective."""

    rule: str
    kind: str
    official: str | None
    day: dt.date | None
    weight: int
    var: Lit
    detail: str = ""


@dataclass(slots=True)
class RosterModel:
    """The model of one independent part of the instance (rules that share officials)."""

    instance: Instance
    plans: list[RulePlan]
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    x: dict[Key, cp_model.IntVar] = field(default_factory=dict)
    penalties: list[Penalty] = field(default_factory=list)
    #: Previous assignments with the literal that is true when one is not kept (None: it
    #: cannot be kept at all).
    changes: list[tuple[Assignment, Lit | None]] = field(default_factory=list)
    #: The variables of each rule: (date, official, var).
    by_rule: dict[str, list[tuple[dt.date, str, cp_model.IntVar]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @property
    def weights(self) -> Weights:
        return self.instance.weights

    def var(self, rule: str, day: dt.date, official: str) -> cp_model.IntVar:
        key = (rule, day, official)
        if key not in self.x:
            # Unnamed: names cost a third of the build and the keys already say who is who.
            v = self.model.new_bool_var("")
            self.x[key] = v
            self.by_rule[rule].append((day, official, v))
        return self.x[key]

    def of_official(self) -> dict[str, list[tuple[dt.date, str, cp_model.IntVar]]]:
        out: dict[str, list[tuple[dt.date, str, cp_model.IntVar]]] = defaultdict(list)
        for (rule, day, official), v in self.x.items():
            out[official].append((day, rule, v))
        for items in out.values():
            items.sort(key=lambda t: (t[0], t[1]))
        return out


def _fallback_allowed(plan: RulePlan, s: Sitting) -> bool:
    return plan.deficit.get(s.month, 0) > 0


# --------------------------------------------------------------------------- hard rules


def add_cover(rm: RosterModel, plan: RulePlan, only: dict[dt.date, list[str]]) -> None:
    """Every sitting is held by exactly `per_day` officials of its pool, or of its fallback
    in a month the pool cannot cover. `only` narrows a sitting's candidates (re-planning
    keeps a sitting whose holders can all stay)."""
    rid = plan.rule.id
    for s in plan.sittings:
        names = only.get(s.date) or candidates(plan, s)
        vs = [rm.var(rid, s.date, o) for o in names]
        if s.per_day == 1:
            rm.model.add_exactly_one(vs)
        else:
            rm.model.add(cp_model.LinearExpr.sum(vs) == s.per_day)


def candidates(plan: RulePlan, s: Sitting) -> list[str]:
    extra = plan.fallback.get(s.date, []) if _fallback_allowed(plan, s) else []
    return plan.pool.get(s.date, []) + extra


def add_fallback_cap(rm: RosterModel, plan: RulePlan) -> list[Penalty]:
    """The fallback takes no more seats in a month than the pool cannot cover; each seat
    it takes is priced so the pool is always preferred."""
    fallback = set(plan.rule.fallback) - set(plan.rule.pool)
    terms: list[Penalty] = []
    for month, group in plan.by_month():
        used = [
            (s.date, o, rm.x[(plan.rule.id, s.date, o)])
            for s in group
            for o in fallback
            if (plan.rule.id, s.date, o) in rm.x
        ]
        if used:
            rm.model.add(sum(v for _, _, v in used) <= plan.deficit.get(month, 0))
        terms += [
            Penalty(plan.rule.id, "fallback", o, d, rm.weights.fallback, v, "候补人员接访")
            for d, o, v in used
        ]
    return terms


def add_one_sitting_per_day(rm: RosterModel) -> None:
    """Nobody holds two sittings on one date, whatever the rules."""
    for items in rm.of_official().values():
        by_day: dict[dt.date, list[cp_model.IntVar]] = defaultdict(list)
        for day, _, v in items:
            by_day[day].append(v)
        for vs in by_day.values():
            if len(vs) > 1:
                rm.model.add_at_most_one(vs)


def add_min_gap(rm: RosterModel, plan: RulePlan) -> None:
    """Two sittings of one official in the rule are at least `min_gap_days` apart: any
    `min_gap_days` consecutive dates hold at most one of them."""
    gap = plan.rule.min_gap_days
    if gap < 2:
        return
    mine: dict[str, list[tuple[dt.date, cp_model.IntVar]]] = defaultdict(list)
    for day, official, v in rm.by_rule[plan.rule.id]:
        mine[official].append((day, v))
    for items in mine.values():
        items.sort(key=lambda t: t[0])
        _add_windows(rm.model, items, gap)


def _add_windows(
    model: cp_model.CpModel, items: list[tuple[dt.date, cp_model.IntVar]], gap: int
) -> None:
    end = 0
    for i, (day, _) in enumerate(items):
        end = max(end, i)
        while end + 1 < len(items) and (items[end + 1][0] - day).days < gap:
            end += 1
        if end > i:
            model.add_at_most_one([v for _, v in items[i : end + 1]])


def add_pins(rm: RosterModel, pins: Iterable[Assignment]) -> None:
    """Pinned assignments are kept (their eligibility was checked before the model)."""
    for pin in pins:
        rm.model.add(rm.var(pin.rule, pin.date, pin.official) == 1)


# --------------------------------------------------------------------------- soft rules


def add_balance(rm: RosterModel, plan: RulePlan, rest_days: bool) -> list[Penalty]:
    """Each member's load stays within the floor and ceiling of their tenure-weighted fair
    share; rest-day (weekend, holiday) duty is balanced separately."""
    if plan.rule.kind is RuleKind.weekly:
        return []
    kind, weight = ("rest_load", rm.weights.rest_load) if rest_days else ("load", rm.weights.load)
    share = fair_share(plan, only_rest_days=rest_days)
    rest = {s.date for s in plan.sittings if s.rest_day}
    loads: dict[str, list[cp_model.IntVar]] = defaultdict(list)
    for day, official, v in rm.by_rule[plan.rule.id]:
        if not rest_days or day in rest:
            loads[official].append(v)
    terms: list[Penalty] = []
    for official, value in share.items():
        load = loads.get(official, [])
        terms += _band_terms(rm, plan.rule.id, kind, official, weight, load, value)
    return terms


def _band_terms(
    rm: RosterModel,
    rule: str,
    kind: str,
    official: str,
    weight: int,
    load: list[cp_model.IntVar],
    share: float,
) -> list[Penalty]:
    low, high = band(share)
    total = sum(load)
    over = rm.model.new_int_var(0, max(0, len(load) - high), f"{kind}+|{rule}|{official}")
    under = rm.model.new_int_var(0, low, f"{kind}-|{rule}|{official}")
    rm.model.add(total - over <= high)
    rm.model.add(total + under >= low)
    detail = f"应承担{low}–{high}次" if low != high else f"应承担{low}次"
    return [
        Penalty(rule, kind, official, None, weight, over, detail + "，实际偏多"),
        Penalty(rule, kind, official, None, weight, under, detail + "，实际偏少"),
    ]


def _monthly_vars(
    rm: RosterModel, plan: RulePlan
) -> dict[str, dict[tuple[int, int], list[tuple[Sitting, cp_model.IntVar]]]]:
    by_day = {s.date: s for s in plan.sittings}
    out: dict[str, dict[tuple[int, int], list[tuple[Sitting, cp_model.IntVar]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    pool = set(plan.rule.pool)
    for day, official, v in rm.by_rule[plan.rule.id]:
        if official in pool:
            s = by_day[day]
            out[official][s.month].append((s, v))
    return out


def add_once_per_month(rm: RosterModel, plan: RulePlan) -> list[Penalty]:
    """三个一: each pool member takes one of the month's days."""
    if plan.rule.kind is not RuleKind.monthly or not plan.rule.once_per_member_per_month:
        return []
    terms: list[Penalty] = []
    for official, per_month in _monthly_vars(rm, plan).items():
        for (y, m), items in per_month.items():
            if len(items) < 2:
                continue
            extra = rm.model.new_int_var(0, len(items) - 1, f"once|{plan.rule.id}|{official}|{m}")
            rm.model.add(sum(v for _, v in items) - extra <= 1)
            first = dt.date(y, m, 1)
            terms.append(
                Penalty(
                    plan.rule.id,
                    "once_per_month",
                    official,
                    first,
                    rm.weights.once_per_month,
                    extra,
                    f"{y}年{m}月接访不止一次",
                )
            )
    return terms


def add_rotation(rm: RosterModel, plan: RulePlan) -> list[Penalty]:
    """With `rotate`, a member does not take the same day (1st, 11th, 21st) two months
    running; with `fixed`, a member keeps their day from month to month."""
    if plan.rule.kind is not RuleKind.monthly or len(plan.rule.days_of_month) < 2:
        return []
    terms: list[Penalty] = []
    for official, per_month in _monthly_vars(rm, plan).items():
        keys = sorted(per_month)
        for a, b in pairwise(keys):
            if _next_month(a) == b:
                terms += _rotation_pairs(rm, plan, official, per_month[a], per_month[b])
    return terms


def _next_month(m: tuple[int, int]) -> tuple[int, int]:
    return (m[0] + 1, 1) if m[1] == 12 else (m[0], m[1] + 1)


def _rotation_pairs(
    rm: RosterModel,
    plan: RulePlan,
    official: str,
    this: list[tuple[Sitting, cp_model.IntVar]],
    then: list[tuple[Sitting, cp_model.IntVar]],
) -> list[Penalty]:
    fixed = plan.rule.rotation is Rotation.fixed
    terms: list[Penalty] = []
    for s1, v1 in this:
        for s2, v2 in then:
            if (s1.occurrence == s2.occurrence) == fixed:
                continue
            broken = rm.model.new_bool_var(f"rot|{plan.rule.id}|{official}|{s1.date}|{s2.date}")
            rm.model.add_bool_or([v1.Not(), v2.Not(), broken])
            detail = "连续两个月接访日不同" if fixed else "连续两个月同一接访日"
            terms.append(
                Penalty(
                    plan.rule.id, "rotation", official, s2.date, rm.weights.rotation, broken, detail
                )
            )
    return terms


def add_primary(rm: RosterModel, plan: RulePlan) -> list[Penalty]:
    """A weekly rule's primary (the village secretary) sits on every date they can."""
    primary = plan.rule.primary
    if plan.rule.kind is not RuleKind.weekly or primary is None:
        return []
    return [
        Penalty(plan.rule.id, "primary", primary, day, rm.weights.primary, v.Not(), "书记未接访")
        for day, official, v in rm.by_rule[plan.rule.id]
        if official == primary
    ]


def add_preferences(rm: RosterModel, officials: Iterable[str]) -> list[Penalty]:
    """Desired dates are sat when possible; undesired dates are avoided."""
    wanted = {o.id: o for o in rm.instance.officials if o.id in set(officials)}
    mine = rm.of_official()
    terms: list[Penalty] = []
    for official, o in wanted.items():
        by_day: dict[dt.date, list[tuple[str, cp_model.IntVar]]] = defaultdict(list)
        for day, rule, v in mine.get(official, []):
            by_day[day].append((rule, v))
        terms += _desired(rm, official, o.desired, by_day)
        terms += [
            Penalty(rule, "undesired", official, day, rm.weights.undesired, v, "不希望的日期")
            for day in o.undesired
            for rule, v in by_day.get(day, [])
        ]
    return terms


def _desired(
    rm: RosterModel,
    official: str,
    desired: list[dt.date],
    by_day: dict[dt.date, list[tuple[str, cp_model.IntVar]]],
) -> list[Penalty]:
    terms: list[Penalty] = []
    for day in desired:
        options = by_day.get(day)
        if not options:
            continue
        miss = rm.model.new_bool_var(f"desired|{official}|{day}")
        rm.model.add(sum(v for _, v in options) + miss >= 1)
        terms.append(
            Penalty(
                options[0][0],
                "desired",
                official,
                day,
                rm.weights.desired,
                miss,
                "希望的日期未安排",
            )
        )
    return terms


def add_changes(rm: RosterModel, previous: Iterable[Assignment]) -> None:
    """Each previous assignment that is not kept is a change; one that names a sitting or
    an official no longer possible is a change whatever the roster."""
    for a in previous:
        v = rm.x.get((a.rule, a.date, a.official))
        rm.changes.append((a, None if v is None else v.Not()))


# --------------------------------------------------------------------------- hints


def hint_rotation(rm: RosterModel, plan: RulePlan) -> None:
    """Start a `daily` rule from the greedy, locally repaired roster of hints.py."""
    if plan.rule.kind is not RuleKind.daily:
        return
    held = DailyHint.of(plan, rm.instance).build()
    for s in plan.sittings if held else []:
        for o in plan.candidates(s.date):
            rm.model.add_hint(rm.var(plan.rule.id, s.date, o), o in held[s.date])
