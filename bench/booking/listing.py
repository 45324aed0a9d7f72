"""Latency of the public sitting listing, GET /api/v1/sittings, on a year of sittings of
400 venues (goal: p95 <= 50 ms).

The data (`seed.listing_year`): one county with the county centre, 20 townships and 379
villages, each with a venue and a daily rule; one sitting per venue per working day from
182 days before today to 182 days after (≈ 99,000 sittings), seats taken in half the
slots of the coming 30 days. `jiefang serve --workers 2` serves it as a subprocess.

Typical queries, one kind at a time in a shuffled order (fixed seed):

* window:   no parameters — the next 30 days, first page of 100;
* township: `?unit=<township>` — a township and its villages, first page;
* official: `?official=<person>` — one official's sittings of the next 30 days;
* cursor:   `?cursor=…` — pages 2–10 of the default window (cursors from a first walk);
* later:    `?from=<today+60>&to=<today+66>` — a week two months ahead, first page.

Per run: `--warmup` requests of every kind not counted, then `--requests` of each kind from
one keep-alive connection (`wire.Connection`), one at a time, each timed from sending the
request to having read the whole answer; every
answer must be a 200 whose sittings lie inside the asked dates in (date, id) order. Then,
informational, `--clients` concurrent clients send a mix of all kinds for `--seconds`.
Percentiles are nearest-rank; the table gives the median over the runs.

    .venv/bin/python -m bench.booking.listing --runs 3
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import msgspec

from app.models import import_all_models
from app.scheduling.schemas import SittingPage
from bench.booking import seed
from bench.booking.load import Measured, Phase, measure, percentile
from bench.booking.machine import describe, load, wait_until_quiet
from bench.booking.scratch import BenchError, Deployment, Server, deployment, serving
from bench.booking.wire import Answer, Connection

SITTINGS = "/api/v1/sittings"
P95_GOAL_MS = 50.0
KINDS = ("window", "township", "official", "cursor", "later")
PAGES = 10
Query = tuple[str, dict[str, str], dt.date, dt.date]  # kind, parameters, first, last day


@dataclass(frozen=True, slots=True)
class Queries:
    """Draws the typical queries of each kind."""

    county: seed.ListingCounty
    cursors: list[str]
    rng: random.Random

    def draw(self, kind: str) -> Query:
        today = seed.today()
        window = (today, today + dt.timedelta(days=30))
        c, pick = self.county, self.rng.choice
        choices: dict[str, Callable[[], Query]] = {
            "window": lambda: (kind, {}, *window),
            "township": lambda: (kind, {"unit": str(pick(c.townships))}, *window),
            "official": lambda: (kind, {"official": str(pick(c.officials))}, *window),
            "cursor": lambda: (kind, {"cursor": pick(self.cursors)}, *window),
            "later": lambda: self._later(kind, today),
        }
        return choices[kind]()

    def _later(self, kind: str, today: dt.date) -> Query:
        first, last = today + dt.timedelta(days=60), today + dt.timedelta(days=66)
        return kind, {"from": first.isoformat(), "to": last.isoformat()}, first, last


def _wrong(page: SittingPage, first: dt.date, last: dt.date) -> str | None:
    keys = [(s.date, s.id) for s in page.sittings]
    if not keys:
        return "no sittings"
    if keys != sorted(keys) or not first <= keys[0][0] <= keys[-1][0] <= last:
        return f"sittings out of order or outside {first}–{last}"
    return None


def target(query: Query) -> str:
    return f"{SITTINGS}?{urlencode(query[1])}" if query[1] else SITTINGS


def check_answer(query: Query, answer: Answer) -> None:
    kind, params, first, last = query
    problem = f"answered {answer.status}" if answer.status != 200 else None
    if problem is None:
        problem = _wrong(msgspec.json.decode(answer.body, type=SittingPage), first, last)
    if problem:
        raise BenchError(f"GET {SITTINGS} {params} ({kind}): {problem}: {answer.body[:300]!r}")


async def _walk_cursors(client: httpx.AsyncClient) -> list[str]:
    """The cursors of pages 2..PAGES of the default window."""
    cursors: list[str] = []
    params: dict[str, str] = {}
    while len(cursors) < PAGES - 1:
        page = msgspec.json.decode((await client.get(SITTINGS, params=params)).content)
        if not page["next_cursor"]:
            raise BenchError(f"the default window has only {len(cursors) + 1} pages")
        cursors.append(page["next_cursor"])
        params = {"cursor": page["next_cursor"]}
    return cursors


async def _timed(connection: Connection, query: Query) -> float:
    began = time.perf_counter()
    answer = await connection.request("GET", target(query))
    spent = time.perf_counter() - began
    check_answer(query, answer)
    return spent


@dataclass(frozen=True, slots=True)
class Run:
    latencies: dict[str, list[float]]  # seconds, per kind
    concurrent: Measured | None


async def _sequential(base: str, queries: Queries, args: argparse.Namespace) -> Run:
    connection = Connection.to(base)
    try:
        for kind in KINDS * args.warmup:
            await _timed(connection, queries.draw(kind))
        order = list(KINDS) * args.requests
        queries.rng.shuffle(order)
        latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for kind in order:
            latencies[kind].append(await _timed(connection, queries.draw(kind)))
    finally:
        await connection.close()
    return Run(latencies, None)


async def _concurrent(
    server: Server, made: Deployment, queries: Queries, clients: int, args: argparse.Namespace
) -> Measured:
    async def send(connection: Connection) -> Answer:
        return await connection.request("GET", target(queries.draw(queries.rng.choice(KINDS))))

    phase = Phase(
        server.base, clients, args.warmup_seconds, args.seconds, made.url, server.process.pid
    )
    measured = await measure(phase, send, 200)
    if set(measured.tally.statuses) != {200}:
        raise BenchError(f"concurrent listing answered {dict(measured.tally.statuses)}")
    return measured


async def _runs(
    server: Server, made: Deployment, county: seed.ListingCounty, args: argparse.Namespace
) -> list[Run]:
    runs = []
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
        cursors = await _walk_cursors(client)
    queries = Queries(county, cursors, random.Random(args.seed))
    for n in range(args.runs):
        await asyncio.to_thread(wait_until_quiet, args.quiet, args.patience)
        run = await _sequential(server.base, queries, args)
        concurrent = await _concurrent(server, made, queries, args.clients, args)
        runs.append(Run(run.latencies, concurrent))
        print(f"  run {n + 1}: " + _summary(runs[-1]), flush=True)
    return runs


# ---------------------------------------------------------------- report


def _ms(seconds: Sequence[float], p: float) -> float:
    return percentile(sorted(seconds), p) * 1e3


def _summary(run: Run) -> str:
    parts = [f"{k} p95 {_ms(v, 95):.1f}" for k, v in run.latencies.items()]
    if run.concurrent:
        parts.append(f"{run.concurrent.clients} clients p95 {run.concurrent.ms(95):.1f} ms")
    return ", ".join(parts)


def _row(label: str, per_run: Sequence[Sequence[float]]) -> str:
    figures = [statistics.median(_ms(r, p) for r in per_run) for p in (50, 95, 99)]
    p95s = [_ms(r, 95) for r in per_run]
    verdict = "met" if figures[1] <= P95_GOAL_MS else "**not met**"
    return (
        f"| {label} | {len(per_run[0])} | "
        + " | ".join(f"{v:.1f}" for v in figures)
        + " | "
        + " ".join(f"{v:.1f}" for v in p95s)
        + f" | <= {P95_GOAL_MS:g} | {verdict} |"
    )


def report(runs: Sequence[Run]) -> str:
    lines = [
        "| query | requests per run | p50 ms | p95 ms | p99 ms | p95 of each run | goal | |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    lines += [_row(kind, [r.latencies[kind] for r in runs]) for kind in KINDS]
    lines.append(_row("all kinds", [[t for v in r.latencies.values() for t in v] for r in runs]))
    concurrent = [r.concurrent for r in runs if r.concurrent]
    if concurrent:
        m = concurrent[0].clients
        rate = statistics.median(c.rate for c in concurrent)
        figures = [statistics.median(c.ms(p) for c in concurrent) for p in (50, 95, 99)]
        lines.append(
            f"| mixed, {m} concurrent clients ({rate:.0f} req/s) | — | "
            + " | ".join(f"{v:.1f}" for v in figures)
            + " | "
            + " ".join(f"{c.ms(95):.1f}" for c in concurrent)
            + " | — | informational |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.booking.listing")
    parser.add_argument("--venues", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="per kind and run")
    parser.add_argument("--warmup", type=int, default=20, help="requests per kind and run")
    parser.add_argument("--workers", type=int, default=2, help="jiefang serve --workers")
    parser.add_argument("--clients", type=int, default=8, help="of the concurrent phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="of the concurrent phase")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--quiet", type=float, default=0.25)
    parser.add_argument("--patience", type=float, default=900.0)
    parser.add_argument("--json", type=Path, help="also write the latencies (ms) here")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    import_all_models()
    print(describe(), flush=True)
    with deployment("bench_listing", keep=args.keep) as made:
        began = time.perf_counter()
        county = seed.listing_year(made, args.venues)
        print(
            f"built {county.venues} venues, {county.sittings} sittings "
            f"({county.first} – {county.last}) in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        with serving(made, args.workers, {}) as server:
            runs = asyncio.run(_runs(server, made, county, args))
        if problems := server.problems():
            raise BenchError("the server logged failures:\n" + "\n".join(problems[:20]))
    print(report(runs))
    print(f"after the runs: {load()}")
    if args.json:
        figures = [{k: [t * 1e3 for t in v] for k, v in r.latencies.items()} for r in runs]
        args.json.write_text(json.dumps(figures) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BenchError as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        raise SystemExit(1) from failed
