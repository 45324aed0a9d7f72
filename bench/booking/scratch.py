"""A throw-away deployment: a scratch PostgreSQL database migrated and bootstrapped with
the app's own code (what `jiefang db upgrade` does), keys made by `init_keys` (what
`jiefang keys init` does) in a temporary directory, and the real server started as a
subprocess: `jiefang serve --workers N`, with its settings in its environment."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.db import create_engine, session_factory, transaction
from app.core.keys import init_keys
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.ledger.bootstrap import bootstrap_ledgers

PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
JIEFANG = Path(sys.executable).parent / "jiefang"
DEPLOYMENT = "bench"
STARTUP_SECONDS = 120.0
STOP_SECONDS = 30.0
STARTED = "Application startup complete."
T = TypeVar("T")


class BenchError(RuntimeError):
    """Something the figures depend on went wrong: stop rather than report them."""


@dataclass(frozen=True, slots=True)
class Deployment:
    url: str
    root: Path

    @property
    def database(self) -> str:
        return str(make_url(self.url).database)

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    def settings(self) -> Settings:
        return Settings(
            var_dir=self.var_dir,
            database_url=self.url,
            keys_dir=self.keys_dir,
            deployment=DEPLOYMENT,
        )

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """The server's environment: ours, and nothing JIEFANG_* from the caller's shell."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFANG_")}
        env.update(
            {
                "JIEFANG_DATABASE_URL": self.url,
                "JIEFANG_KEYS_DIR": str(self.keys_dir),
                "JIEFANG_VAR_DIR": str(self.var_dir),
                "JIEFANG_DEPLOYMENT": DEPLOYMENT,
                "PYTHONUNBUFFERED": "1",
                **extra,
            }
        )
        return env

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` in one transaction on a connection of its own (no pool)."""
        return asyncio.run(in_transaction(self.settings(), work))


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings, pool=False)
    try:
        async with transaction(session_factory(engine)) as db:
            return await work(db)
    finally:
        await engine.dispose()


async def admin(*statements: str) -> None:
    """Statements outside a transaction (CREATE/DROP DATABASE), as the postgres user."""
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _bootstrap(settings: Settings) -> None:
    engine = create_engine(settings, pool=False)
    try:
        await bootstrap_ledgers(session_factory(engine), settings, dt.datetime.now(dt.UTC))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def deployment(prefix: str, keep: bool = False) -> Iterator[Deployment]:
    """A fresh `<prefix>_<pid>` database and key directory, dropped and removed afterwards
    (`keep`: left in place, and said where)."""
    name = f"{prefix}_{os.getpid()}"
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    root = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        made = Deployment(url, root)
        init_keys(made.keys_dir, DEPLOYMENT)
        upgrade(url)
        asyncio.run(_bootstrap(made.settings()))
        yield made
    finally:
        if keep:
            print(f"kept: database {name}, directory {root}", file=sys.stderr)
        else:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    workers: int

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def problems(self) -> list[str]:
        """Lines of its log that mean a request failed inside the server."""
        bad = ("Traceback", '" 500', "database is locked")
        return [line for line in self.output().splitlines() if any(b in line for b in bad)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _up(server: Server) -> bool:
    if server.output().count(STARTED) < server.workers:
        return False
    try:
        return httpx.get(f"{server.base}/api/v1/ledger/key", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _up(server):
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"jiefang serve did not come up:\n{server.output()}")
        time.sleep(0.25)


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(made: Deployment, workers: int, extra_env: dict[str, str]) -> Iterator[Server]:
    """`jiefang serve --workers N --no-worker` on the deployment; yields once every worker
    has started and the server answers. Output goes to `<root>/serve.log`."""
    port = _free_port()
    command = [
        str(JIEFANG),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-worker",
    ]
    log = made.root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=made.environment(extra_env), stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, workers)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)
