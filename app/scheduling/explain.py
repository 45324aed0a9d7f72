"""Why a roster cannot be made, in rules, officials, dates and one Chinese sentence.

An infeasible part is rebuilt as a feasibility model in which every hard rule instance
(a sitting's cover, a rule's gap for one official, one official's one-sitting-a-day, a
month's fallback limit, a pin) is switched on by its own assumption literal. CP-SAT with
one worker returns a set of assumptions that is enough for infeasibility; deleting
literals one at a time while the rest stays infeasible shrinks it to a minimal set. Giving
up one sitting of that set and asking again finds the next conflict, so every separate
conflict is named, and conflicts of one rule and month with the same cause are told as one.

Pure apart from OR-Tools.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from app.scheduling.schemas import Assignment, Conflict
from app.scheduling.sittings import Presence, RulePlan, Sitting, presences

if TYPE_CHECKING:
    from app.scheduling.solver import Prepared

MAX_CONFLICTS = 12


@dataclass(frozen=True, slots=True)
class Guard:
    """One hard-rule instance that an assumption literal switches on."""

    kind: str  # cover | gap | one_a_day | fallback | pin
    rule: str | None
    official: str | None
    day: dt.date | None
    month: tuple[int, int] | None = None


@dataclass(slots=True)
class Feasibility:
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    x: dict[tuple[str, dt.date, str], cp_model.IntVar] = field(default_factory=dict)
    guards: dict[int, Guard] = field(default_factory=dict)

    def var(self, rule: str, day: dt.date, official: str) -> cp_model.IntVar:
        key = (rule, day, official)
        if key not in self.x:
            self.x[key] = self.model.new_bool_var(f"{rule}|{day}|{official}")
        return self.x[key]

    def guard(self, g: Guard) -> cp_model.IntVar:
        lit = self.model.new_bool_var(f"{g.kind}|{g.rule}|{g.official}|{g.day}")
        self.guards[lit.index] = g
        return lit


# --------------------------------------------------------------------------- the model


def _cover(f: Feasibility, plan: RulePlan) -> None:
    rid = plan.rule.id
    for s in plan.sittings:
        names = plan.pool.get(s.date, []) + plan.fallback.get(s.date, [])
        lit = f.guard(Guard("cover", rid, None, s.date, s.month))
        f.model.add(sum(f.var(rid, s.date, o) for o in names) == s.per_day).only_enforce_if(lit)


def _fallback(f: Feasibility, plan: RulePlan) -> None:
    rid = plan.rule.id
    for month, group in plan.by_month():
        used = [f.x[(rid, s.date, o)] for s in group for o in plan.fallback.get(s.date, [])]
        if used:
            lit = f.guard(Guard("fallback", rid, None, group[0].date, month))
            f.model.add(sum(used) <= plan.deficit.get(month, 0)).only_enforce_if(lit)


def _gap(f: Feasibility, plan: RulePlan) -> None:
    gap = plan.rule.min_gap_days
    if gap < 2:
        return
    mine: dict[str, list[tuple[dt.date, cp_model.IntVar]]] = defaultdict(list)
    for (rule, day, official), v in f.x.items():
        if rule == plan.rule.id:
            mine[official].append((day, v))
    for official, items in mine.items():
        items.sort(key=lambda t: t[0])
        lit = f.guard(Guard("gap", plan.rule.id, official, None))
        for i, (day, _) in enumerate(items):
            window = [v for d, v in items[i:] if (d - day).days < gap]
            if len(window) > 1:
                f.model.add(sum(window) <= 1).only_enforce_if(lit)


def _one_a_day(f: Feasibility) -> None:
    by_official: dict[str, dict[dt.date, list[cp_model.IntVar]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (_, day, official), v in f.x.items():
        by_official[official][day].append(v)
    for official, days in by_official.items():
        clashes = [vs for vs in days.values() if len(vs) > 1]
        if clashes:
            lit = f.guard(Guard("one_a_day", None, official, None))
            for vs in clashes:
                f.model.add(sum(vs) <= 1).only_enforce_if(lit)


def _pins(f: Feasibility, pins: list[Assignment]) -> None:
    for p in pins:
        if (p.rule, p.date, p.official) in f.x:
            lit = f.guard(Guard("pin", p.rule, p.official, p.date))
            f.model.add(f.x[(p.rule, p.date, p.official)] == 1).only_enforce_if(lit)


def feasibility_model(prepared: Prepared, rules: list[str]) -> Feasibility:
    f = Feasibility()
    plans = [prepared.plans[r] for r in rules]
    for plan in plans:
        _cover(f, plan)
    for plan in plans:
        _fallback(f, plan)
        _gap(f, plan)
    _one_a_day(f)
    _pins(f, [p for p in prepared.instance.pinned if p.rule in rules])
    return f


# --------------------------------------------------------------------------- cores


def _infeasible(f: Feasibility, active: list[int], seconds: float) -> list[int] | None:
    """The assumptions enough for infeasibility, or None when these are satisfiable."""
    f.model.clear_assumptions()
    f.model.proto.assumptions.extend(active)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    if solver.solve(f.model) != cp_model.INFEASIBLE:
        return None
    return list(solver.sufficient_assumptions_for_infeasibility())


def _shrink(f: Feasibility, core: list[int], deadline: float) -> list[int]:
    """Delete literals while the rest stays infeasible: the result is a minimal set."""
    kept = list(core)
    for lit in list(core):
        if lit not in kept or time.perf_counter() > deadline:
            continue
        trial = [x for x in kept if x != lit]
        smaller = _infeasible(f, trial, deadline - time.perf_counter())
        if smaller is not None:
            kept = [x for x in trial if x in set(smaller)]
    return kept


def cores(f: Feasibility, seconds: float) -> list[list[Guard]]:
    deadline = time.perf_counter() + seconds
    active = list(f.guards)
    found: list[list[Guard]] = []
    while len(found) < MAX_CONFLICTS and time.perf_counter() < deadline:
        core = _infeasible(f, active, deadline - time.perf_counter())
        if not core:
            break
        core = _shrink(f, core, deadline)
        found.append([f.guards[i] for i in core])
        # Give up the first sitting (or, failing that, the first rule) of this conflict.
        dropped = next((i for i in core if f.guards[i].kind == "cover"), core[0])
        active.remove(dropped)
    return found


# --------------------------------------------------------------------------- words


def explain_infeasible(prepared: Prepared, rules: list[str], seconds: float) -> list[Conflict]:
    f = feasibility_model(prepared, rules)
    found = cores(f, min(seconds, 30.0))
    if not found:
        return [
            Conflict(
                rules, [], [], "排班无法完成，但在时限内未能找出具体冲突，请延长求解时间后重试。"
            )
        ]
    return [Words(prepared).conflict(group) for group in _group(found)]


def _group(found: list[list[Guard]]) -> list[list[Guard]]:
    """Conflicts of one rule, one month and the same kinds of cause are told as one."""
    groups: dict[tuple[object, ...], list[Guard]] = {}
    for core in found:
        cover = [g for g in core if g.kind == "cover"]
        rest = tuple(
            sorted((g.kind, g.rule or "", g.official or "") for g in core if g.kind != "cover")
        )
        months = tuple(sorted({g.month for g in cover if g.month}))
        key = (tuple(sorted({g.rule for g in cover if g.rule})), months, rest)
        groups.setdefault(key, []).extend(core)
    return list(groups.values())


def _md(d: dt.date) -> str:
    return f"{d.month}月{d.day}日"


@dataclass(slots=True)
class Words:
    prepared: Prepared
    who: dict[str, Presence] = field(init=False)
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.who = presences(self.prepared.instance)
        self.names = {o.id: o.name or o.id for o in self.prepared.instance.officials}

    def rule_name(self, rule: str) -> str:
        r = self.prepared.plans[rule].rule
        return f"{r.name}（{r.id}）" if r.name else rule

    def why_not(self, official: str, day: dt.date) -> str:
        p = self.who[official]
        if not p.in_post(day):
            return "不在任"
        return p.away_reason(day) or "不可用"

    def conflict(self, group: list[Guard]) -> Conflict:
        rules = sorted({g.rule for g in group if g.rule})
        days = sorted({g.day for g in group if g.day and g.kind in ("cover", "pin")})
        officials = self._officials(group, days)
        text = "".join(self._clauses(group, days))
        return Conflict(rules, officials, days, text)

    def _officials(self, group: list[Guard], days: list[dt.date]) -> list[str]:
        named = {g.official for g in group if g.official}
        for g in group:
            if g.kind == "cover" and g.rule and g.day:
                plan = self.prepared.plans[g.rule]
                named |= set(plan.in_post.get(g.day, [])) | set(plan.rule.fallback)
        return sorted(o for o in named if o)

    def _clauses(self, group: list[Guard], days: list[dt.date]) -> list[str]:
        cover = [g for g in group if g.kind == "cover"]
        out = [self._cover_clause(cover)] if cover else []
        # A group joins several cores that share their non-cover guards: tell each once.
        out += [self._other_clause(g) for g in dict.fromkeys(g for g in group if g.kind != "cover")]
        return [c for c in out if c]

    def _cover_clause(self, cover: list[Guard]) -> str:
        by_rule: dict[str, list[dt.date]] = defaultdict(list)
        for g in cover:
            if g.rule and g.day:
                by_rule[g.rule].append(g.day)
        return "".join(self._rule_clause(rule, sorted(set(ds))) for rule, ds in by_rule.items())

    def _rule_clause(self, rule: str, days: list[dt.date]) -> str:
        plan = self.prepared.plans[rule]
        per_day = plan.rule.per_day
        first = days[0]
        able = sorted({o for d in days for o in plan.candidates(d)})
        unable = sorted({o for d in days for o in plan.in_post.get(d, []) if o not in able})
        when = "、".join(_md(d) for d in days)
        able_text = "、".join(self.names[o] for o in able) or "无人"
        head = f"{first.year}年{first.month}月，{self.rule_name(rule)}每次需要{per_day}名领导接访，"
        body = f"但{when}只有{len(able)}名领导可以接访（{able_text}）"
        reasons = "；".join(f"{self.names[o]}{self.why_not(o, first)}" for o in unable)
        return head + body + (f"：{reasons}。" if reasons else "。")

    def _other_clause(self, g: Guard) -> str:
        name = self.names.get(g.official or "", g.official or "")
        if g.kind == "gap" and g.rule:
            gap = self.prepared.plans[g.rule].rule.min_gap_days
            return f"{name}在{self.rule_name(g.rule)}中两次接访至少间隔{gap}天。"
        if g.kind == "one_a_day":
            return f"{name}同一天只能在一处接访。"
        if g.kind == "fallback" and g.rule and g.month:
            return f"{self.rule_name(g.rule)}的候补人员只在本组人员不足时接访（{g.month[1]}月）。"
        if g.kind == "pin" and g.rule and g.day:
            return f"已固定{name}于{_md(g.day)}在{self.rule_name(g.rule)}接访。"
        return ""


# --------------------------------------------------------------------------- pins


def _pin_problem(prepared: Prepared, pin: Assignment, who: dict[str, Presence]) -> str | None:
    plan = prepared.plans[pin.rule]
    sitting: Sitting | None = next((s for s in plan.sittings if s.date == pin.date), None)
    if sitting is None:
        return f"{_md(pin.date)}不是{Words(prepared).rule_name(pin.rule)}的接访日"
    if pin.official not in (*plan.rule.pool, *plan.rule.fallback):
        return f"该领导不在{Words(prepared).rule_name(pin.rule)}的接访人员中"
    p = who[pin.official]
    if not p.in_post(pin.date):
        return f"该领导{_md(pin.date)}不在任"
    reason = p.away_reason(pin.date)
    if reason:
        return f"该领导{_md(pin.date)}{reason}"
    if pin.official not in plan.candidates(pin.date):
        # In post and free, so outside their term in this rule (`terms`).
        return f"该领导{_md(pin.date)}不在{Words(prepared).rule_name(pin.rule)}的接访人员任期内"
    return None


def pin_conflicts(prepared: Prepared) -> list[Conflict]:
    """Pins that no roster can keep, found before any search."""
    who = presences(prepared.instance)
    names = {o.id: o.name or o.id for o in prepared.instance.officials}
    out: list[Conflict] = []
    for pin in prepared.instance.pinned:
        problem = _pin_problem(prepared, pin, who)
        if problem:
            text = (
                f"固定安排无法保留：{names[pin.official]}{_md(pin.date)}（{pin.rule}）——{problem}。"
            )
            out.append(Conflict([pin.rule], [pin.official], [pin.date], text))
    return out
