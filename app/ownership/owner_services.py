"""Ownership (包案) as tenure rows: who owns a case, through which post, since when, and
why they stopped.

谁接案，谁负责: the leader who received the citizen owns the case (首接负责) unless accused
in it; a supervisor or the office names a 包案 leader with a target date (化解时限) and
co-owners. An open case is never without an owner: the last owner cannot renounce, and
ending an owner's tenure is refused (through `org.references`) unless the cases move to
another tenure in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.clock import SHANGHAI
from app.core.errors import NotFound, RuleViolation
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org import services as org
from app.org.models import Post, Tenure
from app.org.references import tenure_reference_check
from app.ownership import fact_services, recusal
from app.ownership.models import Case, CaseOwner, mirrored
from app.ownership.workflow import OPEN


class OwnerRole(StrEnum):
    lead = "lead"
    first = "first"
    co = "co"


OWNER_ROLE_LABELS = {
    OwnerRole.lead: "包案领导",
    OwnerRole.first: "首接领导",
    OwnerRole.co: "协同包案",
}
#: Roles that answer for the case: an open case always has one of them.
ANSWERING = frozenset({OwnerRole.lead, OwnerRole.first})


class RenounceCause(StrEnum):
    reassigned = "reassigned"
    handover = "handover"
    recused = "recused"
    other = "other"


OWNER_ASSUMED = ledger_action(
    "case.owner.assumed",
    "case",
    "领导包案（首接、包案或协同包案）",
    person="包案领导的人员编号",
    tenure="据以包案的任职编号",
    role="lead 包案领导 / first 首接领导 / co 协同包案",
    target_date="化解时限（包案领导）",
)
OWNER_RENOUNCED = ledger_action(
    "case.owner.renounced",
    "case",
    "领导不再包案（原因文字只存于记录）",
    person="人员编号",
    tenure="任职编号",
    role="lead / first / co",
    cause="reassigned 改派 / handover 离任交接 / recused 回避 / other 其他",
)


async def owners_of(db: AsyncSession, case_id: int) -> list[CaseOwner]:
    rows = await db.scalars(
        select(CaseOwner)
        .where(CaseOwner.case_id == case_id, CaseOwner.active.is_(True))
        .order_by(CaseOwner.id)
    )
    return list(rows)


async def current_post_units(db: AsyncSession, person_id: int, on: dt.date) -> set[int]:
    """The units of every post the person holds on `on`: an official speaks for each."""
    rows = await db.scalars(
        select(Post.unit_id)
        .join(Tenure, Tenure.post_id == Post.id)
        .where(
            Tenure.person_id == person_id,
            Tenure.start_date <= on,
            (Tenure.end_date.is_(None)) | (Tenure.end_date >= on),
        )
    )
    return set(rows)


async def _ownable_tenure(
    db: AsyncSession, tenure_id: int, accused: recusal.Accused, on: dt.date
) -> Tenure:
    try:
        tenure = await org.get_tenure(db, tenure_id)
    except NotFound:
        raise NotFound("找不到该领导的任职。") from None
    if tenure.end_date is not None and tenure.end_date < on:
        raise RuleViolation(f"{tenure.person.name}的该任职已于 {tenure.end_date} 结束，不能包案。")
    units = await current_post_units(db, tenure.person_id, on)
    viewer = recusal.Viewer(tenure.person_id, frozenset({tenure.post.unit_id, *units}))
    if recusal.recused(viewer, accused):
        raise RuleViolation(
            f"{tenure.person.name}是该信访事项的被反映人（或所在单位被反映），须回避，不能包案。",
            slug="recused",
        )
    return tenure


async def assume(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case: Case,
    accused: recusal.Accused,
    tenure_id: int,
    role: OwnerRole,
    target_date: dt.date | None = None,
    *,
    replacing: CaseOwner | None = None,
) -> CaseOwner:
    """The official of `tenure_id` takes the case in `role` (once per role and person;
    `replacing` is a row about to be renounced, e.g. the same person's other post)."""
    tenure = await _ownable_tenure(db, tenure_id, accused, now.astimezone(SHANGHAI).date())
    same = [
        o
        for o in await owners_of(db, case.id)
        if o.person_id == tenure.person_id and o is not replacing
    ]
    if any(o.role == role for o in same):
        raise RuleViolation(f"{tenure.person.name}已在包案该信访事项。", slug="duplicate")
    case_open, next_due, next_clock = mirrored(case)
    row = CaseOwner(
        case_id=case.id,
        county_id=case.county_id,
        person_id=tenure.person_id,
        tenure_id=tenure.id,
        role=str(role),
        target_date=target_date,
        assumed_at=now,
        assumed_by=actor.account_id or None,
        case_open=case_open,
        next_due=next_due,
        next_clock=next_clock,
    )
    db.add(row)
    await _answering_changed(db, case, row)
    await _ledger_owner(db, actor, now, case, row, OWNER_ASSUMED, target_date=_iso(target_date))
    return row


async def _answering_changed(db: AsyncSession, case: Case, row: CaseOwner) -> None:
    """Flush; and if the row answers for the case, its red/black list facts anew."""
    await db.flush()
    if row.role in ANSWERING:
        await fact_services.refresh(db, case)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


async def _ledger_owner(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case: Case,
    row: CaseOwner,
    action: str,
    **extra: Any,
) -> None:
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=action,
        subject=("case", case.id),
        at=now,
        payload={"person": row.person_id, "tenure": row.tenure_id, "role": row.role, **extra},
    )


async def renounce(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    case: Case,
    row: CaseOwner,
    cause: RenounceCause,
    reason: str,
) -> None:
    """End one ownership row, with its reason; the last answering owner of an open case
    cannot go unless another has taken it first."""
    others = [o for o in await owners_of(db, case.id) if o.id != row.id]
    answering = any(o.role in ANSWERING for o in others)
    if case.status in OPEN and row.role in ANSWERING and not answering:
        raise RuleViolation("办理中的信访事项不能没有包案领导：请先指定接手的领导。")
    row.active = False
    row.case_open, row.next_due, row.next_clock = False, None, None
    row.renounced_at = now
    row.renounce_reason = reason.strip()[:200] or None
    await _answering_changed(db, case, row)
    await _ledger_owner(db, actor, now, case, row, OWNER_RENOUNCED, cause=str(cause))


async def move_tenure(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    cases: Sequence[tuple[Case, recusal.Accused]],
    from_tenure_id: int,
    to_tenure_id: int,
    cause: RenounceCause,
) -> int:
    """Move every active ownership of `from_tenure_id` on these cases to `to_tenure_id`,
    in the same transaction (a handover or a reassignment). Returns how many moved."""
    moved = 0
    for case, accused in cases:
        for row in await owners_of(db, case.id):
            if row.tenure_id != from_tenure_id:
                continue
            await assume(
                db,
                actor,
                now,
                case,
                accused,
                to_tenure_id,
                OwnerRole(row.role),
                row.target_date,
                replacing=row,
            )
            await renounce(db, actor, now, case, row, cause, "随任职移交")
            moved += 1
    return moved


@tenure_reference_check("open-cases")
async def _open_cases_of(db: AsyncSession, tenure_id: int, end: dt.date) -> list[str]:
    count = await db.scalar(
        select(func.count())
        .select_from(CaseOwner)
        .join(Case, Case.id == CaseOwner.case_id)
        .where(
            CaseOwner.tenure_id == tenure_id,
            CaseOwner.active.is_(True),
            Case.status.in_([str(s) for s in OPEN]),
        )
    )
    return [f"包案的未办结信访事项 {count} 件"] if count else []
