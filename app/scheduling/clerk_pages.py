"""电话预约、现场登记: the window books for citizens who phone in or walk in.

`/queue/book` lists the published sittings of the booking window in the counties the
clerk's scope reaches, with the seats left; `/queue/book/sittings/{id}` is the citizen's
booking form as the online page has it, filled in by the clerk with the citizen's mobile
number (no one-time code: the clerk is signed in). By phone (电话预约) a citizen books a
slot under exactly the online rules and is sent the confirmation by SMS; on the sitting's
day a citizen who walks in (现场登记) is never turned away for seats, window or notice
(无差别受理) and gets a queue number on the spot. `/queue/book/bookings/{code}` is the
staff confirmation, with a slip the clerk prints for a walk-in.

Writes are POST-redirect-GET; a refusal re-renders the form with the reason in Chinese,
the refusal's status and what was typed, and books nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.clock import Clock, local_today
from app.core.errors import DomainError
from app.core.personal_data import Secrets
from app.core.web import flash, page, private, runtime_of
from app.org.models import Person, Unit
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling import clerk_services as clerks
from app.scheduling.booking_forms import (
    ID_LABELS,
    STAFF_CHANNELS,
    STAFF_FIELDS,
    form_choices,
    read_form,
    staff_request,
)
from app.scheduling.booking_services import Booked, BookingStatus, Channel, Policy
from app.scheduling.citizen_pages import (
    CITIZEN_STATUS_LABELS,
    SittingView,
    Visit,
    day_label,
    qr_svg,
    sitting_views,
    slot_times,
)
from app.scheduling.meeting_pages import Ctx
from app.scheduling.models import Booking, Sitting
from app.scheduling.queue_pages import CLERK_PAGE, QUEUE_URL
from app.scheduling.representatives import WHAT_TO_BRING

BOOK_URL = f"{QUEUE_URL}/book"
PAGE_SIZE = 60


def sitting_url(sitting_id: int) -> str:
    return f"{BOOK_URL}/sittings/{sitting_id}"


def booking_url(code: str) -> str:
    return f"{BOOK_URL}/bookings/{code}"


def _policy(ctx: Ctx) -> Policy:
    return Policy.of(runtime_of(ctx.request).settings)


def _secrets(ctx: Ctx) -> Secrets:
    return runtime_of(ctx.request).secrets


async def _views(ctx: Ctx, sittings: list[Sitting]) -> list[SittingView]:
    """Seats left and whether the booking window is open: the online page's own reading,
    since a booking by phone keeps the online rules."""
    return await sitting_views(Visit(ctx.request, ctx.db, ctx.clock), sittings)


def channels_for(view: SittingView, today: dt.date) -> list[Channel]:
    """By phone while the booking window is open; in person on the sitting's day."""
    offered = [Channel.phone] if view.bookable else []
    if view.sitting.status == "scheduled" and view.sitting.day == today:
        offered.append(Channel.in_person)
    return offered


# ---------------------------------------------------------------- the list of sittings


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _after(text: str | None) -> tuple[dt.date, int] | None:
    day, _, sitting_id = (text or "").partition("_")
    try:
        return dt.date.fromisoformat(day), int(sitting_id)
    except ValueError:
        return None


def _more_url(query: dict[str, int | None], last: Sitting) -> str:
    kept = {k: v for k, v in query.items() if v is not None}
    return BOOK_URL + "?" + urlencode({**kept, "after": f"{last.day.isoformat()}_{last.id}"})


def _chosen(counties: Sequence[Unit], county_id: int | None) -> Unit | None:
    found = next((c for c in counties if c.id == county_id), None)
    return found or (counties[0] if counties else None)


async def _choices(
    ctx: Ctx, county: Unit, first: dt.date, last: dt.date
) -> tuple[list[Unit], list[Person]]:
    """The units and officials with sittings in the window, of this county only."""
    choices = await citizens.sitting_choices(ctx.db, first, last)
    inside = [u for u in choices.units if u.path.startswith(county.path)]
    return inside, [p for p in choices.persons if p.county_id in (county.id, None)]


async def _county_list(
    ctx: Ctx, county: Unit, query: dict[str, int | None], after: str | None
) -> dict[str, Any]:
    today = local_today(ctx.clock)
    last = today + dt.timedelta(days=_policy(ctx).window_days)
    units, persons = await _choices(ctx, county, today, last)
    unit = query["unit"] if query["unit"] in {u.id for u in units} else None
    official = query["official"] if query["official"] in {p.id for p in persons} else None
    found = await bookings.published_sittings(
        ctx.db,
        today,
        last,
        unit=unit or county.id,
        person=official,
        after=_after(after),
        limit=PAGE_SIZE + 1,
    )
    views = await _views(ctx, found[:PAGE_SIZE])
    kept = {"county": county.id, "unit": unit, "official": official}
    return {
        "days": [(day, list(group)) for day, group in groupby(views, key=lambda v: v.sitting.day)],
        "unit": unit,
        "official": official,
        "unit_choices": [(u.id, u.name) for u in units],
        "official_choices": [(p.id, p.name) for p in persons],
        "more": _more_url(kept, found[PAGE_SIZE - 1]) if len(found) > PAGE_SIZE else None,
        "last": last,
    }


async def render_list(ctx: Ctx, query: dict[str, int | None], after: str | None) -> Template:
    counties = await clerks.clerk_counties(ctx.db, ctx.actor)
    county = _chosen(counties, query["county"])
    listed = await _county_list(ctx, county, query, after) if county else {"days": []}
    return page(
        ctx.request,
        "clerk/index.html",
        county=county,
        county_choices=[(c.id, c.name) for c in counties] if len(counties) > 1 else [],
        today=local_today(ctx.clock),
        policy=_policy(ctx),
        day_label=day_label,
        sitting_url=sitting_url,
        **listed,
    )


# ---------------------------------------------------------------- the form


async def render_form(
    ctx: Ctx,
    sitting_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    sitting = await clerks.clerk_sitting(ctx.db, ctx.actor, sitting_id)
    view = (await _views(ctx, [sitting]))[0]
    offered = channels_for(view, local_today(ctx.clock))
    shown = values or {"channel": str(offered[0]) if offered else ""}
    return private(
        page(
            ctx.request,
            "clerk/sitting.html",
            status_code=status_code,
            sitting=sitting,
            view=view,
            channels=[(str(c), STAFF_CHANNELS[c]) for c in offered],
            error=error,
            values=shown,
            policy=_policy(ctx),
            day_label=day_label,
            action=sitting_url(sitting.id),
            list_url=BOOK_URL,
            **form_choices(),
        )
    )


def _done_message(done: Booked) -> str:
    booking = done.booking
    if booking.channel == Channel.in_person:
        return f"现场登记成功，排队号：{booking.queue_number}号。"
    if booking.status == BookingStatus.waitlisted:
        return "已登记候补，有人取消后按登记先后递补；确认短信已排入发送队列。"
    return "电话预约成功，确认短信已排入发送队列。"


# ---------------------------------------------------------------- the confirmation


def _status_label(booking: Booking) -> str:
    walk_in = booking.channel == Channel.in_person
    if walk_in and booking.status == BookingStatus.booked:
        return "已登记，待签到"
    return CITIZEN_STATUS_LABELS.get(booking.status, booking.status)


def _channel_facts(ctx: Ctx, booking: Booking) -> dict[str, Any]:
    channel = Channel(booking.channel)
    mobile = _secrets(ctx).open(booking.mobile_enc)
    return {
        "walk_in": channel is Channel.in_person,
        "sms": channel is not Channel.in_person,
        "channel_label": STAFF_CHANNELS.get(channel, bookings.CHANNEL_LABELS[channel]),
        "mobile_masked": bookings.mask_mobile(mobile) if mobile else "未留手机号",
    }


async def render_booking(ctx: Ctx, code: str) -> Template:
    booking = await clerks.clerk_booking(ctx.db, ctx.actor, code)
    start, end = slot_times(booking)
    return private(
        page(
            ctx.request,
            "clerk/booking.html",
            booking=booking,
            sitting=booking.sitting,
            start=start,
            end=end,
            qr=qr_svg(booking.code),
            status_label=_status_label(booking),
            id_label=ID_LABELS.get(booking.id_type, booking.id_type),
            what_to_bring=WHAT_TO_BRING[_policy(ctx).jurisdiction],
            day_label=day_label,
            list_url=BOOK_URL,
            queue_url=QUEUE_URL,
            **_channel_facts(ctx, booking),
        )
    )


# ---------------------------------------------------------------- controllers


class ClerkPages(Controller):
    path = BOOK_URL
    include_in_schema = False

    @get("/", opt=CLERK_PAGE)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: str | None = None,
        unit: str | None = None,
        official: str | None = None,
        after: str | None = None,
    ) -> Template:
        """The sittings of the booking window, to book by phone or register a walk-in."""
        query = {"county": _number(county), "unit": _number(unit), "official": _number(official)}
        return await render_list(Ctx(request, db, actor, clock), query, after)

    @get("/sittings/{sitting_id:int}", opt=CLERK_PAGE)
    async def sitting(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        sitting_id: int,
    ) -> Template:
        return await render_form(Ctx(request, db, actor, clock), sitting_id)

    @post("/sittings/{sitting_id:int}", opt=CLERK_PAGE)
    async def book(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        sitting_id: int,
    ) -> Template | Redirect:
        """Book by phone or register a walk-in, with the same rules and confirmation as
        online; the SMS goes through the outbox in the same transaction."""
        ctx = Ctx(request, db, actor, clock)
        values = await read_form(request, STAFF_FIELDS)
        try:
            wanted = staff_request(sitting_id, values)
            done = await citizens.book_and_confirm(
                db, actor, clock.now(), wanted, _secrets(ctx), policy=_policy(ctx)
            )
        except DomainError as refusal:
            await db.rollback()
            return await render_form(
                ctx, sitting_id, status_code=refusal.status, error=refusal.detail, values=values
            )
        flash(request, _done_message(done))
        return Redirect(path=booking_url(done.booking.code), status_code=303)

    @get("/bookings/{code:str}", opt=CLERK_PAGE)
    async def booking(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        code: str,
    ) -> Template:
        """The staff confirmation: code, QR code, time or queue number, venue, what to
        bring, and the walk-in's slip to print."""
        return await render_booking(Ctx(request, db, actor, clock), code)


ROUTES = [ClerkPages]
