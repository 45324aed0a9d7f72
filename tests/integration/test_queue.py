"""预约叫号 on SQLite and PostgreSQL: check-in by code on the sitting's day gives queue
numbers in arrival order after any walk-in's; the leader calls numbers and ends each booking
received or no-show; every move is ledgered with its actor and no personal data; the
venue's public board shows numbers and masked names only; clerks outside the county and
leaders of other sittings are refused.

The set-up publishes 张建华 (the `leader` account) on 5 March and 王明 on 6 March at the
county reception centre; the citizens book by phone on 2 March.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError, RuleViolation
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling import queue_services as queue
from app.scheduling.booking_services import BookingStatus, Channel
from app.scheduling.models import Booking
from tests.integration.conftest import SYSTEM, County, bearer
from tests.integration.sittings_setup import (
    DAY,
    NEXT_DAY,
    Factory,
    Setting,
    add_account,
    entries,
    principal,
    sign_in,
    two_days,
)
from tests.integration.test_booking_services import request, resident

Client = AsyncTestClient[Litestar]
SUMMARY = "反映征地补偿标准问题"


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def setting(factory: Factory, clock: FixedClock, county: County) -> Setting:
    built = await two_days(factory, clock, county)
    await add_account(
        factory, clock, "wang", Role.leader, county.county, built.reception.other_leader
    )
    return built


def on(day: dt.date) -> FixedClock:
    """09:00 in Shanghai on `day`."""
    return FixedClock(dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC))


async def book(
    factory: Factory, clock: FixedClock, secrets: Secrets, sitting: int, n: int, **changes: object
) -> Booking:
    changes.setdefault("slot_start", f"{9 + n // 2:02d}:{30 * (n % 2):02d}")
    wanted = request(sitting, n, **changes)
    async with transaction(factory) as db:
        return (await bookings.book(db, SYSTEM, clock.now(), wanted, secrets)).booking


async def walk_in(factory: Factory, secrets: Secrets, sitting: int, n: int, name: str) -> Booking:
    return await book(
        factory, on(DAY), secrets, sitting, n, channel=Channel.in_person, slot_start=None, name=name
    )


async def check_in(factory: Factory, actor: Principal, clock: FixedClock, code: str) -> Booking:
    async with transaction(factory) as db:
        return await queue.check_in(db, actor, clock.now(), code)


async def call_next(
    factory: Factory, actor: Principal, clock: FixedClock, sitting: int
) -> Booking | None:
    async with transaction(factory) as db:
        return await queue.call_next(db, actor, clock.now(), sitting)


async def finish(
    factory: Factory, actor: Principal, clock: FixedClock, code: str, outcome: BookingStatus
) -> Booking:
    async with transaction(factory) as db:
        return await queue.finish(db, actor, clock.now(), code, outcome)


async def status_of(factory: Factory, code: str) -> tuple[str, int | None]:
    async with factory() as db:
        row = (
            await db.execute(
                select(Booking.status, Booking.queue_number).where(Booking.code == code)
            )
        ).one()
    return str(row.status), row.queue_number


# ---------------------------------------------------------------- check-in


async def test_check_in_on_the_day_gives_numbers_in_arrival_order(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    early = await book(factory, clock, secrets, setting.sitting, 1, name="陈小明")
    later = await book(factory, clock, secrets, setting.sitting, 2, name="李海军")
    clerk = await principal(factory, clock, "clerk")
    first = await check_in(factory, clerk, on(DAY), later.code)
    second = await check_in(factory, clerk, on(DAY), early.code.lower())
    assert (first.queue_number, second.queue_number) == (1, 2)
    assert first.status == second.status == BookingStatus.checked_in
    with pytest.raises(RuleViolation, match=r"已签到.*2号"):
        await check_in(factory, clerk, on(DAY), early.code)
    assert [a for a, _ in await entries(factory, "booking", later.id)] == [
        "booking.created",
        "booking.checked_in",
    ]
    assert (await entries(factory, "booking", later.id))[-1][1] == {
        "sitting": setting.sitting,
        "queue_number": 1,
    }


async def test_a_walk_in_keeps_its_number_and_check_ins_continue_after_it(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booked = await book(factory, clock, secrets, setting.sitting, 1, name="陈小明")
    walked = await walk_in(factory, secrets, setting.sitting, 2, "赵大勇")
    assert walked.queue_number == 1 and walked.status == BookingStatus.booked
    clerk = await principal(factory, clock, "clerk")
    assert (await check_in(factory, clerk, on(DAY), booked.code)).queue_number == 2
    arrived = await check_in(factory, clerk, on(DAY), walked.code)
    assert (arrived.queue_number, arrived.status) == (1, BookingStatus.checked_in)
    again = await walk_in(factory, secrets, setting.sitting, 3, "钱小红")
    assert again.queue_number == 3


async def test_check_in_on_another_day_is_refused_in_chinese(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await book(factory, clock, secrets, setting.sitting, 1)
    clerk = await principal(factory, clock, "clerk")
    for day in (dt.date(2026, 3, 2), NEXT_DAY):
        with pytest.raises(RuleViolation) as refused:
            await check_in(factory, clerk, on(day), booking.code)
        assert refused.value.detail == "该接访安排在2026年3月5日，只能在接访当天签到。"
    with pytest.raises(RuleViolation, match="预约码有误"):
        await check_in(factory, clerk, on(DAY), booking.code[:-1] + "?")
    assert await status_of(factory, booking.code) == ("booked", None)
    assert [a for a, _ in await entries(factory, "booking", booking.id)] == ["booking.created"]


async def test_a_clerk_of_another_county_is_refused(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await book(factory, clock, secrets, setting.sitting, 1)
    outsider = await principal(factory, clock, "far_clerk")
    with pytest.raises(DomainError) as refused:
        await check_in(factory, outsider, on(DAY), booking.code)
    assert refused.value.status == 403 and "管辖范围" in refused.value.detail
    with pytest.raises(DomainError) as refused_call:
        await call_next(factory, outsider, on(DAY), setting.sitting)
    assert refused_call.value.status == 403
    assert await status_of(factory, booking.code) == ("booked", None)


# ---------------------------------------------------------------- calling and outcomes


async def test_a_leader_calls_next_and_marks_received_and_no_show(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    first, second, absent = [
        await book(factory, clock, secrets, setting.sitting, n, name=name)
        for n, name in ((1, "陈小明"), (2, "李海军"), (3, "王芳"))
    ]
    clerk = await principal(factory, clock, "clerk")
    leader = await principal(factory, clock, "leader")
    for booking in (first, second):
        await check_in(factory, clerk, on(DAY), booking.code)
    with pytest.raises(DomainError, match="不是您本人的接访") as foreign:
        await call_next(factory, await principal(factory, clock, "wang"), on(DAY), setting.sitting)
    assert foreign.value.status == 403

    called = await call_next(factory, leader, on(DAY), setting.sitting)
    assert called is not None and (called.code, called.status) == (first.code, "called")
    await finish(factory, leader, on(DAY), first.code, BookingStatus.received)
    called = await call_next(factory, leader, on(DAY), setting.sitting)
    assert called is not None and called.code == second.code
    await finish(factory, leader, on(DAY), second.code, BookingStatus.no_show)
    assert await call_next(factory, leader, on(DAY), setting.sitting) is None
    await finish(factory, clerk, on(DAY), absent.code, BookingStatus.no_show)
    with pytest.raises(RuleViolation, match="已接待"):
        await finish(factory, leader, on(DAY), first.code, BookingStatus.no_show)

    assert [await status_of(factory, b.code) for b in (first, second, absent)] == [
        ("received", 1),
        ("no_show", 2),
        ("no_show", None),
    ]
    sitting = setting.sitting
    assert (await entries(factory, "booking", first.id))[1:] == [
        ("booking.checked_in", {"sitting": sitting, "queue_number": 1}),
        ("booking.called", {"sitting": sitting, "queue_number": 1}),
        ("booking.received", {"sitting": sitting, "queue_number": 1, "was": "called"}),
    ]
    assert (await entries(factory, "booking", second.id))[-1] == (
        "booking.no_show",
        {"sitting": sitting, "queue_number": 2, "was": "called"},
    )
    assert (await entries(factory, "booking", absent.id))[-1] == (
        "booking.no_show",
        {"sitting": sitting, "queue_number": None, "was": "booked"},
    )
    await _ledger_names_actors_and_holds_no_personal_data(factory, first, setting)


async def _ledger_names_actors_and_holds_no_personal_data(
    factory: Factory, booking: Booking, setting: Setting
) -> None:
    async with factory() as db:
        rows = list(
            await db.scalars(
                select(LedgerEntry)
                .where(
                    LedgerEntry.subject_type == "booking", LedgerEntry.subject_id == str(booking.id)
                )
                .order_by(LedgerEntry.seq)
            )
        )
    roles = {r.action: (r.actor["role"], r.actor["person"]) for r in rows[1:]}
    assert roles == {
        "booking.checked_in": ("clerk", None),
        "booking.called": ("leader", setting.reception.leader),
        "booking.received": ("leader", setting.reception.leader),
    }
    for row in rows:
        leaf = row.leaf.decode()
        assert "陈小明" not in leaf and SUMMARY not in leaf and resident(1) not in leaf
        assert "13900000001" not in leaf


async def test_outcomes_wait_for_the_day_and_only_the_two_outcomes_end_a_booking(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await book(factory, clock, secrets, setting.sitting, 1)
    leader = await principal(factory, clock, "leader")
    with pytest.raises(RuleViolation, match="当天起才能登记"):
        await finish(factory, leader, clock, booking.code, BookingStatus.no_show)
    with pytest.raises(RuleViolation, match="只能是"):
        await finish(factory, leader, on(DAY), booking.code, BookingStatus.cancelled)
    with pytest.raises(RuleViolation, match="待签到"):
        await finish(factory, leader, on(DAY), booking.code, BookingStatus.received)
    with pytest.raises(RuleViolation, match="当天叫号"):
        await call_next(factory, leader, clock, setting.sitting)
    assert await status_of(factory, booking.code) == ("booked", None)


# ---------------------------------------------------------------- over HTTP


async def test_the_api_checks_in_on_the_day_and_refuses_other_days_and_outsiders(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await book(factory, clock, secrets, setting.sitting, 1)
    url = f"/api/v1/bookings/{booking.code}/check-in"
    clerk = await bearer(client, "clerk")
    early = await client.post(url, headers=clerk)
    assert early.status_code == 422
    assert early.headers["content-type"].startswith("application/problem+json")
    assert early.json()["detail"] == "该接访安排在2026年3月5日，只能在接访当天签到。"
    clock.advance(dt.timedelta(days=3))  # tokens are short-lived: take fresh ones
    outsider = await client.post(url, headers=await bearer(client, "neighbour"))
    assert outsider.status_code == 403
    done = await client.post(url, headers=await bearer(client, "clerk"))
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["queue_number"], body["code"]) == ("checked_in", 1, booking.code)
    assert (await client.post(url)).status_code == 401


async def test_the_board_shows_called_numbers_and_masked_names_only(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    people = [
        await book(factory, clock, secrets, setting.sitting, n, name=name)
        for n, name in ((1, "陈小明"), (2, "李海军"), (3, "欧阳小红"))
    ]
    clock.advance(dt.timedelta(days=3))
    clerk = await principal(factory, clock, "clerk")
    for booking in people:
        await check_in(factory, clerk, clock, booking.code)
    await call_next(factory, await principal(factory, clock, "leader"), clock, setting.sitting)

    board = await client.get(f"/queue/board/{setting.reception.venue}")
    assert board.status_code == 200, board.text
    text = board.text
    assert '<meta http-equiv="refresh" content="10">' in text
    assert "1号" in text and "陈*明" in text
    assert "2号" in text and "李*军" in text and "欧**红" in text
    assert "张建华" in text  # the leader who sits is public
    for private in ("陈小明", "李海军", "欧阳小红", "1390000", resident(1), SUMMARY, "土地征收"):
        assert private not in text
    assert (await client.get("/queue/board/999999")).status_code == 404


async def test_a_clerk_checks_in_on_the_page_and_the_leader_runs_the_queue(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    first = await book(factory, clock, secrets, setting.sitting, 1, name="陈小明")
    absent = await book(factory, clock, secrets, setting.sitting, 2, name="李海军")
    csrf = await sign_in(client, "clerk")
    wrong_day = await client.post("/queue/check-in", data={"code": first.code, "_csrf_token": csrf})
    assert wrong_day.status_code == 422 and "只能在接访当天签到" in wrong_day.text

    clock.advance(dt.timedelta(days=3))
    csrf = await sign_in(client, "clerk")
    window = await client.get("/queue")
    assert window.status_code == 200
    assert 'name="code"' in window.text and "autofocus" in window.text
    assert "陈小明" in window.text and "待签到" in window.text
    sent = {"code": first.code.lower(), "_csrf_token": csrf}
    moved = await client.post("/queue/check-in", data=sent, follow_redirects=False)
    assert moved.status_code in {302, 303} and moved.headers["location"] == "/queue"
    assert "排队号：1号" in (await client.get("/queue")).text

    csrf = await sign_in(client, "leader")
    assert (await client.get("/queue")).status_code == 403
    mine = await client.get("/queue/leader")
    assert mine.status_code == 200 and SUMMARY in mine.text and "叫号" in mine.text
    back = {"back": "/queue/leader", "_csrf_token": csrf}
    called = await client.post(f"/queue/sittings/{setting.sitting}/call", data=back)
    assert called.status_code == 200 and "已叫号：请1号陈小明到接待室" in called.text
    for code, outcome in ((first.code, "received"), (absent.code, "no_show")):
        done = await client.post(
            f"/queue/bookings/{code}/finish", data={**back, "outcome": outcome}
        )
        assert done.status_code == 200 and "已登记为" in done.text
    refused = await client.post(
        f"/queue/bookings/{first.code}/finish", data={**back, "outcome": "no_show"}
    )
    assert refused.status_code == 422 and "今日接访" in refused.text
    assert await status_of(factory, first.code) == ("received", 1)
    assert await status_of(factory, absent.code) == ("no_show", None)
