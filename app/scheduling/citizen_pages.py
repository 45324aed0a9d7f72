"""预约接访: the citizen's public pages — no account, no JavaScript, phone first.

`/yuyue` lists the published sittings of the next 30 days by date; `/yuyue/sittings/{id}`
books one in three steps (a mobile number gets a one-time code, the code proves the number,
the form books); `/yuyue/bookings/{code}` is what the citizen keeps: the code in large type,
its QR code, the ledger receipt, an .ics invitation and the cancel button; `/yuyue/lookup`
finds a booking again by code and mobile number.

What a citizen has proven lives in the encrypted session cookie, never in an address: the
citizen token with its mobile number, and the booking codes matched with their number.
Writes are POST-redirect-GET. A refusal re-renders the page with the reason in Chinese and
changes nothing — except that a wrong one-time code and a failed lookup are still counted
(the attempt limit and the rate limit are the point), so those are not rolled back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from urllib.parse import urlencode

import segno
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.auth.routes import remote_of
from app.core.clock import SHANGHAI, Clock, local_today
from app.core.codes import normalise_code
from app.core.errors import DomainError, NotAuthenticated, RuleViolation
from app.core.personal_data import Secrets
from app.core.web import flash, page, private, runtime_of
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling import services as scheduling
from app.scheduling.booking_forms import (
    ID_LABELS,
    PARTY_MAX,
    SUMMARY_MAX,
    TOPICS,
    booking_request,
    read_form,
)
from app.scheduling.booking_services import (
    CHANNEL_LABELS,
    BookingStatus,
    Channel,
    Policy,
)
from app.scheduling.hours import span
from app.scheduling.ical import CalendarEvent, single_event
from app.scheduling.models import Booking, Sitting
from app.scheduling.representatives import WHAT_TO_BRING
from app.scheduling.slots import booking_closes, in_window

PUBLIC = public()
YUYUE_URL = "/yuyue"
LOOKUP_URL = f"{YUYUE_URL}/lookup"
LIST_DAYS = 30
PAGE_SIZE = 60
WEEKDAYS = "一二三四五六日"
QR_SCALE = 6
#: How many proven booking codes one browser keeps (a family may hold a few).
PROVEN_KEEP = 5
#: Session keys: the verified number with its citizen token; the number a code was sent
#: to; the booking codes proven, each with the number it was proven with.
_CITIZEN = "citizen"
_CODE_SENT = "citizen_code_sent"
_PROVEN = "citizen_bookings"
_CANCELLABLE = (BookingStatus.booked, BookingStatus.waitlisted)

CITIZEN_STATUS_LABELS: Mapping[str, str] = {
    BookingStatus.booked: "已预约",
    BookingStatus.waitlisted: "候补中",
    BookingStatus.checked_in: "已签到",
    BookingStatus.called: "已叫号",
    BookingStatus.cancelled: "已取消",
    BookingStatus.received: "已接待",
    BookingStatus.no_show: "未到",
}


def sitting_url(sitting_id: int) -> str:
    return f"{YUYUE_URL}/sittings/{sitting_id}"


def booking_url(code: str) -> str:
    return f"{YUYUE_URL}/bookings/{code}"


def day_label(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}"


@dataclass(frozen=True, slots=True)
class Visit:
    request: Request[Any, Any, Any]
    db: AsyncSession
    clock: Clock

    @property
    def secrets(self) -> Secrets:
        return runtime_of(self.request).secrets

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    @property
    def policy(self) -> Policy:
        return Policy.of(runtime_of(self.request).settings)


# ---------------------------------------------------------------- sittings as shown


@dataclass(frozen=True, slots=True)
class SlotView:
    start: str
    end: str
    left: int

    @property
    def full(self) -> bool:
        return self.left <= 0


@dataclass(frozen=True, slots=True)
class SittingView:
    sitting: Sitting
    slots: list[SlotView]
    #: When online booking closes, naive Asia/Shanghai.
    closes: dt.datetime
    bookable: bool

    @property
    def seats_left(self) -> int:
        return sum(s.left for s in self.slots)


def _view(
    sitting: Sitting, taken: Mapping[tuple[int, str], int], now: dt.datetime, policy: Policy
) -> SittingView:
    slots = [
        SlotView(
            f"{x.start:%H:%M}",
            f"{x.end:%H:%M}",
            max(0, x.seats - taken.get((sitting.id, f"{x.start:%H:%M}"), 0)),
        )
        for x in bookings.sitting_slots(sitting)
    ]
    closes = booking_closes(sitting.day, notice_days=policy.notice_days, closes_at=policy.closes_at)
    local = bookings.wall_clock(now)
    bookable = (
        sitting.status == "scheduled"
        and local < closes
        and in_window(sitting.day, local.date(), policy.window_days)
    )
    return SittingView(sitting, slots, closes, bookable)


async def sitting_views(v: Visit, sittings: list[Sitting]) -> list[SittingView]:
    taken = await bookings.seats_taken(v.db, [s.id for s in sittings])
    policy = v.policy
    return [_view(s, taken, v.now, policy) for s in sittings]


async def _require_bookable(v: Visit, sitting_id: int) -> None:
    sitting = await citizens.public_sitting(v.db, sitting_id)
    if not (await sitting_views(v, [sitting]))[0].bookable:
        raise RuleViolation("该场接访现在不能网上预约，请另选时间；接访当天可到现场登记。")


# ---------------------------------------------------------------- what the session holds


def refusal_status(refusal: DomainError) -> int:
    """A page answers a missing proof as a rule (422); 401 would send a citizen to the
    staff login."""
    return 422 if refusal.status == 401 else refusal.status


def _code_sent(request: Request[Any, Any, Any]) -> str | None:
    held = request.session.get(_CODE_SENT)
    return held if isinstance(held, str) else None


def _verified(v: Visit) -> tuple[str, str] | None:
    """The verified mobile number and its hash, while the citizen token holds."""
    held = v.request.session.get(_CITIZEN)
    if not isinstance(held, dict):
        return None
    mobile, token = str(held.get("mobile", "")), str(held.get("token", ""))
    try:
        ref = citizens.token_mobile(v.secrets, token, v.now)
    except NotAuthenticated:
        v.request.session.pop(_CITIZEN, None)
        return None
    return (mobile, ref) if ref == v.secrets.ref("mobile", mobile) else None


def _proven(request: Request[Any, Any, Any]) -> dict[str, str]:
    held = request.session.get(_PROVEN)
    return {str(k): str(m) for k, m in held.items()} if isinstance(held, dict) else {}


def _remember(request: Request[Any, Any, Any], code: str, mobile: str) -> None:
    others = [(k, m) for k, m in _proven(request).items() if k != code]
    request.session[_PROVEN] = dict([*others[-(PROVEN_KEEP - 1) :], (code, mobile)])


async def proven_booking(v: Visit, code: str) -> Booking | None:
    """The booking, if this browser proved its code with the right mobile number."""
    mobile = _proven(v.request).get(normalise_code(code))
    if mobile is None:
        return None
    try:
        return await bookings.find(v.db, code, mobile, v.secrets)
    except DomainError:
        return None


async def _prove(v: Visit, code: str, mobile: str) -> Booking:
    """Code and mobile number, limited per address; unknown code and wrong number get
    the same answer."""
    ip = remote_of(v.request)
    await citizens.require(v.db, f"lookup:ip:{ip}", citizens.LOOKUP_PER_IP, v.now, "查询")
    if not code.strip() or not mobile.strip():
        raise RuleViolation("请填写预约码和预约时使用的手机号码。")
    booking = await bookings.find(v.db, code, mobile, v.secrets)
    _remember(v.request, booking.code, mobile.strip())
    return booking


# ---------------------------------------------------------------- rendering


def _after(text: str | None) -> tuple[dt.date, int] | None:
    day, _, sitting_id = (text or "").partition("_")
    try:
        return dt.date.fromisoformat(day), int(sitting_id)
    except ValueError:
        return None


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What the public list is narrowed to: a place, an official, a 分管领域 topic."""

    unit: int | None = None
    official: int | None = None
    topic: str | None = None

    def url(self, after: Sitting | None = None) -> str:
        query = {"unit": self.unit, "official": self.official, "topic": self.topic}
        if after is not None:
            query["after"] = f"{after.day.isoformat()}_{after.id}"
        return YUYUE_URL + "?" + urlencode({k: v for k, v in query.items() if v})


async def render_list(v: Visit, wanted: ListFilter, after: str | None) -> Template:
    today = local_today(v.clock)
    last = today + dt.timedelta(days=LIST_DAYS)
    found = await bookings.published_sittings(
        v.db,
        today,
        last,
        unit=wanted.unit,
        person=wanted.official,
        topic=wanted.topic,
        after=_after(after),
        limit=PAGE_SIZE + 1,
    )
    shown = found[:PAGE_SIZE]
    views = await sitting_views(v, shown)
    choices = await citizens.sitting_choices(v.db, today, last)
    return page(
        v.request,
        "citizen/index.html",
        days=[(day, list(group)) for day, group in groupby(views, key=lambda x: x.sitting.day)],
        wanted=wanted,
        unit_choices=[
            (u.id, ("　" if u.kind in ("village", "community") else "") + u.name)
            for u in choices.units
        ],
        official_choices=[(p.id, p.name) for p in choices.persons],
        topic_choices=[(t, t) for t in choices.topics],
        more=wanted.url(shown[-1]) if len(found) > PAGE_SIZE else None,
        today=today,
        last=last,
        policy=v.policy,
        day_label=day_label,
        sitting_url=sitting_url,
    )


def _step(v: Visit) -> tuple[str, str | None]:
    verified = _verified(v)
    if verified is not None:
        return "form", verified[0]
    sent = _code_sent(v.request)
    return ("code", sent) if sent else ("mobile", None)


async def render_sitting(
    v: Visit,
    sitting_id: int,
    *,
    status_code: int = 200,
    error: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Template:
    sitting = await citizens.public_sitting(v.db, sitting_id)
    view = (await sitting_views(v, [sitting]))[0]
    step, mobile = _step(v)
    template = page(
        v.request,
        "citizen/sitting.html",
        status_code=status_code,
        view=view,
        sitting=sitting,
        step=step,
        mobile_masked=bookings.mask_mobile(mobile) if mobile else None,
        error=error,
        values=values or {},
        id_types=list(ID_LABELS.items()),
        topics=[(t, t) for t in TOPICS],
        summary_max=SUMMARY_MAX,
        party_max=PARTY_MAX,
        day_label=day_label,
        base=sitting_url(sitting.id),
    )
    return private(template)


def slot_times(booking: Booking) -> tuple[dt.time, dt.time]:
    """The booking's slot; a walk-in (no slot) spans the sitting's hours."""
    found = next(
        (
            s
            for s in bookings.sitting_slots(booking.sitting)
            if f"{s.start:%H:%M}" == booking.slot_start
        ),
        None,
    )
    if found is not None:
        return found.start, found.end
    return span(scheduling.sitting_hours(booking.sitting)) or (dt.time(0, 0), dt.time(23, 59))


def qr_svg(code: str) -> str:
    """The code as an inline SVG QR code: a regular QR symbol (never Micro QR, which many
    window scanners do not read), error correction level M, sized by the page's CSS."""
    symbol = segno.make_qr(code, error="m")
    svg: str = symbol.svg_inline(scale=QR_SCALE, omitsize=True, title=f"预约码 {code}")
    return svg


async def render_booking(
    v: Visit, booking: Booking, *, status_code: int = 200, error: str | None = None
) -> Template:
    start, end = slot_times(booking)
    return private(
        page(
            v.request,
            "citizen/booking.html",
            status_code=status_code,
            booking=booking,
            sitting=booking.sitting,
            start=start,
            end=end,
            qr=qr_svg(booking.code),
            receipt=await citizens.booking_receipt(v.db, booking),
            status_label=CITIZEN_STATUS_LABELS.get(booking.status, booking.status),
            channel_label=CHANNEL_LABELS.get(Channel(booking.channel), booking.channel),
            id_label=ID_LABELS.get(booking.id_type, booking.id_type),
            what_to_bring=WHAT_TO_BRING[v.policy.jurisdiction],
            cancellable=booking.status in _CANCELLABLE,
            error=error,
            day_label=day_label,
            url=booking_url(booking.code),
            list_url=YUYUE_URL,
        )
    )


def render_prove(
    v: Visit, code: str, *, status_code: int = 200, error: str | None = None, mobile: str = ""
) -> Template:
    wanted = normalise_code(code)
    return private(
        page(
            v.request,
            "citizen/prove.html",
            status_code=status_code,
            code=wanted,
            url=booking_url(wanted),
            error=error,
            mobile=mobile,
        )
    )


def render_lookup(
    v: Visit, *, status_code: int = 200, error: str | None = None, code: str = ""
) -> Template:
    return private(
        page(v.request, "citizen/lookup.html", status_code=status_code, error=error, code=code)
    )


async def booking_invite(v: Visit, booking: Booking) -> bytes:
    """The .ics invitation: one UID for the booking's life, SEQUENCE the booking's, and a
    cancelled booking as STATUS:CANCELLED so the calendar drops it."""
    s = booking.sitting
    start, end = slot_times(booking)
    cancelled = booking.status == BookingStatus.cancelled
    summary = f"接访预约：{s.person.name}（预约码{booking.code}）"
    event = CalendarEvent(
        uid=f"booking-{booking.code}@{await scheduling.deployment_name(v.db)}",
        sequence=booking.sequence,
        start=dt.datetime.combine(s.day, start, SHANGHAI),
        end=dt.datetime.combine(s.day, end, SHANGHAI),
        summary=f"【已取消】{summary}" if cancelled else summary,
        location=f"{s.venue.name}，{s.venue.address}",
        description="\n".join(
            [
                f"预约码：{booking.code}",
                f"接访领导：{s.person.name}（{s.rule.name}）",
                f"地点：{s.venue.name}（{s.venue.address}）",
                WHAT_TO_BRING[v.policy.jurisdiction],
                "本预约已取消。"
                if cancelled
                else "查看或取消请凭预约码和手机号在“预约接访”页办理。",
            ]
        ),
        cancelled=cancelled,
        last_modified=booking.updated_at,
    )
    return single_event(event, now=booking.updated_at)


# ---------------------------------------------------------------- controllers


class CitizenPages(Controller):
    path = YUYUE_URL
    include_in_schema = False

    @get("/", opt=PUBLIC)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        unit: str | None = None,
        official: str | None = None,
        topic: str | None = None,
        after: str | None = None,
    ) -> Template:
        """Published sittings of the next 30 days, by date; by unit, official or topic."""
        wanted = ListFilter(_number(unit), _number(official), (topic or "").strip()[:32] or None)
        return await render_list(Visit(request, db, clock), wanted, after)

    @get("/sittings/{sitting_id:int}", opt=PUBLIC)
    async def sitting(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, sitting_id: int
    ) -> Template:
        return await render_sitting(Visit(request, db, clock), sitting_id)

    @post("/sittings/{sitting_id:int}/mobile", opt=PUBLIC)
    async def send_code(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, sitting_id: int
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        typed = str((await request.form()).get("mobile", "")).strip()
        try:
            await _require_bookable(v, sitting_id)
            mobile = bookings.normalise_mobile(typed)
            await citizens.send_code(db, v.secrets, v.now, mobile, remote_of(request))
        except DomainError as refusal:
            await db.rollback()
            values = {"mobile": typed}
            return await render_sitting(
                v,
                sitting_id,
                status_code=refusal_status(refusal),
                error=refusal.detail,
                values=values,
            )
        request.session.pop(_CITIZEN, None)
        request.session[_CODE_SENT] = mobile
        minutes = citizens.CODE_MINUTES
        flash(request, f"验证码已发送至{bookings.mask_mobile(mobile)}，{minutes}分钟内有效。")
        return Redirect(path=sitting_url(sitting_id) + "#step")

    @post("/sittings/{sitting_id:int}/verify", opt=PUBLIC)
    async def verify(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, sitting_id: int
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        mobile = _code_sent(request)
        code = str((await request.form()).get("code", "")).strip()
        try:
            if mobile is None:
                raise RuleViolation("请先填写手机号码获取验证码。")
            token = await citizens.verify_code(db, v.secrets, v.now, mobile, code)
        except DomainError as refusal:
            # Not rolled back: a wrong code's attempt stays counted (five per code).
            return await render_sitting(
                v, sitting_id, status_code=refusal_status(refusal), error=refusal.detail
            )
        request.session.pop(_CODE_SENT, None)
        request.session[_CITIZEN] = {"mobile": mobile, "token": token}
        flash(request, "手机号已验证，请填写预约信息。")
        return Redirect(path=sitting_url(sitting_id) + "#step")

    @post("/sittings/{sitting_id:int}/restart", opt=PUBLIC)
    async def restart(self, request: Request[Any, Any, Any], sitting_id: int) -> Redirect:
        """Another mobile number, or a new code: back to the first step."""
        request.session.pop(_CITIZEN, None)
        request.session.pop(_CODE_SENT, None)
        return Redirect(path=sitting_url(sitting_id) + "#step")

    @post("/sittings/{sitting_id:int}/book", opt=PUBLIC)
    async def book(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, sitting_id: int
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        values = await read_form(request)
        try:
            verified = _verified(v)
            if verified is None:
                raise NotAuthenticated("手机号验证已过期，请重新获取验证码。")
            wanted = booking_request(sitting_id, verified[0], values)
            await citizens.count_booking(db, v.now, remote_of(request), verified[1])
            async with db.begin_nested():
                done = await citizens.book_and_confirm(
                    db, None, v.now, wanted, v.secrets, citizen=verified[1], policy=v.policy
                )
        except DomainError as refusal:
            return await render_sitting(
                v,
                sitting_id,
                status_code=refusal_status(refusal),
                error=refusal.detail,
                values=values,
            )
        _remember(request, done.booking.code, verified[0])
        waiting = done.booking.status == BookingStatus.waitlisted
        flash(request, "已登记候补，有人取消后按登记先后递补。" if waiting else "预约成功。")
        return Redirect(path=booking_url(done.booking.code))

    @get("/lookup", opt=PUBLIC)
    async def lookup_form(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template:
        return render_lookup(Visit(request, db, clock))

    @post("/lookup", opt=PUBLIC)
    async def lookup(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        form = await request.form()
        code, mobile = str(form.get("code", "")).strip(), str(form.get("mobile", ""))
        try:
            booking = await _prove(v, code, mobile)
        except DomainError as refusal:
            # Not rolled back: the failed lookup stays counted against the address.
            return render_lookup(
                v, status_code=refusal_status(refusal), error=refusal.detail, code=code
            )
        return Redirect(path=booking_url(booking.code))

    @get("/bookings/{code:str}", opt=PUBLIC)
    async def booking(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template:
        """The confirmation, once this browser has proven the code's mobile number."""
        v = Visit(request, db, clock)
        found = await proven_booking(v, code)
        return render_prove(v, code) if found is None else await render_booking(v, found)

    @post("/bookings/{code:str}", opt=PUBLIC)
    async def prove(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        mobile = str((await request.form()).get("mobile", ""))
        try:
            booking = await _prove(v, code, mobile)
        except DomainError as refusal:
            status = refusal_status(refusal)
            return render_prove(v, code, status_code=status, error=refusal.detail, mobile=mobile)
        return Redirect(path=booking_url(booking.code))

    @post("/bookings/{code:str}/cancel", opt=PUBLIC)
    async def cancel(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        found = await proven_booking(v, code)
        if found is None:
            return Redirect(path=booking_url(normalise_code(code)))
        try:
            await citizens.cancel_and_notify(db, None, v.now, found, v.secrets)
        except DomainError as refusal:
            await db.rollback()
            again = await proven_booking(v, code)
            assert again is not None
            return await render_booking(
                v, again, status_code=refusal_status(refusal), error=refusal.detail
            )
        flash(request, "预约已取消。")
        return Redirect(path=booking_url(found.code))

    @get("/bookings/{code:str}/invite.ics", opt=PUBLIC)
    async def invite(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Response[bytes] | Redirect:
        v = Visit(request, db, clock)
        found = await proven_booking(v, code)
        if found is None:
            return Redirect(path=booking_url(normalise_code(code)))
        return Response(
            await booking_invite(v, found),
            media_type="text/calendar; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="yuyue-{found.code}.ics"',
                "Cache-Control": "no-store",
            },
        )


ROUTES = [CitizenPages]
