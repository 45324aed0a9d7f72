"""The ledger's recurring job: sign a checkpoint of every ledger that grew."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.core.jobs import JobContext, job_handler
from app.ledger.checkpoints import checkpoint_all, signer

CHECKPOINT_EVERY = dt.timedelta(minutes=5)


@job_handler("ledger.checkpoint", every=CHECKPOINT_EVERY)
async def checkpoint_job(ctx: JobContext) -> dict[str, Any]:
    if ctx.keys is None:
        raise RuntimeError("the worker was started without keys; cannot sign checkpoints")
    made = await checkpoint_all(ctx.db, signer(ctx.keys.keys_dir), ctx.clock.now())
    return {"checkpoints": [{"ledger": c.ledger_id, "size": c.size} for c in made]}
