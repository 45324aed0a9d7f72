"""What the window's booking pages read: the counties a clerk books in, and a booking
found by its code for the staff confirmation — both within the clerk's scope (clerks,
the office and admins whose scope reaches the county, as for booking itself). Reads only;
booking goes through `citizen_services.book_and_confirm`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.errors import NotFound
from app.org.models import Unit
from app.scheduling import queue_services as queue
from app.scheduling import services as scheduling
from app.scheduling.booking_services import CLERKS
from app.scheduling.models import Booking, Sitting


async def clerk_counties(db: AsyncSession, actor: Principal) -> list[Unit]:
    """The counties whose sittings this clerk may book: those a clerk role's scope reaches."""
    return [c for c in await scheduling.counties_for(db, actor) if actor.reaches(CLERKS, c.path)]


async def require_clerk(db: AsyncSession, actor: Principal, county_id: int, what: str) -> Unit:
    """The county, if one of the actor's clerk roles reaches it; 403 otherwise."""
    county = await db.get(Unit, county_id)
    if county is None:
        raise NotFound("找不到该县（市、区）。")
    require_scope(actor, CLERKS, county.path, what)
    return county


async def clerk_sitting(db: AsyncSession, actor: Principal, sitting_id: int) -> Sitting:
    """A sitting to book for a citizen, re-read (a refusal rolls back before it is shown)."""
    sitting = await db.get(Sitting, sitting_id, populate_existing=True)
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    await require_clerk(db, actor, sitting.county_id, "代群众预约")
    return sitting


async def clerk_booking(db: AsyncSession, actor: Principal, code: str) -> Booking:
    """A booking by its code, for staff of its county."""
    booking = await queue.booking_by_code(db, code, lock=False)
    await require_clerk(db, actor, booking.county_id, "查看该预约")
    return booking
