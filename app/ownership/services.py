"""Case use cases: intake, routing, the workflow's steps, extension, progress, backlog.

Each function loads, calls the pure rules (`workflow`, `deadlines`, `recusal`), persists
and appends its ledger entry in the caller's transaction; a refusal raises before the
caller commits, so it changes nothing. Texts (summary, reasons, replies, notes) stay in the
case tables; ledger payloads carry identifiers, statuses and dates.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.codes import make_code
from app.core.errors import NotFound, RuleViolation
from app.core.holidays import calendar_for
from app.core.personal_data import Secrets
from app.core.workdays import WorkCalendar
from app.ledger import services as ledger
from app.ledger.rules import ledger_action, system_actor
from app.org import services as org
from app.org.models import Tenure, Unit
from app.ownership import clock_services as clocks
from app.ownership import deadlines, fact_services, recusal, workflow
from app.ownership import owner_services as owners
from app.ownership.models import Case, CaseAccused, CaseClock, CaseEvent, CaseOwner, CaseUnit
from app.ownership.petitioners import PetitionerIn, SealedPetitioner, add_petitioners
from app.ownership.visibility import accused_of, require_not_recused
from app.ownership.workflow import CaseStatus, Channel, Kind, Outcome
from app.scheduling import reception_services as receptions

#: 诉求码: 9 characters and a check character (see app.core.codes).
CASE_CODE_BODY = 9
REGISTRARS = frozenset({Role.clerk, Role.office, Role.admin})
#: Who routes, steps and extends cases: the petition bureau's staff.
HANDLERS = frozenset({Role.clerk, Role.admin})
#: Who names the 包案 leader (a supervisor or the office).
APPOINTERS = frozenset({Role.supervisor, Role.office, Role.admin})
SUMMARY_MAX = 2000
TEXT_MAX = 2000

CASE_REGISTERED = ledger_action(
    "case.registered",
    "case",
    "登记信访事项（内容、信访人和被反映人身份只存于记录）",
    code="诉求码",
    channel="渠道（visit 走访 / letter 书信 / phone 电话 / fax 传真 / email 电子邮件 / online 信息网络）",
    kind="类型（suggestion 建议意见类 / accusation 检举控告类 / claim 申诉求决类）",
    claim_item="申诉求决类的《信访工作条例》第三十一条项次",
    territorial_unit="属地单位编号",
    subject_units="属事单位编号",
    accused_count="被反映的人员和单位数（身份不入台账）",
    petitioners="信访人数",
    received_on="收到日期",
    profile="期限规则（national-2022 / zhejiang-2016）",
    reception="接访记录编号（走访）",
    national_no="全国信访信息系统编号",
    clocks_started="开始计算的期限 [{clock, start, due}]",
)
CASE_STEPPED = ledger_action(
    "case.status.changed",
    "case",
    "信访事项状态变更（受理、转送交办、答复、复查、复核、办结等）",
    from_status="原状态",
    to_status="新状态",
    on="发生日期",
    outcome="登记后的处理结果（accept / not_accept / transfer / assign / redirect / not_re_accept）",
    first_case="重复信访时首件信访事项的编号",
    clocks_stopped="停止的期限名称",
    clocks_started="开始计算的期限 [{clock, start, due}]",
)
CASE_NOTED = ledger_action(
    "case.progress.noted",
    "case",
    "记录办理进展（内容只存于记录）",
    event="时间线记录编号",
    public="信访人凭码可见",
)
CASE_BACKLOG = ledger_action("case.backlog.designated", "case", "督查认定为积案", on="认定日期")


@dataclass(frozen=True, slots=True)
class Intake:
    """A petition as a clerk registers it (or as a reception hands it over)."""

    channel: Channel
    kind: Kind
    category: str
    summary: str
    territorial_unit_id: int
    received_on: dt.date
    profile: str
    petitioners: Sequence[PetitionerIn | SealedPetitioner]
    claim_item: int | None = None
    subject_unit_ids: Sequence[int] = ()
    accused_person_ids: Sequence[int] = ()
    accused_unit_ids: Sequence[int] = ()
    owner_tenure_id: int | None = None
    national_no: str | None = None
    reception_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def today_of(now: dt.datetime) -> dt.date:
    return now.astimezone(SHANGHAI).date()


# --------------------------------------------------------------------------- loading


async def load(db: AsyncSession, case_id: int, *, lock: bool = False) -> Case:
    query = select(Case).where(Case.id == case_id)
    if lock:
        query = query.with_for_update(of=Case)
    case = await db.scalar(query)
    if case is None:
        raise NotFound("找不到该信访事项。")
    return case


async def county_unit(db: AsyncSession, county_id: int) -> Unit:
    return await org.get_unit(db, county_id)


# --------------------------------------------------------------------------- intake


def _check_texts(intake: Intake, today: dt.date) -> None:
    if not intake.summary.strip():
        raise RuleViolation("请填写信访事项的主要内容。", slug="invalid-input")
    if len(intake.summary) > SUMMARY_MAX:
        raise RuleViolation(f"主要内容不超过 {SUMMARY_MAX} 字。", slug="invalid-input")
    if not intake.category.strip() or len(intake.category) > 32:
        raise RuleViolation("请选择问题类别（不超过32字）。", slug="invalid-input")
    if intake.received_on > today:
        raise RuleViolation("收到日期不能晚于今天。", slug="invalid-dates")
    if intake.received_on < deadlines.FIRST_START:
        raise RuleViolation(f"收到日期不能早于 {deadlines.FIRST_START}。", slug="invalid-dates")
    if not intake.petitioners:
        raise RuleViolation("请至少登记一名信访人。", slug="invalid-input")


def _check_kind(intake: Intake) -> None:
    """《信访工作条例》第三十一条: a 申诉求决类 item names how it is handled (items 1–6)."""
    if intake.kind is Kind.claim and intake.claim_item not in workflow.CLAIM_ROUTES:
        raise RuleViolation(
            "申诉求决类事项须注明《信访工作条例》第三十一条的项次（1—6）。", slug="invalid-input"
        )
    if intake.kind is not Kind.claim and intake.claim_item is not None:
        raise RuleViolation("只有申诉求决类事项才注明第三十一条的项次。", slug="invalid-input")


async def _units_in_county(
    db: AsyncSession, county: Unit, unit_ids: Sequence[int], what: str
) -> list[Unit]:
    units = []
    for unit_id in dict.fromkeys(unit_ids):
        unit = await db.get(Unit, unit_id)
        if unit is None or not unit.path.startswith(county.path):
            raise RuleViolation(f"{what}须是本县的单位。", slug="invalid-input")
        units.append(unit)
    return units


async def _accused_persons(db: AsyncSession, person_ids: Sequence[int]) -> list[int]:
    found = []
    for person_id in dict.fromkeys(person_ids):
        found.append((await org.get_person(db, person_id)).id)
    return found


async def register(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    secrets: Secrets,
    calendar: WorkCalendar | None,
    intake: Intake,
) -> Case:
    """登记: a petition becomes a case with its 诉求码, its petitioners (numbers sealed), the
    units concerned, the accused, an owner and its first clocks.

    《信访工作条例》第二十二条: 信访部门收到信访事项，应当予以登记，并区分情况，在15日内分别
    按照下列方式处理 — the `route` clock; `accept` runs beside it."""
    territorial = await org.get_unit(db, intake.territorial_unit_id)
    county = await county_unit(db, territorial.county_id or territorial.id)
    require_scope(actor, REGISTRARS, county.path, "登记信访事项")
    _check_texts(intake, today_of(now))
    _check_kind(intake)
    subjects = await _units_in_county(db, county, intake.subject_unit_ids, "属事单位")
    accused_units = await _units_in_county(db, county, intake.accused_unit_ids, "被反映单位")
    accused = recusal.Accused.of(
        await _accused_persons(db, intake.accused_person_ids), [u.id for u in accused_units]
    )
    case = _new_case(county, intake, actor, now)
    db.add(case)
    await db.flush()
    await db.refresh(case, ["territorial_unit"])  # read by every view of the new case
    await _add_parties(db, case, subjects, accused)
    count = await add_petitioners(db, secrets, case.id, intake.petitioners, today_of(now))
    calendar = calendar or await calendar_for(db, county.id)
    started = await clocks.start(db, calendar, case, ("route", "accept"), case.received_on, now)
    await clocks.refresh_next(db, case)
    await _ledger_registered(db, actor, now, case, intake, accused, count, started)
    await add_event(db, case, now, "registered", "已登记", None, actor)
    await _first_owner(db, actor, now, case, accused, intake.owner_tenure_id)
    return case


def _new_case(county: Unit, intake: Intake, actor: Principal, now: dt.datetime) -> Case:
    return Case(
        county_id=county.id,
        code=make_code(os.urandom(16), CASE_CODE_BODY),
        national_no=(intake.national_no or "").strip() or None,
        channel=str(intake.channel),
        kind=str(intake.kind),
        claim_item=intake.claim_item,
        category=intake.category.strip(),
        summary=intake.summary.strip(),
        territorial_unit_id=intake.territorial_unit_id,
        status=str(CaseStatus.registered),
        profile=intake.profile,
        received_on=intake.received_on,
        reception_id=intake.reception_id,
        registered_by=actor.account_id or None,
        created_at=now,
        updated_at=now,
    )


async def _add_parties(
    db: AsyncSession, case: Case, subjects: Sequence[Unit], accused: recusal.Accused
) -> None:
    for unit in subjects:
        db.add(CaseUnit(case_id=case.id, unit_id=unit.id, role="subject"))
    for unit_id in sorted(accused.units):
        db.add(CaseUnit(case_id=case.id, unit_id=unit_id, role="accused"))
    for person_id in sorted(accused.persons):
        db.add(CaseAccused(case_id=case.id, person_id=person_id))
    await db.flush()


async def _first_owner(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case: Case,
    accused: recusal.Accused,
    tenure_id: int | None,
) -> None:
    """首接负责: the receiving leader owns the case from the start; without one (a letter,
    a call) the clerk names the owner."""
    if tenure_id is None:
        raise RuleViolation("请指定负责该信访事项的领导（首接负责）。", slug="invalid-input")
    await owners.assume(db, actor, now, case, accused, tenure_id, owners.OwnerRole.first)


async def _ledger_registered(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case: Case,
    intake: Intake,
    accused: recusal.Accused,
    petitioners: int,
    started: Sequence[Any],
) -> None:
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CASE_REGISTERED,
        subject=("case", case.id),
        at=now,
        payload={
            "code": case.code,
            "channel": case.channel,
            "kind": case.kind,
            "claim_item": case.claim_item,
            "territorial_unit": case.territorial_unit_id,
            "subject_units": sorted(set(intake.subject_unit_ids)),
            "accused_count": len(accused.persons) + len(accused.units),
            "petitioners": petitioners,
            "received_on": case.received_on.isoformat(),
            "profile": case.profile,
            "reception": case.reception_id,
            "national_no": case.national_no,
            "clocks_started": clocks.payload_of(started),
        },
    )


async def add_event(
    db: AsyncSession,
    case: Case,
    now: dt.datetime,
    kind: str,
    title: str,
    text: str | None,
    actor: Principal | None,
    *,
    public: bool = True,
    on: dt.date | None = None,
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        at=now,
        on=on or today_of(now),
        kind=kind,
        title=title,
        text=text,
        public=public,
        account_id=(actor.account_id or None) if actor else None,
    )
    db.add(event)
    await db.flush()
    return event


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class Routing:
    """What the petition bureau decided, told to the petitioner in a written notice:
    `body` is the competent body (转送、交办、告知), `reason` why (不予受理、不再受理、告知),
    `first_case_code` the case a repeat repeats (不再受理)."""

    outcome: Outcome
    on: dt.date
    body: str = ""
    reason: str = ""
    first_case_code: str = ""


def _check_routing(case: Case, routing: Routing, today: dt.date) -> None:
    if routing.outcome in workflow.NAMES_A_BODY and not routing.body.strip():
        raise RuleViolation("请写明有权处理的机关、单位。", slug="invalid-input")
    if routing.outcome in workflow.NEEDS_REASON and not routing.reason.strip():
        raise RuleViolation("请写明理由，书面告知信访人。", slug="invalid-input")
    if len(routing.body) > 64 or len(routing.reason) > TEXT_MAX:
        raise RuleViolation("机关名称不超过64字，理由不超过2000字。", slug="invalid-input")
    _check_day(case, routing.on, today)


def last_step_day(case: Case) -> dt.date:
    """The day of the case's latest dated step: a new step cannot come before it."""
    days = (case.routed_on, case.accepted_on, case.replied_on, case.delivered_on)
    return max([case.received_on, *(d for d in days if d is not None)])


async def step_floor(db: AsyncSession, case: Case) -> dt.date:
    """The earliest day the next step may carry: not before the case's dated steps, nor
    before any of its running clocks started (a review opinion after its request)."""
    starts = [c.start for c in await clocks.running(db, case.id)]
    return max([last_step_day(case), *starts])


def _check_day(case: Case, on: dt.date, today: dt.date, floor: dt.date | None = None) -> None:
    floor = floor or last_step_day(case)
    if on < floor or on > today:
        raise RuleViolation(f"日期须在上一步的日期（{floor}）与今天之间。", slug="invalid-dates")


async def _first_case(db: AsyncSession, case: Case, code: str) -> Case:
    """第十九条: a repeat of a matter already accepted or being handled is not accepted;
    it is linked to the first case, which must be another case of the same county."""
    first = await db.scalar(select(Case).where(Case.code == code.strip().upper()))
    if first is None or first.county_id != case.county_id or first.id == case.id:
        raise RuleViolation("请填写本县已登记的首件信访事项的诉求码。", slug="invalid-input")
    if first.status in {CaseStatus.registered, CaseStatus.not_accepted}:
        raise RuleViolation("首件信访事项尚未受理，不能据此不再受理。")
    return first


def handles_on_clock(case: Case) -> bool:
    """Whether acceptance starts the `handle` clock: always in Zhejiang (《浙江省信访条例》
    第二十三条); nationally only for 第三十一条第六项 items (《信访工作条例》第三十四条)."""
    if case.profile != "national-2022":
        return True
    return case.kind == Kind.claim and case.claim_item == workflow.CLAIM_HANDLED_BY_OPINION


def _clocks_to_start(case: Case, step: workflow.Step) -> tuple[str, ...]:
    return tuple(c for c in step.starts if c != "handle" or handles_on_clock(case))


async def route(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case_id: int,
    routing: Routing,
) -> Case:
    """受理 / 不予受理 / 转送 / 交办 / 告知 / 不再受理, each a written notice to the petitioner."""
    case = await load(db, case_id, lock=True)
    await require_handler(db, actor, case, "处理信访事项")
    _check_routing(case, routing, today_of(now))
    target = workflow.OUTCOME_STATUS[routing.outcome]
    first = None
    if routing.outcome is Outcome.not_re_accept:
        first = await _first_case(db, case, routing.first_case_code)
    case.outcome = str(routing.outcome)
    case.outcome_body = routing.body.strip() or None
    case.outcome_reason = routing.reason.strip() or None
    case.first_case_id = first.id if first else None
    if routing.outcome in {Outcome.transfer, Outcome.assign}:
        case.routed_on = routing.on
    if target is CaseStatus.accepted:
        case.accepted_on = routing.on
    await _step(db, actor, now, calendar, case, target, routing.on, outcome=routing.outcome)
    title = f"{workflow.OUTCOME_LABELS[routing.outcome]}告知"
    await add_event(
        db,
        case,
        now,
        f"notice.{routing.outcome}",
        title,
        _notice_text(case, routing.outcome),
        actor,
    )
    return case


def _notice_text(case: Case, outcome: Outcome) -> str:
    parts = [case.outcome_body or "", case.outcome_reason or ""]
    return "；".join(p for p in parts if p) or workflow.OUTCOME_LABELS[outcome]


async def _step(
    db: AsyncSession,
    actor: Principal | dict[str, Any],
    now: dt.datetime,
    calendar: WorkCalendar,
    case: Case,
    target: CaseStatus,
    on: dt.date,
    *,
    outcome: Outcome | None = None,
    clocks_from: dt.date | None = None,
) -> None:
    """Take one step of the transition table: stop and start its clocks, ledger it."""
    current = CaseStatus(case.status)
    try:
        step = workflow.step(current, target)
    except workflow.IllegalTransition as e:
        raise RuleViolation(str(e), slug="illegal-transition") from None
    stopped = await clocks.stop(db, case, step.stops, on)
    started = await clocks.start(
        db, calendar, case, _clocks_to_start(case, step), clocks_from or on, now
    )
    case.status = str(target)
    case.updated_at = now
    if target is CaseStatus.closed or target in workflow.FINISHED:
        case.closed_on = on
    await clocks.refresh_next(db, case)
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CASE_STEPPED,
        subject=("case", case.id),
        at=now,
        payload={
            "from_status": str(current),
            "to_status": str(target),
            "on": on.isoformat(),
            "outcome": str(outcome) if outcome else None,
            "first_case": case.first_case_id,
            "clocks_stopped": sorted({c.name for c in stopped}),
            "clocks_started": clocks.payload_of(started),
        },
    )


# --------------------------------------------------------------------------- steps


#: Steps that issue a written opinion delivered to the petitioner (处理意见书、复查意见、复核意见).
OPINIONS = frozenset({CaseStatus.replied, CaseStatus.reviewed, CaseStatus.rechecked})
#: Statuses only a routing decision (`route`) reaches, with its written notice.
ROUTING_STATUSES = frozenset(workflow.OUTCOME_STATUS.values())
#: Steps an owning leader may take on their own case; the rest are the bureau's.
OWNER_STEPS = frozenset({CaseStatus.in_progress, CaseStatus.replied, CaseStatus.closed})


@dataclass(frozen=True, slots=True)
class StepIn:
    target: CaseStatus
    on: dt.date
    text: str = ""
    delivered_on: dt.date | None = None


def _check_step(case: Case, data: StepIn, today: dt.date, floor: dt.date) -> None:
    _check_day(case, data.on, today, floor)
    if data.target in OPINIONS and not data.text.strip():
        raise RuleViolation("请填写意见书的内容。", slug="invalid-input")
    if len(data.text) > TEXT_MAX:
        raise RuleViolation(f"内容不超过 {TEXT_MAX} 字。", slug="invalid-input")
    delivered = data.delivered_on or data.on
    if delivered < data.on or delivered > today:
        raise RuleViolation("送达日期须在出具之日与今天之间。", slug="invalid-dates")


async def advance(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case_id: int,
    data: StepIn,
) -> Case:
    """One step after routing: start handling, reply (处理意见书, delivered on a date: the
    review window runs from delivery, 《信访工作条例》第三十五条), review and recheck
    (第三十六条), close (终结/息访)."""
    if data.target in ROUTING_STATUSES:
        raise RuleViolation(
            "受理、不予受理、转送交办和不再受理须作出处理决定（书面告知信访人），不能直接改状态。",
            slug="illegal-transition",
        )
    case = await load(db, case_id, lock=True)
    if data.target in OWNER_STEPS and await _is_owner(db, actor, case):
        pass
    else:
        await require_handler(db, actor, case, "办理信访事项")
    _check_step(case, data, today_of(now), await step_floor(db, case))
    delivered = data.delivered_on or data.on
    if data.target is CaseStatus.replied:
        case.reply, case.replied_on, case.delivered_on = data.text.strip(), data.on, delivered
    await _step(db, actor, now, calendar, case, data.target, data.on, clocks_from=delivered)
    if data.target is CaseStatus.replied:
        await fact_services.refresh(db, case)
    label = workflow.STATUS_LABELS[data.target]
    await add_event(
        db, case, now, f"status.{data.target}", label, data.text.strip() or None, actor, on=data.on
    )
    return case


async def _is_owner(db: AsyncSession, actor: Principal, case: Case) -> bool:
    if actor.person_id is None or not actor.has_any({Role.leader}):
        return False
    return any(o.person_id == actor.person_id for o in await owners.owners_of(db, case.id))


async def require_handler(db: AsyncSession, actor: Principal, case: Case, what: str) -> None:
    county = await county_unit(db, case.county_id)
    require_scope(actor, HANDLERS, county.path, what)
    await require_not_recused(db, actor, case)


# --------------------------------------------------------------------------- extension, progress


EXTENDABLE = frozenset({CaseStatus.accepted, CaseStatus.in_progress})


async def extend(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case_id: int,
    days: int,
    reason: str,
) -> Case:
    """延期: at most once, approved by the bureau, the reason told to the petitioner; the
    handling period becomes n+E days from the same acceptance (《信访工作条例》第三十四条,
    《浙江省信访条例》第二十三条)."""
    case = await load(db, case_id, lock=True)
    await require_handler(db, actor, case, "批准延期")
    if case.status not in EXTENDABLE:
        raise RuleViolation("只有受理后、答复前的信访事项才能延期。", slug="illegal-transition")
    if not reason.strip() or len(reason) > TEXT_MAX:
        raise RuleViolation("请写明延期理由（将告知信访人）。", slug="invalid-input")
    if days < 1:
        raise RuleViolation("延长的日数至少为1日。", slug="invalid-input")
    handle = [c for c in await clocks.running(db, case.id) if c.name in {"handle", "extend"}]
    if not handle:
        raise RuleViolation("该信访事项没有正在计算的办理期限。")
    if handle[0].name == "extend":
        raise RuleViolation("办理期限只能延长一次。", slug="illegal-transition")
    try:
        await clocks.recompute(
            db,
            calendar,
            actor,
            now,
            case,
            handle[0],
            "extension",
            name="extend",
            extension_days=days,
        )
    except ValueError as e:
        raise RuleViolation(str(e), slug="invalid-input") from None
    await clocks.refresh_next(db, case)
    await add_event(db, case, now, "extended", f"延期办理 {days} 日", reason.strip(), actor)
    return case


async def note_progress(
    db: AsyncSession, actor: Principal, now: dt.datetime, case_id: int, text: str, public: bool
) -> CaseEvent:
    """An owner's (or the bureau's) progress note; `public` ones the petitioner sees."""
    case = await load(db, case_id)
    if not await _is_owner(db, actor, case):
        await require_handler(db, actor, case, "记录办理进展")
    if case.status in workflow.FINISHED:
        raise RuleViolation("该信访事项已经办结。")
    if not text.strip() or len(text) > TEXT_MAX:
        raise RuleViolation(f"请填写办理进展（不超过 {TEXT_MAX} 字）。", slug="invalid-input")
    event = await add_event(
        db, case, now, "progress", "办理进展", text.strip(), actor, public=public
    )
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CASE_NOTED,
        subject=("case", case.id),
        at=now,
        payload={"event": event.id, "public": public},
    )
    return event


async def designate_backlog(
    db: AsyncSession, actor: Principal, now: dt.datetime, case_id: int
) -> Case:
    """积案: a designation a supervisor gives an open case later, never an intake kind."""
    case = await load(db, case_id, lock=True)
    county = await county_unit(db, case.county_id)
    require_scope(actor, {Role.supervisor, Role.admin}, county.path, "认定积案")
    await require_not_recused(db, actor, case)
    if case.status in workflow.FINISHED or case.backlog:
        raise RuleViolation("只能把尚未认定的未办结信访事项认定为积案。")
    case.backlog = True
    case.updated_at = now
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CASE_BACKLOG,
        subject=("case", case.id),
        at=now,
        payload={"on": today_of(now).isoformat()},
    )
    await add_event(db, case, now, "backlog", "认定为积案", None, actor, public=False)
    return case


# --------------------------------------------------------------------------- owners


async def appoint(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case_id: int,
    tenure_id: int,
    target_date: dt.date,
    co_tenure_ids: Sequence[int] = (),
) -> Case:
    """包案: a supervisor or the office names the leader who answers for the case, with a
    target date (化解时限) and co-owners. The first-receiving leader, if another person,
    stays as co-owner; a previous 包案 leader gives way (reassigned)."""
    case = await load(db, case_id, lock=True)
    county = await county_unit(db, case.county_id)
    require_scope(actor, APPOINTERS, county.path, "指定包案领导")
    await require_not_recused(db, actor, case)
    if case.status in workflow.FINISHED:
        raise RuleViolation("该信访事项已经办结，不再指定包案领导。")
    if target_date < today_of(now):
        raise RuleViolation("化解时限不能早于今天。", slug="invalid-dates")
    accused = await accused_of(db, case.id)
    before = await owners.owners_of(db, case.id)
    await owners.assume(
        db, actor, now, case, accused, tenure_id, owners.OwnerRole.lead, target_date
    )
    lead = await db.get(Tenure, tenure_id)
    for row in before:
        if row.role == owners.OwnerRole.lead or (lead and row.person_id == lead.person_id):
            await owners.renounce(
                db, actor, now, case, row, owners.RenounceCause.reassigned, "改派"
            )
    for co in dict.fromkeys(co_tenure_ids):
        co_tenure = await db.get(Tenure, co)
        if lead is not None and co_tenure is not None and co_tenure.person_id == lead.person_id:
            raise RuleViolation("包案领导不能同时作为协同包案领导。", slug="invalid-input")
        await owners.assume(db, actor, now, case, accused, co, owners.OwnerRole.co)
    await add_event(db, case, now, "owner", "确定包案领导", None, actor)
    return case


# --------------------------------------------------------------------------- from a reception


@dataclass(frozen=True, slots=True)
class FromReception:
    """What the clerk adds to a reception record to open its case."""

    kind: Kind
    territorial_unit_id: int | None = None
    claim_item: int | None = None
    category: str = ""
    subject_unit_ids: Sequence[int] = ()
    accused_person_ids: Sequence[int] = ()
    accused_unit_ids: Sequence[int] = ()
    owner_tenure_id: int | None = None


async def open_from_reception(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    secrets: Secrets,
    calendar: WorkCalendar | None,
    reception_id: int,
    data: FromReception,
    profile: str,
) -> Case:
    """A reception that needs a case (需立案办理) becomes one, channel 走访 whatever way the
    meeting was booked; the leader who received the citizen owns it (首接负责) unless
    accused in it, in which case the clerk must name another."""
    facts = await receptions.case_facts(db, reception_id)
    if facts.outcome != "case":
        raise RuleViolation("该接访记录为当场答复办结，不需要立案。")
    taken = await db.scalar(select(Case.id).where(Case.reception_id == reception_id))
    if taken is not None:
        raise RuleViolation("该接访记录已经登记为信访事项。", slug="duplicate")
    owner = data.owner_tenure_id or _receiving_tenure(facts, data)
    intake = Intake(
        channel=Channel.visit,
        kind=data.kind,
        category=data.category or facts.topic,
        summary=facts.raised,
        territorial_unit_id=data.territorial_unit_id or facts.venue_unit_id,
        received_on=facts.received_on,
        profile=profile,
        petitioners=[_sealed_from(facts, secrets)],
        claim_item=data.claim_item,
        subject_unit_ids=data.subject_unit_ids,
        accused_person_ids=data.accused_person_ids,
        accused_unit_ids=data.accused_unit_ids,
        owner_tenure_id=owner,
        reception_id=reception_id,
    )
    return await register(db, actor, now, secrets, calendar, intake)


def _receiving_tenure(facts: receptions.ReceptionFacts, data: FromReception) -> int | None:
    if facts.official_person_id in data.accused_person_ids:
        raise RuleViolation(
            "接待的领导是被反映人，须回避：请指定其他领导负责该信访事项。", slug="recused"
        )
    return facts.official_tenure_id


def _sealed_from(facts: receptions.ReceptionFacts, secrets: Secrets) -> SealedPetitioner:
    has_mobile = bool(secrets.open(facts.mobile_enc))
    return SealedPetitioner(
        name=facts.name,
        id_type=facts.id_type,
        id_hash=facts.id_hash,
        id_enc=facts.id_enc,
        id_masked=facts.id_masked,
        mobile_hash=facts.mobile_hash if has_mobile else None,
        mobile_enc=facts.mobile_enc if has_mobile else None,
    )


async def step_to(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case: Case,
    target: CaseStatus,
    on: dt.date,
) -> None:
    """A step another use case takes on its way (e.g. the first assignment starts handling)."""
    await _step(db, actor, now, calendar, case, target, on)
    await add_event(db, case, now, f"status.{target}", workflow.STATUS_LABELS[target], None, actor)


# --------------------------------------------------------------------------- by job

CLOSING_JOB = "case.close_lapsed"
CALENDAR_JOB = "case.recompute_calendar"


async def close_lapsed(db: AsyncSession, now: dt.datetime, calendar: WorkCalendar) -> int:
    """A reply (or review opinion) nobody contested within its window closes: 《浙江省信访
    条例》第二十五条(二) — 信访人在规定期限内未提出复查、复核请求的 … 信访事项终结."""
    today = today_of(now)
    closed = 0
    for status, clock_name in workflow.CLOSES_WHEN_LAPSED.items():
        query = (
            select(Case)
            .join(CaseClock, CaseClock.case_id == Case.id)
            .where(
                Case.status == str(status),
                CaseClock.name == clock_name,
                CaseClock.state == clocks.RUNNING,
                CaseClock.due < today,
            )
            .with_for_update(of=Case, skip_locked=True)
        )
        for case in list(await db.scalars(query)):
            actor = system_actor(CLOSING_JOB)
            await _step(db, actor, now, calendar, case, CaseStatus.closed, today)
            title = "期满未请求复查复核，信访事项终结"
            await add_event(db, case, now, "status.closed", title, None, None)
            closed += 1
    return closed


async def recompute_provisional(db: AsyncSession, now: dt.datetime) -> int:
    """Clocks computed on a provisional year are recomputed once that year's official
    calendar is entered (or corrected); each changed due date is ledgered."""
    rows = await db.scalars(
        select(CaseClock).where(CaseClock.state == clocks.RUNNING, CaseClock.provisional.is_(True))
    )
    changed = 0
    calendars: dict[int, WorkCalendar] = {}
    for clock in list(rows):
        calendar = calendars.get(clock.county_id) or await calendar_for(db, clock.county_id)
        calendars[clock.county_id] = calendar
        case = await load(db, clock.case_id)
        fresh = clocks.explain(calendar, case, clock)
        if fresh.provisional and fresh.due == clock.due:
            continue
        await clocks.recompute(
            db,
            calendar,
            system_actor(CALENDAR_JOB),
            now,
            case,
            clock,
            "calendar",
            extension_days=clock.extension_days,
            paused_days=clock.paused_days,
        )
        await clocks.refresh_next(db, case)
        changed += 1
    return changed


async def hearing(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case_id: int,
    days: int,
) -> Case:
    """听证: the days a hearing took are not counted in the 复核 period (《信访工作条例》
    第三十六条); the `recheck_decision` clock is recomputed from the same start, ledgered."""
    case = await load(db, case_id, lock=True)
    await require_handler(db, actor, case, "登记听证")
    running = [c for c in await clocks.running(db, case.id) if c.name == "recheck_decision"]
    if case.status != CaseStatus.recheck_requested or not running:
        raise RuleViolation("只有复核中的信访事项才能登记听证时间。", slug="illegal-transition")
    if days < 1:
        raise RuleViolation("听证的日数至少为1日。", slug="invalid-input")
    clock = running[0]
    try:
        await clocks.recompute(
            db, calendar, actor, now, case, clock, "hearing", paused_days=clock.paused_days + days
        )
    except ValueError as e:
        raise RuleViolation(str(e), slug="invalid-input") from None
    await clocks.refresh_next(db, case)
    await add_event(db, case, now, "hearing", f"举行听证，{days} 日不计入复核期限", None, actor)
    return case


async def reassign_tenure(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    from_tenure_id: int,
    to_tenure_id: int,
) -> int:
    """改派: every open case owned through one tenure moves to another, in this
    transaction — what lets a departing official's tenure end (a handover does the same
    with its dossier). Returns how many ownerships moved."""
    source = await org.get_tenure(db, from_tenure_id)
    require_scope(actor, APPOINTERS, source.post.unit.path, "改派包案")
    if from_tenure_id == to_tenure_id:
        raise RuleViolation("请选择另一位领导的任职。", slug="invalid-input")
    held = await db.scalars(
        select(Case)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(
            CaseOwner.tenure_id == from_tenure_id,
            CaseOwner.active.is_(True),
            Case.status.in_([str(s) for s in workflow.OPEN]),
        )
        .order_by(Case.id)
        .with_for_update(of=Case)
    )
    cases = [(case, await accused_of(db, case.id)) for case in dict.fromkeys(held)]
    cause = owners.RenounceCause.reassigned
    return await owners.move_tenure(db, actor, now, cases, from_tenure_id, to_tenure_id, cause)
