"""Cases' recurring jobs: replies nobody contested in time close (《浙江省信访条例》
第二十五条(二)); clocks computed on a provisional year follow the official calendar once
it is entered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.core.holidays import calendar_for
from app.core.jobs import JobContext, job_handler
from app.ownership import services

EVERY = dt.timedelta(hours=1)


@job_handler(services.CLOSING_JOB, every=EVERY)
async def close_lapsed(ctx: JobContext) -> dict[str, Any]:
    # The stored due dates decide; closing starts no clock, so any calendar will do.
    calendar = await calendar_for(ctx.db)
    return {"closed": await services.close_lapsed(ctx.db, ctx.clock.now(), calendar)}


@job_handler(services.CALENDAR_JOB, every=EVERY)
async def recompute_calendar(ctx: JobContext) -> dict[str, Any]:
    return {"recomputed": await services.recompute_provisional(ctx.db, ctx.clock.now())}
