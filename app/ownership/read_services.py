"""Reading cases: one case with everything its page shows (for those allowed to read it),
and a leader's 我的包案 — open cases they own, by next deadline, with yellow and red marks,
a page at a time with the counts over all of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.errors import Forbidden
from app.core.holidays import calendar_for
from app.org.models import Unit
from app.ownership import assignment_services as assignments
from app.ownership import clock_services as clocks
from app.ownership import deadlines, notices, owner_services, recusal, workflow
from app.ownership.models import (
    Case,
    CaseAssignment,
    CaseClock,
    CaseEvent,
    CaseOwner,
    CasePetitioner,
)
from app.ownership.petitioners import petitioners_of
from app.ownership.visibility import not_recused, readable_case, viewer_of
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


#: 我的包案 shows this many cases a page; a caller may ask for up to MY_PAGE_MAX.
MY_PAGE_SIZE = 50
MY_PAGE_MAX = 200


@dataclass(frozen=True, slots=True)
class MyCases:
    """One page of 我的包案, and the counts over every open case the leader owns."""

    cases: list[OwnedCase]
    total: int
    overdue: int
    due_soon: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _owned_open(person_id: int, viewer: recusal.Viewer) -> Any:
    """(id, next_due) of the open cases the person owns or co-owns, leaving out any they
    are recused from: read from their ownership rows alone (`CaseOwner.case_open`), a
    case owned in two roles once."""
    query = (
        select(CaseOwner.case_id.label("id"), CaseOwner.next_due.label("next_due"))
        .where(CaseOwner.person_id == person_id, CaseOwner.case_open)
        .distinct()
    )
    return not_recused(query, viewer, CaseOwner.case_id).subquery("owned")


async def my_cases(
    db: AsyncSession, actor: Principal, today: dt.date, *, page: int = 1, size: int = MY_PAGE_SIZE
) -> MyCases:
    """我的包案: the open cases the actor's person owns or co-owns, soonest deadline first
    (cases with no running clock last), one page at a time, with how many there are in
    all, overdue and due soon. Cases the actor is recused from are neither listed nor
    counted."""
    if actor.person_id is None or not actor.has_any({Role.leader}):
        raise Forbidden("我的包案只对领导账号开放。")
    size = min(max(size, 1), MY_PAGE_MAX)
    viewer = await viewer_of(db, actor)
    (total, overdue, due_soon), page, ids = await _my_page(
        db, actor.person_id, viewer, today, max(page, 1), size
    )
    found = await _my_rows(db, actor.person_id, ids) if ids else []
    return MyCases(
        [OwnedCase(c, o, _urgency(c, today)) for c, o in found],
        total,
        overdue,
        due_soon,
        page,
        size,
    )


def _my_tallies(due: Any, today: dt.date) -> tuple[Any, Any, Any]:
    """All, overdue and due within WARN_DAYS, counted over the leader's open cases."""
    soon = and_(due >= today, due <= today + dt.timedelta(days=WARN_DAYS))
    return (
        func.count(),
        func.count(sql_case((due < today, 1))),
        func.count(sql_case((soon, 1))),
    )


async def _my_page(
    db: AsyncSession, person_id: int, viewer: recusal.Viewer, today: dt.date, page: int, size: int
) -> tuple[tuple[int, int, int], int, list[int]]:
    """The counts over all the leader's open cases, the page shown (the one asked for, or
    the last when it asked past it) and that page's case ids — one statement, from the
    indexes alone: every open owned case numbered in deadline order with the counts as
    window aggregates, then the page's numbers kept."""
    owned = _owned_open(person_id, viewer)
    due = owned.c.next_due
    total, overdue, soon = (t.over() for t in _my_tallies(due, today))
    order = (due.is_(None), due, owned.c.id)
    mine = select(
        owned.c.id,
        func.row_number().over(order_by=order).label("n"),
        total.label("total"),
        overdue.label("overdue"),
        soon.label("soon"),
    ).subquery()
    last = (mine.c.total + size - 1) // size  # at least 1 wherever a row exists
    shown = sql_case((literal(page) <= last, literal(page)), else_=last)
    rows = (
        await db.execute(
            select(mine.c.id, mine.c.total, mine.c.overdue, mine.c.soon, shown)
            .where(mine.c.n > (shown - 1) * size, mine.c.n <= shown * size)
            .order_by(mine.c.n)
        )
    ).all()
    if not rows:
        return (0, 0, 0), 1, []
    first = rows[0]
    counts = (int(first[1]), int(first[2] or 0), int(first[3] or 0))
    return counts, int(first[4]), [r[0] for r in rows]


async def _my_rows(
    db: AsyncSession, person_id: int, ids: list[int]
) -> list[tuple[Case, CaseOwner]]:
    """The page's cases in `ids` order, each with the person's ownership that answers most
    for it (lead, first, co), read together in one statement."""
    rows = await db.execute(
        select(Case, CaseOwner)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(Case.id.in_(ids), CaseOwner.person_id == person_id, CaseOwner.active.is_(True))
        .options(raiseload(CaseOwner.tenure))
    )
    best: dict[int, tuple[Case, CaseOwner]] = {}
    for case, owner in rows.tuples():
        kept = best.get(case.id)
        if kept is None or ROLE_ORDER[owner.role] < ROLE_ORDER[kept[1].role]:
            best[case.id] = (case, owner)
    return [best[i] for i in ids if i in best]


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
