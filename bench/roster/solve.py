"""Solve a county year of reception rosters several times: time to the first solution,
wall time, objective and bound.

Each run builds the instance afresh (generates it, or reads and decodes `--instance`) and
then calls `app.scheduling.solver.solve`; the two are timed separately. Every run uses the
same CP-SAT seed, so the spread between runs is that of the parallel search.

    .venv/bin/python -m bench.roster.solve --runs 5 --time-limit 60
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.scheduling.schemas import Result
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

HEADER = (
    "run",
    "build s",
    "status",
    "first solution s",
    "wall s",
    "call s",
    "objective",
    "bound",
    "assignments",
    "parts",
)


@dataclass(frozen=True, slots=True)
class Run:
    build_s: float  # generating or decoding the instance
    call_s: float  # `solve(...)` as the caller sees it
    result: Result


def run_once(args: argparse.Namespace) -> Run:
    instance, build_s = build_instance(args)
    started = time.perf_counter()
    result = solve(
        instance, time_limit=args.time_limit, seed=args.solver_seed, workers=args.workers
    )
    return Run(build_s, time.perf_counter() - started, result)


def row(label: str, runs: Sequence[Run]) -> list[str]:
    """One run's figures, or the medians of several."""
    results = [r.result for r in runs]
    return [
        label,
        number(median_of([r.build_s for r in runs])),
        statuses(results),
        number(median_of([r.first_solution_s for r in results])),
        number(median_of([r.wall_time_s for r in results])),
        number(median_of([r.call_s for r in runs])),
        number(median_of([r.objective for r in results]), 1),
        number(median_of([r.bound for r in results]), 1),
        number(median_of([len(r.assignments) for r in results]), 0),
        number(median_of([r.parts for r in results]), 0),
    ]


def report(runs: Sequence[Run]) -> str:
    rows = [row(str(n), [run]) for n, run in enumerate(runs, start=1)]
    rows.append(row(f"**median of {len(runs)}**", runs))
    return table(HEADER, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    instance, _ = build_instance(args)
    print(describe(instance, args))
    print(machine())
    print(
        f"solve(time_limit={args.time_limit:g}, seed={args.solver_seed}, "
        f"workers={args.workers}), {args.runs} runs",
        flush=True,
    )
    runs: list[Run] = []
    for n in range(1, args.runs + 1):
        runs.append(run_once(args))
        figures = zip(HEADER[1:], row(str(n), runs[-1:])[1:], strict=True)
        print(f"  run {n}: " + ", ".join(f"{k} {v}" for k, v in figures), file=sys.stderr)
    print(report(runs))
    print(f"after the runs: {load()}")


if __name__ == "__main__":
    main()
