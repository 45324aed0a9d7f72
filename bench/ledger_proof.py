"""Latency of GET /api/v1/ledger/{id}/entries/{seq}/proof on a large ledger.

Serves a data set from `bench.ledger_data` (built on the fly when `--data` is not given)
with `jiefang serve --workers 1`, then asks one keep-alive httpx client for the inclusion
proofs of `--requests` random seqs, one request at a time, after `--warmup` requests that
are not counted. Reports p50 / p95 / p99 (goal: p95 <= 5 ms), and the same percentiles of
GET /api/v1/ledger/key — no database at all — as the floor of HTTP, routing and the client;
and the CPU per proof of the server process, PostgreSQL and the client, which, unlike the
latency, depends much less on how busy a shared machine is.

Every measured proof is then checked, independently of the server: the checkpoint note's
signature (the deployment's verifier key), its origin, size and root (the root the data
set was built with), the leaf hash (recomputed from `entry_of(seq)`), and
`merkle.verify_inclusion`; a proof with one flipped byte must fail.

    .venv/bin/python -m bench.ledger_proof --data /tmp/ledger-1m-sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from app.ledger import merkle
from app.ledger.checkpoints import verifiers
from app.ledger.note import Checkpoint, open_checkpoint
from bench.cpu_share import CLOCK_TICKS, Sample
from bench.ledger_data import (
    JIEFANG,
    DataError,
    Manifest,
    build,
    drop,
    entry_of,
    machine,
    open_data_set,
    undisturbed,
    wait_until_quiet,
)

P95_GOAL_MS = 5.0
STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    pid: int


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class CpuMark:
    """CPU used so far by the server, PostgreSQL for the data set's database, and this client
    — per proof, these grow far less with the load of a shared machine than the latency."""

    server: float
    postgres: float
    client: float

    @classmethod
    def take(cls, server: Server, manifest: Manifest) -> CpuMark:
        database = manifest.pg_database
        postgres = sum(Sample.take(database).postgres.values()) / CLOCK_TICKS if database else 0.0
        return cls(_process_cpu(server.pid), postgres, time.process_time())

    def per_request_ms(self, start: CpuMark, count: int) -> dict[str, float]:
        return {
            part: round((getattr(self, part) - getattr(start, part)) / count * 1000, 3)
            for part in ("server", "postgres", "client")
        }


@contextmanager
def serving(manifest: Manifest, log: Path) -> Iterator[Server]:
    """`jiefang serve --workers 1` on the data set; yields its base URL and process id."""
    port = _free_port()
    command = [str(JIEFANG), "serve", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=manifest.env(), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(f"{base}/api/v1/ledger/key"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise DataError(f"jiefang serve did not come up:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(base, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def percentile(sorted_ms: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(p / 100 * len(sorted_ms) + 0.4999999))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        return cls(
            len(ms),
            percentile(ms, 50),
            percentile(ms, 95),
            percentile(ms, 99),
            sum(ms) / len(ms),
            ms[-1],
        )

    def line(self) -> str:
        return (
            f"p50 {self.p50:.2f} ms, p95 {self.p95:.2f} ms, p99 {self.p99:.2f} ms "
            f"(mean {self.mean:.2f}, max {self.max:.2f}; n = {self.count})"
        )


def timed_gets(client: httpx.Client, paths: Sequence[str]) -> tuple[list[float], list[bytes]]:
    spent, bodies = [], []
    for path in paths:
        began = time.perf_counter()
        response = client.get(path)
        body = response.content
        spent.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise DataError(f"GET {path} answered {response.status_code}: {body[:300]!r}")
        bodies.append(body)
    return spent, bodies


def check_proofs(manifest: Manifest, seqs: Sequence[int], bodies: Sequence[bytes]) -> int:
    """Check every proof against data the server did not provide; return how many."""
    keys = verifiers(manifest.keys_dir)
    root = bytes.fromhex(manifest.root)
    opened: dict[str, Checkpoint] = {}
    for seq, body in zip(seqs, bodies, strict=True):
        proof: dict[str, Any] = json.loads(body)
        note = proof["checkpoint"]
        if note not in opened:
            opened[note] = open_checkpoint(note, keys, manifest.origin)
        signed = opened[note]
        size, path = proof["tree_size"], [bytes.fromhex(h) for h in proof["inclusion_path"]]
        leaf_hash = merkle.leaf_hash(entry_of(seq, manifest.county_id).leaf())
        if (proof["index"], size, signed.size) != (seq, manifest.entries, manifest.entries):
            raise DataError(f"proof of {seq}: wrong index or size {proof['index']}, {size}")
        if signed.root != root or bytes.fromhex(proof["root"]) != root:
            raise DataError(f"proof of {seq}: the root is not the data set's signed root")
        if bytes.fromhex(proof["leaf_hash"]) != leaf_hash:
            raise DataError(f"proof of {seq}: the leaf hash is not that of entry {seq}")
        if not merkle.verify_inclusion(seq, size, leaf_hash, path, root):
            raise DataError(f"proof of {seq} does not verify")
        if path:
            bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
            if merkle.verify_inclusion(seq, size, leaf_hash, bad, root):
                raise DataError(f"a tampered proof of {seq} verifies: the check is vacuous")
    return len(bodies)


@dataclass
class Result:
    data: str
    db: str
    entries: int
    proof: Latency
    floor: Latency
    verified: int
    #: CPU ms per proof request: the server process, PostgreSQL (0 on SQLite), the client.
    cpu_ms: dict[str, float]
    machine_before: dict[str, str]
    machine_after: dict[str, str]


def measure(manifest: Manifest, requests: int, warmup: int, seed: int) -> Result:
    rng = random.Random(seed)
    base_path = f"/api/v1/ledger/{manifest.ledger_id}/entries"
    warm = [f"{base_path}/{rng.randrange(manifest.entries)}/proof" for _ in range(warmup)]
    seqs = [rng.randrange(manifest.entries) for _ in range(requests)]
    log = Path(manifest.out) / f"serve-proof-{int(time.time())}.log"
    wait_until_quiet()
    with (
        serving(manifest, log) as server,
        httpx.Client(base_url=server.base, timeout=30) as client,
    ):

        def run() -> tuple[dict[str, str], list[float], list[bytes], list[float], dict[str, Any]]:
            before = machine(manifest)
            timed_gets(client, warm)
            start = CpuMark.take(server, manifest)
            spent, bodies = timed_gets(client, [f"{base_path}/{s}/proof" for s in seqs])
            cpu = CpuMark.take(server, manifest).per_request_ms(start, len(seqs))
            floor, _ = timed_gets(client, ["/api/v1/ledger/key"] * max(1, requests // 4))
            return before, spent, bodies, floor, {"cpu": cpu, "after": machine(manifest)}

        before, spent, bodies, floor, after = undisturbed(run)
    verified = check_proofs(manifest, seqs, bodies)
    return Result(
        manifest.out,
        manifest.db,
        manifest.entries,
        Latency.of(spent),
        Latency.of(floor),
        verified,
        after["cpu"],
        before,
        after["after"],
    )


def report(result: Result) -> str:
    verdict = "met" if result.proof.p95 <= P95_GOAL_MS else "NOT met"
    return "\n".join(
        [
            f"{result.entries:,} entries on {result.db} ({result.data}):",
            f"  GET …/entries/{{seq}}/proof  {result.proof.line()}",
            f"  GET /api/v1/ledger/key       {result.floor.line()}",
            "  CPU ms per proof: "
            + ", ".join(f"{part} {ms:.2f}" for part, ms in result.cpu_ms.items()),
            f"  p95 goal <= {P95_GOAL_MS:g} ms: {verdict}; "
            f"{result.verified} proofs checked (signature, root, leaf hash, path)",
            f"  app commit: {result.machine_before['commit']}",
            f"  load before: {result.machine_before['uptime']}",
            f"  load after:  {result.machine_after['uptime']}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a data set built by bench.ledger_data")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--keep", action="store_true", help="keep a data set built here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    built = args.data is None
    data = args.data or Path(tempfile.mkdtemp(prefix=f"ledger-proof-{args.db}-", dir="/tmp"))
    try:
        manifest = build(args.db, args.entries, data) if built else open_data_set(data)
        result = measure(manifest, args.requests, args.warmup, args.seed)
    finally:
        if built and not args.keep and (data / "dataset.json").is_file():
            drop(data)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
