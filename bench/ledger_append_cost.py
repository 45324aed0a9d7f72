"""Where one append's time goes: CPU per business transaction, client and server side.

One writer, one connection, transactions back to back (no contention), on PostgreSQL:

* wall ms per transaction;
* client CPU ms (this Python process: SQLAlchemy, asyncpg, asyncio, hashing);
* server CPU ms (the PostgreSQL backend serving the connection, read from /proc);
* transactions the server counted per business transaction (pg_stat_database commits
  and rollbacks: until ebf4441 the app's `pool_pre_ping` added an empty BEGIN / `;` /
  ROLLBACK to every checkout; its checkout hook now pings only connections idle > 10 s).

When client and server share the machine, `cores / (client + server CPU)` is the most any
number of writers can reach. Rows marked "not app config" use an engine the app does not
build; they are for analysis only.

    .venv/bin/python -m bench.ledger_append_cost [--transactions 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.db import create_engine, session_factory
from app.ledger import services as ledger
from app.models import import_all_models
from bench.ledger_append import (
    Step,
    append_one,
    lock_one,
    new_counties,
    postgres_database,
    prepare,
    settings_for,
)

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
#: The lock `append` takes, verbatim, with asyncpg's parameter syntax.
LOCK_SQL = ledger._LOCK_SQL.format(where="county_id = $1")

Loop = Callable[[int], Awaitable[None]]
Flush = Callable[[], Awaitable[None]]
#: Makes the backend publish its statistics now rather than within the next 10 s.
FLUSH = text("SELECT pg_stat_force_next_flush()")


@dataclass(frozen=True, slots=True)
class Cost:
    label: str
    wall_ms: float
    client_ms: float
    server_ms: float
    commits: float
    rollbacks: float

    def row(self) -> str:
        ceiling = (os.cpu_count() or 1) / (self.client_ms + self.server_ms) * 1e3
        return (
            f"| {self.label} | {self.wall_ms:.2f} | {self.client_ms:.2f} | {self.server_ms:.2f} "
            f"| {self.commits:.2f} / {self.rollbacks:.2f} | {ceiling:,.0f} |"
        )


def _cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS  # utime + stime


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _xacts(url: str, flush: Flush) -> tuple[int, int]:
    """The database's commit and rollback counters, once the measured backend flushed them."""
    await flush()  # one more transaction among thousands
    await asyncio.sleep(0.2)
    conn = await asyncpg.connect(_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1",
            make_url(url).database,
        )
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


async def _measure(label: str, url: str, backend: int, loop: Loop, flush: Flush, n: int) -> Cost:
    await loop(max(1, n // 10))  # warm up: connection, prepared statements
    xacts, server = await _xacts(url, flush), _cpu_ms(backend)
    wall, client = time.perf_counter(), time.process_time()
    await loop(n)
    wall, client = time.perf_counter() - wall, time.process_time() - client
    server = _cpu_ms(backend) - server
    after = await _xacts(url, flush)
    commits, rollbacks = ((a - b) / n for a, b in zip(after, xacts, strict=True))
    return Cost(label, wall / n * 1e3, client / n * 1e3, server / n, commits, rollbacks)


async def _through(
    label: str, url: str, engine: AsyncEngine, step: Step, county: int, n: int
) -> Cost:
    """Business transactions through `engine`'s single pooled connection."""
    factory = session_factory(engine)
    async with engine.connect() as conn:
        backend = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)

    async def loop(count: int) -> None:
        for i in range(count):
            await step(factory, county, "cost", i)

    async def flush() -> None:
        async with engine.connect() as conn:
            await conn.execute(FLUSH)

    try:
        return await _measure(label, url, backend, loop, flush, n)
    finally:
        await engine.dispose()


async def _bare(url: str, county: int, n: int) -> Cost:
    """The same lock and commit straight through asyncpg: the floor under any ORM."""
    conn = await asyncpg.connect(_dsn(url))

    async def loop(count: int) -> None:
        for _ in range(count):
            async with conn.transaction():
                await conn.fetchrow(LOCK_SQL, county)

    async def flush() -> None:
        await conn.execute(str(FLUSH))

    label = "lock only, bare asyncpg (not app)"
    try:
        return await _measure(label, url, conn.get_server_pid(), loop, flush, n)
    finally:
        await conn.close()


def _app_engine(url: str) -> AsyncEngine:
    return create_engine(settings_for(url, 1))


def _no_pre_ping(url: str) -> AsyncEngine:
    """A plain pool, without the app's checkout hook (and without the `pool_pre_ping` the
    app used until ebf4441): NOT the app's config."""
    return create_async_engine(url, pool_size=1, max_overflow=1)


async def costs(url: str, counties: list[int], n: int) -> list[Cost]:
    return [
        await _through("append (app engine)", url, _app_engine(url), append_one, counties[0], n),
        await _through("lock only (app engine)", url, _app_engine(url), lock_one, counties[1], n),
        await _through(
            "append, no pool_pre_ping (not app config)",
            url,
            _no_pre_ping(url),
            append_one,
            counties[2],
            n,
        ),
        await _through(
            "lock only, no pool_pre_ping (not app config)",
            url,
            _no_pre_ping(url),
            lock_one,
            counties[3],
            n,
        ),
        await _bare(url, counties[4], n),
    ]


# ---------------------------------------------------------------- how long the lock is held

MARKS = ("locked", "write_sent", "written", "commit_sent", "done")


def _watch(engine: AsyncEngine, samples: list[dict[str, float]]) -> None:
    """Time-stamp each transaction's steps on the client, from engine and pool events."""
    sync = engine.sync_engine

    def before(conn: Any, *_: Any) -> None:
        conn.info["sent"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE ledgers SET size"):
            conn.info["locked"] = time.perf_counter()
        elif "INSERT INTO ledger_entries" in statement:
            conn.info["write_sent"], conn.info["written"] = conn.info["sent"], time.perf_counter()

    def commit(conn: Any) -> None:
        conn.info["commit_sent"] = time.perf_counter()
        # An entry queued in `ledger_pending` takes the head's lock at COMMIT.
        conn.info.setdefault("locked", conn.info["commit_sent"])

    def checkin(_dbapi: Any, record: Any) -> None:
        marks = record.info
        if "locked" in marks and "commit_sent" in marks:
            marks["done"] = time.perf_counter()
            samples.append({k: marks.pop(k) for k in MARKS if k in marks})

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "commit", commit)
    event.listen(sync, "checkin", checkin)


@dataclass(frozen=True, slots=True)
class Hold:
    label: str
    writers: int
    rate: float
    samples: list[dict[str, float]]

    def _mean(self, start: str, end: str) -> str:
        spans = [s[end] - s[start] for s in self.samples if start in s and end in s]
        return f"{sum(spans) / len(spans) * 1e3:.2f}" if spans else "—"

    def row(self) -> str:
        after_write = "written" if "written" in self.samples[0] else "locked"
        cells = [
            self._mean("locked", "write_sent"),
            self._mean("write_sent", "written"),
            self._mean(after_write, "commit_sent"),
            self._mean("commit_sent", "done"),
            self._mean("locked", "done"),
        ]
        return f"| {self.label} | {self.writers} | {self.rate:,.0f} | " + " | ".join(cells) + " |"


async def _hold(label: str, url: str, step: Step, county: int, writers: int, n: int) -> Hold:
    """`writers` tasks in this one process, all on one ledger, through the app's engine."""
    engine = create_engine(settings_for(url, writers))
    samples: list[dict[str, float]] = []
    factory = session_factory(engine)

    async def loop(count: int) -> None:
        for i in range(count):
            await step(factory, county, "hold", i)

    try:
        await asyncio.gather(*(loop(5) for _ in range(writers)))  # warm up
        _watch(engine, samples)
        started = time.perf_counter()
        await asyncio.gather(*(loop(n // writers) for _ in range(writers)))
        rate = len(samples) / (time.perf_counter() - started)
        return Hold(label, writers, rate, samples)
    finally:
        await engine.dispose()


async def holds(url: str, counties: list[int], n: int, writers: int) -> list[Hold]:
    return [
        await _hold("append", url, append_one, counties[0], 1, n),
        await _hold("lock only", url, lock_one, counties[1], 1, n),
        await _hold("append", url, append_one, counties[0], writers, n),
        await _hold("lock only", url, lock_one, counties[1], writers, n),
    ]


HOLD_HEADER = """| transaction | writers | tx/s | lock → write sent | write round trip \
| → commit sent | commit round trip | lock held (client view) |
|---|---:|---:|---:|---:|---:|---:|---:|"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_append_cost", description=__doc__)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--writers", type=int, default=8, help="writers on one ledger, for holds")
    args = parser.parse_args()
    import_all_models()
    with postgres_database() as url:
        prepare(url)
        counties = new_counties(url, 0, 5)
        results = asyncio.run(costs(url, counties, args.transactions))
        lock_holds = asyncio.run(holds(url, counties, args.transactions, args.writers))
    cores = os.cpu_count()
    print(
        "| transaction | wall ms | client CPU ms | server CPU ms | server commits / rollbacks "
        f"| CPU ceiling on {cores} cores, tx/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for cost in results:
        print(cost.row())
    print()
    print("Milliseconds, mean per transaction, measured on the client (one process):")
    print(HOLD_HEADER)
    for hold in lock_holds:
        print(hold.row())
    print(
        "\nappend queues its entry and the database takes the head lock at COMMIT (migration"
        " 0015): its rows count from when COMMIT was sent, so with several writers they"
        " include the wait for the lock."
    )


if __name__ == "__main__":
    main()
