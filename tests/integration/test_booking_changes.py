"""What happens to bookings when the roster changes, and the day before, on SQLite and
PostgreSQL: a re-plan moves the booked citizens to the leader who now receives (same day,
same slot, same code) and tells them what changed; a sitting with no replacement cancels
its bookings and says so; reminders go out once, the day before, to those holding a seat."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.core.models import Job
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling import services
from app.scheduling.models import Booking, BookingQuota, OutboxMessage, Sitting, SlotSeats
from app.scheduling.schemas import RosterIn, UnavailabilityIn
from app.scheduling.solver import solve
from tests.integration.conftest import SYSTEM
from tests.integration.test_booking_services import _book, request

pytest_plugins = ["tests.integration.test_booking_services"]

DAY = dt.date(2026, 3, 5)


async def _replan_without(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: Sitting
) -> None:
    """The sitting's leader falls ill on its day; the office re-plans and publishes."""
    now = clock.now()
    async with transaction(factory) as db:
        await services.add_unavailability(
            db, SYSTEM, now, UnavailabilityIn(sitting.person_id, DAY, DAY)
        )
        period = (dt.date(2026, 3, 2), dt.date(2026, 3, 31))
        roster = await services.draft_roster(
            db, SYSTEM, now, RosterIn(sitting.county_id, *period), solve_later=False
        )
        loaded = await services.load_instance(db, sitting.county_id, *period)
        result = solve(loaded.instance, time_limit=20, seed=1, calendar=loaded.calendar)
        await services.store_result(db, SYSTEM, now, roster, loaded, result)
        await services.publish(db, SYSTEM, now, roster.id)


async def _sent(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, keys_dir: Path, kind: str
) -> list[str]:
    worker = Worker(factory, clock, keys=KeyRing(keys_dir))
    while await worker.run_once():
        pass
    async with factory() as db:
        found = await db.scalars(
            select(OutboxMessage.body).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
        return list(found)


async def test_a_replan_moves_bookings_to_the_new_leader_and_tells_each_citizen(
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    sitting: int,
    secrets: Secrets,
    keys_dir: Path,
) -> None:
    made = [await _book(factory, clock, secrets, request(sitting, n)) for n in (1, 2)]
    made.append(await _book(factory, clock, secrets, request(sitting, 3, waitlist=True)))
    made.append(await _book(factory, clock, secrets, request(sitting, 4, slot_start="09:00")))
    async with factory() as db:
        old = await db.get(Sitting, sitting)
    assert old is not None
    await _replan_without(factory, clock, old)
    async with factory() as db:
        rows = {b.code: b for b in await db.scalars(select(Booking))}
        gone = await db.get(Sitting, sitting)
        moved = list(
            await db.scalars(select(LedgerEntry).where(LedgerEntry.action == "booking.moved"))
        )
        seats = {
            (s, t): n
            for s, t, n in await db.execute(
                select(SlotSeats.sitting_id, SlotSeats.slot_start, SlotSeats.taken)
            )
        }
    assert gone is not None and gone.status == "cancelled"
    new = {rows[b.code].sitting_id for b in made}
    assert len(new) == 1 and sitting not in new
    async with factory() as db:
        taker = await db.get(Sitting, new.pop())
    assert taker is not None and taker.day == DAY and taker.rule_id == old.rule_id
    assert taker.person_id != old.person_id
    assert [rows[b.code].status for b in made] == ["booked", "booked", "waitlisted", "booked"]
    assert [rows[b.code].slot_start for b in made] == ["08:30", "08:30", "08:30", "09:00"]
    assert all(rows[b.code].sequence == b.sequence + 1 for b in made)
    assert len(moved) == 4 and all(b'"kind":"system"' in e.leaf for e in moved)
    assert seats == {
        (sitting, "08:30"): 0,
        (sitting, "09:00"): 0,
        (taker.id, "08:30"): 2,
        (taker.id, "09:00"): 1,
    }
    texts = await _sent(factory, clock, keys_dir, "change")
    assert len(texts) == 4
    assert all(f"接访领导由{old.person.name}改为{taker.person.name}" in t for t in texts)
    assert sum("目前为候补" in t for t in texts) == 1
    assert all("如保留预约无需操作" in t for t in texts)


async def test_a_sitting_nobody_takes_over_cancels_its_bookings_and_says_so(
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    sitting: int,
    secrets: Secrets,
    keys_dir: Path,
) -> None:
    mine = await _book(factory, clock, secrets, request(sitting, 1))
    async with transaction(factory) as db:
        gone = await db.get(Sitting, sitting)
        assert gone is not None
        await db.execute(
            update(Sitting).where(Sitting.rule_id == gone.rule_id).values(status="cancelled")
        )
        followed = await bookings.follow_roster(db, clock.now(), [gone])
    assert [f.to_sitting for f in followed] == [None]
    async with factory() as db:
        row = await db.scalar(select(Booking).where(Booking.code == mine.code))
        taken = await db.scalar(select(SlotSeats.taken).where(SlotSeats.sitting_id == sitting))
        used = list(await db.scalars(select(BookingQuota.used)))
    assert row is not None and row.status == "cancelled" and taken == 0
    assert set(used) == {0}
    texts = await _sent(factory, clock, keys_dir, "change")
    assert len(texts) == 1 and "已取消" in texts[0] and mine.code in texts[0]


async def test_reminders_go_once_the_day_before_to_booked_citizens_only(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    for n in (1, 2):
        await _book(factory, clock, secrets, request(sitting, n))
    await _book(factory, clock, secrets, request(sitting, 3, waitlist=True))
    early = dt.datetime(2026, 3, 3, 23, 30, tzinfo=dt.UTC)  # 07:30 on the 4th in Shanghai
    on_time = dt.datetime(2026, 3, 4, 2, 0, tzinfo=dt.UTC)
    async with transaction(factory) as db:
        assert await citizens.queue_reminders(db, secrets, early) == 0
        assert await citizens.queue_reminders(db, secrets, on_time) == 2
        assert await citizens.queue_reminders(db, secrets, on_time) == 0
    async with factory() as db:
        texts = list(
            await db.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == "reminder"))
        )
        jobs = list(await db.scalars(select(Job.kind).where(Job.kind == "outbox.send")))
    assert len(texts) == 2 and all("明天（3月5日）08:30" in t for t in texts)
    assert len(jobs) == 2
