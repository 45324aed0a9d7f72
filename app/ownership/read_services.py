"""Reading cases: one case with everything its page shows (for those allowed to read it),
and a leader's 我的包案 — open cases they own, by next deadline, with yellow and red marks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.errors import Forbidden
from app.core.holidays import calendar_for
from app.org.models import Unit
from app.ownership import assignment_services as assignments
from app.ownership import clock_services as clocks
from app.ownership import deadlines, notices, owner_services, workflow
from app.ownership.models import (
    Case,
    CaseAssignment,
    CaseClock,
    CaseEvent,
    CaseOwner,
    CasePetitioner,
)
from app.ownership.petitioners import petitioners_of
from app.ownership.visibility import readable_case
from app.ownership.workflow import CaseStatus

ROLE_ORDER = {"lead": 0, "first": 1, "co": 2}
#: "Due soon" (yellow) means at most this many days left, the due day included.
WARN_DAYS = 5


@dataclass(frozen=True, slots=True)
class ClockView:
    row: CaseClock
    deadline: deadlines.Deadline
    overdue: bool


@dataclass(frozen=True, slots=True)
class CaseSheet:
    case: Case
    petitioners: list[CasePetitioner]
    owners: list[CaseOwner]
    clocks: list[ClockView]
    assignments: list[CaseAssignment]
    events: list[CaseEvent]

    @property
    def allowed_next(self) -> list[CaseStatus]:
        return workflow.next_statuses(CaseStatus(self.case.status))


async def case_sheet(db: AsyncSession, actor: Principal, case_id: int, today: dt.date) -> CaseSheet:
    case = await readable_case(db, actor, case_id)
    calendar = await calendar_for(db, case.county_id)
    rows = [c for c in await clocks.clocks_of(db, case.id) if c.state != clocks.SUPERSEDED]
    views = [
        ClockView(
            c,
            clocks.explain(calendar, case, c),
            c.state == clocks.RUNNING and deadlines.is_overdue(c.due, today),
        )
        for c in rows
    ]
    events = await db.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    )
    return CaseSheet(
        case,
        await petitioners_of(db, case.id),
        await owner_services.owners_of(db, case.id),
        views,
        await assignments.assignments_of_case(db, case.id),
        list(events),
    )


@dataclass(frozen=True, slots=True)
class OwnedCase:
    case: Case
    owner: CaseOwner
    urgency: deadlines.Urgency


async def my_cases(
    db: AsyncSession, actor: Principal, today: dt.date, *, limit: int = 500
) -> Sequence[OwnedCase]:
    """我的包案: the open cases the actor's person owns or co-owns, soonest deadline first."""
    if actor.person_id is None or not actor.has_any({Role.leader}):
        raise Forbidden("我的包案只对领导账号开放。")
    rows = await db.execute(
        select(Case, CaseOwner)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(
            CaseOwner.person_id == actor.person_id,
            CaseOwner.active.is_(True),
            Case.status.in_([str(s) for s in workflow.OPEN]),
        )
        .order_by(Case.next_due.is_(None), Case.next_due, Case.id)
        .limit(limit)
    )
    found: dict[int, OwnedCase] = {}
    for case, owner in rows.tuples():
        # One line per case, under the role that answers most for it (lead, first, co).
        kept = found.get(case.id)
        if kept is None or ROLE_ORDER[owner.role] < ROLE_ORDER[kept.owner.role]:
            found[case.id] = OwnedCase(case, owner, _urgency(case, today))
    return list(found.values())


def _urgency(case: Case, today: dt.date) -> deadlines.Urgency:
    if case.next_due is None:
        return deadlines.Urgency.ok
    return deadlines.urgency(case.next_due, today, WARN_DAYS)


async def notice_of(
    db: AsyncSession, actor: Principal, case_id: int, today: dt.date
) -> notices.Notice:
    """The written notice of the case's current decision, for staff who may read the case."""
    sheet = await case_sheet(db, actor, case_id, today)
    case = sheet.case
    first = await db.get(Case, case.first_case_id) if case.first_case_id else None
    outcome = workflow.Outcome(case.outcome) if case.outcome else None
    facts = notices.Facts(
        petitioner="、".join(p.name for p in sheet.petitioners),
        code=case.code,
        received_on=case.received_on,
        channel=workflow.CHANNEL_LABELS[workflow.Channel(case.channel)],
        issuer=await _issuer(db, case.county_id),
        outcome=outcome,
        on=case.accepted_on if outcome is workflow.Outcome.accept else _decided_on(sheet),
        body=case.outcome_body or "",
        reason=case.outcome_reason or "",
        first_code=first.code if first else "",
        limit=_limit(sheet) if outcome is workflow.Outcome.accept else "",
    )
    return notices.compose(facts, today)


def _decided_on(sheet: CaseSheet) -> dt.date | None:
    found = [e.on for e in sheet.events if e.kind.startswith("notice.")]
    return found[-1] if found else None


def _limit(sheet: CaseSheet) -> str:
    handling = [v for v in sheet.clocks if v.row.name in {"handle", "extend"}]
    if not handling:
        return ""
    d = handling[-1].deadline
    return (
        f"依照{d.article}，本事项应于{d.due.year}年{d.due.month}月{d.due.day}日前办结并书面答复您。"
    )


async def _issuer(db: AsyncSession, county_id: int) -> str:
    """The county's petition bureau (a department named 信访) issues notices."""
    county = await db.get(Unit, county_id)
    bureau = await db.scalar(
        select(Unit.name).where(Unit.county_id == county_id, Unit.name.contains("信访")).limit(1)
    )
    return bureau or (f"{county.name}信访工作机构" if county else "信访工作机构")
