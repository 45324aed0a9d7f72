"""Experiments on the case read paths, measured on the generated province without touching
`app/` (the indexes, the paging and the plain unit rows tried here first are in the app
now): each experiment either creates indexes in the scratch database (dropped again
afterwards), changes a database setting, or swaps a service function for a variant in
this process, then times the affected read paths exactly as `measure` does (service
calls) next to a baseline taken in the same invocation.

    .venv/bin/python -m bench.ownership.variants --runs 3 --only board-python
    .venv/bin/python -m bench.ownership.variants --list
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import statistics
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from app.models import import_all_models
from app.ownership import supervision_services as sv
from bench.booking.load import percentile
from bench.booking.machine import describe, load
from bench.ownership import dataset, measure
from bench.ownership.dataset import Manifest


def tallies_fast(rows: Any) -> dict[int, sv.Tally]:
    """`supervision_services._tallies` with the same result, without a defaultdict of
    defaultdicts and a sort per key (most keys have one late clock, or none)."""
    overdue: dict[int, int] = {}
    soon: dict[int, int] = {}
    late: dict[int, dict[str, int]] = {}
    for key, clock, is_overdue, count in rows:
        if is_overdue:
            overdue[key] = overdue.get(key, 0) + count
            clocks = late.get(key)
            name = clock or ""
            if clocks is None:
                late[key] = {name: count}
            else:
                clocks[name] = clocks.get(name, 0) + count
        else:
            soon[key] = soon.get(key, 0) + count
    found = {}
    for key in overdue.keys() | soon.keys():
        clocks = late.get(key)
        if not clocks:
            named: tuple[tuple[str, int], ...] = ()
        elif len(clocks) == 1:
            named = tuple(clocks.items())
        else:
            named = tuple(sorted(clocks.items(), key=lambda i: -i[1]))
        found[key] = sv.Tally(overdue.get(key, 0), soon.get(key, 0), named)
    return found


SV = "app.ownership.supervision_services"


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    paths: Sequence[str]  # substrings of measure path names
    indexes: Sequence[str] = ()
    #: "module.function" -> the variant that replaces it while measuring
    patches: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: (setup, teardown) statements, e.g. ALTER DATABASE … SET / RESET
    settings: tuple[Sequence[str], Sequence[str]] = ((), ())


EXPERIMENTS = [
    Experiment(
        "no-parallel",
        "max_parallel_workers_per_gather = 0 for the database (a deployment setting)",
        ("my-cases", "overdue", "ranking"),
        settings=(
            ["ALTER DATABASE {database} SET max_parallel_workers_per_gather = 0"],
            ["ALTER DATABASE {database} RESET max_parallel_workers_per_gather"],
        ),
    ),
    Experiment(
        "board-python",
        "_tallies without a sort per key (same board)",
        ("overdue",),
        patches={f"{SV}._tallies": tallies_fast},
    ),
]


async def _sql(database: str, statements: Sequence[str]) -> None:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _index_name(statement: str) -> str:
    return statement.split("INDEX", 1)[1].split()[0]


def _target(dotted: str) -> tuple[Any, str]:
    module, name = dotted.rsplit(".", 1)
    return importlib.import_module(module), name


@contextlib.asynccontextmanager
async def applied(manifest: Manifest, experiment: Experiment) -> AsyncIterator[None]:
    saved = {k: getattr(*_target(k)) for k in experiment.patches}
    tables = sorted({s.split(" ON ", 1)[1].split()[0] for s in experiment.indexes})
    setup, teardown = (
        [s.format(database=manifest.database) for s in part] for part in experiment.settings
    )
    await _sql(manifest.database, [*experiment.indexes, *(f"ANALYZE {t}" for t in tables)])
    await _sql(manifest.database, setup)
    for dotted, fn in experiment.patches.items():
        setattr(*_target(dotted), fn)
    try:
        yield
    finally:
        for dotted, fn in saved.items():
            setattr(*_target(dotted), fn)
        await _sql(manifest.database, teardown)
        drops = [f"DROP INDEX IF EXISTS {_index_name(s)}" for s in experiment.indexes]
        await _sql(manifest.database, [*drops, *(f"ANALYZE {t}" for t in tables)])


def _figures(runs: list[dict[str, measure.Samples]], name: str) -> tuple[float, float, float]:
    return (
        statistics.median(percentile(sorted(r[name].ms), 50) for r in runs),
        statistics.median(percentile(sorted(r[name].ms), 95) for r in runs),
        statistics.median(percentile(sorted(r[name].db_ms), 50) for r in runs),
    )


async def run(manifest: Manifest, experiment: Experiment, args: argparse.Namespace) -> str:
    chosen = [p for p in measure.paths(manifest) if any(s in p.name for s in experiment.paths)]
    baseline = await measure.service_runs(manifest, chosen, args)
    async with applied(manifest, experiment):
        changed = await measure.service_runs(manifest, chosen, args)
    lines = [
        f"{experiment.name}: {experiment.summary} (median of {args.runs} runs each)",
        "",
        "| path | before p50 / p95 ms (db p50) | after p50 / p95 ms (db p50) |",
        "|---|---:|---:|",
    ]
    for path in chosen:
        b, a = _figures(baseline, path.name), _figures(changed, path.name)
        lines.append(
            f"| {path.name} | {b[0]:.1f} / {b[1]:.1f} ({b[2]:.1f}) | "
            f"{a[0]:.1f} / {a[1]:.1f} ({a[2]:.1f}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ownership.variants")
    parser.add_argument("--out", type=Path, default=dataset.DEFAULT_OUT)
    parser.add_argument("--only", help="experiments whose name contains this")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--ranking-requests", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--quiet", type=float, default=0.3)
    parser.add_argument("--patience", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.list:
        for e in EXPERIMENTS:
            print(f"{e.name}: {e.summary}")
            for statement in [*e.indexes, *e.settings[0]]:
                print(f"    {statement}")
            for dotted, fn in e.patches.items():
                print(f"    {dotted} -> {fn.__name__}")
        return
    import_all_models()
    manifest = Manifest.load(args.out)
    dataset.prepare(manifest)
    print(describe(), flush=True)
    print(
        f"data set made {manifest.horizon}; measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    for experiment in EXPERIMENTS:
        if args.only and args.only not in experiment.name:
            continue
        print(asyncio.run(run(manifest, experiment, args)), flush=True)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
