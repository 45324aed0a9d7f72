"""`transaction`, the one unit of work of every request, job and command: what succeeds is
committed, what fails or is cancelled leaves nothing, and the connection always goes back
to the pool."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.db import session_factory, transaction
from app.core.models import RateCounter


class Refused(Exception):
    pass


def _checked_out(engine: AsyncEngine) -> int:
    return int(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]


async def _counters(engine: AsyncEngine) -> list[str]:
    async with transaction(session_factory(engine)) as db:
        return list(await db.scalars(select(RateCounter.key).order_by(RateCounter.key)))


async def _write(db: AsyncSession, key: str) -> None:
    db.add(RateCounter(key=key, window=1, count=1))
    await db.flush()


async def test_what_succeeds_is_committed_and_the_connection_returned(
    engine: AsyncEngine,
) -> None:
    async with transaction(session_factory(engine)) as db:
        await _write(db, "kept")
    assert await _counters(engine) == ["kept"]
    assert _checked_out(engine) == 0


async def test_what_raises_leaves_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(Refused):
        async with transaction(session_factory(engine)) as db:
            await _write(db, "lost")
            raise Refused
    assert await _counters(engine) == []
    assert _checked_out(engine) == 0


async def test_a_failing_commit_leaves_nothing(engine: AsyncEngine) -> None:
    async with transaction(session_factory(engine)) as db:
        await _write(db, "first")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with transaction(session_factory(engine)) as db:
            db.add(RateCounter(key="second", window=1, count=1))
            db.add(RateCounter(key="first", window=1, count=1))  # flushed at the commit
    assert await _counters(engine) == ["first"]
    assert _checked_out(engine) == 0


async def test_a_cancelled_unit_of_work_leaves_nothing_and_frees_its_connection(
    engine: AsyncEngine,
) -> None:
    written = asyncio.Event()

    async def work() -> None:
        async with transaction(session_factory(engine)) as db:
            await _write(db, "cancelled")
            written.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _counters(engine) == []
    assert _checked_out(engine) == 0
    async with transaction(session_factory(engine)) as db:  # the pool still serves
        assert await db.scalar(select(func.count()).select_from(RateCounter)) == 0
