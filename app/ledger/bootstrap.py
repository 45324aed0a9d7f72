"""Startup work shared by `jiefang db upgrade` and the server: the administration ledger
exists, and every key file is recorded in it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import transaction
from app.core.settings import Settings
from app.ledger.checkpoints import record_keys
from app.ledger.services import ensure_admin_ledger


async def bootstrap_ledgers(
    factory: async_sessionmaker[AsyncSession], settings: Settings, now: dt.datetime
) -> None:
    async with transaction(factory) as db:
        await ensure_admin_ledger(db, settings.deployment, now)
    async with transaction(factory) as db:
        if settings.keys_dir.is_dir():
            await record_keys(db, settings.keys_dir, now)
