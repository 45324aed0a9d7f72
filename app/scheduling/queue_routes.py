"""Check-in JSON API (预约叫号): a window clerk checks a citizen in by booking code.

Thin: authorise, call the check-in service, serialise the booking with its queue number.
"""

from __future__ import annotations

from litestar import Controller, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.clock import Clock
from app.scheduling import queue_services as queue
from app.scheduling.booking_routes import CLERK, booking_out
from app.scheduling.schemas import BookingOut


class QueueApi(Controller):
    path = "/api/v1/bookings"
    tags = ("queue",)

    @post("/{code:str}/check-in", opt=CLERK, status_code=200)
    async def check_in(
        self, db: AsyncSession, actor: Principal, clock: Clock, code: str
    ) -> BookingOut:
        """Check in on the sitting's day: the booking gets the sitting's next queue number
        (a walk-in keeps the number it was registered with)."""
        return booking_out(await queue.check_in(db, actor, clock.now(), code))


ROUTES = [QueueApi]
