"""接访记录 on SQLite and PostgreSQL: after the call the sitting's official (or a clerk)
records what was raised, what was answered and whether it was settled on the spot; a
booking still being received is registered as received in the same transaction; the ledger
holds identifiers and the outcome, never the texts; another leader, a day too early, a
second record, a booking nobody received and an empty text are refused and save nothing.

The set-up is the queue's: 张建华 (the `leader` account) sits on 5 March, 王明 (`wang`) on
6 March; the citizens book by phone on 2 March.
"""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.auth.access import Principal
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling import reception_services as receptions
from app.scheduling.booking_services import BookingStatus
from app.scheduling.models import Booking, ReceptionRecord
from app.scheduling.schemas import ReceptionOutcome
from tests.integration.conftest import bearer
from tests.integration.sittings_setup import (
    DAY,
    Factory,
    Setting,
    entries,
    ledger_size,
    principal,
    sign_in,
)
from tests.integration.test_queue import (
    SUMMARY,
    book,
    call_next,
    check_in,
    finish,
    on,
    status_of,
)

pytest_plugins = ["tests.integration.test_queue"]

Client = AsyncTestClient[Litestar]
RAISED = "反映村里征地补偿款至今未发放到户"
ANSWERED = "当场联系镇政府核实，答复本月底前发放到位"


async def record(
    factory: Factory,
    actor: Principal,
    clock: FixedClock,
    code: str,
    outcome: ReceptionOutcome = ReceptionOutcome.resolved,
    raised: str = RAISED,
    answered: str = ANSWERED,
) -> ReceptionRecord:
    async with transaction(factory) as db:
        return await receptions.record(db, actor, clock.now(), code, raised, answered, outcome)


async def arrived(
    factory: Factory, clock: FixedClock, secrets: Secrets, setting: Setting, n: int = 1
) -> Booking:
    """A citizen booked on 2 March and checked in on the day."""
    booking = await book(factory, clock, secrets, setting.sitting, n)
    await check_in(factory, await principal(factory, clock, "clerk"), on(DAY), booking.code)
    return booking


async def records(factory: Factory) -> list[ReceptionRecord]:
    async with factory() as db:
        return list(await db.scalars(select(ReceptionRecord).order_by(ReceptionRecord.id)))


async def refused(
    factory: Factory, actor: Principal, clock: FixedClock, code: str, **changes: object
) -> DomainError:
    before = await ledger_size(factory)
    with pytest.raises(DomainError) as refusal:
        await record(factory, actor, clock, code, **changes)  # type: ignore[arg-type]
    assert await ledger_size(factory) == before
    return refusal.value


# ---------------------------------------------------------------- services


async def test_the_leader_records_after_the_call_and_the_booking_is_received(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    leader = await principal(factory, clock, "leader")
    await call_next(factory, leader, on(DAY), setting.sitting)

    row = await record(factory, leader, on(DAY), booking.code.lower(), ReceptionOutcome.case)

    assert await status_of(factory, booking.code) == ("received", 1)
    stored = (await records(factory))[0]
    assert (stored.booking_id, stored.sitting_id, stored.person_id) == (
        booking.id,
        setting.sitting,
        setting.reception.leader,
    )
    assert (stored.raised, stored.answered, stored.outcome) == (RAISED, ANSWERED, "case")
    assert stored.recorded_by == leader.account_id and stored.recorded_at == on(DAY).now()
    assert [a for a, _ in await entries(factory, "booking", booking.id)][-2:] == [
        "booking.called",
        "booking.received",
    ]
    assert await entries(factory, "reception", row.id) == [
        (
            "reception.recorded",
            {
                "booking": booking.id,
                "sitting": setting.sitting,
                "official": setting.reception.leader,
                "outcome": "case",
            },
        )
    ]
    await _ledger_holds_no_text(factory, row.id, ("leader", setting.reception.leader))


async def _ledger_holds_no_text(
    factory: Factory, record_id: int, actor: tuple[str, int | None]
) -> None:
    async with factory() as db:
        entry = await db.scalar(
            select(LedgerEntry).where(
                LedgerEntry.subject_type == "reception", LedgerEntry.subject_id == str(record_id)
            )
        )
    assert entry is not None
    assert (entry.actor["role"], entry.actor["person"]) == actor
    leaf = entry.leaf.decode()
    for text in (RAISED, ANSWERED, SUMMARY, "陈小明", "13900000001"):
        assert text not in leaf


async def test_a_clerk_records_a_booking_already_received(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    clerk = await principal(factory, clock, "clerk")
    await finish(factory, clerk, on(DAY), booking.code, BookingStatus.received)
    later = FixedClock(on(DAY).now() + dt.timedelta(days=1))

    row = await record(factory, clerk, later, booking.code)

    assert row.outcome == "resolved" and row.person_id == setting.reception.leader
    actions = [a for a, _ in await entries(factory, "booking", booking.id)]
    assert actions.count("booking.received") == 1
    await _ledger_holds_no_text(factory, row.id, ("clerk", None))


async def test_a_clerk_recording_a_checked_in_citizen_registers_the_reception(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    await record(factory, await principal(factory, clock, "clerk"), on(DAY), booking.code)
    assert await status_of(factory, booking.code) == ("received", 1)
    assert (await entries(factory, "booking", booking.id))[-1] == (
        "booking.received",
        {"sitting": setting.sitting, "queue_number": 1, "was": "checked_in"},
    )


async def test_another_leader_is_refused(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    wang = await principal(factory, clock, "wang")
    refusal = await refused(factory, wang, on(DAY), booking.code)
    assert refusal.status == 403 and refusal.detail == "这不是您本人的接访，不能填写接访记录。"
    outsider = await refused(
        factory, await principal(factory, clock, "far_clerk"), on(DAY), booking.code
    )
    assert outsider.status == 403
    assert await status_of(factory, booking.code) == ("checked_in", 1)
    assert await records(factory) == []


async def test_recording_before_the_sittings_day_is_refused(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await book(factory, clock, secrets, setting.sitting, 1)
    leader = await principal(factory, clock, "leader")
    refusal = await refused(factory, leader, clock, booking.code)
    assert refusal.status == 422
    assert refusal.detail == "该接访安排在2026年3月5日，当天起才能填写接访记录。"


async def test_a_second_record_of_a_booking_is_refused(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    leader = await principal(factory, clock, "leader")
    await record(factory, leader, on(DAY), booking.code)
    refusal = await refused(factory, leader, on(DAY), booking.code, raised="再补充一点")
    assert refusal.status == 409 and refusal.detail == "该预约已有接访记录，不能重复填写。"
    assert [r.raised for r in await records(factory)] == [RAISED]


async def test_bookings_nobody_received_are_refused(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    cancelled, waiting, absent = [
        await book(factory, clock, secrets, setting.sitting, n) for n in (1, 2, 3)
    ]
    async with transaction(factory) as db:
        found = await db.get(Booking, cancelled.id)
        assert found is not None
        await bookings.cancel(db, None, clock.now(), found)
    leader = await principal(factory, clock, "leader")
    await finish(factory, leader, on(DAY), absent.code, BookingStatus.no_show)
    for booking, label in ((cancelled, "已取消"), (waiting, "待签到"), (absent, "未到")):
        refusal = await refused(factory, leader, on(DAY), booking.code)
        assert refusal.status == 422
        assert refusal.detail == f"该预约当前为“{label}”，群众未经接待，不能填写接访记录。"
    assert await records(factory) == []


async def test_an_empty_text_is_refused_and_nothing_is_saved(
    factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    leader = await principal(factory, clock, "leader")
    await call_next(factory, leader, on(DAY), setting.sitting)
    empty = await refused(factory, leader, on(DAY), booking.code, raised="  \n ")
    assert empty.status == 422 and empty.detail == "请填写群众反映的问题。"
    long = await refused(factory, leader, on(DAY), booking.code, answered="答" * 2001)
    assert long.status == 422 and "最多2000字" in long.detail
    assert await status_of(factory, booking.code) == ("called", 1)
    assert await records(factory) == []


# ---------------------------------------------------------------- over HTTP


async def test_the_api_records_and_reads_back_a_reception(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    clock.advance(dt.timedelta(days=3))  # 5 March: tokens are short-lived, take them now
    url = f"/api/v1/bookings/{booking.code}/record"
    leader, wang = await bearer(client, "leader"), await bearer(client, "wang")
    sent = {"raised": RAISED, "answered": ANSWERED, "outcome": "resolved"}

    assert (await client.get(url, headers=leader)).status_code == 404
    assert (await client.post(url, json=sent)).status_code == 401
    foreign = await client.post(url, json=sent, headers=wang)
    assert foreign.status_code == 403
    assert foreign.headers["content-type"].startswith("application/problem+json")
    blank = await client.post(url, json={**sent, "answered": " "}, headers=leader)
    assert blank.status_code == 422 and blank.json()["detail"] == "请填写答复情况。"
    bad = await client.post(url, json={**sent, "outcome": "later"}, headers=leader)
    assert bad.status_code == 422

    made = await client.post(url, json=sent, headers=leader)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["booking_code"], body["booking_status"], body["outcome"]) == (
        booking.code,
        "received",
        "resolved",
    )
    assert (body["official"], body["outcome_label"], body["raised"]) == (
        "张建华",
        "当场答复办结",
        RAISED,
    )
    again = await client.post(url, json=sent, headers=await bearer(client, "clerk"))
    assert again.status_code == 409 and again.json()["type"] == "/problems/duplicate"
    shown = await client.get(url, headers=await bearer(client, "clerk"))
    assert shown.status_code == 200 and shown.json() == body
    assert (await client.get(url, headers=wang)).status_code == 403


# ---------------------------------------------------------------- pages


async def test_the_leader_records_on_the_page_and_the_day_page_shows_it(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    clock.advance(dt.timedelta(days=3))
    csrf = await sign_in(client, "leader")
    url = f"/reception/{booking.code}"
    today = await client.get("/queue/leader")
    assert today.status_code == 200 and f'href="{url}"' in today.text and "未记录" in today.text

    form = await client.get(url)
    assert form.status_code == 200
    assert "土地征收" in form.text and SUMMARY in form.text and 'name="raised"' in form.text

    empty = await client.post(
        url, data={"raised": RAISED, "answered": "", "outcome": "", "_csrf_token": csrf}
    )
    assert empty.status_code == 422
    assert "请填写答复情况。" in empty.text and "请选择接待结果" in empty.text
    assert RAISED in empty.text  # what was typed is kept
    assert await records(factory) == []
    assert await status_of(factory, booking.code) == ("checked_in", 1)

    sent = {"raised": RAISED, "answered": ANSWERED, "outcome": "resolved", "_csrf_token": csrf}
    saved = await client.post(url, data=sent, follow_redirects=False)
    assert saved.status_code in {302, 303} and saved.headers["location"] == url
    shown = await client.get(url)
    assert "已记录：当场答复办结" in shown.text and ANSWERED in shown.text
    assert 'name="raised"' not in shown.text

    twice = await client.post(url, data=sent)
    assert twice.status_code == 409 and "不能重复填写" in twice.text
    day = await client.get("/queue/leader")
    assert "已记录：当场答复办结" in day.text and RAISED in day.text
    assert await _count(factory) == 1


async def _count(factory: Factory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(ReceptionRecord)) or 0)


async def test_the_record_page_refuses_another_leader_and_finds_codes_for_clerks(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    booking = await arrived(factory, clock, secrets, setting)
    clock.advance(dt.timedelta(days=3))
    url = f"/reception/{booking.code}"
    csrf = await sign_in(client, "wang")
    assert (await client.get(url)).status_code == 403
    sent = {"raised": RAISED, "answered": ANSWERED, "outcome": "case", "_csrf_token": csrf}
    foreign = await client.post(url, data=sent)
    assert foreign.status_code == 403 and "不是您本人的接访" in foreign.text
    assert await records(factory) == []

    await sign_in(client, "clerk")
    found = await client.get(
        "/reception", params={"code": booking.code.lower()}, follow_redirects=False
    )
    assert found.status_code in {302, 303} and found.headers["location"] == url
    wrong = await client.get("/reception", params={"code": "ABC"})
    assert wrong.status_code == 422 and "预约码有误" in wrong.text
