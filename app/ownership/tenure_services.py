"""What a tenure holds in cases, for its departure handover: the open cases it owns or
co-owns, the ones it may not see (accused), its figures, the pending assignments, and the
move of every ownership to the receiving tenure.

The handover checks the office's right before calling here; these functions read and move
without a role check of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.ownership import owner_services as owners
from app.ownership import workflow
from app.ownership.assignment_services import ASSIGNMENT_STATUS_LABELS, AssignmentStatus
from app.ownership.models import Case, CaseAccused, CaseAssignment, CaseClock, CaseOwner
from app.ownership.serialise import clock_label
from app.ownership.visibility import accused_of

_OPEN = [str(s) for s in workflow.OPEN]
_PENDING = [str(AssignmentStatus.assigned), str(AssignmentStatus.objected), "reported"]


@dataclass(frozen=True, slots=True)
class HeldCase:
    id: int
    code: str
    category: str
    kind_label: str
    status_label: str
    role_label: str
    received_on: dt.date
    target_date: dt.date | None
    next_due: dt.date | None
    next_clock_label: str | None
    days_overdue: int
    backlog: bool


@dataclass(frozen=True, slots=True)
class TenureFigures:
    received: int
    resolved: int
    replied: int
    replied_on_time: int
    evaluated: int
    satisfied: int


@dataclass(frozen=True, slots=True)
class PendingAssignment:
    id: int
    case_code: str
    unit_name: str
    due_on: dt.date | None
    status_label: str


def _held(case: Case, owner: CaseOwner, today: dt.date) -> HeldCase:
    late = (today - case.next_due).days if case.next_due and case.next_due < today else 0
    return HeldCase(
        id=case.id,
        code=case.code,
        category=case.category,
        kind_label=workflow.KIND_LABELS[workflow.Kind(case.kind)],
        status_label=workflow.STATUS_LABELS[workflow.CaseStatus(case.status)],
        role_label=owners.OWNER_ROLE_LABELS[owners.OwnerRole(owner.role)],
        received_on=case.received_on,
        target_date=owner.target_date,
        next_due=case.next_due,
        next_clock_label=clock_label(case.next_clock, case.profile),
        days_overdue=late,
        backlog=case.backlog,
    )


async def held_cases(
    db: AsyncSession,
    tenure_id: int,
    person_id: int,
    today: dt.date,
    only: Sequence[int] | None = None,
) -> list[HeldCase]:
    """Open cases the tenure owns or co-owns, except those naming its person as accused
    (those belong to the discipline reviewer's view only)."""
    accused = select(CaseAccused.case_id).where(CaseAccused.person_id == person_id)
    rows = await db.execute(
        select(Case, CaseOwner)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(
            CaseOwner.tenure_id == tenure_id,
            CaseOwner.active.is_(True),
            Case.status.in_(_OPEN),
            Case.id.not_in(accused),
            *([] if only is None else [Case.id.in_(list(only))]),
        )
        .order_by(Case.id, CaseOwner.id)
    )
    seen: dict[int, HeldCase] = {}
    for case, owner in rows.tuples():
        seen.setdefault(case.id, _held(case, owner, today))
    return list(seen.values())


async def cases_accusing(db: AsyncSession, person_id: int) -> list[tuple[int, str, str]]:
    """(id, code, status label) of open cases naming the person as accused: the discipline
    reviewer's part of a handover."""
    rows = await db.execute(
        select(Case.id, Case.code, Case.status)
        .join(CaseAccused, CaseAccused.case_id == Case.id)
        .where(CaseAccused.person_id == person_id, Case.status.in_(_OPEN))
        .order_by(Case.id)
    )
    return [
        (cid, code, workflow.STATUS_LABELS[workflow.CaseStatus(status)])
        for cid, code, status in rows.tuples()
    ]


def _ones(condition: Any) -> Any:
    return func.sum(sql_case((condition, 1), else_=0))


async def tenure_figures(
    db: AsyncSession, tenure_id: int, only: Sequence[int] | None = None
) -> TenureFigures:
    """Cases the tenure ever owned (or just `only` of them): how many, concluded, replied
    (on time: before the handling clock's due date), evaluated, satisfied (满意/基本满意)."""
    owned = select(distinct(CaseOwner.case_id)).where(CaseOwner.tenure_id == tenure_id)
    if only is not None:
        owned = owned.where(CaseOwner.case_id.in_(list(only)))
    on_time = select(CaseClock.case_id).where(
        CaseClock.name == "handle",
        CaseClock.state == "stopped",
        CaseClock.stopped_on <= CaseClock.due,
    )
    row = (
        await db.execute(
            select(
                func.count(),
                _ones(Case.status.not_in(_OPEN)),
                _ones(Case.replied_on.is_not(None)),
                _ones(Case.replied_on.is_not(None) & Case.id.in_(on_time)),
                _ones(Case.evaluation.is_not(None)),
                _ones(Case.evaluation.in_(["satisfied", "basically"])),
            ).where(Case.id.in_(owned))
        )
    ).one()
    return TenureFigures(*(int(v or 0) for v in row))


async def pending_assignments(db: AsyncSession, case_ids: Sequence[int]) -> list[PendingAssignment]:
    rows = await db.execute(
        select(CaseAssignment, Case.code)
        .join(Case, Case.id == CaseAssignment.case_id)
        .where(CaseAssignment.case_id.in_(list(case_ids)), CaseAssignment.status.in_(_PENDING))
        .order_by(CaseAssignment.due, CaseAssignment.id)
    )
    return [
        PendingAssignment(
            id=a.id,
            case_code=code,
            unit_name=a.unit.name,
            due_on=a.due,
            status_label=ASSIGNMENT_STATUS_LABELS[AssignmentStatus(a.status)],
        )
        for a, code in rows.tuples()
    ]


def _held_query(tenure_id: int, only: Sequence[int] | None) -> Any:
    query = (
        select(Case)
        .join(CaseOwner, CaseOwner.case_id == Case.id)
        .where(
            CaseOwner.tenure_id == tenure_id,
            CaseOwner.active.is_(True),
            Case.status.in_(_OPEN),
        )
        .order_by(Case.id)
        .with_for_update(of=Case)
    )
    return query if only is None else query.where(Case.id.in_(list(only)))


async def lock_held_cases(
    db: AsyncSession, tenure_id: int, only: Sequence[int] | None = None
) -> None:
    """Lock the open cases a tenure holds before a transaction writes its first ledger
    entry (the ledger is locked last, so no two writers wait on each other)."""
    await db.execute(_held_query(tenure_id, only))


async def hand_over_cases(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    from_tenure_id: int,
    to_tenure_id: int,
    only: Sequence[int] | None = None,
) -> list[int]:
    """Move every open ownership of one tenure to another (cause: handover), ledgered per
    case; returns the ids of the cases moved. Cases naming the receiver as accused refuse
    (`recused`), so the whole handover rolls back rather than hand a case to its accused."""
    held = await db.scalars(_held_query(from_tenure_id, only))
    cases = [(case, await accused_of(db, case.id)) for case in dict.fromkeys(held)]
    cause = owners.RenounceCause.handover
    await owners.move_tenure(db, actor, now, cases, from_tenure_id, to_tenure_id, cause)
    return [case.id for case, _ in cases]


async def moved_at(
    db: AsyncSession, from_tenure_id: int, to_tenure_id: int | None, at: dt.datetime
) -> tuple[set[int], set[int]]:
    """What the ownership rows say a handover moved at `at`: cases whose ownership through
    `from_tenure_id` was renounced then, and cases `to_tenure_id` assumed then."""
    out = await db.scalars(
        select(CaseOwner.case_id).where(
            CaseOwner.tenure_id == from_tenure_id,
            CaseOwner.active.is_(False),
            CaseOwner.renounced_at == at,
        )
    )
    into = await db.scalars(
        select(CaseOwner.case_id).where(
            CaseOwner.tenure_id == (to_tenure_id or -1), CaseOwner.assumed_at == at
        )
    )
    return set(out), set(into)
