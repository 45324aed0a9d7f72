"""Statutory clocks of a case, stored: started with their due date computed by
`deadlines.due_date` on the county's calendar, stopped when the step they time is taken,
recomputed (with a ledger entry) when an extension is approved, a hearing pauses one, or
the calendar of a year they run through changes. The case row mirrors the earliest
running clock (`next_due`, `next_clock`) for the lists that sort by it, and so do its
active ownership rows (`CaseOwner.case_open`, `next_due`) for 我的包案 and the overdue
board by owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.workdays import WorkCalendar
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.ownership import deadlines, fact_services, ranking
from app.ownership.models import Case, CaseClock, CaseOwner, mirrored

#: Clocks that time the petitioner, not the owners: never marked late on owners' lists.
PETITIONERS_CLOCKS = frozenset({"review_request", "recheck_request"})
RUNNING = "running"
STOPPED = "stopped"
SUPERSEDED = "superseded"

CLOCK_RECOMPUTED = ledger_action(
    "case.clock.recomputed",
    "case",
    "重新计算信访事项的法定期限（延期、听证、节假日安排变化）",
    clock="期限名称（route / accept / handle / extend …）",
    start="起算日",
    old_due="原届满日",
    due="新届满日",
    cause="原因（extension 延期 / hearing 听证 / calendar 节假日安排）",
    extension_days="延长的日数",
    paused_days="听证不计入的日数",
    provisional="是否按暂定日历计算",
)


def clock_json(clock: CaseClock) -> dict[str, Any]:
    """A clock as ledger payloads carry it."""
    return {"clock": clock.name, "start": clock.start.isoformat(), "due": clock.due.isoformat()}


def compute(
    calendar: WorkCalendar, case: Case, name: str, start: dt.date, **extra: int
) -> deadlines.Deadline:
    return deadlines.due_date(calendar, case.profile, name, start, **extra)


async def running(db: AsyncSession, case_id: int) -> list[CaseClock]:
    rows = await db.scalars(
        select(CaseClock)
        .where(CaseClock.case_id == case_id, CaseClock.state == RUNNING)
        .order_by(CaseClock.due, CaseClock.id)
    )
    return list(rows)


async def clocks_of(db: AsyncSession, case_id: int) -> list[CaseClock]:
    rows = await db.scalars(
        select(CaseClock).where(CaseClock.case_id == case_id).order_by(CaseClock.id)
    )
    return list(rows)


async def start(
    db: AsyncSession,
    calendar: WorkCalendar,
    case: Case,
    names: Iterable[str],
    on: dt.date,
    now: dt.datetime,
    *,
    assignment_id: int | None = None,
) -> list[CaseClock]:
    """Start these clocks on `on`; their due dates are stored as computed now."""
    started = []
    for name in names:
        due = compute(calendar, case, name, on)
        row = CaseClock(
            case_id=case.id,
            county_id=case.county_id,
            assignment_id=assignment_id,
            name=name,
            start=on,
            due=due.due,
            provisional=due.provisional,
            state=RUNNING,
            created_at=now,
        )
        db.add(row)
        started.append(row)
    await db.flush()
    return started


async def stop(db: AsyncSession, case: Case, names: Iterable[str], on: dt.date) -> list[CaseClock]:
    """Stop the running clocks of these names (the step they time was taken on `on`)."""
    wanted = set(names)
    stopped = [c for c in await running(db, case.id) if c.name in wanted]
    for clock in stopped:
        clock.state = STOPPED
        clock.stopped_on = on
    await _counted_on_the_list(db, case, stopped)
    return stopped


async def stop_for(db: AsyncSession, case: Case, assignment_id: int, on: dt.date) -> None:
    """Stop the running clocks of one assignment (it was answered)."""
    stopped = [c for c in await running(db, case.id) if c.assignment_id == assignment_id]
    for clock in stopped:
        clock.state = STOPPED
        clock.stopped_on = on
    await _counted_on_the_list(db, case, stopped)


async def _counted_on_the_list(db: AsyncSession, case: Case, changed: Iterable[CaseClock]) -> None:
    """Flush; and if a clock the red/black list counts changed, the case's facts anew."""
    await db.flush()
    if any(c.name in ranking.FACT_CLOCKS for c in changed):
        await fact_services.refresh(db, case)


async def refresh_next(db: AsyncSession, case: Case) -> None:
    """Mirror the earliest running clock the case's owners answer for on its row: an
    assigned unit's objection window is the unit's deadline, shown with the assignment; the
    windows to request a review or recheck are the petitioner's, shown on the tracking
    page, and their lapse closes the case by job."""
    clocks = [
        c
        for c in await running(db, case.id)
        if c.assignment_id is None and c.name not in PETITIONERS_CLOCKS
    ]
    first = clocks[0] if clocks else None
    case.next_due = first.due if first else None
    case.next_clock = first.name if first else None
    await db.flush()
    await _mirror_on_owners(db, case)


async def _mirror_on_owners(db: AsyncSession, case: Case) -> None:
    """Whether the case is open, and its earliest running clock, on its active ownership
    rows; rows already showing them are not written."""
    case_open, next_due, next_clock = mirrored(case)
    await db.execute(
        update(CaseOwner)
        .where(
            CaseOwner.case_id == case.id,
            CaseOwner.active.is_(True),
            or_(
                CaseOwner.case_open.is_distinct_from(case_open),
                CaseOwner.next_due.is_distinct_from(next_due),
                CaseOwner.next_clock.is_distinct_from(next_clock),
            ),
        )
        .values(case_open=case_open, next_due=next_due, next_clock=next_clock)
        .execution_options(synchronize_session="fetch")
    )


async def recompute(
    db: AsyncSession,
    calendar: WorkCalendar,
    actor: Principal | dict[str, Any],
    now: dt.datetime,
    case: Case,
    clock: CaseClock,
    cause: str,
    *,
    name: str | None = None,
    extension_days: int = 0,
    paused_days: int = 0,
) -> CaseClock:
    """Supersede `clock` by a new computation from the same start; ledgered."""
    due = compute(
        calendar,
        case,
        name or clock.name,
        clock.start,
        extension_days=extension_days,
        paused_days=paused_days,
    )
    was_stopped = clock.state == STOPPED
    clock.state = SUPERSEDED
    row = CaseClock(
        case_id=case.id,
        county_id=case.county_id,
        assignment_id=clock.assignment_id,
        name=name or clock.name,
        start=clock.start,
        due=due.due,
        extension_days=due.extension_days,
        paused_days=due.paused_days,
        provisional=due.provisional,
        state=RUNNING,
        reason=cause,
        created_at=now,
    )
    db.add(row)
    await _counted_on_the_list(db, case, [clock] if was_stopped else [])
    await _ledger_recomputed(db, actor, now, case, clock, row, cause)
    return row


async def _ledger_recomputed(
    db: AsyncSession,
    actor: Principal | dict[str, Any],
    now: dt.datetime,
    case: Case,
    old: CaseClock,
    new: CaseClock,
    cause: str,
) -> None:
    await ledger.append(
        db,
        county=case.county_id,
        actor=actor,
        action=CLOCK_RECOMPUTED,
        subject=("case", case.id),
        at=now,
        payload={
            "clock": new.name,
            "start": new.start.isoformat(),
            "old_due": old.due.isoformat(),
            "due": new.due.isoformat(),
            "cause": cause,
            "extension_days": new.extension_days,
            "paused_days": new.paused_days,
            "provisional": new.provisional,
        },
    )


def explain(calendar: WorkCalendar, case: Case, clock: CaseClock) -> deadlines.Deadline:
    """How the stored clock's due date is computed, for the case page."""
    return compute(
        calendar,
        case,
        clock.name,
        clock.start,
        extension_days=clock.extension_days,
        paused_days=clock.paused_days,
    )


def payload_of(clocks: Sequence[CaseClock]) -> list[dict[str, Any]]:
    return [clock_json(c) for c in clocks]
