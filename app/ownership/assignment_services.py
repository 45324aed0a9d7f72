"""交办: the bureau hands an accepted case to one or more units — territorial (属地), subject
(属事) and related (相关, 三交联办) — each with its own due date. The unit may object within
5 working days (《信访工作条例》第二十三条第三款, the `object` clock), reports back (部门报到)
and replies; its `unit_handler` accounts see and answer only their unit's assignments. An
accused unit is never assigned the case against it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.errors import NotFound, RuleViolation
from app.core.workdays import WorkCalendar
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org import services as org
from app.ownership import clock_services as clocks
from app.ownership import recusal, services
from app.ownership.models import Case, CaseAssignment
from app.ownership.visibility import accused_of
from app.ownership.workflow import CaseStatus


class AssignRole(StrEnum):
    territorial = "territorial"
    subject = "subject"
    related = "related"


ASSIGN_ROLE_LABELS = {
    AssignRole.territorial: "属地",
    AssignRole.subject: "属事",
    AssignRole.related: "相关",
}


class AssignmentStatus(StrEnum):
    assigned = "assigned"
    objected = "objected"
    reported = "reported"
    replied = "replied"


ASSIGNMENT_STATUS_LABELS = {
    AssignmentStatus.assigned: "待报到",
    AssignmentStatus.objected: "已提出异议",
    AssignmentStatus.reported: "已报到办理",
    AssignmentStatus.replied: "已回复",
}
#: What the unit does, as a verb: 提出异议 / 报到 / 回复.
ANSWER_VERBS = {
    AssignmentStatus.objected: "提出异议",
    AssignmentStatus.reported: "报到",
    AssignmentStatus.replied: "回复",
}
ASSIGNABLE = frozenset({CaseStatus.accepted, CaseStatus.in_progress})

CASE_ASSIGNED = ledger_action(
    "case.assigned",
    "case",
    "交办信访事项给承办单位",
    assignment="交办编号",
    unit="承办单位编号",
    role="territorial 属地 / subject 属事 / related 相关",
    due="办理时限",
    object_due="提出异议的截止日",
)
ASSIGNMENT_ANSWERED = ledger_action(
    "case.assignment.answered",
    "case",
    "承办单位对交办的答复（异议、报到或回复；内容只存于记录）",
    assignment="交办编号",
    unit="承办单位编号",
    status="objected 异议 / reported 报到 / replied 回复",
)


async def assign(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case_id: int,
    unit_id: int,
    role: AssignRole,
    due: dt.date,
) -> CaseAssignment:
    """Hand the case to a unit of the county; an accepted case is in progress from then."""
    case = await services.load(db, case_id, lock=True)
    await services.require_handler(db, actor, case, "交办信访事项")
    unit = await org.get_unit(db, unit_id)
    county = await services.county_unit(db, case.county_id)
    if not unit.path.startswith(county.path) or unit.id == county.id:
        raise RuleViolation("只能交办给本县的乡镇、部门等单位。", slug="invalid-input")
    if not recusal.may_be_assigned(unit.id, await accused_of(db, case.id)):
        raise RuleViolation(f"{unit.name}是被反映单位，须回避，不能承办。", slug="recused")
    if case.status not in ASSIGNABLE:
        raise RuleViolation("受理后、答复前的信访事项才能交办。", slug="illegal-transition")
    today = services.today_of(now)
    if due <= today:
        raise RuleViolation("办理时限须晚于今天。", slug="invalid-dates")
    await _refuse_second(db, case.id, unit.id)
    if case.status == CaseStatus.accepted:
        await services.step_to(db, actor, now, calendar, case, CaseStatus.in_progress, today)
    row = await _add(db, actor, now, calendar, case, unit.id, role, due)
    title = f"交办{unit.name}（{ASSIGN_ROLE_LABELS[role]}）"
    await services.add_event(db, case, now, "assigned", title, None, actor)
    return row


async def _refuse_second(db: AsyncSession, case_id: int, unit_id: int) -> None:
    found = await db.scalar(
        select(CaseAssignment.id).where(
            CaseAssignment.case_id == case_id, CaseAssignment.unit_id == unit_id
        )
    )
    if found is not None:
        raise RuleViolation("已交办给该单位。", slug="duplicate")


async def _add(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    calendar: WorkCalendar,
    case: Case,
    unit_id: int,
    role: AssignRole,
    due: dt.date,
) -> CaseAssignment:
    today = services.today_of(now)
    object_due = clocks.compute(calendar, case, "object", today).due
    row = CaseAssignment(
        case_id=case.id,
        county_id=case.county_id,
        unit_id=unit_id,
        role=str(role),
        status=str(AssignmentStatus.assigned),
        assigned_on=today,
        due=due,
        object_due=object_due,
        assigned_by=actor.account_id or None,
        updated_at=now,
    )
    db.add(row)
    await db.flush()
    await clocks.start(db, calendar, case, ("object",), today, now, assignment_id=row.id)
    await clocks.refresh_next(db, case)
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CASE_ASSIGNED,
        subject=("case", case.id),
        at=now,
        payload={
            "assignment": row.id,
            "unit": unit_id,
            "role": str(role),
            "due": due.isoformat(),
            "object_due": object_due.isoformat(),
        },
    )
    return row


# --------------------------------------------------------------------------- the unit's side


ANSWERS_FROM = {
    AssignmentStatus.objected: frozenset({AssignmentStatus.assigned}),
    AssignmentStatus.reported: frozenset({AssignmentStatus.assigned}),
    AssignmentStatus.replied: frozenset({AssignmentStatus.assigned, AssignmentStatus.reported}),
}


async def _own_assignment(db: AsyncSession, actor: Principal, assignment_id: int) -> CaseAssignment:
    row = await db.scalar(
        select(CaseAssignment)
        .where(CaseAssignment.id == assignment_id)
        .with_for_update(of=CaseAssignment)
    )
    if row is None:
        raise NotFound("找不到该交办事项。")
    unit = await org.get_unit(db, row.unit_id)
    require_scope(actor, {Role.unit_handler}, unit.path, "答复交办事项")
    return row


async def answer(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    assignment_id: int,
    status: AssignmentStatus,
    text: str,
) -> CaseAssignment:
    """The unit objects (within its window), reports back (部门报到) or replies."""
    row = await _own_assignment(db, actor, assignment_id)
    case = await services.load(db, row.case_id, lock=True)
    _check_answer(row, status, text, services.today_of(now))
    row.status = str(status)
    row.updated_at = now
    _record_answer(row, status, text.strip(), now)
    await clocks.stop_for(db, case, row.id, services.today_of(now))
    await clocks.refresh_next(db, case)
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=ASSIGNMENT_ANSWERED,
        subject=("case", case.id),
        at=now,
        payload={"assignment": row.id, "unit": row.unit_id, "status": str(status)},
    )
    title = f"{row.unit.name}{ASSIGNMENT_STATUS_LABELS[status]}"
    await services.add_event(db, case, now, f"assignment.{status}", title, None, actor)
    return row


def _check_answer(row: CaseAssignment, status: AssignmentStatus, text: str, today: dt.date) -> None:
    if row.status not in ANSWERS_FROM[status]:
        raise RuleViolation(
            f"该交办事项当前为“{ASSIGNMENT_STATUS_LABELS[AssignmentStatus(row.status)]}”，"
            f"不能再{ANSWER_VERBS[status]}。",
            slug="illegal-transition",
        )
    if status is AssignmentStatus.objected and today > row.object_due:
        raise RuleViolation(f"提出异议的期限已于 {row.object_due} 届满。")
    if status is not AssignmentStatus.reported and not text.strip():
        raise RuleViolation("请填写异议理由或回复内容。", slug="invalid-input")
    if len(text) > services.TEXT_MAX:
        raise RuleViolation(f"内容不超过 {services.TEXT_MAX} 字。", slug="invalid-input")


def _record_answer(
    row: CaseAssignment, status: AssignmentStatus, text: str, now: dt.datetime
) -> None:
    if status is AssignmentStatus.objected:
        row.objection = text
    elif status is AssignmentStatus.reported:
        row.reported_at = now
    else:
        row.reply, row.replied_at = text, now


async def assignments_of_case(db: AsyncSession, case_id: int) -> list[CaseAssignment]:
    rows = await db.scalars(
        select(CaseAssignment).where(CaseAssignment.case_id == case_id).order_by(CaseAssignment.id)
    )
    return list(rows)


async def unit_assignments(
    db: AsyncSession, actor: Principal, *, open_only: bool = True
) -> Sequence[CaseAssignment]:
    """The assignments of the units the actor handles for (unit_handler scope), newest due
    first; never of a case the actor is recused from (the query already excludes accused
    units' cases, since an accused unit is never assigned)."""
    units = [g.scope_unit_id for g in actor.grants_for({Role.unit_handler}) if g.scope_unit_id]
    if not units:
        return []
    query = select(CaseAssignment).where(CaseAssignment.unit_id.in_(units))
    if open_only:
        query = query.where(CaseAssignment.status != str(AssignmentStatus.replied))
    return list(await db.scalars(query.order_by(CaseAssignment.due, CaseAssignment.id)))
