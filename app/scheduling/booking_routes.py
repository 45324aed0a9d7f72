"""Booking JSON API: published sittings with free seats, and bookings by code.

Thin: parse, authorise, call a booking service, serialise. A clerk books by phone or in
person with a Bearer token; a citizen manages a booking with its code and the mobile
number it was made with (header `X-Citizen-Mobile`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import HeaderParameter, Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, public
from app.core.auth.routes import remote_of
from app.core.clock import Clock
from app.core.errors import DomainError, NotAuthenticated, RuleViolation
from app.core.identity import IdType
from app.core.personal_data import Secrets
from app.core.problems import on_domain_error
from app.core.web import runtime_of
from app.ledger.services import Receipt
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling.booking_services import BookingRequest, Channel
from app.scheduling.models import Booking, Sitting
from app.scheduling.schemas import (
    BookingIn,
    BookingOut,
    CodeIn,
    MobileIn,
    ReceiptOut,
    RescheduleIn,
    SittingOut,
    SittingPage,
    SlotOut,
)
from app.scheduling.slots import slots_of

CitizenToken = Annotated[str | None, HeaderParameter(name="X-Citizen-Token", max_length=512)]
Mobile = Annotated[str, HeaderParameter(name="X-Citizen-Mobile", min_length=1, max_length=20)]
#: Staff who book for citizens and check them in.
CLERK = allow(*bookings.CLERKS)
DEFAULT_DAYS = 30
MAX_LIMIT = 500


def _secrets(request: Request[Any, Any, Any]) -> Secrets:
    return runtime_of(request).secrets


def booking_out(booking: Booking, receipt: Receipt | None = None) -> BookingOut:
    s = booking.sitting
    return BookingOut(
        code=booking.code,
        status=booking.status,
        channel=booking.channel,
        sitting_id=s.id,
        date=s.day,
        slot_start=booking.slot_start,
        queue_number=booking.queue_number,
        official=s.person.name,
        venue=s.venue.name,
        address=s.venue.address,
        id_masked=booking.id_masked,
        party_size=booking.party_size,
        receipt=ReceiptOut(receipt.origin, receipt.seq, receipt.leaf_hash.hex())
        if receipt
        else None,
    )


def _request(data: BookingIn) -> BookingRequest:
    try:
        channel, id_type = Channel(data.channel), IdType(data.id_type)
    except ValueError as bad:
        raise RuleViolation("渠道或证件类型不正确。") from bad
    return BookingRequest(
        sitting_id=data.sitting_id,
        channel=channel,
        name=data.name,
        mobile=data.mobile,
        id_type=id_type,
        id_number=data.id_number,
        topic=data.topic,
        summary=data.summary,
        slot_start=data.slot_start,
        party_size=data.party_size,
        representatives=tuple(data.representatives),
        waitlist=data.waitlist,
    )


def _cursor(day: dt.date, sitting_id: int) -> str:
    return base64.urlsafe_b64encode(f"{day.isoformat()}|{sitting_id}".encode()).decode()


def _after(cursor: str | None) -> tuple[dt.date, int] | None:
    if not cursor:
        return None
    try:
        day, sid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return dt.date.fromisoformat(day), int(sid)
    except (ValueError, UnicodeDecodeError) as bad:
        raise RuleViolation("分页游标不正确。") from bad


@functools.lru_cache(maxsize=1024)
def _slot_texts(
    sessions: tuple[tuple[str, str], ...], minutes: int, seats: int
) -> tuple[tuple[str, str, int], ...]:
    """(start, end, seats) of each slot, as `sitting_slots` cuts them. A page lists up to
    500 sittings with a dozen slots each, and venues share a few session layouts: cutting
    and formatting every sitting's slots anew cost more than the page's query."""
    return tuple(
        (f"{x.start:%H:%M}", f"{x.end:%H:%M}", x.seats) for x in slots_of(sessions, minutes, seats)
    )


def _sitting_out(s: Sitting, taken: dict[tuple[int, str], int]) -> SittingOut:
    venue = s.venue
    texts = _slot_texts(
        tuple(bookings.booking_sessions(s)), venue.slot_minutes, venue.seats_per_slot
    )
    slots = [
        SlotOut(start, end, max(0, seats - taken.get((s.id, start), 0)))
        for start, end, seats in texts
    ]
    return SittingOut(
        s.id,
        s.day,
        s.rule.name,
        s.person.name,
        s.venue.name,
        s.venue.address,
        sum(x.seats_left for x in slots),
        slots,
    )


class SittingApi(Controller):
    path = "/api/v1/sittings"
    tags = ("bookings",)

    @get("/", opt=public())
    async def list_sittings(
        self,
        db: AsyncSession,
        clock: Clock,
        from_: Annotated[dt.date | None, QueryParameter(name="from")] = None,
        to: dt.date | None = None,
        unit: int | None = None,
        official: int | None = None,
        topic: Annotated[str | None, Parameter(max_length=32)] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 100,
        cursor: str | None = None,
    ) -> SittingPage:
        """Published sittings (30 days from today by default) with free seats per slot;
        `topic` keeps the officials whose 分管领域 names it."""
        first = from_ or clock.now().astimezone(bookings.SHANGHAI).date()
        last = to or first + dt.timedelta(days=DEFAULT_DAYS)
        found = await bookings.published_sittings(
            db,
            first,
            last,
            unit=unit,
            person=official,
            topic=topic,
            after=_after(cursor),
            limit=limit + 1,
        )
        page = found[:limit]
        taken = await bookings.seats_taken(db, [s.id for s in page])
        more = _cursor(page[-1].day, page[-1].id) if len(found) > limit else None
        return SittingPage([_sitting_out(s, taken) for s in page], more)


class BookingApi(Controller):
    path = "/api/v1/bookings"
    tags = ("bookings",)

    @post("/", opt=public())
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        principal: Principal | None,
        clock: Clock,
        data: BookingIn,
        citizen_token: CitizenToken = None,
    ) -> BookingOut | Response[Any]:
        """A citizen books online with the token of a verified mobile number (header
        `X-Citizen-Token`), limited per address and number; a clerk books by phone or
        registers a walk-in with a Bearer token."""
        wanted, secrets = _request(data), _secrets(request)
        policy = bookings.Policy.of(runtime_of(request).settings)
        if wanted.channel is not Channel.online:
            done = await citizens.book_and_confirm(
                db, principal, clock.now(), wanted, secrets, policy=policy
            )
            return booking_out(done.booking, done.receipt)
        if not citizen_token:
            raise NotAuthenticated("网上预约须先用短信验证码验证手机号。")
        citizen = citizens.token_mobile(secrets, citizen_token, clock.now())
        try:
            await citizens.count_booking(db, clock.now(), remote_of(request), citizen)
            async with db.begin_nested():
                done = await citizens.book_and_confirm(
                    db, None, clock.now(), wanted, secrets, citizen=citizen, policy=policy
                )
        except DomainError as refusal:
            return refused(request, refusal)
        return booking_out(done.booking, done.receipt)

    @get("/{code:str}", opt=public())
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        mobile: Mobile,
    ) -> BookingOut | Response[Any]:
        try:
            booking = await _look_up(request, db, clock, code, mobile)
        except DomainError as refusal:
            return refused(request, refusal)
        return booking_out(booking)

    @delete("/{code:str}", opt=public(), status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        mobile: Mobile,
    ) -> BookingOut | Response[Any]:
        try:
            booking = await _look_up(request, db, clock, code, mobile)
            await citizens.cancel_and_notify(db, None, clock.now(), booking, _secrets(request))
        except DomainError as refusal:
            return refused(request, refusal)
        return booking_out(booking)

    @post("/{code:str}/reschedule", opt=public(), status_code=200)
    async def reschedule(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        mobile: Mobile,
        data: RescheduleIn,
    ) -> BookingOut | Response[Any]:
        """Move the booking to another slot or sitting; the code stays. 409 when the new
        slot is full (unless `waitlist`), 422 when a rule refuses; nothing moves then."""
        to = bookings.NewTime(data.sitting_id, data.slot_start, data.waitlist)
        policy = bookings.Policy.of(runtime_of(request).settings)
        try:
            booking = await _look_up(request, db, clock, code, mobile)
            await citizens.count_booking(db, clock.now(), remote_of(request), booking.mobile_hash)
            async with db.begin_nested():
                moved = await citizens.reschedule_and_notify(
                    db, None, clock.now(), booking, to, _secrets(request), policy
                )
        except DomainError as refusal:
            return refused(request, refusal)
        return booking_out(moved.booking, moved.receipt)


async def _look_up(
    request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str, mobile: str
) -> Booking:
    """Counted against the caller's address, so guessing codes and numbers runs out."""
    now = clock.now()
    await citizens.require(
        db, f"lookup:ip:{remote_of(request)}", citizens.LOOKUP_PER_IP, now, "查询"
    )
    return await bookings.find(db, code, mobile, _secrets(request))


def refused(request: Request[Any, Any, Any], refusal: DomainError) -> Response[Any]:
    """A refusal answered without raising: the transaction commits what must count even
    when the answer is no (a lookup against the rate limit, a wrong code's attempt)."""
    return on_domain_error(request, refusal)


class OneTimeCodeApi(Controller):
    path = "/api/v1/otp"
    tags = ("bookings",)

    @post("/", opt=public(), status_code=202)
    async def send(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, data: MobileIn
    ) -> dict[str, str] | Response[Any]:
        """Send a one-time code by SMS (limited per number and per address)."""
        try:
            await citizens.send_code(
                db, _secrets(request), clock.now(), data.mobile, remote_of(request)
            )
        except DomainError as refusal:
            return refused(request, refusal)
        return {"detail": "验证码已发送，5分钟内有效。"}

    @post("/verify", opt=public(), status_code=200)
    async def verify(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, data: CodeIn
    ) -> dict[str, str] | Response[Any]:
        try:
            token = await citizens.verify_code(
                db, _secrets(request), clock.now(), data.mobile, data.code
            )
        except DomainError as refusal:
            return refused(request, refusal)
        return {"citizen_token": token}


ROUTES = [SittingApi, BookingApi, OneTimeCodeApi]
