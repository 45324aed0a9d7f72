"""Bookings per second and their latency under concurrent clients, against the floor of
the same server: a bare endpoint doing one Core INSERT and a commit per request.

One scratch PostgreSQL database; `jiefang serve --workers 2` (default pool,
JIEFANG_BENCH_ENDPOINTS=1) as a subprocess; the load generator (`load.py`, one keep-alive
connection per client through `wire.py`) in this process on the same machine. Per run and per client count (32 and 64), two phases alternate (bookings
first in even runs, the bare endpoint first in odd runs), each a warm-up and a measured
window:

* bookings: `POST /api/v1/bookings` by a clerk (Bearer token, channel "phone"), every
  request for a new citizen and a random slot of 8 venues × 28 days × 12 slots with 50
  seats each, so no seat limit and no per-citizen limit refuses one. 201 = booked; every
  other answer is counted apart.
* bare: `POST /api/_bench/insert` (app/core/bench_routes.py) — same workers, middleware,
  guard, `db` dependency, pool and commit, one INSERT.

The ratio is bookings/s ÷ bare inserts/s of the same run and client count (goal >= 0.5).
Each run ends with a last-seats burst (64 callers at once for one slot with 5 seats:
exactly 5 booked, the rest refused with 409 "约满") and the checks of `checks.py` on the
whole database; any failure aborts the benchmark.

    .venv/bin/python -m bench.booking.throughput --runs 5 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from app.core.db import create_engine, session_factory
from app.models import import_all_models
from bench.booking import seed
from bench.booking.checks import Expected, check
from bench.booking.citizens import Bookings, Citizens, OneSeat, code_of
from bench.booking.load import Measured, Phase, Send, burst, measure
from bench.booking.machine import Split, describe, load, wait_until_quiet
from bench.booking.scratch import BenchError, Deployment, Server, deployment, serving
from bench.booking.waits import Waits
from bench.booking.wire import Answer, Connection

INSERT = "/api/_bench/insert"
RATIO_GOAL = 0.5
BOOKED, INSERTED, FULL = 201, 204, 409


@dataclass(frozen=True, slots=True)
class Pair:
    """One run's two phases at one client count."""

    booking: Measured
    bare: Measured

    @property
    def ratio(self) -> float:
        return self.booking.rate / self.bare.rate


@dataclass(frozen=True, slots=True)
class Run:
    pairs: dict[int, Pair]
    burst: Counter[int]
    checked: str


async def _token(base: str) -> str:
    credentials = {"username": seed.CLERK, "password": seed.PASSWORD}
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v1/auth/token", json=credentials)
    if response.status_code != 200:
        raise BenchError(f"no token: {response.status_code} {response.text}")
    return str(response.json()["access_token"])


async def _insert(connection: Connection) -> Answer:
    return await connection.request("POST", INSERT)


class Bench:
    """The state that lives across runs: the citizens used, what the clients were told."""

    def __init__(
        self, args: argparse.Namespace, made: Deployment, county: seed.BookingCounty, server: Server
    ) -> None:
        self.args, self.made, self.county, self.server = args, made, county, server
        self.citizens, self.rng = Citizens(), random.Random(args.seed)
        self.expected, self.hot, self.token = Expected(), iter(county.hot), ""

    def _phase(self, clients: int) -> Phase:
        a = self.args
        pid = self.server.process.pid
        return Phase(self.server.base, clients, a.warmup, a.seconds, self.made.url, pid)

    async def bookings(self, clients: int) -> Measured:
        send = Bookings(self.county.seats, self.token, self.citizens, self.rng)
        measured = await measure(self._phase(clients), send, BOOKED)
        self.expected.codes |= {code_of(body) for body in measured.tally.bodies}
        self.expected.unanswered += measured.tally.statuses[0]
        return measured

    async def bare(self, clients: int) -> Measured:
        measured = await measure(self._phase(clients), _insert, INSERTED)
        self.expected.inserts += measured.tally.statuses[INSERTED]
        self.expected.unanswered_inserts += measured.tally.statuses[0]
        return measured

    async def last_seats(self) -> Counter[int]:
        """`--callers` bookings at once for one slot of the hot venue: exactly its seats."""
        send: Send = OneSeat(next(self.hot), self.token, self.citizens)
        answers = await burst(self.server.base, [send] * self.args.callers)
        statuses = Counter(a.status for a in answers)
        self.expected.codes |= {code_of(a.body) for a in answers if a.status == BOOKED}
        refused = [a.body for a in answers if a.status == FULL]
        want = {BOOKED: self.county.hot_seats, FULL: self.args.callers - self.county.hot_seats}
        if statuses != want or not all("约满" in body.decode() for body in refused):
            raise BenchError(f"last seats: {dict(statuses)}, wanted {want}")
        return statuses

    async def pair(self, clients: int, bare_first: bool) -> Pair:
        if bare_first:
            bare = await self.bare(clients)
            return Pair(await self.bookings(clients), bare)
        booking = await self.bookings(clients)
        return Pair(booking, await self.bare(clients))

    async def check(self) -> str:
        engine = create_engine(self.made.settings(), pool=False)
        try:
            async with session_factory(engine)() as db:
                return await check(db, self.county.county, self.made.keys_dir, self.expected)
        finally:
            await engine.dispose()

    async def run(self, number: int) -> Run:
        a, pairs = self.args, {}
        await asyncio.to_thread(wait_until_quiet, a.quiet, a.patience)
        for clients in self.args.clients:
            pairs[clients] = pair = await self.pair(clients, bare_first=number % 2 == 1)
            for label, m in (("bookings", pair.booking), ("bare insert", pair.bare)):
                print(f"  run {number + 1} {clients:3d} clients {label:<12} {_line(m)}", flush=True)
            print(f"  run {number + 1} {clients:3d} clients ratio {pair.ratio:.3f}", flush=True)
        statuses = await self.last_seats()
        checked = await self.check()
        print(f"  run {number + 1} last seats {dict(statuses)}; checked: {checked}", flush=True)
        return Run(pairs, statuses, checked)


def _others(m: Measured) -> str:
    others = {s: n for s, n in m.tally.statuses.items() if s not in (BOOKED, INSERTED)}
    return ", ".join(f"{n}× {s or 'no answer'}" for s, n in sorted(others.items())) or "0"


def _line(m: Measured) -> str:
    return (
        f"{m.rate:8.1f}/s  p50 {m.ms(50):6.1f}  p95 {m.ms(95):6.1f}  p99 {m.ms(99):6.1f} ms  "
        f"others {_others(m)}  CPU client/server/postgres/other {m.cpu}  "
        f"per request: server {m.cpu_ms('server'):.2f} ms, postgres {m.cpu_ms('postgres'):.2f} ms  "
        f"backends waiting for a lock (ledger) / idle in transaction: {m.waits}"
    )


# ---------------------------------------------------------------- report


def _median_split(measured: Sequence[Measured]) -> Split:
    fields = ("client", "server", "postgres", "other")
    return Split(*(statistics.median(getattr(m.cpu, f) for m in measured) for f in fields))


def _median_waits(measured: Sequence[Measured]) -> Waits:
    fields = ("locked", "ledger", "idle_in_transaction")
    return Waits(*(statistics.median(getattr(m.waits, f) for m in measured) for f in fields))


def _rate_row(label: str, clients: int, measured: Sequence[Measured]) -> str:
    rates = [m.rate for m in measured]
    ms = [statistics.median(m.ms(p) for m in measured) for p in (50, 95, 99)]
    ms += [statistics.median(m.cpu_ms(part) for m in measured) for part in ("server", "postgres")]
    others = "; ".join(sorted({_others(m) for m in measured} - {"0"})) or "0"
    return (
        f"| {label}, {clients} clients | {statistics.median(rates):.0f} | "
        + " | ".join(f"{v:.1f}" for v in ms[:3])
        + " | "
        + " | ".join(f"{v:.2f}" for v in ms[3:])
        + f" | {others} | {_median_split(measured)} | {_median_waits(measured)} | "
        + " ".join(f"{r:.0f}" for r in rates)
        + " | | |"
    )


def _ratio_row(clients: int, pairs: Sequence[Pair]) -> str:
    ratios = [p.ratio for p in pairs]
    median = statistics.median(ratios)
    verdict = "met" if median >= RATIO_GOAL else "**not met**"
    shown = " ".join(f"{r:.2f}" for r in ratios)
    return (
        f"| bookings / bare, {clients} clients | **{median:.2f}** | | | | | | | | | {shown} "
        f"| >= {RATIO_GOAL} | {verdict} |"
    )


def report(runs: Sequence[Run], clients: Sequence[int]) -> str:
    """A Markdown table of medians over the runs, with each run's figure."""
    lines = [
        "| measurement | median /s | p50 ms | p95 ms | p99 ms | server CPU ms/req "
        "| postgres CPU ms/req | other answers | CPU client/server/postgres/other "
        "| backends waiting for a lock (ledger) / idle in transaction | each run | goal | |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---|---|",
    ]
    for n in clients:
        pairs = [run.pairs[n] for run in runs]
        lines.append(_rate_row("bookings", n, [p.booking for p in pairs]))
        lines.append(_rate_row("bare insert", n, [p.bare for p in pairs]))
    lines += [_ratio_row(n, [run.pairs[n] for run in runs]) for n in clients]
    return "\n".join(lines)


def _figures(m: Measured) -> dict[str, object]:
    return {
        "rate": m.rate,
        "p50": m.ms(50),
        "p95": m.ms(95),
        "p99": m.ms(99),
        "statuses": dict(m.tally.statuses),
        "cpu": asdict(m.cpu),
        "waits": asdict(m.waits),
        "server_cpu_ms": m.cpu_ms("server"),
        "postgres_cpu_ms": m.cpu_ms("postgres"),
    }


def _run_figures(run: Run) -> dict[str, object]:
    pairs = {
        n: {"bookings": _figures(p.booking), "bare": _figures(p.bare), "ratio": p.ratio}
        for n, p in run.pairs.items()
    }
    return {"pairs": pairs, "burst": dict(run.burst), "checked": run.checked}


# ---------------------------------------------------------------- command line


async def _all_runs(bench: Bench) -> list[Run]:
    bench.token = await _token(bench.server.base)
    return [await bench.run(n) for n in range(bench.args.runs)]


def _capacity_note(args: argparse.Namespace, county: seed.BookingCounty) -> str:
    seats = len(county.seats) * county.seats_per_slot
    return (
        f"{len(county.seats)} slots × {county.seats_per_slot} seats = {seats} seats for the "
        f"load, {len(county.hot)} hot slots × {county.hot_seats} seats for {args.runs} bursts"
    )


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.booking.throughput")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, per phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--workers", type=int, default=2, help="jiefang serve --workers")
    parser.add_argument("--venues", type=int, default=8, help="venues of the load")
    parser.add_argument("--seats", type=int, default=50, help="seats per slot")
    parser.add_argument("--callers", type=int, default=64, help="of each last-seats burst")
    parser.add_argument("--hot-seats", type=int, default=5, help="seats of the burst slots")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--quiet", type=float, default=0.25, help="wait before each run until others use less"
    )
    parser.add_argument("--patience", type=float, default=900.0, help="seconds, at most")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    import_all_models()
    print(describe(), flush=True)
    began = time.perf_counter()
    with deployment("bench_booking", keep=args.keep) as made:
        asyncio.run(_create_bench_table(made))
        county = seed.booking_county(made, args.venues, args.seats, args.hot_seats)
        print(_capacity_note(args, county), flush=True)
        env = {"JIEFANG_BENCH_ENDPOINTS": "1"}
        with serving(made, args.workers, env) as server:
            bench = Bench(args, made, county, server)
            runs = asyncio.run(_all_runs(bench))
        if problems := server.problems():
            raise BenchError("the server logged failures:\n" + "\n".join(problems[:20]))
    print(report(runs, args.clients))
    print(f"{time.perf_counter() - began:.0f} s in all; after the runs: {load()}")
    if args.json:
        args.json.write_text(
            json.dumps([_run_figures(r) for r in runs], indent=2, ensure_ascii=False) + "\n"
        )


async def _create_bench_table(made: Deployment) -> None:
    from app.core.bench_routes import BENCH_METADATA

    engine = create_engine(made.settings(), pool=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(BENCH_METADATA.create_all)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except BenchError as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        raise SystemExit(1) from failed
