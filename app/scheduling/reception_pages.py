"""接访记录 pages: the record of one booking (/reception/{code}) and a lookup by booking code
(/reception) for the window.

The leader's page of the day links each received (or checked-in, or called) citizen here.
The form shows what the citizen booked about; saving is POST-redirect-GET. A refusal
re-renders the form with the reason, the HTTP status and what was typed, and saves
nothing. Once written, the record is shown instead of the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.clock import SHANGHAI, Clock
from app.core.codes import code_is_valid, normalise_code
from app.core.errors import DomainError
from app.core.forms import FormInvalid, text
from app.core.web import flash, nav_item, page
from app.scheduling import reception_services as receptions
from app.scheduling.booking_services import BOOKING_STATUS_LABELS, CHANNEL_LABELS, CLERKS
from app.scheduling.meeting_pages import Ctx
from app.scheduling.queue_pages import LEADER_URL, QUEUE_URL
from app.scheduling.schemas import RECORD_TEXT_MAX, ReceptionOutcome

RECORD_URL = "/reception"
RECORDERS_PAGE = allow(*receptions.RECORDERS)
CLERK_PAGE = allow(*CLERKS)
OUTCOME_CHOICES = [(str(o), receptions.OUTCOME_LABELS[o]) for o in ReceptionOutcome]

nav_item("接访记录", RECORD_URL, CLERKS, order=37)


def record_url(code: str) -> str:
    return f"{RECORD_URL}/{code}"


@dataclass(frozen=True, slots=True)
class Sent:
    """A record form that came back: what was typed, and why it was refused."""

    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


def _back(actor: Principal) -> str:
    return QUEUE_URL if actor.has_any(CLERKS) else LEADER_URL


async def render_record(
    ctx: Ctx, code: str, *, status_code: int = 200, sent: Sent | None = None
) -> Template:
    sheet = await receptions.record_sheet(ctx.db, ctx.actor, code)
    return page(
        ctx.request,
        "reception/record.html",
        status_code=status_code,
        sheet=sheet,
        booking=sheet.booking,
        sitting=sheet.booking.sitting,
        sent=sent or Sent(),
        outcome_choices=OUTCOME_CHOICES,
        outcome_labels=receptions.OUTCOME_LABELS,
        status_labels=BOOKING_STATUS_LABELS,
        channel_labels={str(k): v for k, v in CHANNEL_LABELS.items()},
        text_max=RECORD_TEXT_MAX,
        shanghai=SHANGHAI,
        url=record_url(sheet.booking.code),
        back=_back(ctx.actor),
    )


async def _sent_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {name: text(form, name) for name in ("raised", "answered", "outcome")}


def _parsed(values: Mapping[str, str]) -> tuple[str, str, ReceptionOutcome]:
    """Every empty field at once; the service checks the texts again (trimmed, length)."""
    errors = {
        name: f"请填写{label}。"
        for name, label in receptions.TEXT_LABELS.items()
        if not values.get(name, "").strip()
    }
    outcome = values.get("outcome", "")
    if outcome not in set(ReceptionOutcome):
        errors["outcome"] = "请选择接待结果：当场答复办结，或需立案办理。"
    if errors:
        raise FormInvalid(errors)
    return values["raised"], values["answered"], ReceptionOutcome(outcome)


def _refused(values: Mapping[str, str], refusal: DomainError) -> Sent:
    """A refusal about one field (a text too long) goes next to it; others above the form."""
    fields = refusal.extra.get("errors")
    if isinstance(fields, list) and fields and isinstance(fields[0], dict):
        return Sent(values, errors={str(fields[0]["key"]): refusal.detail})
    return Sent(values, error=refusal.detail)


class ReceptionPages(Controller):
    path = RECORD_URL
    include_in_schema = False

    @get("/", opt=CLERK_PAGE)
    async def index(self, request: Request[Any, Any, Any], code: str = "") -> Template | Redirect:
        """Find a booking's record by its code (a scanner types the QR code's content)."""
        wanted = normalise_code(code)
        if code_is_valid(wanted):
            return Redirect(path=record_url(wanted))
        error = "预约码有误，请核对后重新输入（预约码为9位字母和数字）。" if code else None
        return page(
            request,
            "reception/index.html",
            status_code=422 if error else 200,
            code=code,
            error=error,
            back=QUEUE_URL,
        )

    @get("/{code:str}", opt=RECORDERS_PAGE)
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        code: str,
    ) -> Template:
        return await render_record(Ctx(request, db, actor, clock), code)

    @post("/{code:str}", opt=RECORDERS_PAGE)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        code: str,
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        values = await _sent_values(request)
        try:
            raised, answered, outcome = _parsed(values)
            row = await receptions.record(db, actor, clock.now(), code, raised, answered, outcome)
        except FormInvalid as bad:
            await db.rollback()
            return await render_record(ctx, code, status_code=422, sent=Sent(values, bad.errors))
        except DomainError as refusal:
            await db.rollback()
            sent = _refused(values, refusal)
            return await render_record(ctx, code, status_code=refusal.status, sent=sent)
        label = receptions.OUTCOME_LABELS[row.outcome]
        flash(request, f"已保存{row.booking.name}的接访记录：{label}。")
        return Redirect(path=record_url(row.booking.code))


ROUTES = [ReceptionPages]
