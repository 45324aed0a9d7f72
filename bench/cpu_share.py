"""Where a machine's CPU went during a measurement (Linux /proc): the benchmark's own
processes, PostgreSQL working for it, and everything else — other programs sharing the
machine make a benchmark's figures lower, and this shows by how much they competed.

PostgreSQL's share counts its auxiliary processes (WAL writer, checkpointer, ...) and the
backends connected to the benchmark's database; backends of other databases are "other".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PARTS = ("bench", "postgres", "other")


def _busy_seconds() -> float:
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait


def _serves(pid: str, database: str) -> bool:
    """An auxiliary process, or a backend connected to `database`."""
    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    is_backend = "(" in title or "[local]" in title  # "user db host(port) state"
    return not is_backend or f" {database} " in title


def _postgres_ticks(database: str) -> dict[str, int]:
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
            if name.endswith("(postgres") and _serves(stat.parent.name, database):
                utime, stime = fields.split()[11:13]
                ticks[stat.parent.name] = int(utime) + int(stime)
        except OSError:
            continue  # the process ended meanwhile
    return ticks


@dataclass(frozen=True, slots=True)
class Sample:
    busy: float
    postgres: dict[str, int]

    @classmethod
    def take(cls, database: str) -> Sample:
        return cls(_busy_seconds(), _postgres_ticks(database))

    def postgres_since(self, start: Sample) -> float:
        """Seconds PostgreSQL spent for us since `start`, per process that still runs."""
        ticks = sum(t - start.postgres.get(pid, 0) for pid, t in self.postgres.items())
        return ticks / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Share:
    """Fractions of all the machine's cores."""

    bench: float
    postgres: float
    other: float

    @classmethod
    def between(cls, start: Sample, end: Sample, bench: float, elapsed: float) -> Share:
        capacity = elapsed * (os.cpu_count() or 1)
        postgres = end.postgres_since(start)
        other = max(0.0, end.busy - start.busy - postgres - bench)
        return cls(bench / capacity, postgres / capacity, other / capacity)

    def __str__(self) -> str:
        return f"{self.bench:.0%}/{self.postgres:.0%}/{self.other:.0%}"
