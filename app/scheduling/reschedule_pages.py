"""改约: a citizen moves a booking to another slot or sitting, keeping its code.

The browser must have proved the booking (code + mobile number) first, as for viewing and
cancelling. Step 1 lists the upcoming sittings of the same township or village (or every
sitting, on request); step 2 shows a sitting's slots with their free seats; the POST moves
the booking or re-renders step 2 with the reason, having moved nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.clock import Clock, local_today
from app.core.codes import normalise_code
from app.core.errors import DomainError, RuleViolation
from app.core.web import flash, page, private
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling.booking_forms import read_form
from app.scheduling.citizen_pages import (
    LIST_DAYS,
    PAGE_SIZE,
    Visit,
    booking_url,
    day_label,
    proven_booking,
    refusal_status,
    sitting_views,
)
from app.scheduling.models import Booking

PUBLIC = public()
MOVE_FIELDS = ("sitting", "slot", "waitlist")


def reschedule_url(code: str) -> str:
    return booking_url(code) + "/reschedule"


async def render_choices(
    v: Visit,
    booking: Booking,
    everywhere: bool,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Template:
    today = local_today(v.clock)
    found = await bookings.published_sittings(
        v.db,
        today,
        today + dt.timedelta(days=LIST_DAYS),
        unit=None if everywhere else booking.sitting.rule.unit_id,
        limit=PAGE_SIZE,
    )
    views = [x for x in await sitting_views(v, found) if x.bookable]
    return private(
        page(
            v.request,
            "citizen/reschedule.html",
            status_code=status_code,
            booking=booking,
            views=views,
            chosen=None,
            everywhere=everywhere,
            url=reschedule_url(booking.code),
            back=booking_url(booking.code),
            day_label=day_label,
            error=error,
        )
    )


async def render_slots(
    v: Visit, booking: Booking, sitting_id: int, *, status_code: int = 200, error: str | None = None
) -> Template:
    sitting = await citizens.public_sitting(v.db, sitting_id)
    view = (await sitting_views(v, [sitting]))[0]
    return private(
        page(
            v.request,
            "citizen/reschedule.html",
            status_code=status_code,
            booking=booking,
            views=[],
            chosen=view,
            everywhere=False,
            url=reschedule_url(booking.code),
            back=booking_url(booking.code),
            day_label=day_label,
            error=error,
        )
    )


def _new_time(values: dict[str, str]) -> bookings.NewTime:
    slot = values.get("slot", "")
    try:
        sitting_id = int(values.get("sitting", ""))
    except ValueError as bad:
        raise RuleViolation("请选择要改到的接访安排。") from bad
    if not slot:
        raise RuleViolation("请选择一个预约时段。")
    return bookings.NewTime(sitting_id, slot, values.get("waitlist") == "1")


class ReschedulePages(Controller):
    path = "/yuyue/bookings/{code:str}/reschedule"
    include_in_schema = False

    @get("/", opt=PUBLIC)
    async def choose(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        sitting: int | None = None,
        everywhere: Annotated[bool, QueryParameter(name="all")] = False,
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        found = await proven_booking(v, code)
        if found is None or not bookings.can_reschedule(found):
            return Redirect(path=booking_url(normalise_code(code)))
        if sitting is None:
            return await render_choices(v, found, everywhere)
        return await render_slots(v, found, sitting)

    @post("/", opt=PUBLIC)
    async def move(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        found = await proven_booking(v, code)
        if found is None:
            return Redirect(path=booking_url(normalise_code(code)))
        values = await read_form(request, MOVE_FIELDS)
        try:
            to = _new_time(values)
            await citizens.reschedule_and_notify(db, None, v.now, found, to, v.secrets, v.policy)
        except DomainError as refusal:
            await db.rollback()
            again = await proven_booking(v, code)
            assert again is not None
            sitting_id = int(values["sitting"]) if values.get("sitting", "").isdigit() else None
            if sitting_id is None:
                return await render_choices(
                    v, again, False, status_code=refusal_status(refusal), error=refusal.detail
                )
            return await render_slots(
                v, again, sitting_id, status_code=refusal_status(refusal), error=refusal.detail
            )
        flash(request, "改约成功，确认短信已发送。")
        return Redirect(path=booking_url(found.code))


ROUTES = [ReschedulePages]
