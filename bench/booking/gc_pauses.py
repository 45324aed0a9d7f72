"""Why the listing's p99 is several times its p95: CPython's full (generation-2) garbage
collections, which run every few dozen listing pages and walk every object the server
process holds.

On the listing year of `seed.listing_year`, the app runs in this process behind
`httpx.ASGITransport` (one client, requests back to back) and serves the default window
`--requests` times, recording each request's latency and each generation-2 collection's
pause (`gc.callbacks`); then again after `gc.freeze()`, which moves every object alive at
that point (the app, its modules, its caches) out of the collector's reach, as a server
would do once after start-up. The app is not changed; this only shows the effect.

    .venv/bin/python -m bench.booking.gc_pauses --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import httpx

from app.asgi import create_app
from app.models import import_all_models
from bench.booking import seed
from bench.booking.load import percentile
from bench.booking.scratch import Deployment, deployment

SITTINGS = "/api/v1/sittings"
WARMUP = 20


class Pauses:
    """Generation-2 collections seen through `gc.callbacks`, in milliseconds."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: list[float] = []

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self.started) * 1e3)


async def _serve(client: httpx.AsyncClient, requests: int) -> tuple[list[float], list[float]]:
    pauses = Pauses()
    gc.callbacks.append(pauses)
    spent = []
    try:
        for _ in range(requests):
            began = time.perf_counter()
            response = await client.get(SITTINGS)
            spent.append((time.perf_counter() - began) * 1e3)
            if response.status_code != 200:
                raise RuntimeError(f"{SITTINGS} answered {response.status_code}")
    finally:
        gc.callbacks.remove(pauses)
    return sorted(spent), pauses.pauses


def _line(label: str, spent: Sequence[float], pauses: Sequence[float]) -> str:
    figures = " | ".join(f"{percentile(spent, p):.1f}" for p in (50, 95, 99))
    longest = f"{max(pauses):.0f}" if pauses else "—"
    return f"| {label} | {figures} | {len(pauses)} | {longest} |"


async def _run(made: Deployment, requests: int) -> str:
    app = create_app(made.settings())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport = httpx.ASGITransport(app=cast(Any, app))
    lines = [
        f"| {requests} × GET {SITTINGS}, in-process | p50 ms | p95 ms | p99 ms "
        "| full collections | longest pause ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(WARMUP):
            await client.get(SITTINGS)
        lines.append(_line("as the server runs today", *await _serve(client, requests)))
        gc.freeze()
        lines.append(_line("after gc.freeze()", *await _serve(client, requests)))
        gc.unfreeze()
    await app.state.runtime.engine.dispose()
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.booking.gc_pauses")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--venues", type=int, default=400)
    args = parser.parse_args(argv)
    import_all_models()
    with deployment("bench_gc") as made:
        seed.listing_year(made, args.venues)
        print(asyncio.run(_run(made, args.requests)))


if __name__ == "__main__":
    main()
