"""Experiments for the app changes `bench/README.md` recommends, measured on the generated
province without touching `app/`: each experiment either creates indexes in the scratch
database (dropped again afterwards) or swaps a service function for a variant in this
process, then times the affected read paths exactly as `measure` does (service calls)
next to a baseline taken in the same invocation.

    .venv/bin/python -m bench.ownership.variants --runs 3 --only scope-columns
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
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, raiseload

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.errors import Forbidden
from app.models import import_all_models
from app.org.models import Unit
from app.org.rules import UnitKind
from app.ownership import read_services, workflow
from app.ownership import supervision_services as sv
from app.ownership.models import Case, CaseClock, CaseOwner
from app.ownership.visibility import viewer_of
from bench.booking.load import percentile
from bench.booking.machine import describe, load
from bench.ownership import dataset, measure
from bench.ownership.dataset import Manifest


@dataclass(frozen=True, slots=True)
class UnitRef:
    """The four columns of a unit the supervision board and list use."""

    id: int
    parent_id: int | None
    kind: str
    name: str


async def scope_of_columns(
    db: AsyncSession, actor: Principal, county_id: int | None = None
) -> sv.Scope:
    """`supervision_services.scope_of` reading (id, parent_id, kind, name) rows instead of
    whole `Unit` objects: the board and the list use only those four columns."""
    paths = actor.scope_paths(sv.SUPERVISORS)
    if not actor.has_any(sv.SUPERVISORS):
        raise Forbidden("督查页面只对督查、组织/办公室和管理员账号开放。")
    columns = (Unit.id, Unit.parent_id, Unit.kind, Unit.name)
    query = select(*columns).where(Unit.kind == str(UnitKind.county))
    if paths is not None:
        query = query.where(or_(*[Unit.path.startswith(p) for p in paths]))
    counties = [UnitRef(*r) for r in (await db.execute(query)).tuples()]
    county_ids = [c.id for c in counties if county_id is None or c.id == county_id]
    if county_id is not None and not county_ids:
        raise Forbidden("该县不在您账号的督查范围内。")
    rows = await db.execute(select(*columns).where(Unit.county_id.in_(county_ids)))
    by_id: dict[int, Any] = {r[0]: UnitRef(*r) for r in rows.tuples()}
    by_id |= {c.id: c for c in counties}
    return sv.Scope(county_ids, await viewer_of(db, actor), by_id)


async def my_cases_lean(
    db: AsyncSession, actor: Principal, today: dt.date, *, limit: int = 500
) -> Sequence[read_services.OwnedCase]:
    """`read_services.my_cases` without the owner's tenure, person, post and post unit
    (five joined eager loads no caller of it reads) and without the case's long texts."""
    if actor.person_id is None or not actor.has_any({Role.leader}):
        raise Forbidden("我的包案只对领导账号开放。")
    rows = await db.execute(
        select(Case, CaseOwner)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(
            CaseOwner.person_id == actor.person_id,
            CaseOwner.active.is_(True),
            Case.status.in_([str(s) for s in workflow.OPEN]),
        )
        .options(
            raiseload(CaseOwner.tenure),
            defer(Case.summary, raiseload=True),
            defer(Case.reply, raiseload=True),
            defer(Case.outcome_reason, raiseload=True),
        )
        .order_by(Case.next_due.is_(None), Case.next_due, Case.id)
        .limit(limit)
    )
    found: dict[int, read_services.OwnedCase] = {}
    order = read_services.ROLE_ORDER
    for case, owner in rows.tuples():
        kept = found.get(case.id)
        if kept is None or order[owner.role] < order[kept.owner.role]:
            urgency = read_services._urgency(case, today)
            found[case.id] = read_services.OwnedCase(case, owner, urgency)
    return list(found.values())


async def clock_counts_by_clock_county(
    db: AsyncSession,
    scope: sv.Scope,
    by: sv.By,
    names: Sequence[str],
    start: dt.date,
    end: dt.date,
) -> list[tuple[Any, ...]]:
    """`supervision_services._clock_counts` also filtering on the clock's own `county_id`
    (stored on every clock), so an index on (county_id, stopped_on) can find a county's
    clocks of the period without reading anyone else's."""
    query = sv._keyed(by, func.count(), sv._ones(CaseClock.stopped_on <= CaseClock.due))
    query = query.join(CaseClock, CaseClock.case_id == Case.id).where(
        CaseClock.county_id.in_(scope.county_ids),
        CaseClock.name.in_(list(names)),
        CaseClock.state == "stopped",
        CaseClock.stopped_on >= start,
        CaseClock.stopped_on <= end,
    )
    return await sv._counted(db, scope, by, query)


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
CLOCKS_STOPPED = (
    "CREATE INDEX bench_ix_case_clocks_stopped ON case_clocks (stopped_on, name) "
    "INCLUDE (case_id, due) WHERE state = 'stopped'"
)
CLOCKS_COUNTY_STOPPED = (
    "CREATE INDEX bench_ix_case_clocks_county_stopped ON case_clocks "
    "(county_id, stopped_on) INCLUDE (name, due, case_id) WHERE state = 'stopped'"
)
CASES_REPLIED = (
    "CREATE INDEX bench_ix_cases_replied ON cases (county_id, replied_on) "
    "INCLUDE (territorial_unit_id, evaluation) WHERE replied_on IS NOT NULL"
)
CASES_EVALUATED = (
    "CREATE INDEX bench_ix_cases_evaluated ON cases (county_id, evaluated_at) "
    "INCLUDE (territorial_unit_id, evaluation) WHERE evaluated_at IS NOT NULL"
)
CASES_OPEN_ID = (
    "CREATE INDEX bench_ix_cases_open_id ON cases (id) "
    "WHERE status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"
)

OPEN_DUE_COVER = (
    "CREATE INDEX bench_ix_cases_open_due_cover ON cases (county_id, next_due) "
    "INCLUDE (status, territorial_unit_id, next_clock, id) "
    "WHERE status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"
)
OWNERS_CASE_COVER = (
    "CREATE INDEX bench_ix_case_owners_case_cover ON case_owners (case_id) "
    "INCLUDE (active, role, person_id)"
)


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
        "my-cases-lean",
        "my_cases without the owner's tenure joins and the case's long texts",
        ("my-cases",),
        patches={"app.ownership.read_services.my_cases": my_cases_lean},
    ),
    Experiment(
        "my-cases-open-index",
        "a partial index of the open cases' ids",
        ("my-cases",),
        indexes=(CASES_OPEN_ID,),
    ),
    Experiment(
        "my-cases-lean+open-index",
        "both of the above",
        ("my-cases",),
        indexes=(CASES_OPEN_ID,),
        patches={"app.ownership.read_services.my_cases": my_cases_lean},
    ),
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
        "scope-columns",
        "scope_of reads 4 columns of the units instead of Unit objects",
        ("overdue", "ranking"),
        patches={f"{SV}.scope_of": scope_of_columns},
    ),
    Experiment(
        "board-python",
        "scope_of on 4 columns and _tallies without a sort per key (same board)",
        ("overdue",),
        patches={f"{SV}.scope_of": scope_of_columns, f"{SV}._tallies": tallies_fast},
    ),
    Experiment(
        "board-covering",
        "covering indexes for the board's two queries (index-only scans)",
        ("overdue",),
        indexes=(OPEN_DUE_COVER, OWNERS_CASE_COVER),
    ),
    Experiment(
        "board-all",
        "board-python and board-covering together",
        ("overdue",),
        indexes=(OPEN_DUE_COVER, OWNERS_CASE_COVER),
        patches={f"{SV}.scope_of": scope_of_columns, f"{SV}._tallies": tallies_fast},
    ),
    Experiment(
        "ranking-indexes",
        "indexes for the red/black list's period filters (no query change)",
        ("ranking",),
        indexes=(CLOCKS_STOPPED, CASES_REPLIED, CASES_EVALUATED),
    ),
    Experiment(
        "ranking-clock-county",
        "the clock counts filter on case_clocks.county_id too, with its index",
        ("ranking",),
        indexes=(CLOCKS_COUNTY_STOPPED, CASES_REPLIED, CASES_EVALUATED),
        patches={f"{SV}._clock_counts": clock_counts_by_clock_county},
    ),
    Experiment(
        "ranking-all",
        "the clock-county query and indexes, and scope_of on 4 columns",
        ("ranking",),
        indexes=(CLOCKS_COUNTY_STOPPED, CASES_REPLIED, CASES_EVALUATED),
        patches={
            f"{SV}._clock_counts": clock_counts_by_clock_county,
            f"{SV}.scope_of": scope_of_columns,
        },
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
