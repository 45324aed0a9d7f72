"""The load generator: N concurrent clients (asyncio tasks, each with its own keep-alive
connection, `wire.Connection`), each sending its next request as soon as its last one is
answered. A phase is a warm-up followed by a measured window of fixed length; a request
counts for the rate and the latency percentiles when it is answered inside the window.
Clients stop sending at the end of the window; requests still in flight are awaited and
counted in the statuses (the correctness checks need every answer), not in the rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from bench.booking.machine import Split, Usage
from bench.booking.waits import Sampler, Waits
from bench.booking.wire import Answer, Connection

Send = Callable[[Connection], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)  # answered inside the window
    measured: Counter[int] = field(default_factory=Counter)  # their statuses
    statuses: Counter[int] = field(default_factory=Counter)  # every answer; 0: no answer
    bodies: list[bytes] = field(default_factory=list)  # of every answer with `keep` status
    samples: dict[int, str] = field(default_factory=dict)  # one body of each other status


async def _client(base: str, send: Send, window: Window, keep: int, tally: Tally) -> None:
    connection = Connection.to(base)
    try:
        while time.perf_counter() < window.end:
            began = time.perf_counter()
            answer = await send(connection)
            _count(tally, window, keep, answer, (began, time.perf_counter()))
    finally:
        await connection.close()


def _count(
    tally: Tally, window: Window, keep: int, answer: Answer, spent: tuple[float, float]
) -> None:
    status, body = answer.status, answer.body
    began, done = spent
    tally.statuses[status] += 1
    if status == keep:
        tally.bodies.append(body)
    else:
        tally.samples.setdefault(status, body[:300].decode(errors="replace"))
    if window.start <= done <= window.end:
        tally.latencies.append(done - began)
        tally.measured[status] += 1


async def _usage(at: float, database: str, server_pid: int) -> Usage:
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    return await asyncio.to_thread(Usage.take, database, server_pid)


async def _waits(url: str, window: Window) -> Waits:
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    async with Sampler(url) as sampler:
        await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    return sampler.waits()


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, round(p / 100 * len(ordered) + 0.4999999))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Measured:
    clients: int
    seconds: float
    tally: Tally
    cpu: Split
    waits: Waits

    @property
    def rate(self) -> float:
        return len(self.tally.latencies) / self.seconds

    def ms(self, p: float) -> float:
        return percentile(sorted(self.tally.latencies), p) * 1e3

    def cpu_ms(self, part: str) -> float:
        """CPU milliseconds of one part of the split (server, postgres, ...) per request
        answered in the window."""
        share: float = getattr(self.cpu, part)
        spent = share * (os.cpu_count() or 1) * self.seconds
        return spent * 1e3 / max(1, len(self.tally.latencies))


@dataclass(frozen=True, slots=True)
class Phase:
    base: str
    clients: int
    warmup: float
    seconds: float
    url: str  # the scratch database: its backends' CPU and waits
    server_pid: int

    @property
    def database(self) -> str:
        return str(make_url(self.url).database)


async def measure(phase: Phase, send: Send, keep: int) -> Measured:
    """Run `phase.clients` clients for the warm-up and the window; `keep` is the status
    whose bodies the caller wants (201 for bookings)."""
    start = time.perf_counter() + phase.warmup
    window, tally = Window(start, start + phase.seconds), Tally()
    usages = [
        asyncio.create_task(_usage(at, phase.database, phase.server_pid))
        for at in (window.start, window.end)
    ]
    waits = asyncio.create_task(_waits(phase.url, window))
    clients = (_client(phase.base, send, window, keep, tally) for _ in range(phase.clients))
    await asyncio.gather(*clients)
    first, last = await usages[0], await usages[1]
    cpu = Split.between(first, last)
    return Measured(phase.clients, phase.seconds, tally, cpu, await waits)


async def _once(base: str, send: Send) -> Answer:
    connection = Connection.to(base)
    try:
        return await send(connection)
    finally:
        await connection.close()


async def burst(base: str, sends: Sequence[Send]) -> list[Answer]:
    """Every request at once, each on its own connection."""
    return list(await asyncio.gather(*(_once(base, send) for send in sends)))
