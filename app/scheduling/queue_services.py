"""预约叫号: check-in, the queue of a sitting, the outcome of each booking, and the public
board.

A clerk checks a citizen in by booking code (a QR scanner types the code into the field),
the booking takes the sitting's next queue number (a walk-in keeps the one it was
registered with), numbers are called in order, and each booking ends received or no-show.
Every move is one change of `status` along QUEUE_MOVES on the locked row, with its ledger
entry; the public board gets queue numbers and masked names, nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.codes import code_is_valid, normalise_code
from app.core.errors import Forbidden, NotFound, RuleViolation
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org.models import Unit
from app.scheduling.booking_services import (
    BOOKING_STATUS_LABELS,
    CLERKS,
    BookingStatus,
    next_queue_number,
    wall_clock,
)
from app.scheduling.models import (
    Booking,
    Sitting,
)

BOOKING_CHECKED_IN = ledger_action(
    "booking.checked_in",
    "booking",
    "到场签到，取得排队号（现场登记的沿用登记时的排队号）",
    sitting="接访安排编号",
    queue_number="排队号",
)
BOOKING_CALLED = ledger_action(
    "booking.called", "booking", "叫号", sitting="接访安排编号", queue_number="排队号"
)
BOOKING_RECEIVED = ledger_action(
    "booking.received",
    "booking",
    "已接待",
    sitting="接访安排编号",
    queue_number="排队号",
    was="此前的状态（checked_in/called）",
)
BOOKING_NO_SHOW = ledger_action(
    "booking.no_show",
    "booking",
    "未到（预约后未到场，或叫号未应）",
    sitting="接访安排编号",
    queue_number="排队号（未取得排队号的为 null）",
    was="此前的状态（booked/checked_in/called）",
)

#: The queue's legal moves; anything else is refused with the booking's current state.
QUEUE_MOVES: Mapping[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.booked: frozenset({BookingStatus.checked_in, BookingStatus.no_show}),
    BookingStatus.checked_in: frozenset(
        {BookingStatus.called, BookingStatus.received, BookingStatus.no_show}
    ),
    BookingStatus.called: frozenset({BookingStatus.received, BookingStatus.no_show}),
}
OUTCOMES = frozenset({BookingStatus.received, BookingStatus.no_show})
#: The bookings a day's queue lists: everyone holding a seat or a number.
QUEUE_STATUSES = (
    BookingStatus.booked,
    BookingStatus.checked_in,
    BookingStatus.called,
    BookingStatus.received,
    BookingStatus.no_show,
)
#: Which of a clerk's roles a ledger entry names, when several reach the county.
_RUNNER_ROLES = (Role.clerk, Role.office, Role.admin)
BOARD_NEXT = 5


def mask_name(name: str) -> str:
    """A name for the public board: 陈小明 → 陈*明, 陈明 → 陈*, 欧阳小明 → 欧**明."""
    text = name.strip()
    if len(text) <= 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def day_words(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def booking_by_code(db: AsyncSession, code: str, *, lock: bool = True) -> Booking:
    """A booking by its code, for staff (no mobile number asked); locked to change it."""
    wanted = normalise_code(code)
    if not code_is_valid(wanted):
        raise RuleViolation("预约码有误，请核对后重新输入（预约码为9位字母和数字）。")
    query = select(Booking).where(Booking.code == wanted)
    if lock:
        query = query.with_for_update(of=Booking).execution_options(populate_existing=True)
    booking = await db.scalar(query)
    if booking is None:
        raise NotFound("没有找到该预约码对应的预约。")
    return booking


async def _clerk_role(db: AsyncSession, actor: Principal, sitting: Sitting, what: str) -> Role:
    county = await db.get(Unit, sitting.county_id)
    assert county is not None
    require_scope(actor, CLERKS, county.path, what)
    return next(
        r for r in _RUNNER_ROLES if any(g.reaches(county.path) for g in actor.grants_for({r}))
    )


async def runner_role(db: AsyncSession, actor: Principal, sitting: Sitting, what: str) -> Role:
    """The leader who sits runs their own queue; clerks (admins, the office) whose scope
    reaches the county run any of its queues."""
    own = actor.person_id is not None and actor.person_id == sitting.person_id
    if own and Role.leader in actor.roles:
        return Role.leader
    if Role.leader in actor.roles and not actor.has_any(CLERKS):
        raise Forbidden(f"这不是您本人的接访，不能{what}。")
    return await _clerk_role(db, actor, sitting, what)


def _require_on_the_day(sitting: Sitting, now: dt.datetime, what: str) -> None:
    if sitting.status != "scheduled":
        raise RuleViolation("该接访安排已取消。")
    if wall_clock(now).date() != sitting.day:
        raise RuleViolation(f"该接访安排在{day_words(sitting.day)}，只能在接访当天{what}。")


def _move(booking: Booking, to: BookingStatus, now: dt.datetime, what: str) -> str:
    """Move along QUEUE_MOVES (the row is locked); returns the status it left."""
    was = booking.status
    if to not in QUEUE_MOVES.get(BookingStatus(was), frozenset()):
        number = f"，排队号{booking.queue_number}号" if booking.queue_number else ""
        label = BOOKING_STATUS_LABELS.get(was, was)
        raise RuleViolation(f"该预约当前为“{label}”{number}，不能{what}。")
    booking.status, booking.updated_at = str(to), now
    booking.sequence += 1
    return was


async def _queue_ledger(
    db: AsyncSession,
    actor: Principal,
    role: Role,
    now: dt.datetime,
    action: str,
    booking: Booking,
    **payload: object,
) -> None:
    await db.flush()
    await ledger.append(
        db,
        county=booking.county_id,
        actor=actor,
        action=action,
        subject=("booking", booking.id),
        payload={"sitting": booking.sitting_id, "queue_number": booking.queue_number, **payload},
        at=now,
        role=str(role),
    )


async def check_in(db: AsyncSession, actor: Principal, now: dt.datetime, code: str) -> Booking:
    """Check a citizen in on the sitting's day by booking code; the booking takes the
    sitting's next queue number unless it has one (a walk-in's, given at registration)."""
    booking = await booking_by_code(db, code)
    sitting = booking.sitting
    role = await _clerk_role(db, actor, sitting, "办理签到")
    _require_on_the_day(sitting, now, "签到")
    _move(booking, BookingStatus.checked_in, now, "签到")
    if booking.queue_number is None:
        booking.queue_number = await next_queue_number(db, sitting.id)
    await _queue_ledger(db, actor, role, now, BOOKING_CHECKED_IN, booking)
    return booking


async def call_next(
    db: AsyncSession, actor: Principal, now: dt.datetime, sitting_id: int
) -> Booking | None:
    """Call the lowest waiting number of a sitting; None when nobody is waiting."""
    sitting = await db.get(Sitting, sitting_id)
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    role = await runner_role(db, actor, sitting, "叫号")
    _require_on_the_day(sitting, now, "叫号")
    # SKIP LOCKED: two calls at once take two different citizens, never the same one twice.
    booking = await db.scalar(
        select(Booking)
        .where(Booking.sitting_id == sitting.id, Booking.status == BookingStatus.checked_in)
        .order_by(Booking.queue_number, Booking.id)
        .limit(1)
        .with_for_update(of=Booking, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if booking is None:
        return None
    _move(booking, BookingStatus.called, now, "叫号")
    await _queue_ledger(db, actor, role, now, BOOKING_CALLED, booking)
    return booking


async def finish(
    db: AsyncSession, actor: Principal, now: dt.datetime, code: str, outcome: BookingStatus
) -> Booking:
    """End a booking as received (接待完毕) or no_show (预约未到场，或叫号未应), from the
    sitting's day on."""
    if outcome not in OUTCOMES:
        raise RuleViolation("接待结果只能是“已接待”或“未到”。")
    booking = await booking_by_code(db, code)
    sitting = booking.sitting
    label = BOOKING_STATUS_LABELS[outcome]
    role = await runner_role(db, actor, sitting, f"登记为“{label}”")
    if wall_clock(now).date() < sitting.day:
        raise RuleViolation(f"该接访安排在{day_words(sitting.day)}，当天起才能登记接待结果。")
    was = _move(booking, outcome, now, f"登记为“{label}”")
    action = BOOKING_RECEIVED if outcome is BookingStatus.received else BOOKING_NO_SHOW
    await _queue_ledger(db, actor, role, now, action, booking, was=was)
    return booking


@dataclass(frozen=True, slots=True)
class SittingQueue:
    """One sitting's queue on its day: bookings in queue order (numbers first, then those
    not yet arrived by slot)."""

    sitting: Sitting
    bookings: list[Booking]

    def having(self, status: BookingStatus) -> list[Booking]:
        return [b for b in self.bookings if b.status == status]

    @property
    def current(self) -> Booking | None:
        """The number called last that is still being received."""
        called = self.having(BookingStatus.called)
        return max(called, key=lambda b: b.queue_number or 0) if called else None


def _queue_order(booking: Booking) -> tuple[bool, int, str, int]:
    number = booking.queue_number
    return number is None, number or 0, booking.slot_start or "", booking.id


async def today_queue(
    db: AsyncSession, sitting_ids: Sequence[int], day: dt.date
) -> list[SittingQueue]:
    """The queues of those of these sittings held on `day` (others are left out). Reads only."""
    sittings = list(
        await db.scalars(
            select(Sitting)
            .where(Sitting.id.in_(list(sitting_ids)), Sitting.day == day)
            .order_by(Sitting.id)
        )
    )
    rows = await db.scalars(
        select(Booking).where(
            Booking.sitting_id.in_([s.id for s in sittings]),
            Booking.status.in_([str(s) for s in QUEUE_STATUSES]),
        )
    )
    by_sitting: dict[int, list[Booking]] = {}
    for booking in rows:
        by_sitting.setdefault(booking.sitting_id, []).append(booking)
    return [SittingQueue(s, sorted(by_sitting.get(s.id, []), key=_queue_order)) for s in sittings]


async def queue_sittings(
    db: AsyncSession,
    day: dt.date,
    *,
    venue: int | None = None,
    person: int | None = None,
    within: Sequence[str] | None = None,
) -> list[Sitting]:
    """Scheduled sittings on a day, at a venue, of a person, in counties whose path starts
    with one of `within` (None: anywhere)."""
    query = select(Sitting).where(Sitting.day == day, Sitting.status == "scheduled")
    if venue is not None:
        query = query.where(Sitting.venue_id == venue)
    if person is not None:
        query = query.where(Sitting.person_id == person)
    if within is not None:
        counties = select(Unit.id).where(or_(false(), *(Unit.path.startswith(p) for p in within)))
        query = query.where(Sitting.county_id.in_(counties))
    return list(await db.scalars(query.order_by(Sitting.id)))


@dataclass(frozen=True, slots=True)
class BoardLine:
    number: int
    name: str  # masked


@dataclass(frozen=True, slots=True)
class BoardSitting:
    """What a venue's public screen shows of a sitting: numbers and masked names only."""

    official: str
    rule: str
    calling: list[BoardLine]
    next_up: list[BoardLine]
    waiting: int


def _board_line(booking: Booking) -> BoardLine:
    return BoardLine(booking.queue_number or 0, mask_name(booking.name))


async def public_board(db: AsyncSession, venue_id: int, day: dt.date) -> list[BoardSitting]:
    """A venue's board on a day: per sitting, the numbers being called (last first) and the
    next ones waiting."""
    sittings = await queue_sittings(db, day, venue=venue_id)
    board = []
    for q in await today_queue(db, [s.id for s in sittings], day):
        called = sorted(q.having(BookingStatus.called), key=_queue_order, reverse=True)
        waiting = q.having(BookingStatus.checked_in)
        board.append(
            BoardSitting(
                official=q.sitting.person.name,
                rule=q.sitting.rule.name,
                calling=[_board_line(b) for b in called],
                next_up=[_board_line(b) for b in waiting[:BOARD_NEXT]],
                waiting=len(waiting),
            )
        )
    return board
