"""信访事项 pages for staff: 我的包案 (`/cases/mine`), finding a case by its 诉求码
(`/cases`), the case page with the forms of whoever may act on it (`/cases/{id}`), intake
(`/cases/new`, also from a reception record: `/cases/new?reception=<id>`), and the unit
handler's 交办事项 (`/assignments`).

Pages only parse and show: every rule (scope, recusal, the transition table, the clocks) is
the services', the same ones the JSON API calls. A form is shown only to whoever may use it,
and the service refuses anyway; a refusal rolls back, re-renders the page with the Chinese
reason and the refusal's status, and keeps what was typed. Re-rendering reads the case
afresh through `case_sheet`, so whoever may not read it (the accused first of all) gets the
same 404 as for a case that does not exist. Lists never show a case its viewer is recused
from. Writes are POST-redirect-GET.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, require_scope, signed_in
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI, Clock
from app.core.codes import code_is_valid, normalise_code
from app.core.errors import DomainError, NotFound
from app.core.forms import FormInvalid
from app.core.holidays import calendar_for
from app.core.identity import ID_TYPE_LABELS, IdType
from app.core.personal_data import Secrets
from app.core.web import flash, nav_item, page, private, runtime_of
from app.core.workdays import WorkCalendar
from app.org.models import Person, Post, Tenure, Unit
from app.ownership import assignment_services as assignments
from app.ownership import deadlines, read_services, recusal, services
from app.ownership import owner_services as owners
from app.ownership import workflow as wf
from app.ownership.models import Case, CaseAccused, CaseAssignment, CaseOwner, CaseUnit
from app.ownership.petitioners import PETITIONERS_MAX, PetitionerIn
from app.ownership.read_services import CaseSheet, ClockView
from app.ownership.visibility import SCOPE_READERS, readable_case, viewer_of
from app.scheduling import reception_services as receptions
from app.scheduling import services as scheduling
from app.scheduling.booking_forms import TOPICS

E = TypeVar("E")

CASES_URL = "/cases"
MINE_URL = f"{CASES_URL}/mine"
NEW_URL = f"{CASES_URL}/new"
ASSIGNMENTS_URL = "/assignments"
BACKLOGGERS = frozenset({Role.supervisor, Role.admin})
LEADER_PAGE = allow(Role.leader)
REGISTER_PAGE = allow(*services.REGISTRARS)
HANDLER_PAGE = allow(Role.unit_handler)
PageNo = Annotated[int, QueryParameter(name="page", required=False)]
#: Petitioner rows the intake form shows at first; `?rows=` asks for more.
PETITIONER_ROWS = 2
TEXT_MAX = services.TEXT_MAX
NOT_FOUND = "找不到该信访事项。"

nav_item("信访事项", CASES_URL, SCOPE_READERS, order=38)
nav_item("我的包案", MINE_URL, {Role.leader}, order=38)
nav_item("交办事项", ASSIGNMENTS_URL, {Role.unit_handler}, order=38)

CLOCK_STATE_LABELS = {"running": "计时中", "stopped": "已停止", "superseded": "已重算"}
TERRITORIAL_KINDS = ("county", "township", "street", "village", "community")
CLAIM_CHOICES = [(str(n), f"第{n}项：{label}") for n, label in wf.CLAIM_ROUTES.items()]
ASSIGN_ROLE_CHOICES = [(str(r), label) for r, label in assignments.ASSIGN_ROLE_LABELS.items()]
ANSWER_LABELS = {
    assignments.AssignmentStatus.objected: "提出异议",
    assignments.AssignmentStatus.reported: "报到",
    assignments.AssignmentStatus.replied: "回复",
}


def case_url(case_id: int) -> str:
    return f"{CASES_URL}/{case_id}"


# ---------------------------------------------------------------- what a form sent


@dataclass(frozen=True, slots=True)
class Posted:
    """A submitted form: each field's values as typed."""

    fields: Mapping[str, list[str]] = field(default_factory=dict)

    def one(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip() if isinstance(values[0], str) else ""

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if isinstance(v, str) and v.strip()]


async def posted_of(request: Request[Any, Any, Any]) -> Posted:
    form = await request.form()
    return Posted({k: [v for v in vs if isinstance(v, str)] for k, vs in form.dict().items()})


class Reader:
    """Reads a posted form field by field, gathering every complaint; `done()` refuses
    with all of them. A field that failed reads as a placeholder never used, since
    `done()` comes before the values are."""

    def __init__(self, posted: Posted) -> None:
        self.posted = posted
        self.errors: dict[str, str] = {}

    def text(self, name: str) -> str:
        return self.posted.one(name)

    def _fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def choice(self, kind: type[E], name: str, message: str) -> E:
        try:
            return kind(self.text(name))  # type: ignore[call-arg]
        except ValueError:
            self._fail(name, message)
            return next(iter(kind))  # type: ignore[call-overload, no-any-return]

    def date(self, name: str, label: str) -> dt.date:
        found = self.optional_date(name, label)
        if found is None and name not in self.errors:
            self._fail(name, f"请填写{label}。")
        return found or dt.date.min

    def optional_date(self, name: str, label: str) -> dt.date | None:
        value = self.text(name)
        try:
            return dt.date.fromisoformat(value) if value else None
        except ValueError:
            self._fail(name, f"{label}格式不正确，应为 2026-01-05 这样的日期。")
            return None

    def number(self, name: str, message: str) -> int:
        found = self.optional_number(name, message)
        if found is None:
            self._fail(name, message)
        return found or 0

    def optional_number(self, name: str, message: str) -> int | None:
        value = self.text(name)
        if not value:
            return None
        if not value.isdigit():
            self._fail(name, message)
            return None
        return int(value)

    def ids(self, name: str, message: str) -> list[int]:
        values = self.posted.all(name)
        if not all(v.isdigit() for v in values):
            self._fail(name, message)
            return []
        return [int(v) for v in values]

    def done(self) -> None:
        if self.errors:
            raise FormInvalid(self.errors)


@dataclass(frozen=True, slots=True)
class Sent:
    """A form that came back refused: which one, what was typed, and why."""

    form: str = ""
    values: Posted = field(default_factory=Posted)
    errors: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def of(self, form: str) -> Sent:
        """This refusal if it concerns `form`, else a blank form."""
        return self if form == self.form else Sent(form)


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
        return services.today_of(self.clock.now())

    @property
    def secrets(self) -> Secrets:
        return runtime_of(self.request).secrets

    @property
    def profile(self) -> str:
        return deadlines.profile_for_jurisdiction(runtime_of(self.request).settings.jurisdiction)

    async def calendar_of(self, case_id: int) -> WorkCalendar:
        case = await services.load(self.db, case_id)
        return await calendar_for(self.db, case.county_id)


# ---------------------------------------------------------------- small reads


def clock_label(profile: str, name: str | None) -> str:
    """The Chinese name of a clock under the case's own profile."""
    if not name:
        return ""
    try:
        clock = deadlines.ClockName(name)
    except ValueError:
        return name
    return deadlines.PROFILES.get(profile, deadlines.NATIONAL_2022).rule(clock).label


@dataclass(frozen=True, slots=True)
class Mark:
    """A deadline's urgency as words, never colour only."""

    urgency: str
    text: str


def mark_of(due: dt.date | None, today: dt.date) -> Mark | None:
    if due is None:
        return None
    found = deadlines.urgency(due, today, read_services.WARN_DAYS)
    if found is deadlines.Urgency.red:
        return Mark("red", f"已逾期{(today - due).days}天")
    if found is deadlines.Urgency.yellow:
        left = (due - today).days
        return Mark("yellow", "今天到期" if left == 0 else f"{left}天后到期")
    return None


async def recused_cases(db: AsyncSession, actor: Principal, case_ids: Collection[int]) -> set[int]:
    """Of these cases, those the actor is, or speaks for, someone accused in: they are
    never listed to them (《信访工作条例》第三十条)."""
    if not case_ids:
        return set()
    viewer = await viewer_of(db, actor)
    persons = await db.execute(
        select(CaseAccused.case_id, CaseAccused.person_id).where(CaseAccused.case_id.in_(case_ids))
    )
    units = await db.execute(
        select(CaseUnit.case_id, CaseUnit.unit_id).where(
            CaseUnit.case_id.in_(case_ids), CaseUnit.role == "accused"
        )
    )
    found = {
        c for c, p in persons.tuples() if viewer.person_id is not None and p == viewer.person_id
    }
    return found | {c for c, u in units.tuples() if u in viewer.unit_ids}


async def county_units(db: AsyncSession, counties: Iterable[Unit]) -> list[Unit]:
    paths = [c.path for c in counties]
    if not paths:
        return []
    rows = await db.scalars(
        select(Unit).where(or_(*(Unit.path.startswith(p) for p in paths))).order_by(Unit.path)
    )
    return list(rows)


async def current_tenures(db: AsyncSession, counties: Iterable[Unit], on: dt.date) -> list[Tenure]:
    """Tenures held on `on` at the units of these counties."""
    paths = [c.path for c in counties]
    if not paths:
        return []
    rows = await db.scalars(
        select(Tenure)
        .join(Post, Post.id == Tenure.post_id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(
            or_(*(Unit.path.startswith(p) for p in paths)),
            Tenure.start_date <= on,
            or_(Tenure.end_date.is_(None), Tenure.end_date > on),
        )
        .order_by(Unit.path, Post.id, Tenure.id)
    )
    return list(rows)


def tenure_label(t: Tenure) -> str:
    return f"{t.person.name}（{t.post.unit.name}{t.post.title}）"


def indented(units: Iterable[Unit], base_depth: int = 0) -> list[tuple[int, str]]:
    """Units as select options, indented by depth so the tree shows without JavaScript."""
    return [(u.id, "　" * max(0, u.path.count("/") - 2 - base_depth) + u.name) for u in units]


@dataclass(frozen=True, slots=True)
class Parties:
    """The units concerned and the accused of one case."""

    subjects: list[Unit]
    accused_units: list[Unit]
    accused_persons: list[Person]

    @property
    def accused(self) -> recusal.Accused:
        return recusal.Accused.of(
            [p.id for p in self.accused_persons], [u.id for u in self.accused_units]
        )


async def parties_of(db: AsyncSession, case_id: int) -> Parties:
    rows = list(await db.scalars(select(CaseUnit).where(CaseUnit.case_id == case_id)))
    accused = await db.scalars(select(CaseAccused).where(CaseAccused.case_id == case_id))
    return Parties(
        [r.unit for r in rows if r.role == "subject"],
        [r.unit for r in rows if r.role == "accused"],
        [a.person for a in accused],
    )


def ownable(tenures: Sequence[Tenure], accused: recusal.Accused) -> list[Tenure]:
    """Tenures whose holder may own the case: not accused, and holding no current post at
    an accused unit (whoever speaks for an accused unit is recused)."""
    units: dict[int, set[int]] = {}
    for t in tenures:
        units.setdefault(t.person_id, set()).add(t.post.unit_id)
    return [
        t
        for t in tenures
        if t.person_id not in accused.persons and units[t.person_id].isdisjoint(accused.units)
    ]


# ---------------------------------------------------------------- 我的包案


@dataclass(frozen=True, slots=True)
class MineRow:
    case: Case
    role_label: str
    clock_label: str
    target: dt.date | None
    mark: Mark | None


async def lead_targets(db: AsyncSession, case_ids: Collection[int]) -> dict[int, dt.date]:
    """The 化解时限 of each case: its 包案 leader's target date."""
    if not case_ids:
        return {}
    rows = await db.execute(
        select(CaseOwner.case_id, CaseOwner.target_date).where(
            CaseOwner.case_id.in_(case_ids),
            CaseOwner.active.is_(True),
            CaseOwner.role == str(owners.OwnerRole.lead),
        )
    )
    return {c: d for c, d in rows.tuples() if d is not None}


async def mine_rows(ctx: Ctx, page_no: int = 1) -> tuple[list[MineRow], read_services.MyCases]:
    """One page of 我的包案 as rows, and the page with its counts. Recusal is the
    service's: a case the leader is recused from is neither listed nor counted."""
    size = read_services.MY_PAGE_SIZE
    mine = await read_services.my_cases(ctx.db, ctx.actor, ctx.today, page=page_no, size=size)
    targets = await lead_targets(ctx.db, {o.case.id for o in mine.cases})
    rows = [
        MineRow(
            o.case,
            owners.OWNER_ROLE_LABELS[owners.OwnerRole(o.owner.role)],
            clock_label(o.case.profile, o.case.next_clock),
            o.owner.target_date or targets.get(o.case.id),
            mark_of(o.case.next_due, ctx.today),
        )
        for o in mine.cases
    ]
    return rows, mine


# ---------------------------------------------------------------- the case page


@dataclass(frozen=True, slots=True)
class Abilities:
    """What the viewer may do on this case, as the services will judge it."""

    handle: bool
    own: bool
    appoint: bool
    backlog: bool
    read_all: bool


def abilities_of(actor: Principal, county: Unit, sheet: CaseSheet) -> Abilities:
    own = (
        actor.person_id is not None
        and actor.has_any({Role.leader})
        and any(o.person_id == actor.person_id for o in sheet.owners)
    )
    return Abilities(
        handle=actor.reaches(services.HANDLERS, county.path),
        own=own,
        appoint=actor.reaches(services.APPOINTERS, county.path),
        backlog=actor.reaches(BACKLOGGERS, county.path),
        read_all=actor.reaches(SCOPE_READERS, county.path),
    )


@dataclass(frozen=True, slots=True)
class Forms:
    """Which forms the page shows."""

    progress: bool
    route: bool
    steps: list[tuple[str, str]]
    extend: bool
    assign: bool
    appoint: bool
    backlog: bool

    @property
    def any(self) -> bool:
        return (
            any((self.progress, self.route, self.steps, self.extend, self.assign, self.appoint))
            or self.backlog
        )


def step_choices(sheet: CaseSheet, may: Abilities) -> list[tuple[str, str]]:
    """The next statuses the viewer may take the case to; routing (from 已登记) has a
    form of its own, with the notice's body and reason."""
    current = wf.CaseStatus(sheet.case.status)
    if current is wf.CaseStatus.registered:
        return []
    table = wf.all_steps()
    return [
        (str(s), f"{table[(current, s)].label}（改为“{wf.STATUS_LABELS[s]}”）")
        for s in sheet.allowed_next
        if may.handle or (may.own and s in services.OWNER_STEPS)
    ]


def back_of(actor: Principal, may: Abilities) -> tuple[str, str] | None:
    """The list the viewer came from, for the breadcrumb."""
    if may.read_all:
        return CASES_URL, "信访事项"
    if may.own:
        return MINE_URL, "我的包案"
    if actor.has_any({Role.unit_handler}):
        return ASSIGNMENTS_URL, "交办事项"
    return None


def forms_of(sheet: CaseSheet, may: Abilities) -> Forms:
    case = sheet.case
    status = wf.CaseStatus(case.status)
    is_open = status in wf.OPEN
    extended = any(c.row.name == "extend" and c.row.state == "running" for c in sheet.clocks)
    return Forms(
        progress=is_open and (may.own or may.handle),
        route=may.handle and status is wf.CaseStatus.registered,
        steps=step_choices(sheet, may),
        extend=may.handle and status in services.EXTENDABLE and not extended,
        assign=may.handle and status in assignments.ASSIGNABLE,
        appoint=may.appoint and is_open,
        backlog=may.backlog and is_open and not case.backlog,
    )


@dataclass(frozen=True, slots=True)
class ClockRow:
    view: ClockView
    label: str
    state_label: str
    unit: str | None
    mark: Mark | None
    skipped: str


def clock_rows(sheet: CaseSheet, today: dt.date) -> list[ClockRow]:
    units = {a.id: a.unit.name for a in sheet.assignments}
    rows = []
    for view in sheet.clocks:
        row = view.row
        running = row.state == "running"
        state = CLOCK_STATE_LABELS.get(row.state, row.state)
        if row.stopped_on is not None:
            state = "按期完成" if row.stopped_on <= row.due else "逾期完成"
        rows.append(
            ClockRow(
                view,
                view.deadline.rule.label,
                state,
                units.get(row.assignment_id) if row.assignment_id else None,
                mark_of(row.due, today) if running else None,
                deadlines.describe_days(view.deadline.rest_days_skipped),
            )
        )
    return rows


async def choices_for(ctx: Ctx, county: Unit, parties: Parties, forms: Forms) -> dict[str, Any]:
    """The lists the shown forms need (units to assign, leaders to appoint)."""
    found: dict[str, Any] = {"assign_units": [], "tenures": []}
    if forms.assign:
        units = [
            u
            for u in await county_units(ctx.db, [county])
            if u.id != county.id and recusal.may_be_assigned(u.id, parties.accused)
        ]
        found["assign_units"] = indented(units, 1)
    if forms.appoint:
        tenures = ownable(await current_tenures(ctx.db, [county], ctx.today), parties.accused)
        found["tenures"] = [(t.id, tenure_label(t)) for t in tenures]
    return found


async def render_case(
    ctx: Ctx, case_id: int, *, status_code: int = 200, sent: Sent | None = None
) -> Template:
    sheet = await read_services.case_sheet(ctx.db, ctx.actor, case_id, ctx.today)
    case = sheet.case
    county = await ctx.db.get(Unit, case.county_id)
    if county is None:
        raise NotFound(NOT_FOUND)
    may = abilities_of(ctx.actor, county, sheet)
    forms = forms_of(sheet, may)
    parties = await parties_of(ctx.db, case.id)
    first = await ctx.db.get(Case, case.first_case_id) if case.first_case_id else None
    return private(
        page(
            ctx.request,
            "cases/case.html",
            status_code=status_code,
            sheet=sheet,
            case=case,
            may=may,
            back=back_of(ctx.actor, may),
            forms=forms,
            parties=parties,
            first_case=first,
            clocks=clock_rows(sheet, ctx.today),
            sent=sent or Sent(),
            today=ctx.today,
            url=case_url(case.id),
            mark_of=mark_of,
            shanghai=SHANGHAI,
            profile=deadlines.PROFILES.get(case.profile),
            owner_role_labels={str(k): v for k, v in owners.OWNER_ROLE_LABELS.items()},
            assignment_labels={str(k): v for k, v in assignments.ASSIGNMENT_STATUS_LABELS.items()},
            assign_role_labels={str(k): v for k, v in assignments.ASSIGN_ROLE_LABELS.items()},
            outcome_choices=[(str(o), label) for o, label in wf.OUTCOME_LABELS.items()],
            assign_role_choices=ASSIGN_ROLE_CHOICES,
            **_labels(),
            **await choices_for(ctx, county, parties, forms),
        )
    )


def _labels() -> dict[str, Any]:
    return {
        "status_labels": {str(k): v for k, v in wf.STATUS_LABELS.items()},
        "channel_labels": {str(k): v for k, v in wf.CHANNEL_LABELS.items()},
        "kind_labels": {str(k): v for k, v in wf.KIND_LABELS.items()},
        "outcome_labels": {str(k): v for k, v in wf.OUTCOME_LABELS.items()},
        "evaluation_labels": {str(k): v for k, v in wf.EVALUATION_LABELS.items()},
        "claim_routes": wf.CLAIM_ROUTES,
        "id_labels": {str(k): v for k, v in ID_TYPE_LABELS.items()},
        "text_max": TEXT_MAX,
    }


# ---------------------------------------------------------------- the case page's forms

Action = Callable[[Ctx, int, Posted], Awaitable[str]]


async def _progress(ctx: Ctx, case_id: int, posted: Posted) -> str:
    public = posted.one("public") == "1"
    await services.note_progress(ctx.db, ctx.actor, ctx.now, case_id, posted.one("text"), public)
    return "已记录办理进展" + ("，信访人凭码可以看到。" if public else "。")


async def _route(ctx: Ctx, case_id: int, posted: Posted) -> str:
    form = Reader(posted)
    outcome = form.choice(wf.Outcome, "outcome", "请选择处理方式。")
    on = form.date("on", "处理日期")
    form.done()
    routing = services.Routing(
        outcome, on, form.text("body"), form.text("reason"), form.text("first_case_code")
    )
    calendar = await ctx.calendar_of(case_id)
    await services.route(ctx.db, ctx.actor, ctx.now, calendar, case_id, routing)
    return f"已作出“{wf.OUTCOME_LABELS[outcome]}”处理，请书面告知信访人。"


async def _step(ctx: Ctx, case_id: int, posted: Posted) -> str:
    form = Reader(posted)
    target = form.choice(wf.CaseStatus, "status", "请选择下一步。")
    on = form.date("step_on", "日期")
    delivered = form.optional_date("delivered_on", "送达日期")
    form.done()
    step = services.StepIn(target, on, form.text("step_text"), delivered)
    calendar = await ctx.calendar_of(case_id)
    await services.advance(ctx.db, ctx.actor, ctx.now, calendar, case_id, step)
    return f"信访事项已改为“{wf.STATUS_LABELS[target]}”。"


async def _extend(ctx: Ctx, case_id: int, posted: Posted) -> str:
    form = Reader(posted)
    days = form.number("days", "请填写延长的天数（正整数）。")
    form.done()
    calendar = await ctx.calendar_of(case_id)
    reason = form.text("extension_reason")
    await services.extend(ctx.db, ctx.actor, ctx.now, calendar, case_id, days, reason)
    return f"已批准延期办理 {days} 日，请将延期理由告知信访人。"


async def _assign(ctx: Ctx, case_id: int, posted: Posted) -> str:
    form = Reader(posted)
    unit_id = form.number("unit_id", "请选择承办单位。")
    role = form.choice(assignments.AssignRole, "role", "请选择承办类别（属地、属事或相关）。")
    due = form.date("due", "办理时限")
    form.done()
    calendar = await ctx.calendar_of(case_id)
    await assignments.assign(ctx.db, ctx.actor, ctx.now, calendar, case_id, unit_id, role, due)
    unit = await ctx.db.get(Unit, unit_id)
    return f"已交办{unit.name if unit else ''}，办理时限 {due.isoformat()}。"


async def _appoint(ctx: Ctx, case_id: int, posted: Posted) -> str:
    form = Reader(posted)
    tenure_id = form.number("tenure_id", "请选择包案领导。")
    target = form.date("target_date", "化解时限")
    co = form.ids("co_tenure_ids", "请从列表中选择协同包案领导。")
    form.done()
    await services.appoint(ctx.db, ctx.actor, ctx.now, case_id, tenure_id, target, co)
    return "已确定包案领导。"


async def _backlog(ctx: Ctx, case_id: int, posted: Posted) -> str:
    await services.designate_backlog(ctx.db, ctx.actor, ctx.now, case_id)
    return "已认定为积案。"


CASE_ACTIONS: Mapping[str, Action] = {
    "progress": _progress,
    "route": _route,
    "step": _step,
    "extension": _extend,
    "assign": _assign,
    "owners": _appoint,
    "backlog": _backlog,
}


# ---------------------------------------------------------------- intake


@dataclass(frozen=True, slots=True)
class Desk:
    """What the intake form offers: the counties the clerk registers for and their units
    and officials."""

    counties: list[Unit]
    units: list[Unit]
    tenures: list[Tenure]

    def choices(self) -> dict[str, Any]:
        units = [u for u in self.units if u.kind in TERRITORIAL_KINDS]
        departments = [u for u in self.units if u.kind == "department"]
        persons = {
            t.person_id: f"{t.person.name}（{t.post.unit.name}{t.post.title}）"
            for t in self.tenures
        }
        return {
            "territorial_units": indented(units),
            "subject_units": [(u.id, u.name) for u in departments],
            "accused_units": indented([u for u in self.units if u.kind != "county"], 1),
            "persons": sorted(persons.items(), key=lambda p: p[1]),
            "owner_tenures": [(t.id, tenure_label(t)) for t in self.tenures],
        }


async def desk_of(ctx: Ctx) -> Desk:
    counties = [
        c
        for c in await scheduling.counties_for(ctx.db, ctx.actor)
        if ctx.actor.reaches(services.REGISTRARS, c.path)
    ]
    return Desk(
        counties,
        await county_units(ctx.db, counties),
        await current_tenures(ctx.db, counties, ctx.today),
    )


@dataclass(frozen=True, slots=True)
class FromRecord:
    """A reception record to open a case from, as the intake form shows it."""

    facts: receptions.ReceptionFacts
    official: str
    case_id: int | None


def reception_id_of(text: str | None) -> int | None:
    if not text:
        return None
    if not text.strip().isdigit():
        raise NotFound("找不到该接访记录。")
    return int(text.strip())


async def from_record(ctx: Ctx, reception_id: int) -> FromRecord:
    """The reception's facts, for a registrar of its county only."""
    facts = await receptions.case_facts(ctx.db, reception_id)
    county = await ctx.db.get(Unit, facts.county_id)
    if county is None:
        raise NotFound("找不到该接访记录。")
    require_scope(ctx.actor, services.REGISTRARS, county.path, "登记信访事项")
    official = await ctx.db.get(Person, facts.official_person_id)
    taken = await ctx.db.scalar(select(Case.id).where(Case.reception_id == reception_id))
    return FromRecord(facts, official.name if official else "", taken)


def petitioner_rows(posted: Posted | None, asked: int | None) -> int:
    """How many petitioner rows to show: as asked, and never fewer than were filled."""
    filled = 0
    for i in range(PETITIONERS_MAX):
        if posted and any(posted.one(f"p{i}_{f}") for f in ("name", "id_number", "mobile")):
            filled = i + 1
    return max(1, min(PETITIONERS_MAX, max(asked or PETITIONER_ROWS, filled)))


async def render_new(
    ctx: Ctx,
    reception: str | None,
    *,
    rows: int | None = None,
    status_code: int = 200,
    sent: Sent | None = None,
) -> Template:
    reception_id = reception_id_of(reception)
    record = await from_record(ctx, reception_id) if reception_id else None
    desk = await desk_of(ctx)
    sent = sent or Sent("new")
    return private(
        page(
            ctx.request,
            "cases/new.html",
            status_code=status_code,
            record=record,
            desk=desk,
            sent=sent,
            rows=petitioner_rows(sent.values, rows),
            petitioners_max=PETITIONERS_MAX,
            today=ctx.today,
            topics=TOPICS,
            channel_choices=[(str(c), label) for c, label in wf.CHANNEL_LABELS.items()],
            kind_choices=[(str(k), label) for k, label in wf.KIND_LABELS.items()],
            claim_choices=CLAIM_CHOICES,
            id_type_choices=[(str(k), v) for k, v in ID_TYPE_LABELS.items()],
            summary_max=services.SUMMARY_MAX,
            url=NEW_URL,
            **desk.choices(),
        )
    )


def _petitioners(form: Reader) -> list[PetitionerIn]:
    found = []
    for i in range(PETITIONERS_MAX):
        name, number, mobile = (form.text(f"p{i}_{f}") for f in ("name", "id_number", "mobile"))
        if not (name or number or mobile):
            continue
        id_type = form.choice(IdType, f"p{i}_id_type", f"请选择第{i + 1}名信访人的证件类型。")
        found.append(PetitionerIn(name, id_type, number, mobile))
    return found


def _claim_item(form: Reader) -> int | None:
    return form.optional_number("claim_item", "请选择第三十一条的项次。")


def intake_of(posted: Posted, profile: str) -> services.Intake:
    """The intake form as the service's Intake (the API's `_intake`, from a form)."""
    form = Reader(posted)
    intake = services.Intake(
        channel=form.choice(wf.Channel, "channel", "请选择信访形式。"),
        kind=form.choice(wf.Kind, "kind", "请选择信访事项类型。"),
        claim_item=_claim_item(form),
        category=form.text("category"),
        summary=form.text("summary"),
        territorial_unit_id=form.number("territorial_unit_id", "请选择属地单位。"),
        received_on=form.date("received_on", "收到日期"),
        profile=profile,
        petitioners=_petitioners(form),
        subject_unit_ids=form.ids("subject_unit_ids", "请从列表中选择属事单位。"),
        accused_person_ids=form.ids("accused_person_ids", "请从列表中选择被反映人。"),
        accused_unit_ids=form.ids("accused_unit_ids", "请从列表中选择被反映单位。"),
        owner_tenure_id=form.optional_number("owner_tenure_id", "请从列表中选择负责的领导。"),
        national_no=form.text("national_no") or None,
    )
    form.done()
    return intake


def from_reception_of(posted: Posted) -> services.FromReception:
    form = Reader(posted)
    data = services.FromReception(
        kind=form.choice(wf.Kind, "kind", "请选择信访事项类型。"),
        territorial_unit_id=form.optional_number("territorial_unit_id", "请选择属地单位。"),
        claim_item=_claim_item(form),
        category=form.text("category"),
        subject_unit_ids=form.ids("subject_unit_ids", "请从列表中选择属事单位。"),
        accused_person_ids=form.ids("accused_person_ids", "请从列表中选择被反映人。"),
        accused_unit_ids=form.ids("accused_unit_ids", "请从列表中选择被反映单位。"),
        owner_tenure_id=form.optional_number("owner_tenure_id", "请从列表中选择负责的领导。"),
    )
    form.done()
    return data


async def register_from(ctx: Ctx, posted: Posted) -> Case:
    reception_id = reception_id_of(posted.one("reception"))
    if reception_id is None:
        intake = intake_of(posted, ctx.profile)
        unit = await ctx.db.get(Unit, intake.territorial_unit_id)
        calendar = await calendar_for(ctx.db, (unit.county_id or unit.id) if unit else None)
        return await services.register(ctx.db, ctx.actor, ctx.now, ctx.secrets, calendar, intake)
    data = from_reception_of(posted)
    facts = await receptions.case_facts(ctx.db, reception_id)
    return await services.open_from_reception(
        ctx.db,
        ctx.actor,
        ctx.now,
        ctx.secrets,
        await calendar_for(ctx.db, facts.county_id),
        reception_id,
        data,
        ctx.profile,
    )


# ---------------------------------------------------------------- 交办事项 (unit handlers)


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    row: CaseAssignment
    case: Case
    mark: Mark | None
    may_object: bool
    may_report: bool
    may_reply: bool


def assignment_row(row: CaseAssignment, case: Case, today: dt.date) -> AssignmentRow:
    status = assignments.AssignmentStatus(row.status)
    waiting = status is assignments.AssignmentStatus.assigned
    return AssignmentRow(
        row,
        case,
        mark_of(row.due, today),
        waiting and today <= row.object_due,
        waiting,
        status in assignments.ANSWERS_FROM[assignments.AssignmentStatus.replied],
    )


async def assignment_rows(ctx: Ctx) -> list[AssignmentRow]:
    found = await assignments.unit_assignments(ctx.db, ctx.actor)
    case_ids = {a.case_id for a in found}
    hidden = await recused_cases(ctx.db, ctx.actor, case_ids)
    cases = {c.id: c for c in await ctx.db.scalars(select(Case).where(Case.id.in_(case_ids)))}
    return [
        assignment_row(a, cases[a.case_id], ctx.today)
        for a in found
        if a.case_id not in hidden and a.case_id in cases
    ]


async def render_assignments(
    ctx: Ctx, *, status_code: int = 200, sent: Sent | None = None
) -> Template:
    return private(
        page(
            ctx.request,
            "cases/assignments.html",
            status_code=status_code,
            rows=await assignment_rows(ctx),
            sent=sent or Sent(),
            today=ctx.today,
            text_max=TEXT_MAX,
            status_labels={str(k): v for k, v in wf.STATUS_LABELS.items()},
            assignment_labels={str(k): v for k, v in assignments.ASSIGNMENT_STATUS_LABELS.items()},
            assign_role_labels={str(k): v for k, v in assignments.ASSIGN_ROLE_LABELS.items()},
        )
    )


def answer_of(posted: Posted) -> assignments.AssignmentStatus:
    try:
        status = assignments.AssignmentStatus(posted.one("answer"))
    except ValueError:
        status = assignments.AssignmentStatus.assigned
    if status not in ANSWER_LABELS:
        raise FormInvalid({"answer": "请选择提出异议、报到或回复。"})
    return status


# ---------------------------------------------------------------- controllers


class CasePages(Controller):
    path = CASES_URL
    include_in_schema = False

    @get("/", opt=signed_in())
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        code: str | None = None,
    ) -> Template | Redirect:
        """Find a case by its 诉求码; a case the viewer may not read is "not found"."""
        wanted = normalise_code(code or "")
        error, status = None, 200
        if wanted and not code_is_valid(wanted, services.CASE_CODE_BODY):
            error, status = "诉求码有误（共10位字母和数字，请检查是否输错）。", 422
        elif wanted:
            found = await db.scalar(select(Case.id).where(Case.code == wanted))
            try:
                return Redirect(path=case_url((await readable_case(db, actor, found or 0)).id))
            except NotFound:
                error, status = NOT_FOUND, 404
        return page(
            request,
            "cases/index.html",
            status_code=status,
            code=code or "",
            error=error,
            may_register=actor.has_any(services.REGISTRARS),
            is_leader=actor.has_any({Role.leader}),
        )

    @get("/mine", opt=LEADER_PAGE)
    async def mine(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        page_no: PageNo = 1,
    ) -> Template:
        """我的包案: open owned cases, soonest deadline first, marked red or yellow, a page
        at a time with the counts over all of them."""
        ctx = Ctx(request, db, actor, clock)
        rows, mine = await mine_rows(ctx, page_no) if actor.person_id is not None else ([], None)
        return page(
            request,
            "cases/mine.html",
            rows=rows,
            mine=mine,
            linked=actor.person_id is not None,
            today=ctx.today,
            warn_days=read_services.WARN_DAYS,
            status_labels={str(k): v for k, v in wf.STATUS_LABELS.items()},
        )

    @get("/new", opt=REGISTER_PAGE)
    async def new(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        reception: str | None = None,
        rows: int | None = None,
    ) -> Template:
        """The intake form; with `?reception=<id>`, the form that opens the case of a
        reception record (channel 走访, the receiving leader owning it)."""
        return await render_new(Ctx(request, db, actor, clock), reception, rows=rows)

    @post("/new", opt=REGISTER_PAGE)
    async def register(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        posted = await posted_of(request)
        try:
            case = await register_from(ctx, posted)
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent("new", posted, bad.errors)
            return await render_new(ctx, posted.one("reception"), status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = Sent("new", posted, error=refusal.detail)
            reception = posted.one("reception")
            return await render_new(ctx, reception, status_code=refusal.status, sent=sent)
        flash(request, f"已登记信访事项，诉求码 {case.code}。")
        return Redirect(path=case_url(case.id), status_code=303)

    @get("/{case_id:int}", opt=signed_in())
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        case_id: int,
    ) -> Template:
        """The case: summary, petitioners (masked), owners, clocks explained, assignments,
        the timeline, and the forms the viewer may use."""
        return await render_case(Ctx(request, db, actor, clock), case_id)

    @post("/{case_id:int}/{action:str}", opt=signed_in())
    async def act(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        case_id: int,
        action: str,
    ) -> Template | Redirect:
        """One of the case page's forms (progress, route, step, extension, assign,
        owners, backlog)."""
        run = CASE_ACTIONS.get(action)
        if run is None:
            raise NotFound("您访问的地址不存在。")
        ctx = Ctx(request, db, actor, clock)
        posted = await posted_of(request)
        try:
            done = await run(ctx, case_id, posted)
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent(action, posted, bad.errors)
            return await render_case(ctx, case_id, status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = Sent(action, posted, error=refusal.detail)
            return await render_case(ctx, case_id, status_code=refusal.status, sent=sent)
        flash(request, done)
        return Redirect(path=case_url(case_id), status_code=303)


class AssignmentPages(Controller):
    path = ASSIGNMENTS_URL
    include_in_schema = False

    @get("/", opt=HANDLER_PAGE)
    async def index(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template:
        """The open assignments of the units the handler answers for."""
        return await render_assignments(Ctx(request, db, actor, clock))

    @post("/{assignment_id:int}", opt=HANDLER_PAGE)
    async def answer(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        assignment_id: int,
    ) -> Template | Redirect:
        """Object (within the window), report back (报到) or reply."""
        ctx = Ctx(request, db, actor, clock)
        posted = await posted_of(request)
        form = f"a{assignment_id}"
        try:
            status = answer_of(posted)
            await assignments.answer(
                db, actor, clock.now(), assignment_id, status, posted.one("text")
            )
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent(form, posted, bad.errors)
            return await render_assignments(ctx, status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = Sent(form, posted, error=refusal.detail)
            return await render_assignments(ctx, status_code=refusal.status, sent=sent)
        flash(request, f"已{ANSWER_LABELS[status]}。")
        return Redirect(path=ASSIGNMENTS_URL, status_code=303)


ROUTES = [CasePages, AssignmentPages]
