"""接访记录 JSON API: the official who sat, or a clerk, records a reception by booking code
and reads it back.

Thin: authorise, call the reception service, serialise the record. Staff Bearer tokens
only; refusals are problem+json like every other route.
"""

from __future__ import annotations

from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.clock import Clock
from app.scheduling import reception_services as receptions
from app.scheduling.models import ReceptionRecord
from app.scheduling.schemas import ReceptionIn, ReceptionOut

RECORDERS = allow(*receptions.RECORDERS)


def reception_out(row: ReceptionRecord) -> ReceptionOut:
    booking = row.booking
    return ReceptionOut(
        id=row.id,
        booking_code=booking.code,
        booking_status=booking.status,
        sitting_id=row.sitting_id,
        date=booking.sitting.day,
        official_id=row.person_id,
        official=row.person.name,
        raised=row.raised,
        answered=row.answered,
        outcome=row.outcome,
        outcome_label=receptions.OUTCOME_LABELS[row.outcome],
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


class ReceptionApi(Controller):
    path = "/api/v1/bookings"
    tags = ("reception",)

    @post("/{code:str}/record", opt=RECORDERS, status_code=201)
    async def record(
        self, db: AsyncSession, actor: Principal, clock: Clock, code: str, data: ReceptionIn
    ) -> ReceptionOut:
        """Record what the citizen raised, what was answered and the outcome (`resolved`
        当场答复办结, `case` 需立案办理), from the sitting's day on. A booking still checked
        in or called is registered as received in the same transaction; a second record of
        a booking is refused with 409."""
        row = await receptions.record(
            db, actor, clock.now(), code, data.raised, data.answered, data.outcome
        )
        return reception_out(row)

    @get("/{code:str}/record", opt=RECORDERS)
    async def show(
        self, db: AsyncSession, actor: Principal, clock: Clock, code: str
    ) -> ReceptionOut:
        """The reception record of a booking (404 while none is written)."""
        return reception_out(await receptions.record_of(db, actor, code))


ROUTES = [ReceptionApi]
