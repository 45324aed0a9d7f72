"""The core's own recurring jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.core.auth.services import purge_login_attempts
from app.core.jobs import JobContext, job_handler, purge_finished


@job_handler("core.housekeeping", every=dt.timedelta(hours=1))
async def housekeeping(ctx: JobContext) -> dict[str, Any]:
    """Forget sign-in attempts older than a day and finished jobs older than thirty days."""
    now = ctx.clock.now()
    await purge_login_attempts(ctx.db, now - dt.timedelta(days=1))
    purged = await purge_finished(ctx.db, now - dt.timedelta(days=30))
    return {"purged_jobs": purged}
