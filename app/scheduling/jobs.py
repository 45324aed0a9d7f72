"""Scheduling's jobs. The roster solve: CP-SAT runs in a worker thread, never on the event
loop, and writes its progress (objective, bound, elapsed) to the job row for the page to
show. The outbox: each message sent once. Bookings: a citizen told how a re-plan changed
their booking, and the reminders the day before."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from app.core.auth.access import system_principal
from app.core.jobs import JobContext, job_handler
from app.core.personal_data import Secrets
from app.core.settings import load_settings
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling import services
from app.scheduling.schemas import Result
from app.scheduling.solver import solve

PROGRESS_EVERY_S = 0.5
REMINDERS_EVERY = dt.timedelta(minutes=30)


class _Reporter:
    """Forward the solver thread's progress to the event loop, at most twice a second."""

    def __init__(self, ctx: JobContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx, self.loop, self.last = ctx, loop, 0.0

    def __call__(self, objective: int | None, bound: int | None, elapsed: float) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        report = self.ctx.progress(objective=objective, bound=bound, elapsed=round(elapsed, 1))
        asyncio.run_coroutine_threadsafe(report, self.loop)


@job_handler("roster.solve")
async def solve_roster(ctx: JobContext) -> dict[str, Any]:
    roster_id = int(ctx.payload["roster"])
    async with ctx.separate() as db:
        roster = await services.get_roster(db, roster_id)
        if roster.status != services.RosterStatus.queued:
            return {"skipped": roster.status}
        loaded = await services.load_instance(
            db, roster.county_id, roster.period_start, roster.period_end
        )
    await ctx.progress(objective=None, bound=None, elapsed=0.0, phase="solving")
    reporter = _Reporter(ctx, asyncio.get_running_loop())
    result: Result = await asyncio.to_thread(
        solve,
        loaded.instance,
        time_limit=float(ctx.payload.get("time_limit", 60.0)),
        seed=1,
        calendar=loaded.calendar,
        progress=reporter,
    )
    roster = await services.get_roster(ctx.db, roster_id)
    actor = system_principal("roster.solve")
    await services.store_result(ctx.db, actor, ctx.clock.now(), roster, loaded, result)
    return {
        "status": str(result.status),
        "objective": result.objective,
        "bound": result.bound,
        "wall_time_s": result.wall_time_s,
    }


@job_handler("outbox.send")
async def send_message(ctx: JobContext) -> dict[str, Any]:
    """Send one queued message through the configured sender, at most once."""
    if ctx.keys is None:
        raise RuntimeError("the worker was started without keys; cannot open the outbox")
    sender = citizens.sender_named(load_settings().sms_sender)
    sent = await citizens.deliver(
        ctx.db, Secrets(ctx.keys), ctx.clock.now(), int(ctx.payload["message"]), sender
    )
    return {"sent": sent, "provider": sender.name}


@job_handler(bookings.CHANGE_NOTICE_JOB)
async def tell_change(ctx: JobContext) -> dict[str, Any]:
    """Tell a citizen how a re-plan moved or cancelled their booking."""
    if ctx.keys is None:
        raise RuntimeError("the worker was started without keys; cannot open the booking")
    was = (int(ctx.payload["from_sitting"]), ctx.payload.get("from_slot"))
    message = await citizens.tell_change(
        ctx.db, Secrets(ctx.keys), ctx.clock.now(), int(ctx.payload["booking"]), was
    )
    return {"message": message.id if message else None}


@job_handler("booking.reminders", every=REMINDERS_EVERY)
async def remind(ctx: JobContext) -> dict[str, Any]:
    """Queue the reminders of tomorrow's bookings (from 09:00 on the day before; a
    booking made later that day is reminded at the next run)."""
    if ctx.keys is None:
        raise RuntimeError("the worker was started without keys; cannot open the bookings")
    queued = await citizens.queue_reminders(ctx.db, Secrets(ctx.keys), ctx.clock.now())
    return {"queued": queued}
