"""预约叫号 pages: the window's check-in (/queue), a venue's public board
(/queue/board/{venue}) and the leader's queue of the day (/queue/leader).

A booking's QR code carries its code, and a scanner types what it reads into the focused
field, so the check-in form is the scan. Writes are POST-redirect-GET; a refusal re-renders
the page it came from with the reason and changes nothing. The board is public: no
sign-in, queue numbers and masked names only, refreshed every 10 seconds without JavaScript.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, public
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI, Clock, local_today
from app.core.errors import DomainError, RuleViolation
from app.core.web import flash, nav_item, page
from app.scheduling import queue_services as queue
from app.scheduling import reception_services as receptions
from app.scheduling import services as scheduling
from app.scheduling.booking_services import (
    BOOKING_STATUS_LABELS,
    CHANNEL_LABELS,
    CLERKS,
    BookingStatus,
)
from app.scheduling.meeting_pages import Ctx

CLERK_PAGE = allow(*CLERKS)
LEADER_PAGE = allow(Role.leader)
RUNNERS = allow(*CLERKS, Role.leader)

QUEUE_URL = "/queue"
LEADER_URL = "/queue/leader"
BOARD_REFRESH_SECONDS = 10

nav_item("预约叫号", QUEUE_URL, CLERKS, order=35)
nav_item("今日接访", LEADER_URL, {Role.leader}, order=36)


def board_url(venue_id: int) -> str:
    return f"{QUEUE_URL}/board/{venue_id}"


def _labels() -> dict[str, Any]:
    return {
        "status_labels": BOOKING_STATUS_LABELS,
        "channel_labels": {str(k): v for k, v in CHANNEL_LABELS.items()},
        "board_url": board_url,
    }


async def render_queue(
    ctx: Ctx, *, status_code: int = 200, code: str = "", error: str | None = None
) -> Template:
    """The window: today's sittings in the clerk's scope, with the check-in field."""
    today = local_today(ctx.clock)
    within = ctx.actor.scope_paths(CLERKS)
    sittings = await queue.queue_sittings(ctx.db, today, within=within)
    queues = await queue.today_queue(ctx.db, [s.id for s in sittings], today)
    return page(
        ctx.request,
        "queue/index.html",
        status_code=status_code,
        today=today,
        queues=queues,
        code=code,
        error=error,
        back=QUEUE_URL,
        **_labels(),
    )


async def render_leader(ctx: Ctx, *, status_code: int = 200, error: str | None = None) -> Template:
    """The leader's own sittings today, each queue with the citizens' summaries and the
    reception records written so far."""
    today = local_today(ctx.clock)
    person = ctx.actor.person_id
    sittings = [] if person is None else await queue.queue_sittings(ctx.db, today, person=person)
    queues = await queue.today_queue(ctx.db, [s.id for s in sittings], today)
    records = await receptions.sitting_records(ctx.db, [s.id for s in sittings])
    return page(
        ctx.request,
        "queue/leader.html",
        status_code=status_code,
        today=today,
        queues=queues,
        records={r.booking_id: r for r in records},
        outcome_labels=receptions.OUTCOME_LABELS,
        recordable=receptions.RECORDABLE,
        linked=person is not None,
        error=error,
        back=LEADER_URL,
        **_labels(),
    )


def _back(actor: Principal, sent: object) -> str:
    """Where a button's page was: one of the two queue pages, never an address from outside."""
    if sent in (QUEUE_URL, LEADER_URL):
        return str(sent)
    return QUEUE_URL if actor.has_any(CLERKS) else LEADER_URL


async def _refused(ctx: Ctx, back: str, refusal: DomainError) -> Template:
    await ctx.db.rollback()
    if back == LEADER_URL:
        return await render_leader(ctx, status_code=refusal.status, error=refusal.detail)
    return await render_queue(ctx, status_code=refusal.status, error=refusal.detail)


def _outcome(sent: object) -> BookingStatus:
    try:
        return BookingStatus(str(sent))
    except ValueError:
        raise RuleViolation("接待结果只能是“已接待”或“未到”。") from None


class QueuePages(Controller):
    path = QUEUE_URL
    include_in_schema = False

    @get("/", opt=CLERK_PAGE)
    async def index(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        return await render_queue(Ctx(request, db, actor, clock))

    @get("/leader", opt=LEADER_PAGE)
    async def leader(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        return await render_leader(Ctx(request, db, actor, clock))

    @get("/board/{venue_id:int}", opt=public())
    async def board(self, db: AsyncSession, clock: Clock, venue_id: int) -> Template:
        """A venue's public screen; a plain Template, so a staff member's flash messages
        stay for their own pages."""
        venue = await scheduling.get_venue(db, venue_id)
        today = local_today(clock)
        return Template(
            template_name="queue/board.html",
            context={
                "venue": venue,
                "today": today,
                "updated": clock.now().astimezone(SHANGHAI),
                "sittings": await queue.public_board(db, venue_id, today),
                "refresh": BOARD_REFRESH_SECONDS,
            },
        )

    @post("/check-in", opt=CLERK_PAGE)
    async def check_in(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        code = str((await request.form()).get("code", "")).strip()
        try:
            if not code:
                raise RuleViolation("请输入或扫描预约码。")
            booking = await queue.check_in(db, actor, clock.now(), code)
        except DomainError as refusal:
            await db.rollback()
            return await render_queue(
                ctx, status_code=refusal.status, code=code, error=refusal.detail
            )
        flash(request, f"{booking.name}已签到，排队号：{booking.queue_number}号。")
        return Redirect(path=QUEUE_URL)

    @post("/sittings/{sitting_id:int}/call", opt=RUNNERS)
    async def call(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        sitting_id: int,
    ) -> Template | Redirect:
        back = _back(actor, (await request.form()).get("back"))
        try:
            called = await queue.call_next(db, actor, clock.now(), sitting_id)
        except DomainError as refusal:
            return await _refused(Ctx(request, db, actor, clock), back, refusal)
        if called is None:
            flash(request, "没有已签到等候的群众。", "info")
        else:
            flash(request, f"已叫号：请{called.queue_number}号{called.name}到接待室。")
        return Redirect(path=back)

    @post("/bookings/{code:str}/finish", opt=RUNNERS)
    async def finish(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        code: str,
    ) -> Template | Redirect:
        form = await request.form()
        back = _back(actor, form.get("back"))
        try:
            outcome = _outcome(form.get("outcome"))
            done = await queue.finish(db, actor, clock.now(), code, outcome)
        except DomainError as refusal:
            return await _refused(Ctx(request, db, actor, clock), back, refusal)
        number = f"{done.queue_number}号" if done.queue_number else ""
        flash(request, f"{number}{done.name}：已登记为“{BOOKING_STATUS_LABELS[outcome]}”。")
        return Redirect(path=back)


ROUTES = [QueuePages]
