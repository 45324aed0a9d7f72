"""A large county ledger written in bulk, for the verify and proof benchmarks.

`build` makes a fresh deployment named "bench" in a directory of its own: keys
(`init_keys`), a migrated database with the administration ledger bootstrapped as
`jiefang db upgrade` does, one county unit (code 330000) and its ledger `bench/330000`,
then N entries written straight into the tables — sqlite3 `executemany` in large
transactions, or asyncpg `COPY` on PostgreSQL (the append-only triggers refuse UPDATE,
DELETE and TRUNCATE; COPY is an insert) — with exactly the columns `ledger.append` writes:

* a real declared action, `org.person.created`, payload {"county": <unit id>}, subject
  ("person", seq + 1), actor {"kind": "system", "job": "bench"};
* `recorded_at` as `UTCDateTime` stores it (naive UTC text on SQLite, timestamptz on
  PostgreSQL), actor and payload as the JSON the app's engine writes;
* `leaf` = `Entry.leaf()` (RFC 8785), `leaf_hash`, every complete node of level >= 1
  reported by `audit.Rebuild`, a signed checkpoint every 100,000 entries and at the end,
  and the ledger head's `size` and `frontier`.

Entry `seq` is a pure function of `seq` (`entry_of`), so a benchmark can recompute any
leaf without asking the server. The build ends with `jiefang ledger verify`, which must
exit 0. A `dataset.json` manifest in the directory tells the benchmarks how to use it.

    .venv/bin/python -m bench.ledger_data --db sqlite --entries 1000000 --out /tmp/ledger-1m-sqlite
    .venv/bin/python -m bench.ledger_data --drop /tmp/ledger-1m-sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import create_engine, session_factory, transaction
from app.core.keys import init_keys
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.ledger import merkle
from app.ledger import services as ledger_services
from app.ledger.audit import Rebuild
from app.ledger.bootstrap import bootstrap_ledgers
from app.ledger.checkpoints import signer
from app.ledger.models import Ledger
from app.ledger.note import Checkpoint, sign_checkpoint
from app.ledger.rules import ACTIONS, Entry, origin_of, system_actor
from app.models import import_all_models
from app.org.models import Unit
from app.org.rules import UnitKind
from app.org.services import LEDGER_OPENED, PERSON_CREATED

Db = Literal["sqlite", "postgresql"]

DEPLOYMENT = "bench"
COUNTY_CODE = "330000"
ORIGIN = origin_of(DEPLOYMENT, COUNTY_CODE)  # "bench/330000"
ACTOR: dict[str, Any] = system_actor("bench")
ACTION = PERSON_CREATED  # "org.person.created", declared by app.org.services
SUBJECT_TYPE = "person"
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(microseconds=1_234_567)  # ~14 days over a million entries
CHECKPOINT_EVERY = 100_000
BATCH = 50_000  # entries per transaction; divides CHECKPOINT_EVERY
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
MANIFEST = "dataset.json"
JIEFANG = Path(sys.executable).parent / "jiefang"
QUIET_PATTERN = "bench.ledger_append"

_ENTRY_COLUMNS = (
    "ledger_id",
    "seq",
    "recorded_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "payload",
    "leaf",
    "leaf_hash",
)
_NODE_COLUMNS = ("ledger_id", "level", "idx", "hash")


class DataError(RuntimeError):
    """The data set could not be built or does not verify: nothing measured on it counts."""


# ---------------------------------------------------------------- the entries


def recorded_at(seq: int) -> dt.datetime:
    return BASE_TIME + seq * STEP


def entry_of(seq: int, county_id: int) -> Entry:
    """Entry `seq` of the bench ledger: a pure function of `seq` and the county id."""
    return Entry(
        ORIGIN,
        seq,
        recorded_at(seq),
        ACTOR,
        ACTION,
        SUBJECT_TYPE,
        str(seq + 1),
        {"county": county_id},
    )


def sqlite_datetime(moment: dt.datetime) -> str:
    """What `UTCDateTime` stores on SQLite: naive UTC in SQLAlchemy's DATETIME text format."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def app_json(value: Any) -> str:
    """The JSON text SQLAlchemy's JSON type writes on SQLite (and `_write_pg` sends to PG)."""
    return json.dumps(value)


# ---------------------------------------------------------------- the manifest


@dataclass
class Manifest:
    db: Db
    entries: int
    out: str
    database_url: str
    pg_database: str | None
    deployment: str
    origin: str
    ledger_id: int
    county_id: int
    root: str  # hex of the final tree root
    checkpoints: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def var_dir(self) -> Path:
        return Path(self.out) / "var"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"

    def env(self) -> dict[str, str]:
        """The environment `jiefang` needs to run on this data set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFANG_")}
        env.update(
            {
                "JIEFANG_VAR_DIR": str(self.var_dir),
                "JIEFANG_DATABASE_URL": self.database_url,
                "JIEFANG_KEYS_DIR": str(self.keys_dir),
                "JIEFANG_DEPLOYMENT": self.deployment,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def save(self) -> None:
        (Path(self.out) / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, out: Path) -> Manifest:
        path = out / MANIFEST
        if not path.is_file():
            raise DataError(f"{path} is missing: build the data set with bench.ledger_data")
        return cls(**json.loads(path.read_text()))


def settings_of(out: Path, database_url: str) -> Settings:
    var = out / "var"
    return Settings(
        var_dir=var, database_url=database_url, keys_dir=var / "keys", deployment=DEPLOYMENT
    )


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


# ---------------------------------------------------------------- bulk writers


class Writer(Protocol):
    async def entries(self, rows: list[tuple[Any, ...]]) -> None: ...
    async def nodes(self, rows: list[tuple[int, int, int, bytes]]) -> None: ...
    async def checkpoint(self, size: int, root: bytes, note: str, at: dt.datetime) -> None: ...
    async def head(self, size: int, frontier: bytes) -> None: ...
    async def close(self) -> None: ...


class SqliteWriter:
    """sqlite3 `executemany`, one transaction per batch (entries, their nodes, checkpoint)."""

    def __init__(self, path: Path, ledger_id: int) -> None:
        self.ledger_id = ledger_id
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = OFF")  # the build only; the app sets NORMAL
        self.conn.execute("BEGIN")

    def _commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    async def entries(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            f"INSERT INTO ledger_entries ({', '.join(_ENTRY_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_ENTRY_COLUMNS))})",
            [
                (lid, seq, sqlite_datetime(at), app_json(actor), act, st, si, app_json(pl), lf, lh)
                for lid, seq, at, actor, act, st, si, pl, lf, lh in rows
            ],
        )

    async def nodes(self, rows: list[tuple[int, int, int, bytes]]) -> None:
        self.conn.executemany(
            "INSERT INTO ledger_nodes (ledger_id, level, idx, hash) VALUES (?, ?, ?, ?)", rows
        )
        self._commit()

    async def checkpoint(self, size: int, root: bytes, note: str, at: dt.datetime) -> None:
        self.conn.execute(
            "INSERT INTO ledger_checkpoints (ledger_id, size, root, note, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (self.ledger_id, size, root, note, sqlite_datetime(at)),
        )
        self._commit()

    async def head(self, size: int, frontier: bytes) -> None:
        self.conn.execute(
            "UPDATE ledgers SET size = ?, frontier = ? WHERE id = ?",
            (size, frontier, self.ledger_id),
        )
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        self.conn.close()


class PgWriter:
    """asyncpg `copy_records_to_table`, one transaction per batch."""

    def __init__(self, conn: Any, ledger_id: int) -> None:
        self.conn = conn
        self.ledger_id = ledger_id
        self.tx: Any = None

    @classmethod
    async def open(cls, database: str, ledger_id: int) -> PgWriter:
        writer = cls(await asyncpg.connect(pg_dsn(database)), ledger_id)
        await writer._begin()
        return writer

    async def _begin(self) -> None:
        self.tx = self.conn.transaction()
        await self.tx.start()

    async def _commit(self) -> None:
        await self.tx.commit()
        await self._begin()

    async def entries(self, rows: list[tuple[Any, ...]]) -> None:
        records = [
            (lid, seq, at, app_json(actor), action, stype, sid, app_json(payload), leaf, lh)
            for lid, seq, at, actor, action, stype, sid, payload, leaf, lh in rows
        ]
        await self.conn.copy_records_to_table(
            "ledger_entries", records=records, columns=list(_ENTRY_COLUMNS)
        )

    async def nodes(self, rows: list[tuple[int, int, int, bytes]]) -> None:
        await self.conn.copy_records_to_table(
            "ledger_nodes", records=rows, columns=list(_NODE_COLUMNS)
        )
        await self._commit()

    async def checkpoint(self, size: int, root: bytes, note: str, at: dt.datetime) -> None:
        await self.conn.execute(
            "INSERT INTO ledger_checkpoints (ledger_id, size, root, note, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            self.ledger_id,
            size,
            root,
            note,
            at,
        )
        await self._commit()

    async def head(self, size: int, frontier: bytes) -> None:
        await self.conn.execute(
            "UPDATE ledgers SET size = $1, frontier = $2 WHERE id = $3",
            size,
            frontier,
            self.ledger_id,
        )
        await self.tx.commit()
        self.tx = None
        # A long-lived database has been vacuumed and analysed by autovacuum; a fresh
        # COPY has neither statistics nor a visibility map yet.
        for table in ("ledger_entries", "ledger_nodes", "ledger_checkpoints", "ledgers"):
            await self.conn.execute(f"VACUUM (ANALYZE) {table}")

    async def close(self) -> None:
        if self.tx is not None:
            await self.tx.rollback()
        await self.conn.close()


# ---------------------------------------------------------------- the build


async def _county_and_ledger(settings: Settings, now: dt.datetime) -> tuple[int, int]:
    """The county unit and its ledger, recorded in the admin ledger as `create_unit` does."""
    engine = create_engine(settings, pool=False)
    try:
        factory = session_factory(engine)
        await bootstrap_ledgers(factory, settings, now)  # what `jiefang db upgrade` does
        async with transaction(factory) as db:
            return await _insert_county(db, now)
    finally:
        await engine.dispose()


async def _insert_county(db: AsyncSession, now: dt.datetime) -> tuple[int, int]:
    unit = Unit(
        kind=UnitKind.county.value, code=COUNTY_CODE, name="基准县", created_at=now, updated_at=now
    )
    db.add(unit)
    await db.flush()
    unit.path, unit.county_id = f"/{unit.id}/", unit.id
    opened = Ledger(origin=ORIGIN, county_id=unit.id, size=0, frontier=b"", created_at=now)
    db.add(opened)
    await db.flush()
    await ledger_services.append(
        db,
        county=None,
        actor=ACTOR,
        action=LEDGER_OPENED,
        subject=("ledger", opened.id),
        payload={"origin": ORIGIN, "county": unit.id},
        at=now,
    )
    return unit.id, opened.id


async def _fill(
    writer: Writer,
    entries: int,
    county_id: int,
    ledger_id: int,
    key_dir: Path,
) -> tuple[bytes, list[int]]:
    """Write every entry, node and checkpoint; return the final root and checkpoint sizes."""
    key = signer(key_dir)
    rebuild = Rebuild()
    made: list[int] = []
    for start in range(0, entries, BATCH):
        stop = min(entries, start + BATCH)
        batch = [entry_of(seq, county_id) for seq in range(start, stop)]
        leaves = [e.leaf() for e in batch]
        hashes, done = rebuild.add(leaves)
        await writer.entries(
            [
                (
                    ledger_id,
                    e.seq,
                    e.recorded_at,
                    e.actor,
                    e.action,
                    e.subject_type,
                    e.subject_id,
                    e.payload,
                    leaf,
                    lh,
                )
                for e, leaf, lh in zip(batch, leaves, hashes, strict=True)
            ]
        )
        await writer.nodes([(ledger_id, lv, ix, h) for (lv, ix), h in done.items()])
        if stop % CHECKPOINT_EVERY == 0 or stop == entries:
            root = rebuild.root()
            note = sign_checkpoint(key, Checkpoint(ORIGIN, stop, root))
            await writer.checkpoint(
                stop, root, note, recorded_at(stop - 1) + dt.timedelta(seconds=1)
            )
            made.append(stop)
        print(f"  {stop:>10,} entries written", file=sys.stderr, flush=True)
    await writer.head(rebuild.size, rebuild.frontier())
    return rebuild.root(), made


async def _create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _fill_database(
    pg_database: str | None,
    sqlite_path: Path,
    entries: int,
    county_id: int,
    ledger_id: int,
    keys_dir: Path,
) -> tuple[bytes, list[int]]:
    writer: Writer
    if pg_database is not None:
        writer = await PgWriter.open(pg_database, ledger_id)
    else:
        writer = SqliteWriter(sqlite_path, ledger_id)
    try:
        return await _fill(writer, entries, county_id, ledger_id, keys_dir)
    finally:
        await writer.close()


def build(db: Db, entries: int, out: Path) -> Manifest:
    if entries < 1:
        raise DataError("--entries must be at least 1")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists and is not empty")
    if ACTION not in ACTIONS:
        raise DataError(f"{ACTION} is not a declared ledger action")
    out = out.resolve()
    sqlite_path = out / "var" / "jiefang.db"
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    pg_database = None
    if db == "postgresql":
        pg_database = f"bench_verify_{os.getpid()}"
        asyncio.run(_create_pg_database(pg_database))
        url = pg_url(pg_database)
    else:
        url = f"sqlite+aiosqlite:///{sqlite_path}"
    settings = settings_of(out, url)
    init_keys(settings.keys_dir, DEPLOYMENT)
    import_all_models()
    upgrade(url)
    county_id, ledger_id = asyncio.run(_county_and_ledger(settings, dt.datetime.now(dt.UTC)))
    timings["setup"] = time.perf_counter() - began

    began = time.perf_counter()
    root, made = asyncio.run(
        _fill_database(pg_database, sqlite_path, entries, county_id, ledger_id, settings.keys_dir)
    )
    timings["fill"] = time.perf_counter() - began
    manifest = Manifest(
        db,
        entries,
        str(out),
        url,
        pg_database,
        DEPLOYMENT,
        ORIGIN,
        ledger_id,
        county_id,
        root.hex(),
        made,
        timings,
    )
    manifest.save()
    began = time.perf_counter()
    check_verifies(manifest)
    timings["verify"] = time.perf_counter() - began
    manifest.save()
    return manifest


def check_verifies(manifest: Manifest) -> None:
    """`jiefang ledger verify` over every ledger of the deployment must exit 0."""
    done = subprocess.run(
        [str(JIEFANG), "ledger", "verify"],
        env=manifest.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stderr.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise DataError(f"jiefang ledger verify exited {done.returncode} on {manifest.out}")


def drop(out: Path) -> None:
    manifest = Manifest.load(out)
    if manifest.pg_database:
        asyncio.run(drop_pg_database(manifest.pg_database))
    shutil.rmtree(manifest.out)


def copy_analyzed(source: Path, out: Path) -> Manifest:
    """A copy of a SQLite data set with planner statistics (`ANALYZE`), which the app never
    gathers: to show what the statistics change, without touching the original."""
    manifest = Manifest.load(source)
    if manifest.pg_database is not None:
        raise DataError("--analyzed-copy is for SQLite data sets (PG ones are analysed)")
    if out.exists():
        raise DataError(f"{out} exists")
    out = out.resolve()
    shutil.copytree(manifest.out, out)
    manifest.out = str(out)
    manifest.database_url = f"sqlite+aiosqlite:///{manifest.var_dir / 'jiefang.db'}"
    conn = sqlite3.connect(manifest.var_dir / "jiefang.db")
    try:
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    manifest.save()
    return manifest


# ---------------------------------------------------------------- shared by the benchmarks


def open_data_set(out: Path) -> Manifest:
    """Load a data set and bring its schema to the app's current migration head (a no-op
    unless the app gained a migration since the build): what a deployment would run."""
    manifest = Manifest.load(out)
    upgrade(manifest.database_url)
    return manifest


def load_leaves(manifest: Manifest) -> list[bytes]:
    """The stored leaf bytes of the bench ledger, in seq order."""
    if manifest.pg_database is None:
        conn = sqlite3.connect(manifest.var_dir / "jiefang.db")
        try:
            rows = conn.execute(
                "SELECT leaf FROM ledger_entries WHERE ledger_id = ? ORDER BY seq",
                (manifest.ledger_id,),
            )
            return [bytes(r[0]) for r in rows]
        finally:
            conn.close()

    async def fetch(database: str) -> list[bytes]:
        conn = await asyncpg.connect(pg_dsn(database))
        try:
            rows = await conn.fetch(
                "SELECT leaf FROM ledger_entries WHERE ledger_id = $1 ORDER BY seq",
                manifest.ledger_id,
            )
            return [bytes(r[0]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch(manifest.pg_database))


def leaf_hash_of(seq: int, county_id: int) -> bytes:
    return merkle.leaf_hash(entry_of(seq, county_id).leaf())


def _other_benchmark_runs(pattern: str = QUIET_PATTERN) -> bool:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False)
    return bool(found.stdout)


def wait_until_quiet(pattern: str = QUIET_PATTERN, poll: float = 5.0) -> None:
    """Block while another benchmark runs, so the 2-core machine is not shared."""
    announced = False
    while _other_benchmark_runs(pattern):
        if not announced:
            print(f"waiting for `{pattern}` to finish …", file=sys.stderr, flush=True)
            announced = True
        time.sleep(poll)


T = TypeVar("T")
MAX_ATTEMPTS = 10


def _watch(stop: threading.Event, seen: threading.Event, poll: float) -> None:
    while not stop.wait(poll):
        if _other_benchmark_runs():
            seen.set()


def undisturbed(measure: Callable[[], T], poll: float = 1.0) -> T:
    """Run `measure` once the machine is quiet; run it again if another benchmark started
    while it ran (watched from a thread every `poll` seconds), so no figure is shared."""
    for _ in range(MAX_ATTEMPTS):
        wait_until_quiet()
        stop, seen = threading.Event(), threading.Event()
        watcher = threading.Thread(target=_watch, args=(stop, seen, poll), daemon=True)
        watcher.start()
        try:
            result = measure()
        finally:
            stop.set()
            watcher.join()
        if not seen.is_set():
            return result
        print("another benchmark started meanwhile: measuring again", file=sys.stderr)
    raise DataError(f"no undisturbed measurement in {MAX_ATTEMPTS} attempts")


def _run(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def app_commit() -> str:
    """The commit the app code was at, "+dirty" when app/ has uncommitted changes."""
    repo = str(Path(__file__).resolve().parent.parent)
    head = _run("git", "-C", repo, "rev-parse", "--short", "HEAD")
    dirty = _run("git", "-C", repo, "status", "--porcelain", "--", "app")
    return head + ("+dirty" if dirty else "")


def machine(manifest: Manifest | None = None) -> dict[str, str]:
    """What the figures were taken on, and how busy it was."""
    model = re.search(r"Model name:\s*(.+)", _run("lscpu"))
    facts = {
        "nproc": _run("nproc"),
        "cpu": model.group(1).strip() if model else "?",
        "memory": " ".join(_run("free", "-g").splitlines()[1].split()[:2]),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "uptime": _run("uptime"),
        "commit": app_commit(),
    }
    if manifest is not None and manifest.pg_database is not None:
        facts["postgresql"] = _run(
            "psql", "-h", PG_HOST, "-U", PG_USER, "-d", "postgres", "-Atc", "SHOW server_version"
        )
    return facts


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, help="a new directory under /tmp")
    parser.add_argument("--drop", type=Path, help="remove this data set (and its PG database)")
    parser.add_argument(
        "--analyzed-copy", type=Path, help="copy this SQLite data set to --out and ANALYZE it"
    )
    args = parser.parse_args(argv)
    if args.drop:
        drop(args.drop)
        print(f"dropped {args.drop}")
        return
    if args.out is None:
        parser.error("--out is required")
    if args.analyzed_copy:
        copied = copy_analyzed(args.analyzed_copy, args.out)
        print(f"{copied.out}: analysed copy of {args.analyzed_copy}")
        return
    manifest = build(args.db, args.entries, args.out)
    times = ", ".join(f"{k} {v:.1f}s" for k, v in manifest.timings.items())
    print(
        f"{manifest.out}: {manifest.entries:,} entries on {manifest.db} ({times}); "
        f"root {manifest.root}"
    )


if __name__ == "__main__":
    main()
