"""Re-plan after an absence: solve a county year once, then give one official `--days`
days of leave from `--start` and time solving again with the first roster as `previous`.

Only the absent official's sittings inside the absence have to move, so a minimal re-plan
changes exactly that many assignments. Each run prints the result's `changes` and
`min_changes` next to that count and the check; the exit status is 1 if a run fails it.

    .venv/bin/python -m bench.roster.replan --runs 5 --official C05 --start 2027-03-08 --days 14
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from app.scheduling.schemas import Assignment, Instance, Result, Status
from app.scheduling.solver import solve
from bench.roster.common import (
    add_arguments,
    build_instance,
    describe,
    load,
    machine,
    median_of,
    number,
    statuses,
    table,
)
from bench.roster.generate import with_absence

SOLVED = frozenset({Status.optimal, Status.feasible})
HEADER = (
    "run",
    "build s",
    "status",
    "wall s",
    "call s",
    "objective",
    "changes",
    "min_changes",
    "sittings in absence",
    "still sitting",
    "check",
)


@dataclass(frozen=True, slots=True)
class Replan:
    build_s: float  # `with_absence` on the decoded instance
    call_s: float
    result: Result
    expected: int  # the official's sittings inside the absence in the first roster
    still: int  # … and in the re-planned one

    @property
    def ok(self) -> bool:
        solved = self.result.status in SOLVED
        return solved and self.result.changes == self.expected and self.still == 0


def sittings(roster: Sequence[Assignment], official: str, first: date, last: date) -> int:
    return sum(a.official == official and first <= a.date <= last for a in roster)


def _solve(instance: Instance, args: argparse.Namespace) -> tuple[Result, float]:
    started = time.perf_counter()
    result = solve(
        instance, time_limit=args.time_limit, seed=args.solver_seed, workers=args.workers
    )
    return result, time.perf_counter() - started


def first_roster(instance: Instance, args: argparse.Namespace) -> Result:
    result, call_s = _solve(instance, args)
    print(
        f"first roster: {result.status.value}, wall {result.wall_time_s:.2f} s "
        f"(call {call_s:.2f} s), objective {number(result.objective)}, "
        f"{len(result.assignments):,} assignments",
        flush=True,
    )
    if result.status not in SOLVED:
        raise SystemExit("no roster to re-plan")
    return result


def replan_once(instance: Instance, base: Result, args: argparse.Namespace, start: date) -> Replan:
    last = start + timedelta(days=args.days - 1)
    started = time.perf_counter()
    changed = with_absence(instance, base.assignments, args.official, start, args.days)
    build_s = time.perf_counter() - started
    result, call_s = _solve(changed, args)
    return Replan(
        build_s,
        call_s,
        result,
        sittings(base.assignments, args.official, start, last),
        sittings(result.assignments, args.official, start, last),
    )


def row(label: str, runs: Sequence[Replan]) -> list[str]:
    """One run's figures, or the medians of several."""
    results = [r.result for r in runs]
    return [
        label,
        number(median_of([r.build_s for r in runs]), 3),
        statuses(results),
        number(median_of([r.wall_time_s for r in results])),
        number(median_of([r.call_s for r in runs])),
        number(median_of([r.objective for r in results]), 1),
        number(median_of([r.changes for r in results]), 1),
        number(median_of([r.min_changes for r in results]), 1),
        number(median_of([r.expected for r in runs]), 0),
        number(median_of([r.still for r in runs]), 0),
        f"{sum(r.ok for r in runs)}/{len(runs)} ok",
    ]


def first_sitting(base: Result, official: str, after: date) -> date:
    """An absence that starts on a sitting, so the re-plan has something to move."""
    held = sorted(a.date for a in base.assignments if a.official == official and a.date >= after)
    return held[0] if held else after


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--official", default="C05")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first day away (default: the official's first sitting on or after March 8)",
    )
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args(argv)
    instance, build_s = build_instance(args)
    print(f"{describe(instance, args)}; built in {build_s:.2f} s")
    print(machine())
    base = first_roster(instance, args)
    start = args.start or first_sitting(base, args.official, date(instance.period.start.year, 3, 8))
    print(f"{args.official} away {start} + {args.days} days; {args.runs} re-plans", flush=True)
    runs: list[Replan] = []
    for n in range(1, args.runs + 1):
        runs.append(replan_once(instance, base, args, start))
        figures = zip(HEADER[1:], row(str(n), runs[-1:])[1:], strict=True)
        print(f"  run {n}: " + ", ".join(f"{k} {v}" for k, v in figures), file=sys.stderr)
    rows = [row(str(n), [run]) for n, run in enumerate(runs, start=1)]
    print(table(HEADER, [*rows, row(f"**median of {len(runs)}**", runs)]))
    print(f"after the runs: {load()}")
    if not all(r.ok for r in runs):
        raise SystemExit("changes differ from the sittings inside the absence, or it still sits")


if __name__ == "__main__":
    main()
