"""Where a booking's time goes, next to the bare insert: one client, requests back to back
through the app in this process (`create_app` behind `httpx.ASGITransport`: no uvicorn, no
socket, no contention), on a scratch database seeded like `bench.booking.throughput`.

Per request it reports the statements the app sent and the pool checkouts it made
(counted with SQLAlchemy engine and pool events), the wall time, the CPU of this process
(the app, plus the small in-process client) and of the PostgreSQL backends serving it,
and, for bookings, how long the county ledger's head row stays locked: from the moment
`ledger_append_now(...)` is sent until the transaction's COMMIT has returned (client view).
With every booking of a county appending to that one ledger, 1 / (lock held) bounds the
county's bookings/s whatever the number of workers.

Then where a booking's wall time goes (one client, so wall ≈ the app's CPU plus the
statements' round trips): the time spent inside the guard's principal lookup and inside
the booking services, measured by wrapping those functions with timers (nested ones are
included in their caller's figure), and the time inside the driver's execute calls.

    .venv/bin/python -m bench.booking.cost --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

import httpx
import msgspec
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.asgi import create_app
from app.core import web
from app.ledger import services as ledger_services
from app.models import import_all_models
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from bench.booking import seed
from bench.booking.citizens import BOOKINGS, Citizens, booking_body
from bench.booking.machine import describe
from bench.booking.scratch import BenchError, Deployment, deployment
from bench.booking.throughput import INSERT, _create_bench_table
from bench.cpu_share import Sample

LEDGER_CALL = "ledger_append_now("
#: (module, function, label) of the steps timed inside a booking; missing ones are skipped.
STEPS = (
    (web, "principal_for", "guard: the caller's account, roles and scopes (own session)"),
    (citizens, "book_and_confirm", "book_and_confirm: all of the booking's work"),
    (bookings, "book", "  book: checks, limits, seat, booking row, SMS, ledger entry"),
    (bookings, "_sitting_to_book", "    the sitting, its rule, venue, official and county"),
    (bookings, "_take_on_server", "    limits, seat, booking row and SMS (`booking_take`)"),
    (ledger_services, "append_now", "    the ledger entry (ledger_append_now)"),
)


class Timers:
    """Wall time spent inside some async functions, summed per label."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, module: ModuleType, name: str, label: str) -> None:
        inner = getattr(module, name, None)
        if inner is None:
            return
        self.spent[label] = 0.0

        @functools.wraps(inner)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - began

        setattr(module, name, timed)

    def reset(self) -> None:
        self.spent = dict.fromkeys(self.spent, 0.0)


@dataclass(slots=True)
class Probe:
    """Engine, pool and session events of the app's engine, per request."""

    statements: int = 0
    checkouts: int = 0
    locked_at: float | None = None
    held: list[float] = field(default_factory=list)
    sent_at: float = 0.0
    in_driver: float = 0.0
    timers: Timers = field(default_factory=Timers)

    def statement(self, *args: Any) -> None:
        self.statements += 1
        self.sent_at = time.perf_counter()
        if LEDGER_CALL in str(args[2]):
            self.locked_at = self.sent_at

    def answered(self, *_: Any) -> None:
        self.in_driver += time.perf_counter() - self.sent_at

    def reset(self) -> None:
        self.statements = self.checkouts = 0
        self.in_driver = 0.0
        self.held.clear()
        self.timers.reset()

    def checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def committed(self, *_: Any) -> None:
        if self.locked_at is not None:
            self.held.append(time.perf_counter() - self.locked_at)
            self.locked_at = None


@dataclass(frozen=True, slots=True)
class Cost:
    label: str
    statements: float
    checkouts: float
    wall_ms: float
    app_cpu_ms: float
    postgres_cpu_ms: float
    held_ms: float | None
    steps: dict[str, float]  # ms per request
    driver_ms: float  # inside the driver's execute calls, ms per request


Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _measure(
    label: str, client: httpx.AsyncClient, call: Call, probe: Probe, made: Deployment, n: int
) -> Cost:
    for _ in range(20):
        await call(client)
    probe.reset()
    start, cpu, began = Sample.take(made.database), time.process_time(), time.perf_counter()
    for _ in range(n):
        response = await call(client)
        if response.status_code not in (201, 204):
            raise BenchError(f"{label}: {response.status_code} {response.text[:300]}")
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    postgres = Sample.take(made.database).postgres_since(start)
    held = statistics.mean(probe.held) * 1e3 if probe.held else None
    return Cost(
        label,
        probe.statements / n,
        probe.checkouts / n,
        wall * 1e3 / n,
        cpu * 1e3 / n,
        postgres * 1e3 / n,
        held,
        {k: v * 1e3 / n for k, v in probe.timers.spent.items()},
        probe.in_driver * 1e3 / n,
    )


def _listen(engine: Any, probe: Probe) -> None:
    event.listen(engine.sync_engine, "before_cursor_execute", probe.statement)
    event.listen(engine.sync_engine, "after_cursor_execute", probe.answered)
    event.listen(engine.sync_engine.pool, "checkout", probe.checkout)
    event.listen(Session, "after_commit", probe.committed)


async def _costs(made: Deployment, county: seed.BookingCounty, n: int) -> list[Cost]:
    settings = msgspec.structs.replace(made.settings(), bench_endpoints=True)
    app = create_app(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    probe = Probe()
    _listen(app.state.runtime.engine, probe)
    for module, name, label in STEPS:
        probe.timers.wrap(module, name, label)
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        credentials = {"username": seed.CLERK, "password": seed.PASSWORD}
        token = (await client.post("/api/v1/auth/token", json=credentials)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        citizens, rng = Citizens(), random.Random(1)

        async def booking(c: httpx.AsyncClient) -> httpx.Response:
            body = booking_body(rng.choice(county.seats), citizens.next())
            return await c.post(BOOKINGS, content=body, headers=headers)

        async def bare(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post(INSERT)

        costs = [
            await _measure("booking", client, booking, probe, made, n),
            await _measure("bare insert", client, bare, probe, made, n),
        ]
    await app.state.runtime.engine.dispose()
    return costs


def report(costs: Sequence[Cost]) -> str:
    lines = [
        "| request | statements | pool checkouts | wall ms | app CPU ms | postgres CPU ms "
        "| CPU ceiling on 2 cores, req/s | ledger lock held ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        ceiling = 2 / ((c.app_cpu_ms + c.postgres_cpu_ms) / 1e3)
        held = "—" if c.held_ms is None else f"{c.held_ms:.2f}"
        lines.append(
            f"| {c.label} | {c.statements:.1f} | {c.checkouts:.1f} | {c.wall_ms:.2f} "
            f"| {c.app_cpu_ms:.2f} | {c.postgres_cpu_ms:.2f} | {ceiling:,.0f} | {held} |"
        )
    return "\n".join(lines)


def steps(cost: Cost) -> str:
    lines = [
        f"| inside one {cost.label} (one client) | ms |",
        "|---|---:|",
        f"| the whole request, client view | {cost.wall_ms:.2f} |",
    ]
    lines += [f"| {label} | {ms:.2f} |" for label, ms in cost.steps.items()]
    lines.append(f"| all statements: inside the driver's execute calls | {cost.driver_ms:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.booking.cost")
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    args = parser.parse_args(argv)
    import_all_models()
    print(describe(), flush=True)
    with deployment("bench_booking_cost") as made:
        asyncio.run(_create_bench_table(made))
        county = seed.booking_county(made, 8, 50, 5)
        costs = asyncio.run(_costs(made, county, args.requests))
    print(report(costs))
    print(steps(costs[0]))


if __name__ == "__main__":
    main()
