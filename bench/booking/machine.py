"""Where the machine's CPU went while a phase was measured (Linux /proc): the load
generator (this process), the server (`jiefang serve` and its worker processes),
PostgreSQL working for the scratch database (`bench.cpu_share`), and everything else."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench.cpu_share import CLOCK_TICKS, Sample


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of a process, None when it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_ticks(root: int) -> dict[int, int]:
    """CPU ticks of `root` and all its descendants, per pid."""
    stats = {int(p.name): s for p in Path("/proc").glob("[0-9]*") if (s := _stat(p.name))}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    ticks, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            ticks[pid] = stats[pid][1]
            todo += children.get(pid, [])
    return ticks


@dataclass(frozen=True, slots=True)
class Usage:
    machine: Sample  # busy seconds of all cores, PostgreSQL ticks per process
    server: dict[int, int]
    client: float  # this process's CPU seconds
    at: float

    @classmethod
    def take(cls, database: str, server_pid: int) -> Usage:
        return cls(
            Sample.take(database), tree_ticks(server_pid), time.process_time(), time.perf_counter()
        )


@dataclass(frozen=True, slots=True)
class Split:
    """Fractions of all the machine's cores."""

    client: float
    server: float
    postgres: float
    other: float

    @classmethod
    def between(cls, start: Usage, end: Usage) -> Split:
        capacity = (end.at - start.at) * (os.cpu_count() or 1)
        server = sum(t - start.server.get(p, 0) for p, t in end.server.items()) / CLOCK_TICKS
        postgres = end.machine.postgres_since(start.machine)
        client = end.client - start.client
        busy = end.machine.busy - start.machine.busy
        other = max(0.0, busy - client - server - postgres)
        return cls(client / capacity, server / capacity, postgres / capacity, other / capacity)

    def __str__(self) -> str:
        parts = (self.client, self.server, self.postgres, self.other)
        return "/".join(f"{p:.0%}" for p in parts)


def _run(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe() -> str:
    """What the figures were taken on."""
    packages = ", ".join(
        f"{p} {version(p)}" for p in ("litestar", "uvicorn", "sqlalchemy", "asyncpg", "httpx")
    )
    pg = _run("psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version")
    return (
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, {load()}\n"
        f"  Python {sys.version.split()[0]}, {packages}, PostgreSQL {pg or '?'}\n"
        f"  app commit {_run('git', 'rev-parse', '--short', 'HEAD') or '?'}"
        f"{' (+ working tree changes)' if _run('git', 'status', '--porcelain') else ''}"
    )


def _busy_and_total() -> tuple[int, int]:
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def busy_share(seconds: float = 2.0) -> float:
    """The share of all cores busy (not idle, not waiting for I/O) over `seconds`."""
    busy, total = _busy_and_total()
    time.sleep(seconds)
    busy2, total2 = _busy_and_total()
    return (busy2 - busy) / max(1, total2 - total)


def wait_until_quiet(limit: float, patience: float) -> float:
    """Wait (at most `patience` seconds) until other programs use less than `limit` of the
    machine, so they do not share it with a measurement; returns the last share seen."""
    deadline = time.monotonic() + patience
    share = busy_share()
    while share > limit and time.monotonic() < deadline:
        print(f"  machine {share:.0%} busy: waiting for it to be quiet …", file=sys.stderr)
        time.sleep(10)
        share = busy_share()
    return share
