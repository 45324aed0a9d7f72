"""Latency of the case read paths on the generated province (`bench.ownership.generate`):

* 我的包案 — `read_services.my_cases` / `GET /api/v1/my/cases`, its first page (with the
  counts over all the leader's cases) for the leader with the most open owned cases, one
  at the 90th percentile and one at the median, and the last page of the first
  (goal p95 <= 20 ms);
* the overdue board — `supervision_services.scope_of` + `overdue_board` /
  `GET /api/v1/supervision/overdue`, for a supervisor of the busiest county and of a median
  county with `county=<id>` (goal p95 <= 100 ms) and for the province supervisor, whose
  scope covers every county (goal p95 <= 500 ms);
* the red/black list for a quarter — `scope_of` + `red_black(by=unit|leader)` /
  `GET /api/v1/supervision/ranking?by=&from=&to=`, for the busiest county and the province
  (goal <= 1 s; judged on p95).

The quarter is the last complete one before the data set's day. Service calls run
in-process with the app's engine (`create_engine`, pool and `pool_pre_ping` as in the app),
each call in its own session and transaction as a request has it, the caller's Principal
loaded once beforehand (`auth.services.principal_for`). HTTP requests go to
`jiefang serve --workers 2 --no-worker` on the data set (`bench.booking.scratch.serving`),
one at a time on one keep-alive connection (`bench.booking.wire`), with a Bearer token
from `POST /api/v1/auth/token`; every answer must be a 200 with the expected content.

Per run and path: `--warmup` calls not counted, then `--requests` timed calls
(`--ranking-requests` for the red/black list, which takes seconds); paths are interleaved
in a shuffled order. Percentiles are nearest-rank; tables give the median over the runs of
each run's percentile. "db ms" is the median time spent inside the driver's execute calls
per call (SQLAlchemy engine events), i.e. PostgreSQL plus the round trips.

    .venv/bin/python -m bench.ownership.measure --runs 3
    .venv/bin/python -m bench.ownership.measure --explain overdue-province   # plans
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.auth.access import Principal
from app.core.auth.services import principal_for
from app.core.clock import SHANGHAI
from app.core.db import create_engine, session_factory, transaction
from app.models import import_all_models
from app.ownership import read_services
from app.ownership import supervision_services as sv
from app.ownership.read_services import WARN_DAYS
from bench.booking.load import percentile
from bench.booking.machine import describe, load, wait_until_quiet
from bench.booking.scratch import BenchError, serving
from bench.booking.wire import Connection
from bench.ownership import dataset
from bench.ownership.dataset import Manifest

LAST_PAGE = 1_000_000
GOALS_MS = {"my": 20.0, "overdue-county": 100.0, "overdue-province": 500.0, "ranking": 1000.0}


@dataclass(frozen=True)
class ReadPath:
    """One measured read path: a service call and the HTTP request that makes it."""

    name: str
    goal: str  # key of GOALS_MS
    account: str
    target: str  # the HTTP request
    call: Callable[[AsyncSession, Principal, dt.date], Awaitable[Any]]
    ranking: bool = False

    @property
    def goal_ms(self) -> float:
        return GOALS_MS[self.goal]


def last_quarter(today: dt.date) -> tuple[dt.date, dt.date]:
    first_of_this = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = first_of_this - dt.timedelta(days=1)
    return dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end


def mine(page: int) -> Callable[[AsyncSession, Principal, dt.date], Awaitable[Any]]:
    async def call(db: AsyncSession, actor: Principal, today: dt.date) -> Any:
        return await read_services.my_cases(db, actor, today, page=page)

    return call


def paths(manifest: Manifest) -> list[ReadPath]:
    busiest = manifest.notes["busiest_county"]["id"]
    median = manifest.notes["median_county"]["id"]
    start, end = last_quarter(dt.date.fromisoformat(manifest.today))

    def board(county: int | None) -> Callable[[AsyncSession, Principal, dt.date], Awaitable[Any]]:
        async def call(db: AsyncSession, actor: Principal, today: dt.date) -> Any:
            scope = await sv.scope_of(db, actor, county)
            return await sv.overdue_board(db, scope, today, WARN_DAYS)

        return call

    def ranked(
        county: int | None, by: sv.By
    ) -> Callable[[AsyncSession, Principal, dt.date], Awaitable[Any]]:
        async def call(db: AsyncSession, actor: Principal, today: dt.date) -> Any:
            scope = await sv.scope_of(db, actor, county)
            return await sv.red_black(db, scope, by, start, end)

        return call

    def ranking_target(county: int | None, by: str) -> str:
        query = {"by": by, "from": start.isoformat(), "to": end.isoformat()}
        if county is not None:
            query["county"] = str(county)
        return f"/api/v1/supervision/ranking?{urlencode(query)}"

    found = [
        ReadPath(f"my-cases ({who})", "my", f"leader-{who}", "/api/v1/my/cases", mine(1))
        for who in ("most", "p90", "median")
    ]
    # A page past the last gives the last: the deepest OFFSET the leader can reach.
    found.append(
        ReadPath(
            "my-cases (most, last page)",
            "my",
            "leader-most",
            f"/api/v1/my/cases?page={LAST_PAGE}",
            mine(LAST_PAGE),
        )
    )
    found += [
        ReadPath(
            "overdue, busiest county",
            "overdue-county",
            "sup-county",
            f"/api/v1/supervision/overdue?county={busiest}",
            board(busiest),
        ),
        ReadPath(
            "overdue, median county",
            "overdue-county",
            "sup-county-median",
            f"/api/v1/supervision/overdue?county={median}",
            board(median),
        ),
        ReadPath(
            "overdue, province",
            "overdue-province",
            "sup-province",
            "/api/v1/supervision/overdue",
            board(None),
        ),
    ]
    for label, account, county in (
        ("busiest county", "sup-county", busiest),
        ("province", "sup-province", None),
    ):
        for by in (sv.By.unit, sv.By.leader):
            found.append(
                ReadPath(
                    f"ranking by {by}, {label}",
                    "ranking",
                    account,
                    ranking_target(county if account == "sup-county" else None, str(by)),
                    ranked(county, by),
                    ranking=True,
                )
            )
    return found


# --------------------------------------------------------------------------- timing


@dataclass
class Samples:
    ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)


class DriverTime:
    """Time spent inside the driver's execute calls (engine events, sync side)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.total = 0.0
        self.statements: list[tuple[str, Any]] = []
        self.keep = False
        self._began: list[float] = []
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self._began.append(time.perf_counter())
        if self.keep:
            self.statements.append((statement, params))

    def _after(self, *_: Any) -> None:
        self.total += time.perf_counter() - self._began.pop()


async def _principals(
    factory: async_sessionmaker[AsyncSession], manifest: Manifest
) -> dict[str, Principal]:
    found = {}
    async with transaction(factory) as db:
        for name, account in manifest.accounts.items():
            principal = await principal_for(db, account.account_id, dt.datetime.now(dt.UTC))
            if principal is None:
                raise BenchError(f"account {name} cannot sign in")
            found[name] = principal
    return found


def _check(path: ReadPath, result: Any) -> None:
    if path.goal == "my" and not (result.cases and result.total >= len(result.cases)):
        raise BenchError(f"{path.name}: no cases")
    if path.goal.startswith("overdue") and not result.by_owner:
        raise BenchError(f"{path.name}: an empty board")
    if path.ranking and not result:
        raise BenchError(f"{path.name}: an empty list")


async def _service_call(
    factory: async_sessionmaker[AsyncSession],
    timer: DriverTime,
    path: ReadPath,
    actor: Principal,
    today: dt.date,
) -> tuple[float, float]:
    timer.total = 0.0
    began = time.perf_counter()
    async with transaction(factory) as db:
        result = await path.call(db, actor, today)
    spent = time.perf_counter() - began
    _check(path, result)
    return spent * 1e3, timer.total * 1e3


async def service_runs(
    manifest: Manifest, chosen: list[ReadPath], args: argparse.Namespace
) -> list[dict[str, Samples]]:
    engine = create_engine(manifest.settings())
    timer = DriverTime(engine)
    factory = session_factory(engine)
    runs = []
    try:
        actors = await _principals(factory, manifest)
        rng = random.Random(args.seed)
        for n in range(args.runs):
            await asyncio.to_thread(wait_until_quiet, args.quiet, args.patience)
            today = dt.datetime.now(SHANGHAI).date()
            samples = {p.name: Samples() for p in chosen}
            for path in chosen:
                for _ in range(args.warmup):
                    await _service_call(factory, timer, path, actors[path.account], today)
            order = [p for p in chosen for _ in range(_count(p, args))]
            rng.shuffle(order)
            for path in order:
                ms, db_ms = await _service_call(factory, timer, path, actors[path.account], today)
                samples[path.name].ms.append(ms)
                samples[path.name].db_ms.append(db_ms)
            runs.append(samples)
            print(f"  service run {n + 1}: {_brief(samples)}  ({load()})", flush=True)
    finally:
        await engine.dispose()
    return runs


def _count(path: ReadPath, args: argparse.Namespace) -> int:
    return int(args.ranking_requests if path.ranking else args.requests)


def _brief(samples: dict[str, Samples]) -> str:
    return ", ".join(
        f"{name} p95 {percentile(sorted(s.ms), 95):.0f}" for name, s in samples.items()
    )


# --------------------------------------------------------------------------- HTTP


async def _tokens(base: str, manifest: Manifest) -> dict[str, str]:
    found = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for name in manifest.accounts:
            answer = await client.post(
                "/api/v1/auth/token", json={"username": name, "password": dataset.PASSWORD}
            )
            if answer.status_code != 200:
                raise BenchError(f"token for {name}: {answer.status_code} {answer.text[:200]}")
            found[name] = answer.json()["access_token"]
    return found


def _check_answer(path: ReadPath, status: int, body: bytes) -> None:
    if status != 200:
        raise BenchError(f"GET {path.target}: {status} {body[:300]!r}")
    decoded = msgspec.json.decode(body)
    empty = (
        not decoded["cases"]
        if path.goal == "my"
        else not decoded["by_owner"]
        if path.goal.startswith("overdue")
        else not decoded["rows"]
    )
    if empty:
        raise BenchError(f"GET {path.target}: empty answer")


async def _http_call(connection: Connection, path: ReadPath, token: str) -> float:
    began = time.perf_counter()
    answer = await connection.request("GET", path.target, b"", {"Authorization": f"Bearer {token}"})
    spent = time.perf_counter() - began
    _check_answer(path, answer.status, answer.body)
    return spent * 1e3


async def http_runs(
    base: str, manifest: Manifest, chosen: list[ReadPath], args: argparse.Namespace
) -> list[dict[str, Samples]]:
    tokens = await _tokens(base, manifest)
    rng = random.Random(args.seed + 1)
    runs = []
    for n in range(args.runs):
        await asyncio.to_thread(wait_until_quiet, args.quiet, args.patience)
        # A fresh connection per run: the server closes one left idle while waiting.
        connection = Connection.to(base)
        try:
            samples = {p.name: Samples() for p in chosen}
            for path in chosen:
                for _ in range(args.warmup):
                    await _http_call(connection, path, tokens[path.account])
            order = [p for p in chosen for _ in range(_count(p, args))]
            rng.shuffle(order)
            for path in order:
                samples[path.name].ms.append(
                    await _http_call(connection, path, tokens[path.account])
                )
        finally:
            await connection.close()
        runs.append(samples)
        print(f"  HTTP run {n + 1}: {_brief(samples)}  ({load()})", flush=True)
    return runs


# --------------------------------------------------------------------------- plans


async def explain(manifest: Manifest, path: ReadPath) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement one call of the path executes."""
    engine = create_engine(manifest.settings())
    timer = DriverTime(engine)
    factory = session_factory(engine)
    out = []
    try:
        actors = await _principals(factory, manifest)
        today = dt.datetime.now(SHANGHAI).date()
        await _service_call(factory, timer, path, actors[path.account], today)  # warm
        timer.keep = True
        await _service_call(factory, timer, path, actors[path.account], today)
        timer.keep = False
        async with engine.connect() as conn:
            for statement, params in timer.statements:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    # e.g. the list's `SET LOCAL plan_cache_mode`: run it, nothing to plan
                    await conn.exec_driver_sql(statement, params)
                    continue
                plan = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                out.append(statement.strip() + "\n" + "\n".join(r[0] for r in plan))
            await conn.rollback()
    finally:
        await engine.dispose()
    return "\n\n".join(out)


# --------------------------------------------------------------------------- report


def _median(runs: list[dict[str, Samples]], name: str, p: float, db: bool = False) -> float:
    return statistics.median(
        percentile(sorted(r[name].db_ms if db else r[name].ms), p) for r in runs
    )


def report(title: str, chosen: list[ReadPath], runs: list[dict[str, Samples]], db: bool) -> str:
    head = "| path | calls per run | p50 ms | p95 ms | p99 ms | max ms |"
    head += " db ms (p50) |" if db else ""
    lines = [
        f"{title} (median of {len(runs)} runs)",
        "",
        head + " p95 of each run | goal | |",
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if db else "") + "---|---|---|",
    ]
    for path in chosen:
        p50, p95, p99 = (_median(runs, path.name, p) for p in (50, 95, 99))
        most = statistics.median(max(r[path.name].ms) for r in runs)
        each = " ".join(f"{percentile(sorted(r[path.name].ms), 95):.1f}" for r in runs)
        verdict = "met" if p95 <= path.goal_ms else "**not met**"
        row = f"| {path.name} | {len(runs[0][path.name].ms)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {most:.1f} |"
        row += f" {_median(runs, path.name, 50, db=True):.1f} |" if db else ""
        lines.append(row + f" {each} | p95 <= {path.goal_ms:g} | {verdict} |")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ownership.measure")
    parser.add_argument("--out", type=Path, default=dataset.DEFAULT_OUT, help="the data set")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="per path and run")
    parser.add_argument("--ranking-requests", type=int, default=30, help="per ranking path and run")
    parser.add_argument("--warmup", type=int, default=5, help="calls per path and run")
    parser.add_argument("--workers", type=int, default=2, help="jiefang serve --workers")
    parser.add_argument("--only", help="paths whose name contains this")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-service", action="store_true")
    parser.add_argument("--explain", help="print the plans of the path whose name contains this")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--quiet", type=float, default=0.3, help="wait until others use less")
    parser.add_argument("--patience", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="also write every latency (ms) here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    import_all_models()
    manifest = Manifest.load(args.out)
    dataset.prepare(manifest)
    chosen = [p for p in paths(manifest) if not args.only or args.only in p.name]
    if args.explain:
        path = next(p for p in paths(manifest) if args.explain in p.name)
        print(asyncio.run(explain(manifest, path)))
        return
    print(describe(), flush=True)
    today = dt.datetime.now(SHANGHAI).date()
    print(
        f"data set: {manifest.cases:,} cases, {manifest.counties} counties, made {manifest.horizon}"
        f" (measured on {today}); quarter {last_quarter(dt.date.fromisoformat(manifest.today))}",
        flush=True,
    )
    figures: dict[str, Any] = {}
    if not args.no_service:
        runs = asyncio.run(service_runs(manifest, chosen, args))
        print(report("Service calls", chosen, runs, db=True), flush=True)
        figures["service"] = [{k: v.ms for k, v in r.items()} for r in runs]
    if not args.no_http:
        with serving(manifest.deployment(), args.workers, {}) as server:
            runs = asyncio.run(http_runs(server.base, manifest, chosen, args))
        if problems := server.problems():
            raise BenchError("the server logged failures:\n" + "\n".join(problems[:20]))
        print(report(f"HTTP, jiefang serve --workers {args.workers}", chosen, runs, db=False))
        figures["http"] = [{k: v.ms for k, v in r.items()} for r in runs]
    print(f"after the runs: {load()}")
    if args.json:
        args.json.write_text(json.dumps(figures) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BenchError as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        raise SystemExit(1) from failed
