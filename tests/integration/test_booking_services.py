"""Booking services on SQLite and PostgreSQL: seats, the waitlist and its promotion,
limits, walk-ins with queue numbers, personal numbers kept sealed, lookups that reveal
nothing, and the ledger entries with the citizen as a keyed hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.codes import check_char
from app.core.db import transaction
from app.core.errors import Conflict, DomainError, NotFound
from app.core.identity import IdType, gb11643_check_char
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling import services
from app.scheduling.booking_services import BookingRequest, Channel, Policy
from app.scheduling.models import Booking, Sitting
from app.scheduling.schemas import RosterIn
from app.scheduling.solver import solve
from tests.integration.conftest import SYSTEM
from tests.integration.test_roster_services import Little, _build

# The clock is 2026-03-02 09:00 in Shanghai; sittings from 03-04 are open for booking.
PERIOD = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
TIGHT = Policy(per_month=2)


def resident(n: int) -> str:
    body = f"33030219850101{n:03d}"
    return body + gb11643_check_char(body)


def request(sitting: int, n: int, **changes: object) -> BookingRequest:
    base = BookingRequest(
        sitting_id=sitting,
        channel=Channel.phone,
        name="陈小明",
        mobile=f"1390000{n:04d}",
        id_type=IdType.resident,
        id_number=resident(n),
        topic="土地征收",
        summary="反映征地补偿标准问题",
        slot_start="08:30",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def sitting(factory: async_sessionmaker[AsyncSession], clock: FixedClock) -> int:
    async with transaction(factory) as db:
        little: Little = await _build(db, clock.now())
        roster = await services.draft_roster(
            db, SYSTEM, clock.now(), RosterIn(little.county, *PERIOD), solve_later=False
        )
        loaded = await services.load_instance(db, little.county, *PERIOD)
        result = solve(loaded.instance, time_limit=20, seed=1, calendar=loaded.calendar)
        await services.store_result(db, SYSTEM, clock.now(), roster, loaded, result)
        await services.publish(db, SYSTEM, clock.now(), roster.id)
    async with factory() as db:
        found = await db.scalar(
            select(Sitting.id).where(Sitting.day == dt.date(2026, 3, 5)).order_by(Sitting.id)
        )
    assert found is not None
    return int(found)


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


async def _book(
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    secrets: Secrets,
    wanted: BookingRequest,
    policy: Policy = TIGHT,
) -> Booking:
    async with transaction(factory) as db:
        return (await bookings.book(db, SYSTEM, clock.now(), wanted, secrets, policy)).booking


async def test_a_slot_gives_its_seats_then_refuses_or_waitlists(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    booked = [await _book(factory, clock, secrets, request(sitting, n)) for n in range(2)]
    assert [b.status for b in booked] == ["booked", "booked"]
    with pytest.raises(Conflict, match="约满"):
        await _book(factory, clock, secrets, request(sitting, 2))
    waiting = await _book(factory, clock, secrets, request(sitting, 3, waitlist=True))
    assert waiting.status == "waitlisted"
    async with transaction(factory) as db:
        mine = await bookings.find(db, booked[0].code, "13900000000", secrets)
        promoted = await bookings.cancel(db, None, clock.now(), mine)
    assert promoted is not None and promoted.code == waiting.code
    async with factory() as db:
        rows = (await db.execute(select(Booking.code, Booking.status))).all()
        statuses = {code: status for code, status in rows}
        actions = list(await db.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))
    assert statuses[waiting.code] == "booked" and statuses[booked[0].code] == "cancelled"
    assert actions[-2:] == ["booking.cancelled", "booking.promoted"]
    with pytest.raises(Conflict):  # the promoted citizen holds the freed seat
        await _book(factory, clock, secrets, request(sitting, 4))


async def test_one_booking_per_citizen_per_sitting_and_a_monthly_limit(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    await _book(factory, clock, secrets, request(sitting, 7))
    with pytest.raises(DomainError, match="重复预约"):
        await _book(factory, clock, secrets, request(sitting, 7, slot_start="09:00"))
    async with factory() as db:
        later = list(
            await db.scalars(
                select(Sitting.id).where(Sitting.day > dt.date(2026, 3, 5)).order_by(Sitting.day)
            )
        )
    await _book(factory, clock, secrets, request(later[0], 7))
    with pytest.raises(DomainError, match="每人每月最多预约2次"):
        await _book(factory, clock, secrets, request(later[1], 7))


async def test_timing_and_identity_are_checked_and_refusals_book_nothing(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    async with factory() as db:
        today = await db.scalar(select(Sitting.id).where(Sitting.day == dt.date(2026, 3, 2)))
    assert today is not None
    with pytest.raises(DomainError, match="截止"):
        await _book(factory, clock, secrets, request(today, 1))
    bad = resident(1)[:-1] + ("0" if resident(1)[-1] != "0" else "1")
    with pytest.raises(DomainError, match="校验位"):
        await _book(factory, clock, secrets, request(sitting, 1, id_number=bad))
    with pytest.raises(DomainError, match="代表"):
        await _book(
            factory,
            clock,
            secrets,
            request(sitting, 1, party_size=6, representatives=("甲一", "乙二", "丙三", "丁四")),
        )
    with pytest.raises(DomainError, match="时段"):
        await _book(factory, clock, secrets, request(sitting, 1, slot_start="08:45"))
    async with factory() as db:
        assert await db.scalar(select(Booking.id)) is None


async def test_walk_ins_get_queue_numbers_whatever_the_seats(
    factory: async_sessionmaker[AsyncSession], secrets: Secrets, sitting: int
) -> None:
    async with factory() as db:
        day = await db.scalar(select(Sitting.day).where(Sitting.id == sitting))
    assert day is not None
    on_the_day = FixedClock(dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC))
    numbers = [
        (
            await _book(
                factory,
                on_the_day,
                secrets,
                request(sitting, n, channel=Channel.in_person, slot_start=None),
                Policy(per_month=1),
            )
        ).queue_number
        for n in range(4)
    ]
    assert numbers == [1, 2, 3, 4]


async def test_numbers_are_sealed_and_lookups_reveal_nothing(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    booking = await _book(factory, clock, secrets, request(sitting, 9))
    assert resident(9).encode() not in booking.id_enc
    assert booking.id_masked.startswith("330") and "*" in booking.id_masked
    assert secrets.open(booking.id_enc) == resident(9)
    async with factory() as db:
        entry = await db.scalar(select(LedgerEntry).where(LedgerEntry.action == "booking.created"))
        with pytest.raises(NotFound) as wrong_mobile:
            await bookings.find(db, booking.code, "13911112222", secrets)
        with pytest.raises(NotFound) as unknown:
            await bookings.find(db, "23456789" + check_char("23456789"), "13900000009", secrets)
    assert entry is not None and resident(9) not in entry.leaf.decode()
    assert "13900000009" not in entry.leaf.decode()
    assert wrong_mobile.value.detail == unknown.value.detail


async def test_a_walk_in_without_a_mobile_phone_is_registered_all_the_same(
    factory: async_sessionmaker[AsyncSession], secrets: Secrets, sitting: int
) -> None:
    async with factory() as db:
        day = await db.scalar(select(Sitting.day).where(Sitting.id == sitting))
    assert day is not None
    on_the_day = FixedClock(dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC))
    walk_in = request(sitting, 0, channel=Channel.in_person, slot_start=None, mobile=" ")
    numbers = [
        (
            await _book(
                factory, on_the_day, secrets, dataclasses.replace(walk_in, id_number=resident(n))
            )
        ).queue_number
        for n in (1, 2)
    ]
    assert numbers == [1, 2]
    with pytest.raises(DomainError, match="手机号码"):
        await _book(factory, on_the_day, secrets, request(sitting, 3, mobile=""))
