"""What the roster benchmarks share: the instance arguments, the machine, the table."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from statistics import median

import msgspec

from app.scheduling.schemas import Instance, Result
from bench.roster.generate import SEED, YEAR, county_year, summary

SOLVER_SEED = 1
WORKERS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instance", type=Path, help="a JSON instance (else one is generated)")
    parser.add_argument("--year", type=int, default=YEAR, help="generated instance's year")
    parser.add_argument("--seed", type=int, default=SEED, help="generated instance's seed")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--solver-seed", type=int, default=SOLVER_SEED, help="CP-SAT's seed")
    parser.add_argument("--workers", type=int, default=WORKERS)


def build_instance(args: argparse.Namespace) -> tuple[Instance, float]:
    """The instance and the seconds it took to read and decode it, or to generate it."""
    started = time.perf_counter()
    if args.instance is not None:
        instance = msgspec.json.decode(args.instance.read_bytes(), type=Instance)
    else:
        instance = county_year(args.year, args.seed)
    return instance, time.perf_counter() - started


def describe(instance: Instance, args: argparse.Namespace) -> str:
    origin = args.instance or f"bench.roster.generate --year {args.year} --seed {args.seed}"
    return f"instance: {origin}\n  {summary(instance, msgspec.json.encode(instance))}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    return "\n".join(
        [
            f"machine: {os.cpu_count()} CPUs, {platform.processor() or _cpu_model() or '?'}",
            f"  {platform.platform()}, {load()}",
            f"  Python {platform.python_version()}, ortools {version('ortools')}, "
            f"msgspec {version('msgspec')}",
        ]
    )


def median_of(values: Sequence[float | int | None]) -> float | None:
    """The median of the values that are there (an objective is None without a solution)."""
    present = [v for v in values if v is not None]
    return median(present) if present else None


def number(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def statuses(results: Sequence[Result]) -> str:
    counts = Counter(result.status.value for result in results)
    return " ".join(f"{status}×{n}" for status, n in counts.items())


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, numbers right-aligned, to paste into bench/README.md."""
    align = ["---" if i == 0 or header[i] == "status" else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
