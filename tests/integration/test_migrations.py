"""The schema the Alembic migrations build is the one the models describe, on SQLite and
PostgreSQL: autogenerate against a migrated database finds nothing to do. The newest
migration also downgrades and upgrades again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import Base
from app.core.migrate import alembic_config, upgrade


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _run(url: str, work: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _run(database_url, _differences) == []


def test_the_newest_migration_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    # Synchronous: Alembic's environment runs its own event loop.
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "-1")
    upgrade(url)
    assert asyncio.run(_run(url, _differences)) == []
