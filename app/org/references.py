"""What still points at a tenure. Capabilities that hold references to tenures (open
cases, future sittings, pending assignments …) register a check here; ending a tenure is
refused while any check reports something, unless the same transaction moved it first
(a handover or an explicit reassignment)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

#: (session, tenure id, end date) -> human-readable descriptions of what still refers to it
TenureReferenceCheck = Callable[[AsyncSession, int, dt.date], Awaitable[list[str]]]

CHECKS: dict[str, TenureReferenceCheck] = {}


def tenure_reference_check(name: str) -> Callable[[TenureReferenceCheck], TenureReferenceCheck]:
    def register(fn: TenureReferenceCheck) -> TenureReferenceCheck:
        CHECKS[name] = fn
        return fn

    return register


async def remaining_references(db: AsyncSession, tenure_id: int, end: dt.date) -> list[str]:
    found: list[str] = []
    for check in CHECKS.values():
        found.extend(await check(db, tenure_id, end))
    return found
