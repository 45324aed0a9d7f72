"""What the load generator itself costs: the bare insert endpoint driven by 32 clients for
`--seconds`, with three clients in turn — one httpx `AsyncClient` sharing a pool of 32
connections, 32 httpx `AsyncClient`s with one connection each, and `wire.Connection`
(what `load.py` uses) — reporting requests/s and this process's CPU per request. On two
cores, whatever the client spends is taken from the server being measured.

    .venv/bin/python -m bench.booking.client_cost --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx

from app.models import import_all_models
from bench.booking.scratch import deployment, serving
from bench.booking.throughput import INSERT, _create_bench_table
from bench.booking.wire import Connection

CLIENTS = 32
Post = Callable[[int], Awaitable[int]]  # client number -> status


async def _drive(post: Post, seconds: float) -> tuple[float, float]:
    """(requests/s, CPU ms per request) of CLIENTS clients posting back to back."""
    count, end = 0, time.perf_counter() + seconds

    async def one(i: int) -> None:
        nonlocal count
        while time.perf_counter() < end:
            if await post(i) != 204:
                raise RuntimeError("the bare endpoint did not answer 204")
            count += 1

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(CLIENTS)))
    return count / (time.perf_counter() - began), (time.process_time() - cpu) * 1e3 / count


async def shared_httpx(base: str, seconds: float) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def post(_: int) -> int:
            return (await client.post(INSERT)).status_code

        return await _drive(post, seconds)


async def httpx_each(base: str, seconds: float) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base, limits=limits) for _ in range(CLIENTS)]
    try:

        async def post(i: int) -> int:
            return (await clients[i].post(INSERT)).status_code

        return await _drive(post, seconds)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def wire(base: str, seconds: float) -> tuple[float, float]:
    connections = [Connection.to(base) for _ in range(CLIENTS)]
    try:

        async def post(i: int) -> int:
            return (await connections[i].request("POST", INSERT)).status

        return await _drive(post, seconds)
    finally:
        await asyncio.gather(*(c.close() for c in connections))


KINDS = (
    ("one httpx AsyncClient, 32 pooled connections", shared_httpx),
    ("32 httpx AsyncClients, one connection each", httpx_each),
    ("wire.Connection × 32 (load.py)", wire),
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.booking.client_cost")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    import_all_models()
    print("| client | requests/s | client CPU ms per request |\n|---|---:|---:|")
    with deployment("bench_client_cost") as made:
        asyncio.run(_create_bench_table(made))
        with serving(made, 2, {"JIEFANG_BENCH_ENDPOINTS": "1"}) as server:
            for _ in range(args.rounds):
                for label, kind in KINDS:
                    rate, cpu = asyncio.run(kind(server.base, args.seconds))
                    print(f"| {label} | {rate:.0f} | {cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main()
