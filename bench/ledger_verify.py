"""How long `jiefang ledger verify` takes on a large ledger, against a bare hashing loop.

On a data set from `bench.ledger_data` (built on the fly when `--data` is not given):

* `jiefang ledger verify --ledger bench/330000 --timings`, run `--runs` times as a
  subprocess: the median wall time and the medians of the printed read / hash_tree /
  reencode times (each must exit 0);
* the bare loop over the same stored leaves, loaded in memory: `sha256(leaf).digest()` for
  every leaf plus one 65-byte input per internal node (N - 1 of them) — the least any
  implementation in CPython's hashlib can spend; goal: hash_tree / bare loop <= 2;
* `Rebuild().add(leaves)` alone, in this process, over the same leaves: the tree rebuild
  without the database, the row loop or the leaf-hash comparison (and `Rebuild().extend`,
  the variant `verify` calls);
* once (`--cpu-runs`), the same `ledger verify --timings` command run inside this process
  with its phase timers reading thread CPU time, which the machine's other load inflates
  far less than wall time. The subprocess's own CPU time is reported too.

CLI run, bare loop and rebuilds are interleaved round by round, and a round is measured
again if another benchmark (`bench.ledger_append…`) started while it ran.

    .venv/bin/python -m bench.ledger_data --db sqlite --entries 1000000 --out /tmp/ledger-1m-sqlite
    .venv/bin/python -m bench.ledger_verify --data /tmp/ledger-1m-sqlite
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from app.ledger import verify as app_verify
from app.ledger.audit import Rebuild
from app.ledger.cli import ledger_group
from app.models import import_all_models
from bench.ledger_data import (
    JIEFANG,
    DataError,
    Manifest,
    build,
    drop,
    load_leaves,
    machine,
    median,
    open_data_set,
    undisturbed,
    wait_until_quiet,
)

RATIO_GOAL = 2.0
PHASES = ("read", "hash_tree", "reencode")
_TIMING = re.compile(r"\b(read|hash_tree|reencode) ([0-9.]+)s")


@dataclass(frozen=True, slots=True)
class CliRun:
    wall: float
    cpu: float  # user + system seconds of the subprocess (all its threads)
    read: float
    hash_tree: float
    reencode: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(manifest: Manifest) -> CliRun:
    """One `jiefang ledger verify --timings` of the bench ledger; it must pass."""
    command = [str(JIEFANG), "ledger", "verify", "--ledger", manifest.origin, "--timings"]
    cpu = _children_cpu()
    began = time.perf_counter()
    done = subprocess.run(command, env=manifest.env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    cpu = _children_cpu() - cpu
    if done.returncode != 0:
        raise DataError(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    found = _timings(done.stdout + done.stderr, manifest, " ".join(command))
    return CliRun(wall, cpu, *(found[p] for p in PHASES))


def _timings(printed: str, manifest: Manifest, what: str) -> dict[str, float]:
    """The phase times a passing `verify --timings` printed (its rich console: stderr)."""
    found = dict(_TIMING.findall(printed))
    if set(found) != set(PHASES) or f"{manifest.entries} 条记录" not in printed:
        raise DataError(f"unexpected output of {what}:\n{printed}")
    return {p: float(found[p]) for p in PHASES}


@dataclass(frozen=True, slots=True)
class Timed:
    wall: float
    cpu: float  # this process's CPU seconds: the loops are single-threaded


@contextmanager
def timed(into: list[Timed]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Timed(time.perf_counter() - wall, time.process_time() - cpu))


def bare_loop(leaves: Sequence[bytes], into: list[Timed]) -> None:
    """sha256 of every stored leaf, then of one 65-byte node input N - 1 times."""
    digest = sha256
    node = b"\x01" + bytes(64)
    with timed(into):
        for leaf in leaves:
            digest(leaf).digest()
        for _ in range(len(leaves) - 1):
            digest(node).digest()


def rebuild_alone(leaves: list[bytes], root: str, into: list[Timed]) -> None:
    """`Rebuild().add`: finished nodes keyed by (level, index)."""
    with timed(into):
        rebuild = Rebuild()
        rebuild.add(leaves)
    if rebuild.root().hex() != root:
        raise DataError("Rebuild over the stored leaves does not give the data set's root")


def extend_alone(leaves: list[bytes], root: str, into: list[Timed]) -> None:
    """`Rebuild().extend`, what `verify` calls: finished nodes as runs per level."""
    with timed(into):
        rebuild = Rebuild()
        rebuild.extend(leaves)
    if rebuild.root().hex() != root:
        raise DataError("Rebuild over the stored leaves does not give the data set's root")


class _ThreadCpuClock:
    """Stands in for the `time` module inside app.ledger.verify: its phase timers then
    count the CPU time of the thread running them, which other processes cannot inflate.
    (With aiosqlite the queries run on another thread, so `read` is undercounted there.)"""

    perf_counter = staticmethod(time.thread_time)


def in_process_cpu(manifest: Manifest) -> dict[str, float]:
    """The `jiefang ledger verify --timings` command itself, run in this process with its
    phase timers reading thread CPU time; its own settings (the cycle collector, …) apply."""
    import_all_models()
    saved_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(manifest.env())
    namespace = vars(app_verify)
    real_time = namespace["time"]
    namespace["time"] = _ThreadCpuClock
    printed = io.StringIO()
    try:
        with redirect_stdout(printed), redirect_stderr(printed):
            ledger_group.main(
                ["verify", "--ledger", manifest.origin, "--timings"], standalone_mode=False
            )
    except SystemExit as exited:
        if exited.code:
            raise DataError(f"in-process verify failed:\n{printed.getvalue()}") from exited
    finally:
        namespace["time"] = real_time
        os.environ.clear()
        os.environ.update(saved_env)
    return _timings(printed.getvalue(), manifest, "in-process verify")


@dataclass
class Result:
    data: str
    db: str
    entries: int
    runs: list[CliRun]
    bare: list[Timed]
    rebuild: list[Timed]
    extend: list[Timed]
    cpu_phases: list[dict[str, float]]
    machine_before: dict[str, str]
    machine_after: dict[str, str]

    def medians(self) -> dict[str, float]:
        out = {"wall": median([r.wall for r in self.runs])}
        out["cli_cpu"] = median([r.cpu for r in self.runs])
        out.update({p: median([getattr(r, p) for r in self.runs]) for p in PHASES})
        out["bare_loop"] = median([t.wall for t in self.bare])
        out["bare_loop_cpu"] = median([t.cpu for t in self.bare])
        out["rebuild_alone"] = median([t.wall for t in self.rebuild])
        out["rebuild_alone_cpu"] = median([t.cpu for t in self.rebuild])
        out["ratio"] = out["hash_tree"] / out["bare_loop"]
        out["rebuild_ratio"] = out["rebuild_alone"] / out["bare_loop"]
        out["rebuild_ratio_cpu"] = out["rebuild_alone_cpu"] / out["bare_loop_cpu"]
        out["extend_alone"] = median([t.wall for t in self.extend])
        out["extend_alone_cpu"] = median([t.cpu for t in self.extend])
        out["extend_ratio_cpu"] = out["extend_alone_cpu"] / out["bare_loop_cpu"]
        if self.cpu_phases:
            for p in PHASES:
                out[f"{p}_cpu"] = median([c[p] for c in self.cpu_phases])
            out["ratio_cpu"] = out["hash_tree_cpu"] / out["bare_loop_cpu"]
        return out


def measure(manifest: Manifest, runs: int, cpu_runs: int) -> Result:
    """Interleaved: each round runs the CLI, the bare loop and Rebuild alone, so a change
    of load during the benchmark touches all three alike."""
    leaves = load_leaves(manifest)
    if len(leaves) != manifest.entries:
        raise DataError(f"loaded {len(leaves)} leaves, expected {manifest.entries}")
    wait_until_quiet()
    before = machine(manifest)
    cli: list[CliRun] = []
    bare: list[Timed] = []
    rebuilt: list[Timed] = []
    extended: list[Timed] = []
    for n in range(runs):

        def one_round() -> tuple[CliRun, Timed, Timed, Timed]:
            times: list[Timed] = []
            run = run_cli(manifest)
            bare_loop(leaves, times)
            rebuild_alone(leaves, manifest.root, times)
            extend_alone(leaves, manifest.root, times)
            return run, times[0], times[1], times[2]

        run, loop, rebuild, extend = undisturbed(one_round)
        cli.append(run)
        bare.append(loop)
        rebuilt.append(rebuild)
        extended.append(extend)
        print(
            f"  round {n + 1}: {run}, bare {loop}, add {rebuild}, extend {extend}",
            file=sys.stderr,
            flush=True,
        )
    leaves.clear()  # free them before the in-process runs
    phases = []
    for _ in range(cpu_runs):
        phases.append(undisturbed(lambda: in_process_cpu(manifest)))
        print(f"  in-process CPU phases: {phases[-1]}", file=sys.stderr, flush=True)
    after = machine(manifest)
    return Result(
        manifest.out,
        manifest.db,
        manifest.entries,
        cli,
        bare,
        rebuilt,
        extended,
        phases,
        before,
        after,
    )


def report(result: Result) -> str:
    m = result.medians()
    verdict = "met" if m["ratio"] <= RATIO_GOAL else "NOT met"
    lines = [
        f"{result.entries:,} entries on {result.db} ({result.data}), "
        f"{len(result.runs)} runs, medians (wall clock):",
        f"  jiefang ledger verify        {m['wall']:8.2f} s   (CPU {m['cli_cpu']:.2f} s)",
        f"    read                       {m['read']:8.2f} s",
        f"    hash_tree                  {m['hash_tree']:8.2f} s",
        f"    reencode                   {m['reencode']:8.2f} s",
        f"  bare sha256 loop (2N-1)      {m['bare_loop']:8.2f} s   (CPU {m['bare_loop_cpu']:.2f} s)",
        f"  Rebuild().add alone          {m['rebuild_alone']:8.2f} s   "
        f"(CPU {m['rebuild_alone_cpu']:.2f} s; {m['rebuild_ratio_cpu']:.2f}x bare in CPU)",
        f"  Rebuild().extend alone       {m['extend_alone']:8.2f} s   "
        f"(CPU {m['extend_alone_cpu']:.2f} s; {m['extend_ratio_cpu']:.2f}x bare in CPU)",
        f"  hash_tree / bare loop        {m['ratio']:8.2f} x   (goal <= {RATIO_GOAL:g}x: {verdict})",
    ]
    if "ratio_cpu" in m:
        lines += [
            f"  in-process `ledger verify`, thread CPU ({len(result.cpu_phases)} run(s)):",
            f"    read {m['read_cpu']:.2f} s, hash_tree {m['hash_tree_cpu']:.2f} s, "
            f"reencode {m['reencode_cpu']:.2f} s; hash_tree / bare loop in CPU "
            f"{m['ratio_cpu']:.2f}x",
        ]
    lines += [
        f"  app commit: {result.machine_before['commit']}",
        f"  load before: {result.machine_before['uptime']}",
        f"  load after:  {result.machine_after['uptime']}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a data set built by bench.ledger_data")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cpu-runs", type=int, default=1, help="in-process verify runs timed in CPU time"
    )
    parser.add_argument("--keep", action="store_true", help="keep a data set built here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    built = args.data is None
    data = args.data or Path(tempfile.mkdtemp(prefix=f"ledger-verify-{args.db}-", dir="/tmp"))
    try:
        manifest = build(args.db, args.entries, data) if built else open_data_set(data)
        result = measure(manifest, args.runs, args.cpu_runs)
    finally:
        if built and not args.keep and (data / "dataset.json").is_file():
            drop(data)
    print(report(result))
    if args.json:
        record: dict[str, Any] = asdict(result)
        record["medians"] = result.medians()
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
