"""Background jobs stored in the database and run by any number of `jiefang worker`s.

A worker claims a job by taking a lease with a conditional UPDATE (the row changes only if
nobody holds an unexpired lease), so each job runs once even with many workers on many
machines; a worker that dies loses its lease and the job is retried. The job's work and its
completion commit in one transaction. Progress is written in its own short transaction so
pages can show it while the job runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.keys import KeyRing
from app.core.models import Job

log = logging.getLogger("jiefang.jobs")


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


@dataclass
class JobContext:
    db: AsyncSession
    job_id: int
    kind: str
    payload: dict[str, Any]
    clock: Clock
    _factory: async_sessionmaker[AsyncSession]
    keys: KeyRing | None = None

    async def progress(self, **values: Any) -> None:
        """Publish progress now, outside the job's own (still open) transaction."""
        async with self._factory() as side, side.begin():
            await side.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(progress=values, updated_at=self.clock.now())
            )

    @contextlib.asynccontextmanager
    async def separate(self) -> AsyncIterator[AsyncSession]:
        """A short transaction of its own. A job that computes for long (a roster solve)
        reads its input here, so no lock is held while it computes, then writes in `db`."""
        async with self._factory() as side, side.begin():
            yield side


JobHandler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]
HANDLERS: dict[str, JobHandler] = {}
#: kind -> interval: a job of that kind is kept queued and re-queued after each run.
RECURRING: dict[str, dt.timedelta] = {}


def job_handler(
    kind: str, *, every: dt.timedelta | None = None
) -> Callable[[JobHandler], JobHandler]:
    def register(fn: JobHandler) -> JobHandler:
        HANDLERS[kind] = fn
        if every is not None:
            RECURRING[kind] = every
        return fn

    return register


async def enqueue(
    db: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None,
    *,
    now: dt.datetime,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Queue a job inside the caller's transaction: it exists only if the caller commits."""
    if kind not in HANDLERS:
        raise KeyError(f"no handler registered for job kind {kind!r}")
    job = Job(
        kind=kind,
        payload=payload or {},
        status=JobStatus.queued,
        dedupe_key=dedupe_key,
        run_at=run_at or now,
        max_attempts=max_attempts,
        created_at=now,
        updated_at=now,
    )
    db.add(job)
    await db.flush()
    return job


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 10 * 2 ** max(0, attempts - 1)))


def _claimable(now: dt.datetime) -> Any:
    return or_(
        and_(Job.status == JobStatus.queued, Job.run_at <= now),
        and_(Job.status == JobStatus.running, Job.lease_until < now),
    )


class Worker:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        name: str | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        self.factory = factory
        self.keys = keys
        self.clock = clock
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def ensure_recurring(self) -> None:
        for kind in RECURRING:
            try:
                async with self.factory() as db, db.begin():
                    exists = await db.scalar(
                        select(Job.id).where(Job.dedupe_key == f"every:{kind}")
                    )
                    if exists is None:
                        await enqueue(
                            db, kind, {}, now=self.clock.now(), dedupe_key=f"every:{kind}"
                        )
            except IntegrityError:
                continue  # another worker queued it first

    async def claim(self) -> Job | None:
        now = self.clock.now()
        async with self.factory() as db, db.begin():
            candidates = await db.scalars(
                select(Job.id).where(_claimable(now)).order_by(Job.run_at, Job.id).limit(8)
            )
            for job_id in list(candidates):
                taken = await db.execute(
                    update(Job)
                    .where(Job.id == job_id, _claimable(now))
                    .values(
                        status=JobStatus.running,
                        lease_owner=self.name,
                        lease_until=now + self.lease,
                        attempts=Job.attempts + 1,
                        updated_at=now,
                    )
                )
                if getattr(taken, "rowcount", 0) == 1:
                    return await db.get(Job, job_id)
        return None

    async def run_once(self) -> bool:
        """Run one due job if there is one; True when a job was run."""
        job = await self.claim()
        if job is None:
            return False
        try:
            await self._execute(job)
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.kind)
            await self._record_failure(job, traceback.format_exc(limit=8))
        return True

    async def _execute(self, job: Job) -> None:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        async with self.factory() as db, db.begin():
            ctx = JobContext(
                db, job.id, job.kind, dict(job.payload), self.clock, self.factory, self.keys
            )
            result = await handler(ctx)
            await self._finish(db, job, result or {})

    async def _finish(self, db: AsyncSession, job: Job, result: dict[str, Any]) -> None:
        now = self.clock.now()
        await db.execute(
            update(Job)
            .where(Job.id == job.id, Job.lease_owner == self.name)
            .values(
                status=JobStatus.succeeded,
                result=result,
                finished_at=now,
                updated_at=now,
                lease_until=None,
                dedupe_key=None,
            )
        )
        if job.kind in RECURRING:
            await enqueue(
                db,
                job.kind,
                {},
                now=now,
                run_at=now + RECURRING[job.kind],
                dedupe_key=f"every:{job.kind}",
            )

    async def _record_failure(self, job: Job, error: str) -> None:
        now = self.clock.now()
        final = job.attempts >= job.max_attempts
        async with self.factory() as db, db.begin():
            await db.execute(
                update(Job)
                .where(Job.id == job.id, Job.lease_owner == self.name)
                .values(
                    status=JobStatus.failed if final else JobStatus.queued,
                    run_at=now + retry_delay(job.attempts),
                    last_error=error[-4000:],
                    lease_until=None,
                    finished_at=now if final else None,
                    dedupe_key=None if final else job.dedupe_key,
                    updated_at=now,
                )
            )

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                await self.ensure_recurring()
                while not stop.is_set() and await self.run_once():
                    pass
            except Exception:
                log.exception("worker loop error; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
        log.info("worker %s stopped", self.name)


async def purge_finished(db: AsyncSession, older_than: dt.datetime) -> int:
    result = await db.execute(
        delete(Job).where(Job.status == JobStatus.succeeded, Job.finished_at < older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
