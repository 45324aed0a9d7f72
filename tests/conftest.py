"""Test databases: every integration test runs on SQLite and, when
JIEFANG_TEST_POSTGRES_URL is set, on a PostgreSQL database this run creates and drops.
With JIEFANG_REQUIRE_POSTGRES=1 an unreachable PostgreSQL fails the run."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.db import Base
from app.core.keys import init_keys
from app.core.migrate import upgrade
from app.core.settings import Settings, load_settings
from app.models import import_all_models

import_all_models()

PG_URL = os.environ.get("JIEFANG_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("JIEFANG_REQUIRE_POSTGRES") == "1"


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _create_pg_database() -> str | None:
    if not PG_URL:
        if REQUIRE_PG:
            raise pytest.UsageError(
                "JIEFANG_REQUIRE_POSTGRES=1 but JIEFANG_TEST_POSTGRES_URL is not set"
            )
        return None
    name = f"jiefang_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))
    except Exception as unreachable:
        if REQUIRE_PG:
            raise pytest.UsageError(
                f"PostgreSQL is required but unreachable: {unreachable}"
            ) from unreachable
        return None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys")
    init_keys(path)
    return path


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    url = _create_pg_database()
    if url is not None:
        upgrade(url)
    yield url
    if url is not None:
        name = make_url(url).database
        asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(params=backends())
def database_url(request: pytest.FixtureRequest, sqlite_url: str, postgres_url: str | None) -> str:
    if request.param == "sqlite":
        return sqlite_url
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable")
    return postgres_url


@pytest.fixture
def settings(database_url: str, keys_dir: Path, tmp_path: Path) -> Settings:
    base = load_settings({"JIEFANG_VAR_DIR": str(tmp_path)})
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    return Settings(**{**fields, "database_url": database_url, "keys_dir": keys_dir})


async def _wipe(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # The ledger tables refuse TRUNCATE; a superuser may bypass triggers for tests.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    from app.core.db import create_engine, session_factory, transaction
    from app.ledger.services import ensure_admin_ledger

    engine = create_engine(settings)
    await _wipe(engine)
    async with transaction(session_factory(engine)) as db:
        await ensure_admin_ledger(db, settings.deployment, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    yield engine
    await engine.dispose()


def _hypothesis_profiles() -> None:
    from hypothesis import settings as hypothesis_settings

    hypothesis_settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
    hypothesis_settings.register_profile("dev", max_examples=150, deadline=None)
    hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_hypothesis_profiles()
