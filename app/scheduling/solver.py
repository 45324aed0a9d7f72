"""Reception rosters with OR-Tools CP-SAT.

`solve(instance)` returns the roster of the JSON contract (docs/roster-contract.md):
independent parts (rules whose pools share nobody) are solved one by one, so OPTIMAL means
every part was proved optimal. Re-planning against a published roster first tries to keep
every assignment that can still stand; when that works the number of changes equals the
count of assignments that cannot stand, which proves it minimal without a search.

Pure: no database, no web, no clock reads (elapsed time is measured, not "now").
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from app.core.workdays import WorkCalendar
from app.scheduling.explain import explain_infeasible, pin_conflicts
from app.scheduling.model import (
    Penalty,
    RosterModel,
    add_balance,
    add_changes,
    add_cover,
    add_fallback_cap,
    add_min_gap,
    add_once_per_month,
    add_one_sitting_per_day,
    add_pins,
    add_preferences,
    add_primary,
    add_rotation,
    candidates,
    hint_rotation,
)
from app.scheduling.schemas import (
    Assignment,
    Conflict,
    Instance,
    Result,
    RuleKind,
    Status,
    Violation,
)
from app.scheduling.sittings import RulePlan, calendar_of, plan_rule, presences, sittings_of

Progress = Callable[[int | None, int | None, float], None]

PROVISIONAL_WARNING = (
    "{year}年的节假日安排尚未由国务院公布，本排班按《全国年节及纪念日放假办法》推算；"
    "公布后录入通知并重新排班，只会调整受影响的接访日。"
)


@dataclass(slots=True)
class Prepared:
    instance: Instance
    calendar: WorkCalendar
    plans: dict[str, RulePlan]
    warnings: list[str]
    #: The published roster inside the period, by rule.
    previous: dict[str, list[Assignment]] = field(default_factory=dict)


def prepare(instance: Instance, calendar: WorkCalendar | None = None) -> Prepared:
    cal = calendar_of(instance.calendar, calendar)
    who = presences(instance)
    plans = {r.id: plan_rule(r, sittings_of(r, instance.period, cal), who) for r in instance.rules}
    years = range(instance.period.start.year, instance.period.end.year + 1)
    warnings = [PROVISIONAL_WARNING.format(year=y) for y in years if cal.is_provisional(y)]
    previous: dict[str, list[Assignment]] = defaultdict(list)
    for a in instance.previous:
        if instance.period.start <= a.date <= instance.period.end:
            previous[a.rule].append(a)
    return Prepared(instance, cal, plans, warnings, dict(previous))


def parts(prepared: Prepared) -> list[list[str]]:
    """Rules grouped so that no official appears in two groups (union–find on officials)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r in prepared.instance.rules:
        for o in {*r.pool, *r.fallback, *([r.primary] if r.primary else [])}:
            parent[find("rule:" + r.id)] = find("official:" + o)
    groups: dict[str, list[str]] = defaultdict(list)
    for r in prepared.instance.rules:
        groups[find("rule:" + r.id)].append(r.id)
    return sorted(groups.values(), key=lambda g: -sum(len(prepared.plans[r].sittings) for r in g))


def batches(prepared: Prepared) -> list[list[str]]:
    """Parts to solve, one model each. Parts made only of `weekly` rules (villages) go into
    one model: their dates do not depend on one another, and one model spares hundreds of
    solver start-ups. Every other part (the county, each township) is solved alone, where
    its proof is fastest. Since parts share nobody, the optimum of a batch is the optimum
    of each of its parts."""
    alone: list[list[str]] = []
    weekly: list[str] = []
    for group in parts(prepared):
        if {prepared.plans[r].rule.kind for r in group} == {RuleKind.weekly}:
            weekly.extend(group)
        else:
            alone.append(group)
    return alone + ([weekly] if weekly else [])


# --------------------------------------------------------------------------- one part


@dataclass(slots=True)
class Part:
    rules: list[str]
    status: Status = Status.unknown
    assignments: list[Assignment] = field(default_factory=list)
    objective: int | None = None
    bound: int | None = None
    changes: int = 0
    min_changes: int | None = None
    first_solution_s: float | None = None
    violations: list[Violation] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def _officials_of(plans: list[RulePlan]) -> set[str]:
    return {o for p in plans for o in (*p.rule.pool, *p.rule.fallback)}


def build(
    prepared: Prepared,
    rules: list[str],
    keep: dict[tuple[str, dt.date], list[str]] | None = None,
) -> RosterModel:
    inst = prepared.instance
    plans = [prepared.plans[r] for r in rules]
    rm = RosterModel(inst, plans)
    mine = set(rules)
    only: dict[str, dict[dt.date, list[str]]] = defaultdict(dict)
    for (rule, day), names in (keep or {}).items():
        only[rule][day] = names
    for plan in plans:
        add_cover(rm, plan, only[plan.rule.id])
    add_pins(rm, [p for p in inst.pinned if p.rule in mine])
    add_one_sitting_per_day(rm)
    for plan in plans:
        add_min_gap(rm, plan)
        if not keep:
            hint_rotation(rm, plan)
    for plan in plans:
        rm.penalties += add_fallback_cap(rm, plan)
        rm.penalties += add_balance(rm, plan, rest_days=False)
        rm.penalties += add_balance(rm, plan, rest_days=True)
        rm.penalties += add_once_per_month(rm, plan)
        rm.penalties += add_rotation(rm, plan)
        rm.penalties += add_primary(rm, plan)
    rm.penalties += add_preferences(rm, _officials_of(plans))
    add_changes(rm, [a for a in inst.previous if a.rule in mine and _in_period(inst, a.date)])
    return rm


def _in_period(inst: Instance, day: dt.date) -> bool:
    return inst.period.start <= day <= inst.period.end


def _change_weight(rm: RosterModel) -> int:
    """A change costs more than every soft penalty together, so the fewest changes come
    first and the soft rules only decide among rosters with that many."""
    top = 0
    for p in rm.penalties:
        top += p.weight * _upper(rm, p.var)
    return top + 1


def _upper(rm: RosterModel, var: object) -> int:
    if isinstance(var, cp_model.IntVar):
        return int(var.proto.domain[-1])
    return 1


def _objective(rm: RosterModel) -> tuple[cp_model.LinearExprT, int]:
    penalty = sum(p.weight * p.var for p in rm.penalties)
    movable = [lit for _, lit in rm.changes if lit is not None]
    if not movable:
        return penalty, 0
    big = _change_weight(rm)
    return penalty + big * sum(movable), big


class _Watch(cp_model.CpSolverSolutionCallback):
    """Reports each better roster: its soft penalties and, when no changes are priced into
    the objective, CP-SAT's bound (with changes priced in, the bound is not in penalties)."""

    def __init__(self, started: float, budget: Budget, rm: RosterModel, big: int) -> None:
        super().__init__()
        self.started, self.budget, self.rm, self.big = started, budget, rm, big
        self.first: float | None = None

    def on_solution_callback(self) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.started
        penalty = sum(p.weight * self.value(p.var) for p in self.rm.penalties)
        self.budget.report(penalty, None if self.big else self.best_objective_bound)


@dataclass(slots=True)
class Budget:
    time_limit: float
    seed: int
    workers: int
    started: float
    progress: Progress | None = None
    #: One presolve round: these models are small and loose, and further rounds cost more
    #: time than they save (bench/README.md).
    tuning: dict[str, object] = field(default_factory=lambda: {"max_presolve_iterations": 1})
    done_objective: int = 0
    done_bound: int = 0

    def remaining(self) -> float:
        return max(0.05, self.time_limit - (time.perf_counter() - self.started))

    def report(self, objective: float | None, bound: float | None) -> None:
        if self.progress is None:
            return
        obj = None if objective is None else self.done_objective + round(objective)
        bnd = None if bound is None else self.done_bound + round(bound)
        self.progress(obj, bnd, time.perf_counter() - self.started)


_STATUS = {
    cp_model.OPTIMAL: Status.optimal,
    cp_model.FEASIBLE: Status.feasible,
    cp_model.INFEASIBLE: Status.infeasible,
}


def run(rm: RosterModel, budget: Budget, part: Part) -> cp_model.CpSolver:
    objective, big = _objective(rm)
    rm.model.minimize(objective)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = budget.workers
    solver.parameters.max_time_in_seconds = budget.remaining()
    solver.parameters.random_seed = budget.seed
    for name, value in budget.tuning.items():
        setattr(solver.parameters, name, value)
    watch = _Watch(budget.started, budget, rm, big)
    code = solver.solve(rm.model, watch)
    part.status = _STATUS.get(code, Status.unknown)
    part.first_solution_s = watch.first
    if part.status in (Status.optimal, Status.feasible):
        _read(rm, solver, part, big)
    return solver


def _read(rm: RosterModel, solver: cp_model.CpSolver, part: Part, big: int) -> None:
    part.assignments = [
        Assignment(rule, day, official)
        for (rule, day, official), v in rm.x.items()
        if solver.boolean_value(v)
    ]
    part.changes = sum(1 for _, lit in rm.changes if lit is None or solver.boolean_value(lit))
    part.violations = _violations(rm, solver)
    part.objective = sum(v.penalty for v in part.violations)
    bound = round(solver.best_objective_bound) - big * (part.changes - _fixed_changes(rm))
    part.bound = (
        part.objective if part.status is Status.optimal else max(0, min(bound, part.objective))
    )


def _fixed_changes(rm: RosterModel) -> int:
    return sum(1 for _, lit in rm.changes if lit is None)


def _violations(rm: RosterModel, solver: cp_model.CpSolver) -> list[Violation]:
    out: list[Violation] = []
    for p in rm.penalties:
        value = solver.value(p.var)
        if value:
            out.append(Violation(p.rule, p.kind, p.official, p.day, p.weight * value, p.detail))
    return out


def solve_part(prepared: Prepared, rules: list[str], budget: Budget) -> Part:
    part = Part(rules)
    keep = _keepable(prepared, rules)
    if keep:
        rm = build(prepared, rules, keep)
        run(rm, budget, part)
        part.min_changes = _fixed_changes(rm)
        if part.status is not Status.infeasible and part.changes == part.min_changes:
            return part
    rm = build(prepared, rules)
    run(rm, budget, part)
    part.min_changes = None
    if not rm.changes:
        part.min_changes = 0
    elif part.status is Status.optimal:
        part.min_changes = part.changes
    if part.status is Status.infeasible:
        part.conflicts = explain_infeasible(prepared, rules, budget.remaining())
    return part


def _keepable(prepared: Prepared, rules: list[str]) -> dict[tuple[str, dt.date], list[str]]:
    """Sittings of the previous roster whose every holder can stay: re-planning first tries
    to keep them all and fill only the rest."""
    pinned = {(p.rule, p.date) for p in prepared.instance.pinned}
    keep: dict[tuple[str, dt.date], list[str]] = {}
    for rule in rules:
        plan = prepared.plans[rule]
        at = {s.date: s for s in plan.sittings}
        held: dict[dt.date, list[str]] = defaultdict(list)
        for a in prepared.previous.get(rule, []):
            held[a.date].append(a.official)
        for day, names in held.items():
            s = at.get(day)
            if s is None or (rule, day) in pinned or len(names) != s.per_day:
                continue
            if set(names) <= set(candidates(plan, s)):
                keep[(rule, day)] = names
    return keep


def settled_together(prepared: Prepared, groups: list[list[str]]) -> list[list[str]]:
    """When re-planning, parts whose every sitting can be kept as published (most of the
    villages and townships after one leader falls ill) have one minimal-change roster:
    the published one. They are checked in one model instead of one each."""
    if not prepared.previous:
        return groups
    settled: list[str] = []
    moving: list[list[str]] = []
    for group in groups:
        seats = sum(len(prepared.plans[r].sittings) for r in group)
        if len(_keepable(prepared, group)) == seats:
            settled.extend(group)
        else:
            moving.append(group)
    return moving + ([settled] if settled else [])


# --------------------------------------------------------------------------- the whole


def solve(
    instance: Instance,
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    workers: int = 8,
    calendar: WorkCalendar | None = None,
    progress: Progress | None = None,
) -> Result:
    """Solve the roster. `workers` is at least 8 for optimisation: CP-SAT's parallel
    portfolio only starts its full set of strategies from 8, even on two cores."""
    started = time.perf_counter()
    prepared = prepare(instance, calendar)
    conflicts = pin_conflicts(prepared)
    if conflicts:
        return _finish(Status.infeasible, [], prepared, started, conflicts=conflicts)
    budget = Budget(time_limit, seed, max(workers, 8), started, progress)
    solved: list[Part] = []
    for rules in settled_together(prepared, batches(prepared)):
        part = solve_part(prepared, rules, budget)
        solved.append(part)
        budget.done_objective += part.objective or 0
        budget.done_bound += part.bound or 0
        if part.status in (Status.infeasible, Status.unknown):
            break
    return _finish(_overall(solved), solved, prepared, started)


def _overall(solved: list[Part]) -> Status:
    statuses = {p.status for p in solved}
    for s in (Status.infeasible, Status.unknown, Status.feasible):
        if s in statuses:
            return s
    return Status.optimal


def _finish(
    status: Status,
    solved: list[Part],
    prepared: Prepared,
    started: float,
    conflicts: list[Conflict] | None = None,
) -> Result:
    good = status in (Status.optimal, Status.feasible)
    assignments = sorted(a for p in solved for a in p.assignments) if good else []
    firsts = [p.first_solution_s for p in solved if p.first_solution_s is not None]
    return Result(
        status=status,
        assignments=assignments,
        objective=sum(p.objective or 0 for p in solved) if good else None,
        bound=sum(p.bound or 0 for p in solved) if good else None,
        wall_time_s=round(time.perf_counter() - started, 3),
        changes=sum(p.changes for p in solved) if good else 0,
        min_changes=_min_changes(solved) if good else None,
        load=dict(sorted(Counter(a.official for a in assignments).items())),
        violations=[v for p in solved for v in p.violations] if good else [],
        conflicts=conflicts or [c for p in solved for c in p.conflicts],
        warnings=prepared.warnings,
        first_solution_s=round(max(firsts), 3) if firsts else None,
        parts=len(solved),
    )


def _min_changes(solved: list[Part]) -> int | None:
    known = [p.min_changes for p in solved]
    return None if any(m is None for m in known) else sum(m or 0 for m in known)


__all__ = ["Penalty", "Prepared", "prepare", "solve"]
