"""What must hold after every run, read afresh from the database: no slot holds more
bookings than it has seats, every slot's counter equals the bookings holding its seats, no
citizen holds two active bookings of one sitting, the bookings are exactly those the
server answered 201 for (with their ledger entries and confirmation messages), the
county's ledger verifies, and the bare endpoint wrote one row per 204."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bench_routes import BENCH_INSERTS
from app.ledger import services as ledger
from app.ledger.checkpoints import verifiers
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_ledger
from app.scheduling.booking_services import ACTIVE, BOOKING_CREATED, BookingStatus
from app.scheduling.models import Booking, OutboxMessage, Sitting, SlotSeats, Venue
from bench.booking.scratch import BenchError

#: The statuses in which a booking holds a seat of its slot (waitlisted ones do not).
HOLDS_SEAT = [
    str(s) for s in (BookingStatus.booked, BookingStatus.checked_in, BookingStatus.called)
]

Slot = tuple[int, str]


@dataclass(slots=True)
class Expected:
    """What the clients were told, over every phase and burst so far."""

    codes: set[str] = field(default_factory=set)  # of every 201 booking
    unanswered: int = 0  # booking requests that got no answer (they may have booked)
    inserts: int = 0  # 204s of the bare endpoint
    unanswered_inserts: int = 0


async def _held(db: AsyncSession) -> dict[Slot, int]:
    rows = await db.execute(
        select(Booking.sitting_id, Booking.slot_start, func.count())
        .where(Booking.status.in_(HOLDS_SEAT), Booking.slot_start.is_not(None))
        .group_by(Booking.sitting_id, Booking.slot_start)
    )
    return {(s, str(t)): int(n) for s, t, n in rows.all()}


async def _counters(db: AsyncSession) -> dict[Slot, tuple[int, int, int]]:
    """(seats, taken, the venue's seats per slot) of every slot_seats row."""
    rows = await db.execute(
        select(
            SlotSeats.sitting_id,
            SlotSeats.slot_start,
            SlotSeats.seats,
            SlotSeats.taken,
            Venue.seats_per_slot,
        )
        .join(Sitting, Sitting.id == SlotSeats.sitting_id)
        .join(Venue, Venue.id == Sitting.venue_id)
    )
    return {(s, t): (seats, taken, venue) for s, t, seats, taken, venue in rows.all()}


def _slot_problems(
    held: dict[Slot, int], counters: dict[Slot, tuple[int, int, int]]
) -> Iterator[str]:
    for slot in sorted(held.keys() | counters.keys()):
        seats, taken, venue = counters.get(slot, (0, 0, 0))
        bookings = held.get(slot, 0)
        if taken != bookings or taken > seats or seats != venue:
            yield f"slot {slot}: {bookings} bookings hold seats, taken {taken}, seats {seats}/{venue}"


async def _doubles(db: AsyncSession) -> list[str]:
    """Citizens (by identity or mobile) with two active bookings of one sitting."""
    found = []
    for column in (Booking.id_hash, Booking.mobile_hash):
        rows = await db.execute(
            select(Booking.sitting_id, func.count())
            .where(Booking.status.in_([str(s) for s in ACTIVE]))
            .group_by(Booking.sitting_id, column)
            .having(func.count() > 1)
        )
        found += [f"sitting {s}: {n} active bookings of one {column.key}" for s, n in rows.all()]
    return found


async def _count(db: AsyncSession, query: Select[tuple[int]]) -> int:
    return int(await db.scalar(query) or 0)


async def _answer_problems(db: AsyncSession, county: int, expected: Expected) -> list[str]:
    codes = dict((await db.execute(select(Booking.code, Booking.status))).tuples().all())
    problems = []
    if missing := expected.codes - codes.keys():
        problems.append(f"{len(missing)} codes answered 201 are not in the database")
    if len(codes) - len(expected.codes) > expected.unanswered:
        problems.append(f"{len(codes)} bookings stored, {len(expected.codes)} answered 201")
    if set(codes.values()) - {BookingStatus.booked}:
        problems.append(f"unexpected booking statuses {set(codes.values())}")
    book = await ledger.ledger_for_county(db, county)
    created = await _count(
        db,
        select(func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.ledger_id == book.id, LedgerEntry.action == BOOKING_CREATED),
    )
    sms = await _count(
        db,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "confirmation"),
    )
    if created != len(codes) or sms != len(codes):
        problems.append(f"{len(codes)} bookings, {created} ledger entries, {sms} confirmations")
    return problems


async def _insert_problems(db: AsyncSession, expected: Expected) -> list[str]:
    rows = await _count(db, select(func.count()).select_from(BENCH_INSERTS))
    if not expected.inserts <= rows <= expected.inserts + expected.unanswered_inserts:
        return [f"bench_inserts has {rows} rows after {expected.inserts} answers 204"]
    return []


async def _ledger_problems(db: AsyncSession, county: int, keys_dir: Path) -> tuple[int, list[str]]:
    book = await ledger.ledger_for_county(db, county)
    report = await verify_ledger(db, book, verifiers(keys_dir))
    return report.entries, [f"ledger {book.origin}: {p.message}" for p in report.problems]


async def check(db: AsyncSession, county: int, keys_dir: Path, expected: Expected) -> str:
    """Raise BenchError unless everything holds; a one-line summary otherwise."""
    held, counters = await _held(db), await _counters(db)
    problems = [*_slot_problems(held, counters), *await _doubles(db)]
    problems += await _answer_problems(db, county, expected)
    problems += await _insert_problems(db, expected)
    entries, wrong = await _ledger_problems(db, county, keys_dir)
    problems += wrong
    if problems:
        raise BenchError("the run's data are wrong:\n  " + "\n  ".join(problems[:40]))
    full = sum(1 for slot, n in held.items() if n == counters[slot][0])
    return (
        f"{sum(held.values())} bookings in {len(held)} slots ({full} full), none over its "
        f"seats, counters exact, no double booking; ledger {entries} entries verified"
    )
