"""Concurrent writers from two server processes keep every ledger gap-free and its tree
correct, on SQLite and PostgreSQL.

Two separate `jiefang serve --workers 1` processes (no in-process worker) are started on
the test database after the `county` fixture has committed. Fifty writers, alternating
between the two servers, register people in two counties at once; afterwards, on a fresh
session, each ledger's `seq` must run 0..size-1 without a gap or a duplicate, every new
person must be the subject of exactly one `org.person.created` entry in its county's
ledger, a checkpoint must sign, and `verify_ledger` must find nothing wrong.

No timing is asserted: the machine may be busy, so the timeouts are only there so that a
hung server fails the test instead of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import transaction
from app.core.keys import KEY_SPECS
from app.core.settings import Settings
from app.ledger.checkpoints import KEY_CREATED, make_checkpoint, signer, verifiers
from app.ledger.models import Ledger, LedgerEntry
from app.ledger.services import ledgers as all_ledgers
from app.ledger.verify import verify_ledger
from app.org.services import PERSON_CREATED
from tests.integration.conftest import PASSWORD, County

JIEFANG = Path(sys.executable).parent / "jiefang"
STARTUP_SECONDS = 180.0  # two cold starts on a shared two-core machine
STOP_SECONDS = 20.0
REQUEST_SECONDS = 300.0
SERVERS = 2
WRITERS = 50
WRITES_PER_WRITER = 4
NEIGHBOUR_EVERY = 5  # every fifth writer registers people in 邻县 instead


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(settings: Settings, var_dir: Path) -> dict[str, str]:
    """The test's database and keys, and nothing else of ours from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFANG_")}
    env.update(
        {
            "JIEFANG_DATABASE_URL": settings.database_url,
            "JIEFANG_KEYS_DIR": str(settings.keys_dir),
            "JIEFANG_VAR_DIR": str(var_dir),
            "JIEFANG_DEPLOYMENT": settings.deployment,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _launch(settings: Settings, root: Path, name: str) -> Server:
    var_dir = root / name
    var_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = var_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(JIEFANG),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-worker",
            ],
            env=_environment(settings, var_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, process, f"http://127.0.0.1:{port}", log)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def _wait_until_up(servers: list[Server]) -> None:
    waiting = list(servers)
    deadline = time.monotonic() + STARTUP_SECONDS
    while waiting and time.monotonic() < deadline:
        for server in list(waiting):
            if server.process.poll() is not None:
                pytest.fail(
                    f"server {server.name} exited ({server.process.returncode}) while "
                    f"starting:\n{server.output()}"
                )
            if _answers(f"{server.base}/login"):
                waiting.remove(server)
        time.sleep(0.25)
    if waiting:
        logs = "\n".join(f"--- {s.name} ---\n{s.output()}" for s in waiting)
        pytest.fail(f"servers did not answer within {STARTUP_SECONDS:.0f}s:\n{logs}")


@contextlib.contextmanager
def running_servers(settings: Settings, folder: Path) -> Iterator[list[Server]]:
    """SERVERS server processes on the test database, up before the block runs; stopped
    afterwards, with their output printed (pytest shows it when the test failed)."""
    started: list[Server] = []
    try:
        for index in range(SERVERS):
            started.append(_launch(settings, folder, f"server-{index}"))
        _wait_until_up(started)
        yield started
    finally:
        for server in started:
            _stop(server)
        for server in started:
            print(
                f"--- {server.name} pid {server.process.pid} {server.base} "
                f"exit {server.process.returncode} ---\n{server.output()}",
                file=sys.stderr,
            )


@pytest.fixture
def servers(settings: Settings, county: County, tmp_path: Path) -> Iterator[list[Server]]:
    """Two server processes on the test database, started at the same moment (so their
    startup ledger writes race too); stopped, and their output printed, at teardown —
    pytest shows that output when the test failed."""
    with running_servers(settings, tmp_path / "servers") as started:
        yield started


@dataclass(frozen=True)
class Writer:
    index: int
    server: int
    county_id: int
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    writer: int
    server: int
    county_id: int
    status: int
    body: str
    person_id: int | None


async def _token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _write(clients: list[httpx.AsyncClient], writer: Writer) -> list[Outcome]:
    done: list[Outcome] = []
    for step in range(WRITES_PER_WRITER):
        name = f"并发{writer.index:02d}号{step}"
        try:
            response = await clients[writer.server].post(
                "/api/v1/persons",
                headers=writer.headers,
                json={"name": name, "county_id": writer.county_id},
            )
        except httpx.HTTPError as failed:
            done.append(
                Outcome(writer.index, writer.server, writer.county_id, 0, repr(failed), None)
            )
            continue
        created = response.json() if response.status_code == 201 else {}
        person_id = created.get("id")
        if created and (
            created.get("name") != name or created.get("county_id") != writer.county_id
        ):
            person_id = None  # counted as a failure below
        done.append(
            Outcome(
                writer.index,
                writer.server,
                writer.county_id,
                response.status_code,
                response.text,
                person_id,
            )
        )
    return done


async def _ledger_sizes(factory: async_sessionmaker[AsyncSession]) -> dict[int, int]:
    async with factory() as db:
        return {ledger.id: int(ledger.size) for ledger in await all_ledgers(db)}


async def _seqs(db: AsyncSession, ledger_id: int) -> list[int]:
    rows = await db.scalars(
        select(LedgerEntry.seq).where(LedgerEntry.ledger_id == ledger_id).order_by(LedgerEntry.seq)
    )
    return [int(seq) for seq in rows]


async def _county_ledger(db: AsyncSession, county_id: int) -> Ledger:
    ledger = await db.scalar(select(Ledger).where(Ledger.county_id == county_id))
    assert ledger is not None, f"county {county_id} has no ledger"
    return ledger


def _served_person_posts(server: Server) -> int:
    """uvicorn's access log: how many person creations this process answered."""
    return sum(
        1 for line in server.output().splitlines() if '"POST /api/v1/persons HTTP/1.1" 201' in line
    )


async def test_fifty_writers_on_two_servers_keep_every_ledger_gap_free(
    servers: list[Server],
    county: County,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    pids = {s.process.pid for s in servers}
    assert len(pids) == SERVERS
    before = await _ledger_sizes(factory)
    timeout = httpx.Timeout(REQUEST_SECONDS)
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
    clients = [httpx.AsyncClient(base_url=s.base, timeout=timeout, limits=limits) for s in servers]
    try:
        # Tokens from different servers, each used on both: the servers share the keys.
        admin = await _token(clients[0], "admin")
        neighbour = await _token(clients[1 % SERVERS], "neighbour")
        writers = [
            Writer(i, i % SERVERS, county.other_county, neighbour)
            if i % NEIGHBOUR_EVERY == NEIGHBOUR_EVERY - 1
            else Writer(i, i % SERVERS, county.county, admin)
            for i in range(WRITERS)
        ]
        results = await asyncio.gather(*(_write(clients, w) for w in writers))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    outcomes = [o for batch in results for o in batch]

    failed = [o for o in outcomes if o.status != 201 or o.person_id is None]
    assert not failed, f"{len(failed)} of {len(outcomes)} writes failed, e.g.:\n" + "\n".join(
        f"writer {o.writer} on server {o.server}: {o.status} {o.body[:300]}" for o in failed[:10]
    )
    assert all(s.process.poll() is None for s in servers), "a server died during the run"
    for index, server in enumerate(servers):
        sent = sum(1 for o in outcomes if o.server == index)
        assert _served_person_posts(server) == sent, f"{server.name} did not serve its share"

    created: dict[int, list[int]] = {county.county: [], county.other_county: []}
    for o in outcomes:
        assert o.person_id is not None
        created[o.county_id].append(o.person_id)
    all_ids = [pid for ids in created.values() for pid in ids]
    assert len(set(all_ids)) == len(all_ids) == WRITERS * WRITES_PER_WRITER
    assert all(created.values()), "both county ledgers must have been written concurrently"

    async with factory() as db:
        ledgers = await all_ledgers(db)
        assert len(ledgers) == 3  # the admin ledger, 测试县 and 邻县
        for ledger in ledgers:
            seqs = await _seqs(db, ledger.id)
            assert seqs == list(range(ledger.size)), (
                f"{ledger.origin}: size {ledger.size}, seqs not 0..size-1: "
                f"missing {sorted(set(range(ledger.size)) - set(seqs))[:10]}, "
                f"duplicated {[s for s, n in Counter(seqs).items() if n > 1][:10]}"
            )
        for county_id, ids in created.items():
            ledger = await _county_ledger(db, county_id)
            assert ledger.size == before[ledger.id] + len(ids), ledger.origin
            subjects = Counter(
                await db.scalars(
                    select(LedgerEntry.subject_id).where(
                        LedgerEntry.ledger_id == ledger.id, LedgerEntry.action == PERSON_CREATED
                    )
                )
            )
            for person_id in ids:
                assert subjects[str(person_id)] == 1, (ledger.origin, person_id)
            others = [
                pid for cid, pid_list in created.items() if cid != county_id for pid in pid_list
            ]
            assert not any(subjects[str(pid)] for pid in others), f"{ledger.origin}: cross-county"
        # Both servers recorded the keys at startup, at the same moment: each key once.
        key_entries = Counter(
            await db.scalars(
                select(LedgerEntry.subject_id).where(LedgerEntry.action == KEY_CREATED)
            )
        )
        assert len(key_entries) == len(KEY_SPECS), key_entries
        assert set(key_entries.values()) == {1}, key_entries
        total = await db.scalar(select(func.count()).select_from(LedgerEntry))
        assert total == sum(int(ledger.size) for ledger in ledgers)

    now = dt.datetime.now(dt.UTC)
    async with transaction(factory) as db:
        for ledger in await all_ledgers(db):
            signed = await make_checkpoint(db, ledger.id, signer(settings.keys_dir), now)
            assert signed is not None and signed.size == ledger.size, ledger.origin

    async with factory() as db:
        keys = verifiers(settings.keys_dir)
        for ledger in await all_ledgers(db):
            report = await verify_ledger(db, ledger, keys)
            assert report.ok, (ledger.origin, [p.message for p in report.problems])
            assert report.entries == ledger.size
            assert report.checkpoints == 1
