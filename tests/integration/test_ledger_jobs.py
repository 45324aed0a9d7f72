"""The checkpoint job signs every ledger that grew, and comes back every five minutes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.jobs import import_all_jobs
from app.ledger import services
from app.ledger.jobs import CHECKPOINT_EVERY
from tests.integration.conftest import County

import_all_jobs()


async def run_due(worker: Worker) -> int:
    ran = 0
    while await worker.run_once():
        ran += 1
    return ran


async def checkpoint_size(factory: async_sessionmaker[AsyncSession], county: int) -> int | None:
    async with factory() as db:
        ledger = await services.ledger_for_county(db, county)
        latest = await services.latest_checkpoint(db, ledger.id)
    return None if latest is None else int(latest.size)


async def test_the_checkpoint_job_signs_grown_ledgers_and_returns_after_its_interval(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, keys_dir: Path, county: County
) -> None:
    worker = Worker(factory, clock, keys=KeyRing(keys_dir))
    await worker.ensure_recurring()
    assert await run_due(worker) >= 1
    async with factory() as db:
        size = int((await services.ledger_for_county(db, county.county)).size)
    assert await checkpoint_size(factory, county.county) == size

    await worker.ensure_recurring()
    assert await run_due(worker) == 0, "the next run waits for its interval"

    clock.advance(CHECKPOINT_EVERY + dt.timedelta(seconds=1))
    await worker.ensure_recurring()
    assert await run_due(worker) >= 1
    assert await checkpoint_size(factory, county.county) == size, "nothing new, nothing signed"
