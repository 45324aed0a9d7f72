"""Ledger append throughput, one entry per business transaction.

Every transaction opens a session, appends one declared entry with `ledger.append` and
commits — what each state-changing service does. The measurements of each run:

* spread:   `--writers` writers over `--ledgers` county ledgers (goal on PostgreSQL:
            >= 2,000 entries/s);
* one:      `--single-writers` writers all appending to one ledger;
* baseline: as many writers taking only a ledger's head-row lock with the app's
            `UPDATE ledgers SET size = size + 1 ... RETURNING` (what SQLite's `append`
            starts with), on their own ledger, then committing (goal: one / baseline
            >= 0.8);
* baseline at commit (PostgreSQL): the same lock taken where PostgreSQL's `append`
            now takes it — a queued row whose deferred trigger bumps the head's `size`
            at COMMIT — with no leaf, no hashing and no entry: the ratio against it is
            what the hashing and writing of entries cost at equal lock placement;
* bare insert (PostgreSQL): the spread's writers, each transaction inserting one small
            row into a logged table and nothing else — the floor under any ledger that
            writes inside the business transaction, and a yardstick for the speed of the
            machine at that moment (`spread / bare insert`).

Writers are asyncio tasks spread over `--procs` OS processes, each with its own engine
and pool. After each run every ledger touched is checked: `size` equals its entry count,
seqs are 0..size-1, the bench entries equal the commits the writers counted (baseline:
size grew by exactly its commits, no entry written), and `verify_ledger` rebuilds each
appended ledger's Merkle tree, nodes and frontier.

The table gives the median of the runs and each run's figure. Its CPU column says where
the machine's cores went while measured (`bench.cpu_share`): the writers, PostgreSQL
serving them, and other programs — figures taken while "other" is high are not this
code's.

    .venv/bin/python -m bench.ledger_append --db postgresql --seconds 10 --runs 5 [--sync-off]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core import aio
from app.core.auth.access import system_principal
from app.core.db import create_engine, session_factory, transaction
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.ledger import services as ledger
from app.ledger.models import Ledger, LedgerEntry
from app.ledger.rules import ledger_action
from app.ledger.verify import verify_ledger
from app.models import import_all_models
from app.org.rules import UnitKind
from app.org.schemas import UnitIn
from app.org.services import create_unit
from bench.cpu_share import PARTS, Sample, Share

ACTION = ledger_action("bench.append", "bench", "基准测试写入的记录", n="该写入者的第几条")
ACTOR = system_principal("bench")
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WARMUP = 5  # transactions per writer before the clock starts
MEET_TIMEOUT = 600.0  # seconds the processes wait for each other at a barrier
SPREAD_GOAL = 2_000.0
RATIO_GOAL = 0.8

Kind = Literal["append", "lock", "tick", "insert"]
Factory = async_sessionmaker[AsyncSession]
Step = Callable[[Factory, int, str, int], Awaitable[None]]


class BenchError(RuntimeError):
    """A worker failed or a ledger came out wrong: the figures would mean nothing."""


# ---------------------------------------------------------------- what one writer does


async def append_one(factory: Factory, county: int, tag: str, n: int) -> None:
    """One business transaction: open a session, append one entry, commit."""
    async with transaction(factory) as db:
        await ledger.append(
            db,
            county=county,
            actor=ACTOR,
            action=ACTION,
            subject=("bench", tag),
            payload={"n": n},
            at=dt.datetime.now(dt.UTC),
        )


async def lock_one(factory: Factory, county: int, tag: str, n: int) -> None:
    """The baseline: the same head-row lock `append` takes (its own `_lock_head`), commit."""
    async with transaction(factory) as db:
        await ledger._lock_head(db, county)


_TICK = text("INSERT INTO bench_tick (county_id) VALUES (:county)")


async def tick_one(factory: Factory, county: int, tag: str, n: int) -> None:
    """The baseline at commit: queue a row whose deferred trigger takes the head's lock and
    bumps its size at COMMIT, as `ledger_pending` does for an entry."""
    async with transaction(factory) as db:
        await db.execute(_TICK, {"county": county})


#: `tick_one`'s table and trigger and `insert_one`'s table, made in the scratch database by
#: `prepare`.
BASELINE_DDL = (
    "CREATE UNLOGGED TABLE bench_tick (id bigserial PRIMARY KEY, county_id integer NOT NULL)",
    """CREATE FUNCTION bench_tick() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE ledgers SET size = size + 1 WHERE county_id = NEW.county_id;
        DELETE FROM bench_tick WHERE id = NEW.id;
        RETURN NULL;
    END
    $$""",
    "CREATE CONSTRAINT TRIGGER bench_tick_at_commit AFTER INSERT ON bench_tick "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_tick()",
    "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, county_id integer NOT NULL, "
    "n integer NOT NULL)",
)


async def _make_baselines(db: AsyncSession) -> None:
    for statement in BASELINE_DDL:
        await db.execute(text(statement))


_INSERT = text("INSERT INTO bench_rows (county_id, n) VALUES (:county, :n)")


async def insert_one(factory: Factory, county: int, tag: str, n: int) -> None:
    """The floor: a business transaction that inserts one small row into a logged table,
    with no ledger at all, through the same unit of work. No design that writes its entry
    inside the business transaction can be faster than this."""
    async with transaction(factory) as db:
        await db.execute(_INSERT, {"county": county, "n": n})


STEPS: dict[Kind, Step] = {
    "append": append_one,
    "lock": lock_one,
    "tick": tick_one,
    "insert": insert_one,
}


# ---------------------------------------------------------------- one measurement


@dataclass(frozen=True, slots=True)
class Spec:
    label: str
    url: str
    kind: Kind
    counties: tuple[int, ...]
    writers: int
    procs: int
    seconds: float
    sync_off: bool = False  # informational: SET synchronous_commit = off on every connection

    def writers_of(self, proc: int) -> list[tuple[int, int]]:
        """(writer number, county) of the writers process `proc` runs; ledgers round-robin."""
        per = self.writers // self.procs
        numbers = range(proc * per, (proc + 1) * per)
        return [(g, self.counties[g % len(self.counties)]) for g in numbers]


@dataclass(slots=True)
class Tally:
    """What one process's writers did."""

    commits: Counter[int] = field(default_factory=Counter)  # per county, warm-up included
    measured: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0  # seconds of CPU this process used while measured


async def _attempt(step: Step, factory: Factory, county: int, tag: str, n: int) -> bool:
    try:
        await step(factory, county, tag, n)
    except DBAPIError:
        return False
    return True


async def _warm(step: Step, factory: Factory, gid: int, county: int, tally: Tally) -> None:
    for n in range(WARMUP):
        if await _attempt(step, factory, county, f"w{gid}", n):
            tally.commits[county] += 1


async def _write(
    step: Step, factory: Factory, gid: int, county: int, deadline: float, tally: Tally
) -> None:
    """Start transactions until the deadline; the last one finishes after it."""
    n = WARMUP
    while (began := time.perf_counter()) < deadline:
        if await _attempt(step, factory, county, f"w{gid}", n):
            tally.latencies.append(time.perf_counter() - began)
            tally.commits[county] += 1
            tally.measured += 1
        else:
            tally.errors += 1
        n += 1


def settings_for(url: str, pool: int) -> Settings:
    var = Path(tempfile.gettempdir())
    return Settings(var_dir=var, database_url=url, keys_dir=var / "keys", db_pool_size=pool)


def _async_commit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.run_async(lambda raw: raw.execute("SET synchronous_commit = off"))


async def _engine(spec: Spec) -> AsyncEngine:
    """The app's own engine and pool, sized so every writer of the process has a connection."""
    engine = create_engine(settings_for(spec.url, max(1, spec.writers // spec.procs)))
    if spec.sync_off:
        event.listen(engine.sync_engine, "connect", _async_commit)
        async with engine.connect() as conn:
            if await conn.scalar(text("SHOW synchronous_commit")) != "off":
                raise BenchError("could not switch synchronous_commit off")
    return engine


async def _process(spec: Spec, proc: int, barrier: Any) -> Tally:
    """Warm up, meet the others at the start, write until the deadline, meet them again.

    The parent samples the machine's CPU at both meetings, so the connections (and their
    PostgreSQL backends) stay open until it has.
    """
    engine = await _engine(spec)
    try:
        factory, step, tally = session_factory(engine), STEPS[spec.kind], Tally()
        writers = spec.writers_of(proc)
        await asyncio.gather(*(_warm(step, factory, g, c, tally) for g, c in writers))
        await asyncio.to_thread(barrier.wait, MEET_TIMEOUT)
        start, cpu = time.perf_counter(), time.process_time()
        deadline = start + spec.seconds
        await asyncio.gather(*(_write(step, factory, g, c, deadline, tally) for g, c in writers))
        tally.elapsed, tally.cpu = time.perf_counter() - start, time.process_time() - cpu
        await asyncio.to_thread(barrier.wait, MEET_TIMEOUT)  # the parent samples the CPU
        await asyncio.to_thread(barrier.wait, MEET_TIMEOUT)  # ... and has sampled it
        return tally
    finally:
        await engine.dispose()


def _process_main(spec: Spec, proc: int, barrier: Any, results: Any) -> None:
    import_all_models()
    try:
        results.put(aio.run(_process(spec, proc, barrier)))
    except BaseException as error:
        barrier.abort()
        results.put(f"process {proc}: {error!r}")
        raise


@dataclass(frozen=True, slots=True)
class Result:
    spec: Spec
    entries: int
    elapsed: float
    errors: int
    p50_ms: float
    p99_ms: float
    commits: Counter[int]
    cpu: Share

    @property
    def rate(self) -> float:
        return self.entries / self.elapsed

    @classmethod
    def of(cls, spec: Spec, tallies: Sequence[Tally], start: Sample, end: Sample) -> Result:
        latencies = sorted(t for tally in tallies for t in tally.latencies)
        p50, p99 = _quantile(latencies, 0.5), _quantile(latencies, 0.99)
        commits: Counter[int] = Counter()
        for tally in tallies:
            commits.update(tally.commits)
        entries = sum(t.measured for t in tallies)
        elapsed = max(t.elapsed for t in tallies)
        share = Share.between(start, end, sum(t.cpu for t in tallies), elapsed)
        errors = sum(t.errors for t in tallies)
        return cls(spec, entries, elapsed, errors, p50 * 1e3, p99 * 1e3, commits, share)


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _receive(results: Any, spec: Spec) -> Tally:
    try:
        got = results.get(timeout=spec.seconds + 600)
    except queue.Empty:
        raise BenchError(f"{spec.label}: a worker process never reported") from None
    if isinstance(got, str):
        raise BenchError(f"{spec.label}: {got}")
    assert isinstance(got, Tally)
    return got


def _meet(barrier: Any) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):  # a failed worker reports why
        barrier.wait(timeout=MEET_TIMEOUT)


def _sample_cpu(spec: Spec, barrier: Any) -> tuple[Sample, Sample]:
    """The machine's CPU counters when the writers start and when they have all stopped."""
    database = str(make_url(spec.url).database)
    _meet(barrier)
    start = Sample.take(database)
    _meet(barrier)
    end = Sample.take(database)
    _meet(barrier)
    return start, end


def measure(spec: Spec) -> Result:
    """Run one measurement in `spec.procs` fresh processes and add their tallies up."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(spec.procs + 1), ctx.Queue()
    args = [(spec, i, barrier, results) for i in range(spec.procs)]
    workers = [ctx.Process(target=_process_main, args=a) for a in args]
    for worker in workers:
        worker.start()
    try:
        start, end = _sample_cpu(spec, barrier)
        tallies = [_receive(results, spec) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.terminate()
    return Result.of(spec, tallies, start, end)


# ---------------------------------------------------------------- correctness


@dataclass(frozen=True, slots=True)
class Stats:
    size: int
    entries: int
    first: int
    last: int
    bench: int

    def gap_free(self) -> bool:
        return self.first == 0 and self.last == self.entries - 1


async def _stats(db: AsyncSession, counties: Iterable[int]) -> dict[int, Stats]:
    seq = LedgerEntry.seq
    query = (
        select(
            Ledger.county_id,
            Ledger.size,
            func.count(seq),
            func.min(seq),
            func.max(seq),
            func.count(seq).filter(LedgerEntry.action == ACTION),
        )
        .join(LedgerEntry, LedgerEntry.ledger_id == Ledger.id)
        .where(Ledger.county_id.in_(list(counties)))
        .group_by(Ledger.id, Ledger.county_id, Ledger.size)
    )
    rows = await db.execute(query)
    return {int(r[0]): Stats(*(int(v) for v in r[1:])) for r in rows}


def _appended_problems(stats: dict[int, Stats], appended: Counter[int]) -> Iterator[str]:
    for county, commits in appended.items():
        s = stats[county]
        if s.size != s.entries or not s.gap_free() or s.bench != commits:
            yield f"county {county}: {s} after {commits} committed appends"


def _locked_problems(stats: dict[int, Stats], locked: Counter[int]) -> Iterator[str]:
    for county, commits in locked.items():
        s = stats[county]
        if s.size != s.entries + commits or not s.gap_free() or s.bench:
            yield f"baseline county {county}: {s} after {commits} committed locks"


async def _tree_problems(db: AsyncSession, counties: Iterable[int]) -> list[str]:
    problems = []
    for county in counties:
        report = await verify_ledger(db, await ledger.ledger_for_county(db, county), [])
        problems += [f"county {county}: {p.message}" for p in report.problems]
    return problems


_ROWS = text("SELECT county_id, count(*) FROM bench_rows GROUP BY county_id")


async def _inserted_problems(db: AsyncSession, inserted: Counter[int]) -> list[str]:
    if not inserted:
        return []  # SQLite: no bare-insert measurement, no table
    rows = Counter({int(c): int(n) for c, n in await db.execute(_ROWS)})
    return [
        f"bare insert county {county}: {rows[county]} rows after {commits} commits"
        for county, commits in inserted.items()
        if rows[county] != commits
    ]


async def check(url: str, results: Iterable[Result]) -> int:
    """Raise unless every ledger the run touched is exactly what its writers committed."""
    appended: Counter[int] = Counter()
    locked: Counter[int] = Counter()
    inserted: Counter[int] = Counter()
    for result in results:
        kind = result.spec.kind
        {"append": appended, "insert": inserted}.get(kind, locked).update(result.commits)
    engine = create_engine(settings_for(url, 1), pool=False)
    try:
        async with transaction(session_factory(engine)) as db:
            stats = await _stats(db, [*appended, *locked])
            problems = [*_appended_problems(stats, appended), *_locked_problems(stats, locked)]
            problems += await _tree_problems(db, appended)
            problems += await _inserted_problems(db, inserted)
    finally:
        await engine.dispose()
    if problems:
        raise BenchError("ledgers are wrong:\n  " + "\n  ".join(problems))
    return sum(stats[c].entries for c in appended)


# ---------------------------------------------------------------- databases


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    name = f"bench_ledger_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench_ledger_") as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"


async def _in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    engine = create_engine(settings_for(url, 1), pool=False)
    try:
        async with transaction(session_factory(engine)) as db:
            return await work(db)
    finally:
        await engine.dispose()


def prepare(url: str) -> None:
    """Migrate the empty database and open the administration ledger, as `db upgrade` does."""
    upgrade(url)
    if url.startswith("postgresql"):
        asyncio.run(_in_transaction(url, _make_baselines))
    now = dt.datetime.now(dt.UTC)
    asyncio.run(_in_transaction(url, lambda db: ledger.ensure_admin_ledger(db, "bench", now)))


async def _counties(db: AsyncSession, run: int, count: int) -> list[int]:
    now, ids = dt.datetime.now(dt.UTC), []
    for i in range(count):
        data = UnitIn(UnitKind.county, f"BENCH{run:02d}-{i:02d}", f"基准县 {run}-{i}", None)
        ids.append((await create_unit(db, ACTOR, now, data)).id)
    return ids


def new_counties(url: str, run: int, count: int) -> list[int]:
    """Fresh county units (each opens its ledger with entry 0, `org.unit.created`)."""
    ids: list[int] = asyncio.run(_in_transaction(url, lambda db: _counties(db, run, count)))
    return ids


# ---------------------------------------------------------------- runs and report

SPREAD, ONE, BASELINE = "spread", "one ledger", "baseline (lock only)"
AT_COMMIT = "baseline (lock only), at commit"
BARE = "bare insert, no ledger"
SYNC_OFF = " [synchronous_commit=off]"


def specs_for(url: str, args: argparse.Namespace, run: int) -> list[Spec]:
    counties = new_counties(url, run, args.ledgers + 3)
    spread = Spec(
        SPREAD, url, "append", tuple(counties[:-3]), args.writers, args.procs, args.seconds
    )
    one = replace(spread, label=ONE, counties=(counties[-3],), writers=args.single_writers)
    base = replace(one, label=BASELINE, kind="lock", counties=(counties[-2],))
    specs = [spread, one, base]
    if url.startswith("postgresql"):
        specs.append(replace(base, label=AT_COMMIT, kind="tick", counties=(counties[-1],)))
        specs.append(replace(spread, label=BARE, kind="insert"))
    if args.sync_off:
        specs += [replace(s, label=s.label + SYNC_OFF, sync_off=True) for s in specs]
    return specs


def run_once(url: str, args: argparse.Namespace, run: int) -> dict[str, Result]:
    results = {}
    for spec in specs_for(url, args, run):
        results[spec.label] = result = measure(spec)
        print(
            f"  run {run + 1} {spec.label:<46} {result.rate:9.0f}/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  errors {result.errors}  "
            f"CPU bench/postgres/other {result.cpu}",
            flush=True,
        )
    verified = asyncio.run(check(url, results.values()))
    print(
        f"  run {run + 1} checked: sizes, gap-free seqs, {verified} entries re-hashed", flush=True
    )
    return results


def _goal(label: str, db: str) -> float | None:
    return SPREAD_GOAL if label == SPREAD and db == "postgresql" else None


def _row(name: str, values: list[float], goal: float | None, cells: str, fmt: str) -> str:
    median = statistics.median(values)
    verdict = "—" if goal is None else ("met" if median >= goal else "**not met**")
    target = "—" if goal is None else ">= " + fmt.format(goal)
    shown = " ".join(fmt.format(v) for v in values)
    return f"| {name} | {fmt.format(median)} | {cells} | {shown} | {target} | {verdict} |"


def _rate_row(runs: list[dict[str, Result]], label: str, db: str) -> str:
    spec = runs[0][label].spec
    name = f"{label}: {spec.writers} writers / {len(spec.counties)} ledger(s)"
    p50 = statistics.median(r[label].p50_ms for r in runs)
    p99 = statistics.median(r[label].p99_ms for r in runs)
    errors = sum(r[label].errors for r in runs)
    shares = (statistics.median(getattr(r[label].cpu, f) for r in runs) for f in PARTS)
    cells = f"{p50:.1f} | {p99:.1f} | {errors} | {Share(*shares)}"
    return _row(name, [r[label].rate for r in runs], _goal(label, db), cells, "{:.0f}")


def _ratio_row(
    runs: list[dict[str, Result]], measured: str, baseline: str, goal: float | None
) -> str:
    ratios = [r[measured].rate / r[baseline].rate for r in runs]
    return _row(f"{measured} / {baseline}", ratios, goal, "| | |", "{:.2f}")


def report(runs: list[dict[str, Result]], db: str) -> str:
    """A Markdown table of medians over the runs, each run's figure, and the goals."""
    lines = [
        "| measurement | median | p50 ms | p99 ms | errors | CPU bench/postgres/other "
        "| each run | goal | |",
        "|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    lines += [_rate_row(runs, label, db) for label in runs[0]]
    suffixes = ["", SYNC_OFF] if SPREAD + SYNC_OFF in runs[0] else [""]
    for suffix in suffixes:
        one_goal = RATIO_GOAL if db == "postgresql" and not suffix else None
        pairs = [(ONE, BASELINE, one_goal), (ONE, AT_COMMIT, None), (SPREAD, BARE, None)]
        lines += [
            _ratio_row(runs, measured + suffix, baseline + suffix, goal)
            for measured, baseline, goal in pairs
            if baseline + suffix in runs[0]
        ]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_append", description=__doc__)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--procs", type=int, default=2, help="OS processes per measurement")
    parser.add_argument("--writers", type=int, default=32, help="writers of the spread test")
    parser.add_argument("--ledgers", type=int, default=8, help="ledgers of the spread test")
    parser.add_argument("--single-writers", type=int, default=8, help="writers on one ledger")
    parser.add_argument(
        "--sync-off",
        action="store_true",
        help="also measure with synchronous_commit = off (PostgreSQL, informational)",
    )
    args = parser.parse_args(argv)
    if args.writers % args.procs or args.single_writers % args.procs:
        parser.error("--writers and --single-writers must be multiples of --procs")
    if args.sync_off and args.db != "postgresql":
        parser.error("--sync-off is a PostgreSQL setting")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    import_all_models()
    database = postgres_database if args.db == "postgresql" else sqlite_database
    print(
        f"ledger append on {args.db}: {args.runs} runs x {args.seconds:g} s per measurement, "
        f"{args.procs} processes, {WARMUP} warm-up transactions per writer",
        flush=True,
    )
    with database() as url:
        prepare(url)
        runs = [run_once(url, args, run) for run in range(args.runs)]
    print(report(runs, args.db))


if __name__ == "__main__":
    main()
