"""Rescheduling a booking (改约) on SQLite and PostgreSQL: the code stays, the invitation's
SEQUENCE goes up, the new seat is taken under the same rules as a booking, the old seat
goes to the citizen waiting for it, and a refusal moves nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import Conflict, DomainError
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling import citizen_services as citizens
from app.scheduling.booking_services import NewTime
from app.scheduling.models import Booking, OutboxMessage, Sitting, SlotSeats
from tests.integration.conftest import bearer
from tests.integration.test_booking_api import body
from tests.integration.test_booking_services import TIGHT, _book, request
from tests.integration.test_citizen_pages import _csrf, _invite, _post

pytest_plugins = ["tests.integration.test_booking_services"]


async def _move(
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    secrets: Secrets,
    code: str,
    to: NewTime,
) -> bookings.Rescheduled:
    async with transaction(factory) as db:
        booking = await db.scalar(select(Booking).where(Booking.code == code))
        assert booking is not None
        return await citizens.reschedule_and_notify(db, None, clock.now(), booking, to, secrets)


async def _seats(factory: async_sessionmaker[AsyncSession], sitting: int) -> dict[str, int]:
    async with factory() as db:
        rows = await db.execute(
            select(SlotSeats.slot_start, SlotSeats.taken).where(SlotSeats.sitting_id == sitting)
        )
        return {start: taken for start, taken in rows.all()}


async def test_a_move_keeps_the_code_and_hands_the_old_seat_to_the_waiting_citizen(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    first = await _book(factory, clock, secrets, request(sitting, 1))
    await _book(factory, clock, secrets, request(sitting, 2))
    waiting = await _book(factory, clock, secrets, request(sitting, 3, waitlist=True))
    moved = await _move(factory, clock, secrets, first.code, NewTime(sitting, "09:00"))
    assert moved.booking.code == first.code and moved.booking.slot_start == "09:00"
    assert moved.booking.status == "booked" and moved.booking.sequence == first.sequence + 1
    assert moved.promoted is not None and moved.promoted.code == waiting.code
    assert await _seats(factory, sitting) == {"08:30": 2, "09:00": 1}
    async with factory() as db:
        actions = list(await db.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))
        kinds = list(await db.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
        entry = await db.scalar(
            select(LedgerEntry).where(LedgerEntry.action == "booking.rescheduled")
        )
    assert actions[-2:] == ["booking.rescheduled", "booking.promoted"]
    assert kinds[-2:] == ["rescheduled", "promotion"]
    assert entry is not None and b'"from_slot":"08:30"' in entry.leaf
    assert b"13900000001" not in entry.leaf


async def test_a_full_slot_refuses_and_nothing_moves_unless_waiting_is_asked(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    mine = await _book(factory, clock, secrets, request(sitting, 1))
    for n in (2, 3):
        await _book(factory, clock, secrets, request(sitting, n, slot_start="09:00"))
    with pytest.raises(Conflict, match="约满"):
        await _move(factory, clock, secrets, mine.code, NewTime(sitting, "09:00"))
    assert await _seats(factory, sitting) == {"08:30": 1, "09:00": 2}
    moved = await _move(factory, clock, secrets, mine.code, NewTime(sitting, "09:00", True))
    assert moved.booking.status == "waitlisted" and moved.promoted is None
    assert await _seats(factory, sitting) == {"08:30": 0, "09:00": 2}


async def test_rules_refuse_a_move(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    mine = await _book(factory, clock, secrets, request(sitting, 1))
    async with factory() as db:
        today = await db.scalar(select(Sitting.id).where(Sitting.day == dt.date(2026, 3, 2)))
        later = list(
            await db.scalars(
                select(Sitting.id).where(Sitting.day > dt.date(2026, 3, 5)).order_by(Sitting.day)
            )
        )
    assert today is not None
    with pytest.raises(DomainError, match="相同"):
        await _move(factory, clock, secrets, mine.code, NewTime(sitting, "08:30"))
    with pytest.raises(DomainError, match="截止"):
        await _move(factory, clock, secrets, mine.code, NewTime(today, "08:30"))
    with pytest.raises(DomainError, match="时段"):
        await _move(factory, clock, secrets, mine.code, NewTime(sitting, "08:45"))
    other = await _book(factory, clock, secrets, request(later[0], 1))
    with pytest.raises(DomainError, match="重复预约"):
        await _move(factory, clock, secrets, other.code, NewTime(sitting, "09:00"))
    async with transaction(factory) as db:
        found = await bookings.find(db, mine.code, "13900000001", secrets)
        await bookings.cancel(db, None, clock.now(), found)
    with pytest.raises(DomainError, match="不能改约"):
        await _move(factory, clock, secrets, mine.code, NewTime(sitting, "09:00"))
    assert TIGHT.per_month == 2


async def test_the_api_moves_a_booking_and_answers_refusals_as_problems(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    root = await bearer(client, "root")
    made = (await client.post("/api/v1/bookings", json=body(sitting, 1), headers=root)).json()
    for n in (2, 3):
        full = body(sitting, n, slot_start="09:00")
        assert (await client.post("/api/v1/bookings", json=full, headers=root)).status_code == 201
    url = f"/api/v1/bookings/{made['code']}"
    mine = {"X-Citizen-Mobile": "13900000001"}
    wrong = await client.post(
        url + "/reschedule",
        json={"sitting_id": sitting, "slot_start": "09:30"},
        headers={"X-Citizen-Mobile": "13911112222"},
    )
    assert wrong.status_code == 404
    refused = await client.post(
        url + "/reschedule", json={"sitting_id": sitting, "slot_start": "09:00"}, headers=mine
    )
    assert refused.status_code == 409 and "约满" in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")
    still = await client.get(url, headers=mine)
    assert still.json()["slot_start"] == "08:30" and still.json()["status"] == "booked"
    moved = await client.post(
        url + "/reschedule", json={"sitting_id": sitting, "slot_start": "09:30"}, headers=mine
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["slot_start"] == "09:30" and moved.json()["code"] == made["code"]
    assert moved.json()["receipt"]["seq"] > made["receipt"]["seq"]


async def test_the_citizen_moves_a_proven_booking_on_the_pages_and_the_invite_follows(
    client: AsyncTestClient[Litestar],
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    sitting: int,
    secrets: Secrets,
) -> None:
    mine = await _book(factory, clock, secrets, request(sitting, 61))
    for n in (62, 63):
        await _book(factory, clock, secrets, request(sitting, n, slot_start="09:00"))
    url = f"/yuyue/bookings/{mine.code}"
    unproven = await client.get(url + "/reschedule", follow_redirects=False)
    assert unproven.status_code in {302, 303} and unproven.headers["location"] == url
    token = await _csrf(client, sitting)
    status, _ = await _post(client, url, token, mobile="13900000061")
    assert status in {302, 303}
    before = await _invite(client, mine.code)
    choices = await client.get(url + "/reschedule")
    assert choices.status_code == 200 and f"?sitting={sitting}" in choices.text
    slots = await client.get(url + "/reschedule", params={"sitting": sitting})
    assert "现在的时段" in slots.text and "已约满" in slots.text
    status, page = await _post(client, url + "/reschedule", token, slot="09:00")
    assert status == 422 and "请选择要改到的接访安排" in page
    status, page = await _post(
        client, url + "/reschedule", token, sitting=str(sitting), slot="09:00"
    )
    assert status == 409 and "约满" in page
    status, where = await _post(
        client, url + "/reschedule", token, sitting=str(sitting), slot="10:00"
    )
    assert status in {302, 303} and where == url
    shown = await client.get(url)
    assert "改约成功" in shown.text and "10:00" in shown.text
    after = await _invite(client, mine.code)
    assert after["uid"] == before["uid"] and after["sequence"] == int(str(before["sequence"])) + 1
    assert after["start"] != before["start"]
