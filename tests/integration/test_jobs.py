"""Background jobs: each runs once however many workers compete, retries on failure, and
its work commits together with its completion."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.jobs import HANDLERS, JobContext, JobStatus, Worker, enqueue, job_handler
from app.core.models import HolidayYear, Job

RUNS: list[int] = []


@job_handler("test.record")
async def record(ctx: JobContext) -> dict[str, Any]:
    await ctx.progress(step=1, of=2)
    RUNS.append(ctx.job_id)
    ctx.db.add(
        HolidayYear(
            year=2000 + ctx.job_id,
            rest_days=[],
            working_days=[],
            source="job",
            entered_at=ctx.clock.now(),
        )
    )
    await asyncio.sleep(0)
    return {"done": True}


@job_handler("test.explode")
async def explode(ctx: JobContext) -> None:
    ctx.db.add(
        HolidayYear(
            year=1999, rest_days=[], working_days=[], source="never", entered_at=ctx.clock.now()
        )
    )
    await ctx.db.flush()
    raise RuntimeError("boom")


async def test_twenty_jobs_run_exactly_once_across_four_workers(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    RUNS.clear()
    async with transaction(factory) as db:
        for _ in range(20):
            await enqueue(db, "test.record", {}, now=clock.now())
    workers = [Worker(factory, clock, name=f"w{i}") for i in range(4)]

    async def drain(worker: Worker) -> None:
        while await worker.run_once():
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    assert sorted(RUNS) == sorted(set(RUNS)) and len(RUNS) == 20
    async with factory() as db:
        statuses = list(await db.scalars(select(Job.status)))
        assert statuses == [JobStatus.succeeded] * 20
        assert await db.scalar(select(func.count()).select_from(HolidayYear)) == 20
        progress = await db.scalar(select(Job.progress).limit(1))
        assert progress == {"step": 1, "of": 2}


async def test_a_failing_job_leaves_no_trace_and_is_retried_later(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    async with transaction(factory) as db:
        job = await enqueue(db, "test.explode", {}, now=clock.now(), max_attempts=2)
    worker = Worker(factory, clock)
    assert await worker.run_once()
    assert not await worker.run_once()  # not due yet: it backs off
    async with factory() as db:
        row = await db.get(Job, job.id)
        assert (
            row is not None and row.status == JobStatus.queued and "boom" in (row.last_error or "")
        )
        assert await db.scalar(select(func.count()).select_from(HolidayYear)) == 0
    clock.advance(dt.timedelta(minutes=5))
    assert await worker.run_once()
    async with factory() as db:
        row = await db.get(Job, job.id, populate_existing=True)
        assert row is not None and row.status == JobStatus.failed and row.attempts == 2


async def test_a_dead_workers_lease_expires_and_another_takes_the_job(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    RUNS.clear()
    async with transaction(factory) as db:
        await enqueue(db, "test.record", {}, now=clock.now())
    crashed = Worker(factory, clock, name="crashed", lease=dt.timedelta(minutes=1))
    assert await crashed.claim() is not None  # claimed, then the process "dies"
    survivor = Worker(factory, clock, name="survivor")
    assert not await survivor.run_once()
    clock.advance(dt.timedelta(minutes=2))
    assert await survivor.run_once()
    assert len(RUNS) == 1


async def test_recurring_jobs_are_queued_once(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    import app.core.maintenance  # noqa: F401

    assert "core.housekeeping" in HANDLERS
    workers = [Worker(factory, clock) for _ in range(3)]
    await asyncio.gather(*(w.ensure_recurring() for w in workers))
    async with factory() as db:
        kinds = list(await db.scalars(select(Job.kind).where(Job.status == JobStatus.queued)))
    assert kinds.count("core.housekeeping") == 1
