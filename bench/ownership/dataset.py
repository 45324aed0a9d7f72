"""The generated data set: its scratch PostgreSQL database, its directory (keys, manifest)
and the manifest `measure` reads (who the accounts are, which counties, which day)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from app.core.keys import init_keys, missing_keys
from app.core.migrate import upgrade
from app.core.settings import Settings
from bench.booking.scratch import DEPLOYMENT, Deployment

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PASSWORD = "jiefang-bench"
DEFAULT_DATABASE = "jiefang_bench_cases"
DEFAULT_OUT = Path("/tmp/jiefang-bench-cases")
MANIFEST = "dataset.json"
JIEFANG = Path(sys.executable).parent / "jiefang"


def dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@dataclass
class Account:
    username: str
    account_id: int
    role: str
    scope_unit_id: int | None
    person_id: int | None = None
    note: str = ""


@dataclass
class Manifest:
    database: str
    out: str
    seed: int
    counties: int
    cases: int
    officials: int
    horizon: str  # ISO moment the generation took as "now"
    today: str  # its date in Asia/Shanghai
    province_id: int
    county_ids: list[int] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return url(self.database)

    @property
    def var_dir(self) -> Path:
        return Path(self.out) / "var"

    @property
    def keys_dir(self) -> Path:
        return Path(self.out) / "keys"

    def deployment(self) -> Deployment:
        """The data set as `bench.booking.scratch` serves one (same layout, same name)."""
        return Deployment(self.url, Path(self.out))

    def settings(self) -> Settings:
        return Settings(
            var_dir=self.var_dir,
            database_url=self.url,
            keys_dir=self.keys_dir,
            deployment=DEPLOYMENT,
        )

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment `jiefang` runs with on this data set (nothing JIEFANG_* of ours)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFANG_")}
        env.update(
            {
                "JIEFANG_VAR_DIR": str(self.var_dir),
                "JIEFANG_DATABASE_URL": self.url,
                "JIEFANG_KEYS_DIR": str(self.keys_dir),
                "JIEFANG_DEPLOYMENT": DEPLOYMENT,
                "PYTHONUNBUFFERED": "1",
                **(extra or {}),
            }
        )
        return env

    def save(self) -> None:
        (Path(self.out) / MANIFEST).write_text(
            json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"
        )

    @classmethod
    def load(cls, out: Path) -> Manifest:
        path = out / MANIFEST
        if not path.is_file():
            raise SystemExit(f"{path} is missing: build the data set with bench.ownership.generate")
        raw = json.loads(path.read_text())
        raw["accounts"] = {k: Account(**v) for k, v in raw["accounts"].items()}
        return cls(**raw)


def prepare(manifest: Manifest) -> None:
    """Bring a data set up to the app as it is now, as an operator would after pulling a
    new version: migrations to head (a no-op unless the app gained one since the build)
    and any key the app has added since (`jiefang keys init` keeps existing keys; the
    server records a new key in the administration ledger when it starts)."""
    upgrade(manifest.url)
    if missing_keys(manifest.keys_dir):
        init_keys(manifest.keys_dir, DEPLOYMENT)


async def admin(*statements: str) -> None:
    """Statements outside a transaction (CREATE/DROP DATABASE), as the postgres user."""
    conn = await asyncpg.connect(dsn("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def create_database(database: str, replace: bool) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(dsn("postgres"))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if exists and not replace:
                raise SystemExit(f"database {database} exists: pass --replace to drop it first")
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()

    asyncio.run(go())


def drop(database: str, out: Path) -> None:
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    shutil.rmtree(out, ignore_errors=True)
