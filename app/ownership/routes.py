"""Cases JSON API: intake, routing, steps, extension, owners (包案), progress, backlog,
assignments (交办), 我的包案, and the petitioner's tracking by 诉求码.

Thin: parse, authorise (roles here, scope and recusal in the services), call one service,
serialise. Staff use Bearer tokens; a petitioner tracks with the code and the header
`X-Mobile-Last4`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.params import HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow, public, signed_in
from app.core.auth.roles import Role
from app.core.auth.routes import remote_of
from app.core.clock import Clock
from app.core.errors import DomainError, NotAuthenticated, RuleViolation
from app.core.holidays import calendar_for
from app.core.identity import IdType
from app.core.personal_data import Secrets
from app.core.problems import on_domain_error
from app.core.web import runtime_of
from app.ownership import assignment_services as assignments
from app.ownership import (
    deadlines,
    petition_services,
    petitioners,
    read_services,
    services,
    track_services,
)
from app.ownership import workflow as wf
from app.ownership.schemas import (
    AnswerIn,
    AssignmentIn,
    AssignmentOut,
    CaseIn,
    CaseOut,
    EvaluationIn,
    ExtensionIn,
    FromReceptionIn,
    HearingIn,
    MyCasesOut,
    OwnersIn,
    PetitionIn,
    PetitionOut,
    ProgressIn,
    ReassignIn,
    ReassignOut,
    RoutingIn,
    StepIn,
    TrackOut,
)
from app.ownership.serialise import assignment_out, brief_out, case_out, track_out
from app.scheduling import citizen_services as citizens

CitizenToken = Annotated[str | None, HeaderParameter(name="X-Citizen-Token", max_length=512)]
Last4 = Annotated[str, HeaderParameter(name="X-Mobile-Last4", min_length=4, max_length=4)]
Page = Annotated[int, QueryParameter(ge=1, required=False)]
PageSize = Annotated[int, QueryParameter(ge=1, le=read_services.MY_PAGE_MAX, required=False)]
E = TypeVar("E")

REGISTER = allow(*services.REGISTRARS)
HANDLE = allow(*services.HANDLERS, Role.leader)
APPOINT = allow(*services.APPOINTERS)


def _secrets(request: Request[Any, Any, Any]) -> Secrets:
    return runtime_of(request).secrets


def _profile(request: Request[Any, Any, Any]) -> str:
    return deadlines.profile_for_jurisdiction(runtime_of(request).settings.jurisdiction)


def _enum(kind: type[E], value: Any, what: str) -> E:
    try:
        return kind(value)  # type: ignore[call-arg]
    except ValueError:
        raise RuleViolation(f"{what}“{value}”不正确。", slug="invalid-input") from None


def _intake(data: CaseIn, profile: str) -> services.Intake:
    return services.Intake(
        channel=_enum(wf.Channel, data.channel, "渠道"),
        kind=_enum(wf.Kind, data.kind, "类型"),
        category=data.category,
        summary=data.summary,
        territorial_unit_id=data.territorial_unit_id,
        received_on=data.received_on,
        profile=profile,
        petitioners=[
            petitioners.PetitionerIn(
                p.name, _enum(IdType, p.id_type, "证件类型"), p.id_number, p.mobile
            )
            for p in data.petitioners
        ],
        claim_item=data.claim_item,
        subject_unit_ids=data.subject_unit_ids,
        accused_person_ids=data.accused_person_ids,
        accused_unit_ids=data.accused_unit_ids,
        owner_tenure_id=data.owner_tenure_id,
        national_no=data.national_no,
    )


async def _sheet(db: AsyncSession, actor: Principal, clock: Clock, case_id: int) -> CaseOut:
    today = services.today_of(clock.now())
    return case_out(await read_services.case_sheet(db, actor, case_id, today))


class CaseApi(Controller):
    path = "/api/v1/cases"
    tags = ("cases",)

    @post("/", opt=REGISTER, status_code=201)
    async def register(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        data: CaseIn,
    ) -> CaseOut:
        """登记 a petition: 诉求码, petitioners (numbers sealed), units, accused, the first
        owner and the `route`/`accept` clocks."""
        intake = _intake(data, _profile(request))
        # The county's own calendar (local rest days) is loaded by the service.
        case = await services.register(db, actor, clock.now(), _secrets(request), None, intake)
        return await _sheet(db, actor, clock, case.id)

    @post("/from-reception", opt=REGISTER, status_code=201)
    async def from_reception(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        data: FromReceptionIn,
    ) -> CaseOut:
        """Open the case of a reception recorded as 需立案办理 (channel 走访)."""
        details = services.FromReception(
            kind=_enum(wf.Kind, data.kind, "类型"),
            territorial_unit_id=data.territorial_unit_id,
            claim_item=data.claim_item,
            category=data.category,
            subject_unit_ids=data.subject_unit_ids,
            accused_person_ids=data.accused_person_ids,
            accused_unit_ids=data.accused_unit_ids,
            owner_tenure_id=data.owner_tenure_id,
        )
        case = await services.open_from_reception(
            db,
            actor,
            clock.now(),
            _secrets(request),
            await calendar_for(db),
            data.reception_id,
            details,
            _profile(request),
        )
        return await _sheet(db, actor, clock, case.id)

    @post("/reassign", opt=APPOINT, status_code=200)
    async def reassign(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: ReassignIn
    ) -> ReassignOut:
        """改派: move every open case owned through one tenure to another, at once (so the
        first tenure may end)."""
        moved = await services.reassign_tenure(
            db, actor, clock.now(), data.from_tenure_id, data.to_tenure_id
        )
        return ReassignOut(moved)

    @get("/{case_id:int}", opt=signed_in())
    async def show(self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int) -> CaseOut:
        """One case with its clocks (each explained), owners, assignments and timeline;
        404 for anyone who may not read it, the accused first of all."""
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/route", opt=HANDLE, status_code=200)
    async def route(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: RoutingIn
    ) -> CaseOut:
        routing = services.Routing(
            _enum(wf.Outcome, data.outcome, "处理方式"),
            data.on,
            data.body,
            data.reason,
            data.first_case_code,
        )
        case = await services.load(db, case_id)
        await services.route(
            db, actor, clock.now(), await calendar_for(db, case.county_id), case_id, routing
        )
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/steps", opt=HANDLE, status_code=200)
    async def step(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: StepIn
    ) -> CaseOut:
        """Take one step of the workflow (`in_progress`, `replied`, `review_requested` …)."""
        step = services.StepIn(
            _enum(wf.CaseStatus, data.status, "状态"), data.on, data.text, data.delivered_on
        )
        case = await services.load(db, case_id)
        await services.advance(
            db, actor, clock.now(), await calendar_for(db, case.county_id), case_id, step
        )
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/extension", opt=HANDLE, status_code=200)
    async def extend(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: ExtensionIn
    ) -> CaseOut:
        case = await services.load(db, case_id)
        await services.extend(
            db,
            actor,
            clock.now(),
            await calendar_for(db, case.county_id),
            case_id,
            data.days,
            data.reason,
        )
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/hearing", opt=allow(*services.HANDLERS), status_code=200)
    async def hearing(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: HearingIn
    ) -> CaseOut:
        """听证: the hearing's days are left out of the 复核 period (第三十六条)."""
        case = await services.load(db, case_id)
        calendar = await calendar_for(db, case.county_id)
        await services.hearing(db, actor, clock.now(), calendar, case_id, data.days)
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/owners", opt=APPOINT, status_code=200)
    async def appoint(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: OwnersIn
    ) -> CaseOut:
        """Name the 包案 leader with a target date (化解时限) and co-owners."""
        await services.appoint(
            db, actor, clock.now(), case_id, data.tenure_id, data.target_date, data.co_tenure_ids
        )
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/progress", opt=HANDLE, status_code=201)
    async def progress(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: ProgressIn
    ) -> CaseOut:
        await services.note_progress(db, actor, clock.now(), case_id, data.text, data.public)
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/backlog", opt=allow(Role.supervisor, Role.admin), status_code=200)
    async def backlog(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int
    ) -> CaseOut:
        """Designate an open case as 积案."""
        await services.designate_backlog(db, actor, clock.now(), case_id)
        return await _sheet(db, actor, clock, case_id)

    @post("/{case_id:int}/assignments", opt=allow(*services.HANDLERS), status_code=201)
    async def assign(
        self, db: AsyncSession, actor: Principal, clock: Clock, case_id: int, data: AssignmentIn
    ) -> AssignmentOut:
        """交办 to a unit of the county (属地/属事/相关) with its due date."""
        role = _enum(assignments.AssignRole, data.role, "承办类别")
        case = await services.load(db, case_id)
        row = await assignments.assign(
            db,
            actor,
            clock.now(),
            await calendar_for(db, case.county_id),
            case_id,
            data.unit_id,
            role,
            data.due,
        )
        return assignment_out(row)


class AssignmentApi(Controller):
    path = "/api/v1/assignments"
    tags = ("cases",)

    @get("/", opt=allow(Role.unit_handler))
    async def mine(self, db: AsyncSession, actor: Principal) -> list[AssignmentOut]:
        """The open assignments of the units the caller handles for."""
        return [assignment_out(a) for a in await assignments.unit_assignments(db, actor)]

    @post("/{assignment_id:int}/answer", opt=allow(Role.unit_handler), status_code=200)
    async def answer(
        self, db: AsyncSession, actor: Principal, clock: Clock, assignment_id: int, data: AnswerIn
    ) -> AssignmentOut:
        """Object (within 5 working days), report back (部门报到) or reply."""
        status = _enum(assignments.AssignmentStatus, data.status, "答复类别")
        if status is assignments.AssignmentStatus.assigned:
            raise RuleViolation(
                "答复类别须为 objected、reported 或 replied。", slug="invalid-input"
            )
        row = await assignments.answer(db, actor, clock.now(), assignment_id, status, data.text)
        return assignment_out(row)


class MyCasesApi(Controller):
    path = "/api/v1/my/cases"
    tags = ("cases",)

    @get("/", opt=allow(Role.leader))
    async def mine(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        page: Page = 1,
        size: PageSize = read_services.MY_PAGE_SIZE,
    ) -> MyCasesOut:
        """我的包案: open owned cases by next deadline, `urgency` red (overdue) / yellow
        (due within 5 days) / ok, `size` a page (at most 200), with the counts over all
        of them. A page past the last gives the last."""
        today = services.today_of(clock.now())
        mine = await read_services.my_cases(db, actor, today, page=page, size=size)
        return MyCasesOut(
            total=mine.total,
            overdue=mine.overdue,
            due_soon=mine.due_soon,
            page=mine.page,
            pages=mine.pages,
            size=mine.size,
            cases=[brief_out(o, today) for o in mine.cases],
        )


class TrackApi(Controller):
    path = "/api/v1/track"
    tags = ("tracking",)

    @get("/{code:str}", opt=public())
    async def track(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        last4: Last4,
    ) -> TrackOut | Response[Any]:
        """The petitioner's view: status timeline, next deadline, how to evaluate. An unknown
        code and a wrong number get the same 404; lookups are limited per address."""
        try:
            await _count_lookup(request, db, clock)
            found = await track_services.track(db, _secrets(request), code, last4)
        except DomainError as refusal:
            return _refused(request, refusal)
        return track_out(found)

    @post("/{code:str}/evaluation", opt=public(), status_code=200)
    async def evaluate(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        code: str,
        last4: Last4,
        data: EvaluationIn,
    ) -> TrackOut | Response[Any]:
        """Rate the written reply: satisfied / basically / unsatisfied (flagged)."""
        evaluation = _enum(wf.Evaluation, data.evaluation, "评价")
        try:
            await _count_lookup(request, db, clock)
            await track_services.evaluate(
                db, _secrets(request), clock.now(), code, last4, evaluation
            )
        except DomainError as refusal:
            return _refused(request, refusal)
        return track_out(await track_services.track(db, _secrets(request), code, last4))


async def _count_lookup(request: Request[Any, Any, Any], db: AsyncSession, clock: Clock) -> None:
    key = f"lookup:ip:{remote_of(request)}"
    await citizens.require(db, key, citizens.LOOKUP_PER_IP, clock.now(), "查询")


def _refused(request: Request[Any, Any, Any], refusal: DomainError) -> Response[Any]:
    """Answered without raising, so the lookup still counts against the address."""
    return on_domain_error(request, refusal)


class PetitionApi(Controller):
    path = "/api/v1/petitions"
    tags = ("tracking",)

    @post("/", opt=public(), status_code=201)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        data: PetitionIn,
        citizen_token: CitizenToken = None,
    ) -> PetitionOut | Response[Any]:
        """网上信访: a citizen submits a petition after verifying the mobile number
        (`POST /api/v1/otp`, `/api/v1/otp/verify`, then header `X-Citizen-Token`). The county
        leader on duty that day owns it first; the 诉求码 comes back and by SMS. Limited per
        number and per address."""
        secrets = _secrets(request)
        try:
            if not citizen_token:
                raise NotAuthenticated("网上提交须先用短信验证码验证手机号。")
            citizen = citizens.token_mobile(secrets, citizen_token, clock.now())
            petition = petition_services.OnlinePetition(
                name=data.name,
                mobile=data.mobile,
                id_type=_enum(IdType, data.id_type, "证件类型"),
                id_number=data.id_number,
                kind=_enum(wf.Kind, data.kind, "类型"),
                category=data.category,
                summary=data.summary,
                territorial_unit_id=data.territorial_unit_id,
                claim_item=data.claim_item,
            )
            case = await petition_services.submit(
                db, secrets, clock.now(), citizen, remote_of(request), petition, _profile(request)
            )
        except DomainError as refusal:
            return _refused(request, refusal)
        return PetitionOut(
            case.code,
            case.status,
            wf.STATUS_LABELS[wf.CaseStatus(case.status)],
            case.received_on,
            track_services.HOW_TO_TRACK,
        )


ROUTES = [CaseApi, AssignmentApi, MyCasesApi, TrackApi, PetitionApi]
