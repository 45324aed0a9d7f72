"""离任交接 pages: the list (`/handovers`, a leader's own at `/handovers/mine`), opening
(`/handovers/new`, the office), one handover with the forms of whoever may act on it
(`/handovers/{id}`), its 交接书 (`/handovers/{id}/document.pdf`), and the signing PIN
(`/signing-key`).

Pages only parse and show: who may see and do what, the order of the signatures and every
refusal are the services'. A form is shown only to whoever may use it; a refusal rolls back,
re-renders the page with the Chinese reason and the refusal's status, and keeps what was
typed (never a password or PIN). A signature and a new signing PIN ask for the account
password again, counted like a sign-in. Writes are POST-redirect-GET; verification shows
its checks on the page it answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, own_records, signed_in
from app.core.auth.roles import REVIEWER_ROLES, ROLE_LABELS, STAFF_ROLES, Role
from app.core.clock import SHANGHAI, Clock
from app.core.errors import DomainError, NotFound
from app.core.forms import FormInvalid
from app.core.web import flash, nav_item, page, private, runtime_of
from app.handover import document, services, workflow
from app.handover import review_services as reviews
from app.handover import sign_services as signing
from app.handover.models import Handover
from app.handover.routes import (
    WRONG_PASSWORD,
    WRONG_PASSWORD_ENROL,
    dossier_of,
    ledger_access,
    password_again,
    pdf_response,
    signer_step,
    signing_keys,
    step_label,
    verdict_out,
)
from app.handover.schemas import VerdictOut
from app.handover.workflow import HandoverStatus, Reason, Step
from app.ledger.checkpoints import verifiers
from app.org import services as org
from app.org.models import Tenure

URL = "/handovers"
MINE_URL = f"{URL}/mine"
NEW_URL = f"{URL}/new"
KEY_URL = "/signing-key"
OFFICE_PAGE = allow(Role.office)
VERIFIER_PAGE = allow(Role.office, *REVIEWER_ROLES)
NOTE_FIELDS = (
    ("key_people", "重点人员", "需要继续关注的重点信访人员及其诉求、稳控措施"),
    ("risks", "风险隐患", "可能引发重复信访、越级上访或群体性事件的隐患"),
    ("unfinished", "未尽事项", "已承诺未兑现、正在协调中、需要接任者继续推进的事项"),
)
REASON_CHOICES = [(str(r), str(r)) for r in Reason]
REVIEWER_ROLES_ORDER = (
    Role.reviewer_discipline,
    Role.reviewer_organisation,
    Role.reviewer_petition,
)

nav_item("离任交接", URL, {Role.office}, order=39)
nav_item("交接档案", URL, REVIEWER_ROLES, order=39)
nav_item("我的离任交接", MINE_URL, {Role.leader}, order=39, own_records=True)
nav_item("签章密码", KEY_URL, STAFF_ROLES, order=76)


def handover_url(handover_id: int) -> str:
    return f"{URL}/{handover_id}"


def local(moment: dt.datetime | None) -> str:
    """A stored instant as Beijing time, for tables."""
    if moment is None:
        return "—"
    shown = moment.astimezone(SHANGHAI)
    return f"{shown.year}年{shown.month}月{shown.day}日 {shown:%H:%M}"


def day(value: dt.date | None) -> str:
    return document.cn_date(value.isoformat() if value else None)


# ---------------------------------------------------------------- what a form sent


class PasswordWrong(Exception):
    """The account password typed again was wrong: shown, and counted (never rolled back)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Sent:
    """A form that came back refused: which one, what was typed, and why."""

    form: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def of(self, form: str) -> Sent:
        return self if form == self.form else Sent(form)


SECRET_FIELDS = frozenset({"password", "pin", "pin_again"})


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


def kept(values: Mapping[str, str]) -> dict[str, str]:
    """What a re-rendered form shows again: everything but passwords and PINs."""
    return {k: v for k, v in values.items() if k not in SECRET_FIELDS}


class Fields:
    """Reads a posted form, gathering every complaint; `done()` refuses with all of them."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str:
        return self.values.get(name, "")

    def required(self, name: str, message: str) -> str:
        found = self.text(name)
        if not found:
            self.errors.setdefault(name, message)
        return found

    def number(self, name: str, message: str) -> int:
        found = self.optional_number(name, message)
        if found is None:
            self.errors.setdefault(name, message)
        return found or 0

    def optional_number(self, name: str, message: str) -> int | None:
        found = self.text(name)
        if found and not found.isdigit():
            self.errors.setdefault(name, message)
            return None
        return int(found) if found else None

    def date(self, name: str, label: str) -> dt.date:
        found = self.text(name)
        try:
            return dt.date.fromisoformat(found)
        except ValueError:
            message = f"{label}格式不正确，应为 2026-01-05 这样的日期。" if found else ""
            self.errors.setdefault(name, message or f"请填写{label}。")
            return dt.date.min

    def reason(self, name: str) -> Reason:
        try:
            return Reason(self.text(name))
        except ValueError:
            self.errors.setdefault(name, "请选择离任原因。")
            return Reason.other

    def done(self) -> None:
        if self.errors:
            raise FormInvalid(self.errors)


# ---------------------------------------------------------------- the request


@dataclass(frozen=True, slots=True)
class Ctx:
    request: Request[Any, Any, Any]
    db: AsyncSession
    actor: Principal
    clock: Clock

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    @property
    def today(self) -> dt.date:
        return services.local_today(self.clock.now())


# ---------------------------------------------------------------- choices


def tenure_label(t: Tenure, today: dt.date) -> str:
    since = f"，{day(t.start_date)}起" if t.start_date > today else ""
    return f"{t.person.name}（{t.post.unit.name}{t.post.title}{since}）"


async def departing_choices(ctx: Ctx) -> list[tuple[int, str]]:
    """Open tenures in scope, those of posts that require a handover first."""
    tenures = [
        t
        for t in await org.tenures_holding(
            ctx.db, ctx.actor.scope_paths({Role.office}), ctx.today, include_future=False
        )
        if t.end_date is None
    ]
    required = await services.required_posts(ctx.db, tenures)
    first = [t for t in tenures if t.post_id in required]
    rest = [t for t in tenures if t.post_id not in required]
    return [(t.id, tenure_label(t, ctx.today) + "（须办理离任交接）") for t in first] + [
        (t.id, tenure_label(t, ctx.today)) for t in rest
    ]


async def receiver_choices(ctx: Ctx) -> list[tuple[int, str]]:
    paths = ctx.actor.scope_paths({Role.office})
    tenures = await org.tenures_holding(ctx.db, paths, ctx.today, include_future=True)
    return [(t.id, tenure_label(t, ctx.today)) for t in tenures]


async def between_choices(db: AsyncSession, handover: Handover) -> list[tuple[int, str]]:
    """Who may have held the cases between the effective date and the archive: the two
    parties, or another official of the departing post's unit."""
    found = {
        handover.person_id: f"{handover.tenure.person.name}（离任领导）",
        handover.receiver_person_id: (
            f"{handover.receiver_tenure.person.name}（{receiving_label(handover)}）"
        ),
    }
    for t in await org.open_tenures_at(db, handover.tenure.post.unit_id):
        found.setdefault(t.person_id, f"{t.person.name}（{t.post.unit.name}{t.post.title}）")
    return list(found.items())


def receiving_label(handover: Handover) -> str:
    return workflow.signer_label(Step.receiving, handover.interim)


# ---------------------------------------------------------------- the list


@dataclass(frozen=True, slots=True)
class Row:
    handover: Handover
    status_label: str
    receiving_label: str
    mine: str  # 离任领导 / 接收方 / ""


async def list_rows(db: AsyncSession, actor: Principal, *, own_only: bool) -> list[Row]:
    rows = []
    for h in await services.visible_handovers(db, actor):
        access = await services.access_of(db, actor, h)
        mine = "离任领导" if access.departing else (receiving_label(h) if access.receiving else "")
        if own_only and not mine:
            continue
        status = workflow.STATUS_LABELS[HandoverStatus(h.status)]
        rows.append(Row(h, status, receiving_label(h), mine))
    return rows


def list_title(actor: Principal, own_only: bool) -> str:
    if own_only or not actor.has_any({Role.office, *REVIEWER_ROLES}):
        return "我的离任交接"
    return "离任交接" if actor.has_any({Role.office}) else "交接档案"


async def render_list(ctx: Ctx, *, own_only: bool) -> Template:
    rows = await list_rows(ctx.db, ctx.actor, own_only=own_only)
    return private(
        page(
            ctx.request,
            "handover/index.html",
            title=list_title(ctx.actor, own_only),
            rows=rows,
            under_way=[r for r in rows if HandoverStatus(r.handover.status) in workflow.UNDER_WAY],
            done=[r for r in rows if HandoverStatus(r.handover.status) not in workflow.UNDER_WAY],
            may_open=ctx.actor.has_any({Role.office}),
            own_only=own_only,
            day=day,
            local=local,
        )
    )


# ---------------------------------------------------------------- opening


async def render_new(ctx: Ctx, *, status_code: int = 200, sent: Sent | None = None) -> Template:
    return private(
        page(
            ctx.request,
            "handover/new.html",
            status_code=status_code,
            sent=sent or Sent("new"),
            departing=await departing_choices(ctx),
            receivers=await receiver_choices(ctx),
            reasons=REASON_CHOICES,
            today=ctx.today,
        )
    )


def opening_of(values: Mapping[str, str]) -> services.HandoverIn:
    form = Fields(values)
    data = services.HandoverIn(
        tenure_id=form.number("tenure_id", "请选择离任领导的任职。"),
        reason=form.reason("reason"),
        effective_date=form.date("effective_date", "离任日期"),
        receiver_tenure_id=form.number(
            "receiver_tenure_id", "请选择接收方：接任领导，或尚未任命时的临时接收人。"
        ),
        interim=form.text("interim") == "1",
    )
    form.done()
    return data


# ---------------------------------------------------------------- one handover


@dataclass(frozen=True, slots=True)
class Forms:
    """Which forms the page shows."""

    notes: bool
    render: bool
    receiver: bool
    withdraw: bool
    sign: Step | None
    verify: bool
    review: list[tuple[str, str]]  # the reviewer roles the viewer may review as


def forms_of(handover: Handover, access: services.Access, step: Step | None) -> Forms:
    status = HandoverStatus(handover.status)
    unsigned = status in workflow.UNSIGNED
    archived = status == HandoverStatus.archived
    return Forms(
        notes=access.departing and unsigned,
        render=(access.office or access.departing) and unsigned,
        receiver=access.office and unsigned,
        withdraw=access.office and status in workflow.UNDER_WAY,
        sign=step if handover.pdf is not None else None,
        verify=archived and (access.office or bool(access.reviewer_roles)),
        review=[
            (str(r), ROLE_LABELS[r]) for r in REVIEWER_ROLES_ORDER if r in access.reviewer_roles
        ],
    )


async def enrolled(db: AsyncSession, actor: Principal) -> bool:
    if actor.person_id is None:
        return False
    return await signing.signing_key_of(db, actor.person_id) is not None


async def render_show(
    ctx: Ctx,
    handover_id: int,
    *,
    status_code: int = 200,
    sent: Sent | None = None,
    verdict: VerdictOut | None = None,
) -> Template:
    handover, access = await services.get_handover(ctx.db, ctx.actor, handover_id)
    await ledger_access(ctx.db, ctx.actor, ctx.now, handover, "read")
    dossier, frozen = await dossier_of(ctx.db, handover, ctx.now)
    step = signer_step(handover, access)
    forms = forms_of(handover, access, step)
    late = forms.sign == Step.office and handover.effective_date < ctx.today
    archived = handover.status == HandoverStatus.archived
    return private(
        page(
            ctx.request,
            "handover/show.html",
            status_code=status_code,
            h=handover,
            access=access,
            status_label=workflow.STATUS_LABELS[HandoverStatus(handover.status)],
            receiving_label=receiving_label(handover),
            d=dossier,
            frozen=frozen,
            snapshot=document.local_time(dossier.snapshot_at),
            figures=document.figure_rows(dossier.figures),
            chart=document.figures_chart(dossier.figures),
            signatures=await services.signatures_of(ctx.db, handover.id),
            step_label=lambda s: step_label(handover, Step(s)),
            awaited=workflow.awaited_step(HandoverStatus(handover.status)),
            forms=forms,
            sign_label=step_label(handover, forms.sign) if forms.sign else "",
            enrolled=await enrolled(ctx.db, ctx.actor) if forms.sign else False,
            linked=ctx.actor.person_id is not None,
            late=late,
            between=await between_choices(ctx.db, handover) if late else [],
            receivers=await receiver_choices(ctx) if forms.receiver else [],
            discipline=await services.discipline_cases(ctx.db, handover)
            if access.discipline
            else [],
            reviews=await reviews.reviews_of(ctx.db, handover.id) if archived else [],
            verdict=verdict,
            sent=sent or Sent(),
            note_fields=NOTE_FIELDS,
            url=handover_url(handover.id),
            day=day,
            iso_day=document.cn_date,
            local=local,
            overdue=document.overdue_words,
            today=ctx.today,
        )
    )


# ---------------------------------------------------------------- the page's forms

Action = Callable[[Ctx, int, Mapping[str, str]], Awaitable[str]]


async def _notes(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    notes = services.NotesIn(
        key_people=values.get("key_people", ""),
        risks=values.get("risks", ""),
        unfinished=values.get("unfinished", ""),
    )
    await services.save_notes(ctx.db, ctx.actor, ctx.now, handover_id, notes)
    return "已保存交接事项。交接书须重新生成后才能签字。"


async def _render(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    keys = signing_keys(ctx.request)
    await signing.render(ctx.db, ctx.actor, ctx.now, handover_id, keys)
    return "已生成交接书，请下载核对后按顺序签字。"


async def _receiver(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    form = Fields(values)
    receiver = form.number("receiver_tenure_id", "请选择接收方。")
    form.done()
    data = services.ReceiverIn(receiver, interim=form.text("interim") == "1")
    handover = await services.change_receiver(ctx.db, ctx.actor, ctx.now, handover_id, data)
    # The loaded relationship still names the previous receiver: read the new one.
    named = await org.get_tenure(ctx.db, handover.receiver_tenure_id)
    return f"接收方已改为{named.person.name}（{receiving_label(handover)}）。"


async def _withdraw(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    await services.withdraw(ctx.db, ctx.actor, ctx.now, handover_id)
    return "已撤回该离任交接。"


async def _sign(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    form = Fields(values)
    password = form.required("password", "请再次输入您的登录密码。")
    pin = form.required("pin", "请输入签章密码。")
    seen = form.required("seen_sha256", "请先打开交接书核对后再签字。")
    between = form.optional_number("between_person_id", "请从列表中选择。")
    form.done()
    if not await password_again(ctx.db, ctx.request, ctx.actor, ctx.now, password):
        raise PasswordWrong(WRONG_PASSWORD)
    keys = signing_keys(ctx.request)
    data = signing.SignIn(pin, seen, between)
    handover = await signing.sign(ctx.db, ctx.actor, ctx.now, handover_id, keys, data)
    if handover.status == HandoverStatus.archived:
        return (
            f"已签字，交接已归档：{handover.moved_cases or 0} 件包案事项已移交"
            f"{handover.receiver_tenure.person.name}。"
        )
    waiting = workflow.awaited_step(HandoverStatus(handover.status))
    return f"已签字。现在等待{step_label(handover, waiting)}签字。" if waiting else "已签字。"


async def _review(ctx: Ctx, handover_id: int, values: Mapping[str, str]) -> str:
    chosen = values.get("role", "")
    role = Role(chosen) if chosen in REVIEWER_ROLES else None
    remark = values.get("remark", "")
    await reviews.review(ctx.db, ctx.actor, ctx.now, handover_id, remark, role=role)
    return "已记录“已审阅”。"


ACTIONS: Mapping[str, Action] = {
    "notes": _notes,
    "render": _render,
    "receiver": _receiver,
    "withdraw": _withdraw,
    "sign": _sign,
    "review": _review,
}


# ---------------------------------------------------------------- the signing PIN


async def render_key(
    ctx: Ctx, next_url: str, *, status_code: int = 200, sent: Sent | None = None
) -> Template:
    person = ctx.actor.person_id
    row = await signing.signing_key_of(ctx.db, person) if person is not None else None
    return private(
        page(
            ctx.request,
            "handover/signing_key.html",
            status_code=status_code,
            linked=person is not None,
            key=row,
            next_url=next_url,
            sent=sent or Sent("key"),
            local=local,
        )
    )


def safe_next(target: str | None) -> str:
    """Only this site's handover pages: the form must not send anyone elsewhere."""
    if target and target.startswith(URL + "/") and "//" not in target:
        return target
    return ""


async def enrol_from(ctx: Ctx, values: Mapping[str, str]) -> None:
    form = Fields(values)
    password = form.required("password", "请再次输入您的登录密码。")
    pin = form.required("pin", "请设置签章密码。")
    again = form.required("pin_again", "请再次输入签章密码。")
    if pin and again and pin != again:
        form.errors["pin_again"] = "两次输入的签章密码不一致。"
    form.done()
    if not await password_again(ctx.db, ctx.request, ctx.actor, ctx.now, password):
        raise PasswordWrong(WRONG_PASSWORD_ENROL)
    await signing.enrol(ctx.db, ctx.actor, ctx.now, signing_keys(ctx.request), pin)


# ---------------------------------------------------------------- controllers


class HandoverPages(Controller):
    path = URL
    include_in_schema = False

    @get("/", opt=own_records())
    async def index(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        """The handovers the viewer may see: the office its scope's, the parties their own,
        reviewers the archived ones in their scope."""
        return await render_list(Ctx(request, db, actor, clock), own_only=False)

    @get("/mine", opt=own_records())
    async def mine(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        """The viewer's own handovers, as departing official or receiver."""
        return await render_list(Ctx(request, db, actor, clock), own_only=True)

    @get("/new", opt=OFFICE_PAGE)
    async def new(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        return await render_new(Ctx(request, db, actor, clock))

    @post("/new", opt=OFFICE_PAGE)
    async def open(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        values = await form_of(request)
        try:
            handover = await services.open_handover(db, actor, clock.now(), opening_of(values))
        except FormInvalid as bad:
            await db.rollback()
            return await render_new(ctx, status_code=422, sent=Sent("new", values, bad.errors))
        except DomainError as refusal:
            await db.rollback()
            sent = Sent("new", values, error=refusal.detail)
            return await render_new(ctx, status_code=refusal.status, sent=sent)
        flash(request, "已发起离任交接。请离任领导填写交接事项，生成交接书后依次签字。")
        return Redirect(path=handover_url(handover.id), status_code=303)

    @get("/{handover_id:int}", opt=own_records())
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
    ) -> Template:
        """The handover: parties, the dossier as tables, the signatures so far, and the forms
        of whoever may act; 404 for anyone who may not see it."""
        return await render_show(Ctx(request, db, actor, clock), handover_id)

    @get("/{handover_id:int}/document.pdf", opt=own_records())
    async def document(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
    ) -> Response[bytes]:
        """The 交接书 as signed so far; a download of an archived one is ledgered."""
        handover, _ = await services.get_handover(db, actor, handover_id)
        response = pdf_response(handover)
        await ledger_access(db, actor, clock.now(), handover, "download")
        return response

    @post("/{handover_id:int}/verify", opt=VERIFIER_PAGE)
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
    ) -> Template:
        """校验: each check with ✓ or ✗ and why, against the PDF's checkpoint or one the
        reviewer saved (pasted)."""
        ctx = Ctx(request, db, actor, clock)
        values = await form_of(request)
        saved = values.get("checkpoint", "")
        try:
            found = await reviews.verify(
                db,
                actor,
                clock.now(),
                handover_id,
                verifiers(runtime_of(request).settings.keys_dir),
                signing_keys(request).ca_pem,
                saved or None,
            )
        except DomainError as refusal:
            await db.rollback()
            sent = Sent("verify", values, error=refusal.detail)
            return await render_show(ctx, handover_id, status_code=refusal.status, sent=sent)
        sent = Sent("verify", values)
        return await render_show(ctx, handover_id, sent=sent, verdict=verdict_out(found))

    @post("/{handover_id:int}/{action:str}", opt=signed_in())
    async def act(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
        action: str,
    ) -> Template | Redirect:
        """One of the page's forms: notes, render, receiver, withdraw, sign, review."""
        run = ACTIONS.get(action)
        if run is None:
            raise NotFound("您访问的地址不存在。")
        ctx = Ctx(request, db, actor, clock)
        values = await form_of(request)
        try:
            done = await run(ctx, handover_id, values)
        except PasswordWrong as wrong:  # the failed attempt is counted: no rollback
            sent = Sent(action, kept(values), error=wrong.message)
            return await render_show(ctx, handover_id, status_code=401, sent=sent)
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent(action, kept(values), bad.errors)
            return await render_show(ctx, handover_id, status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = Sent(action, kept(values), error=refusal.detail)
            return await render_show(ctx, handover_id, status_code=refusal.status, sent=sent)
        flash(request, done)
        return Redirect(path=handover_url(handover_id), status_code=303)


class SigningKeyPages(Controller):
    path = KEY_URL
    include_in_schema = False

    @get("/", opt=signed_in())
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        next: str | None = None,
    ) -> Template:
        """Whether a signing PIN is set, and the form to set or replace it."""
        return await render_key(Ctx(request, db, actor, clock), safe_next(next))

    @post("/", opt=signed_in())
    async def enrol(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        values = await form_of(request)
        target = safe_next(values.get("next"))
        try:
            await enrol_from(ctx, values)
        except PasswordWrong as wrong:  # counted like a failed sign-in: no rollback
            sent = Sent("key", kept(values), error=wrong.message)
            return await render_key(ctx, target, status_code=401, sent=sent)
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent("key", kept(values), bad.errors)
            return await render_key(ctx, target, status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = Sent("key", kept(values), error=refusal.detail)
            return await render_key(ctx, target, status_code=refusal.status, sent=sent)
        flash(request, "已设置签章密码。请牢记：系统不保存签章密码，忘记后只能重新设置。")
        return Redirect(path=target or KEY_URL, status_code=303)


ROUTES = [HandoverPages, SigningKeyPages]
