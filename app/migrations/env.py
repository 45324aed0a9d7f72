"""Alembic environment: the same migrations run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.core.db import Base, create_engine
from app.core.settings import load_settings
from app.models import import_all_models

import_all_models()
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    settings = load_settings()
    if url:
        settings = type(settings)(
            **{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "database_url": url}
        )
    engine = create_engine(settings, pool=False)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_online())
