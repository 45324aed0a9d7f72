"""电话预约、现场登记 on SQLite and PostgreSQL: a clerk books by phone under the online rules
and the citizen is sent the confirmation; a full slot, a bad identity number and a walk-in
on the wrong day are refused in Chinese with what was typed kept and nothing booked; a
walk-in on the sitting's day gets a queue number even when every seat is taken; accounts
without the role, clerks of another county and citizens cannot book.

The set-up publishes 张建华 on 5 March and 王明 on 6 March at the county reception centre;
the clock stands at 2 March 09:00 in Shanghai.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.scheduling import booking_services as bookings
from app.scheduling.models import Booking, OutboxMessage, Sitting
from tests.integration.conftest import SYSTEM, County
from tests.integration.sittings_setup import (
    VENUE_ADDRESS,
    Factory,
    Setting,
    sign_in,
    two_days,
)
from tests.integration.test_booking_services import request, resident

Client = AsyncTestClient[Litestar]
BOOK_URL = "/queue/book"


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def setting(factory: Factory, clock: FixedClock, county: County) -> Setting:
    built = await two_days(factory, clock, county)
    return built


def _form(n: int, **changes: str) -> dict[str, str]:
    return {
        "channel": "phone",
        "name": "陈小明",
        "mobile": f"1390000{n:04d}",
        "id_type": "resident",
        "id_number": resident(n),
        "topic": "土地征收",
        "summary": "反映征地补偿标准问题",
        "party_size": "1",
        "representatives": "",
        "slot": "08:30",
        **changes,
    }


def _sitting_url(sitting: int) -> str:
    return f"{BOOK_URL}/sittings/{sitting}"


async def _post(client: Client, url: str, token: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST a page form; returns the status and the redirect target or the page text."""
    answer = await client.post(url, data={**fields, "_csrf_token": token}, follow_redirects=False)
    return answer.status_code, answer.headers.get("location", answer.text)


async def _fill(factory: Factory, clock: FixedClock, secrets: Secrets, sitting: int) -> None:
    """Every seat of every slot of the sitting, booked by phone."""
    async with transaction(factory) as db:
        held = await db.get(Sitting, sitting)
        assert held is not None
        seats = [f"{s.start:%H:%M}" for s in bookings.sitting_slots(held) for _ in range(s.seats)]
        for n, slot in enumerate(seats):
            wanted = request(sitting, 100 + n, slot_start=slot)
            await bookings.book(db, SYSTEM, clock.now(), wanted, secrets)


async def _bookings_of(factory: Factory, secrets: Secrets, mobile: str) -> list[Booking]:
    async with factory() as db:
        found = await db.scalars(
            select(Booking).where(Booking.mobile_hash == secrets.ref("mobile", mobile))
        )
        return list(found)


async def _messages(factory: Factory) -> list[str]:
    async with factory() as db:
        return list(await db.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)))


# ---------------------------------------------------------------- by phone


async def test_a_clerk_books_by_phone_and_the_citizen_is_sent_the_confirmation(
    client: Client, factory: Factory, setting: Setting, secrets: Secrets
) -> None:
    token = await sign_in(client, "clerk")
    window = await client.get("/queue")
    assert f'href="{BOOK_URL}"' in window.text
    listed = await client.get(BOOK_URL)
    assert listed.status_code == 200, listed.text
    assert _sitting_url(setting.sitting) in listed.text and "张建华" in listed.text
    assert "3月5日 星期四" in listed.text and "电话预约：余 24 个名额" in listed.text
    form = await client.get(_sitting_url(setting.sitting))
    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
    assert 'name="mobile"' in form.text and 'value="phone"' in form.text
    assert "居民身份证" in form.text and "涉法涉诉" in form.text and "验证码" not in form.text

    status, where = await _post(client, _sitting_url(setting.sitting), token, _form(1))
    assert status == 303, where
    code = where.rsplit("/", 1)[-1]
    assert where == f"{BOOK_URL}/bookings/{code}" and len(code) == 9
    shown = await client.get(where)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    text = shown.text
    assert code in text and "<svg" in text and VENUE_ADDRESS in text and "张建华" in text
    assert "08:30—09:00" in text and "电话预约成功" in text and "本人有效身份证件" in text
    assert "确认短信" in text and "139****0001" in text and resident(1) not in text

    (booking,) = await _bookings_of(factory, secrets, "13900000001")
    assert (booking.code, booking.channel, booking.status) == (code, "phone", "booked")
    assert booking.created_by is not None and booking.queue_number is None
    sms = await _messages(factory)
    assert len(sms) == 1 and code in sms[0] and "3月5日08:30" in sms[0]
    async with factory() as db:
        entry = await db.scalar(
            select(LedgerEntry).where(
                LedgerEntry.subject_type == "booking", LedgerEntry.subject_id == str(booking.id)
            )
        )
    assert entry is not None and entry.action == "booking.created"
    assert entry.payload["channel"] == "phone" and entry.actor["role"] == "clerk"


async def test_a_full_slot_answers_409_in_chinese_and_books_nothing(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    async with transaction(factory) as db:
        for n in (11, 12):
            await bookings.book(db, SYSTEM, clock.now(), request(setting.sitting, n), secrets)
    token = await sign_in(client, "clerk")
    form = await client.get(_sitting_url(setting.sitting))
    assert "已约满，可候补" in form.text
    sent = _form(13, name="李海军", summary="反映拖欠工资问题")
    status, text = await _post(client, _sitting_url(setting.sitting), token, sent)
    assert status == 409 and "08:30时段已约满，可选择其他时段或登记候补。" in text
    assert 'value="李海军"' in text and "反映拖欠工资问题" in text and 'value="13900000013"' in text
    assert await _bookings_of(factory, secrets, "13900000013") == []
    assert await _messages(factory) == []

    status, where = await _post(
        client, _sitting_url(setting.sitting), token, {**sent, "waitlist": "1"}
    )
    assert status == 303
    waiting = await client.get(where)
    assert "候补中" in waiting.text and "已登记候补" in waiting.text


async def test_a_wrong_check_digit_answers_422_and_keeps_what_was_typed(
    client: Client, factory: Factory, setting: Setting, secrets: Secrets
) -> None:
    token = await sign_in(client, "clerk")
    good = resident(21)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    sent = _form(21, id_number=bad, slot="10:00", summary="反映宅基地审批问题")
    status, text = await _post(client, _sitting_url(setting.sitting), token, sent)
    assert status == 422 and "校验位" in text
    assert (
        f'value="{bad}"' in text and "反映宅基地审批问题" in text and 'value="13900000021"' in text
    )
    assert 'value="10:00" required checked' in text
    status, text = await _post(
        client, _sitting_url(setting.sitting), token, _form(21, party_size="4")
    )
    assert status == 422 and "代表" in text
    status, text = await _post(
        client, _sitting_url(setting.sitting), token, _form(21, mobile="12345")
    )
    assert status == 422 and "手机号码应为11位数字" in text
    status, text = await _post(
        client, _sitting_url(setting.sitting), token, _form(21, channel="online")
    )
    assert status == 422 and "请选择电话预约或现场登记" in text
    assert await _bookings_of(factory, secrets, "13900000021") == []
    assert await _messages(factory) == []


# ---------------------------------------------------------------- walk-ins


async def test_a_walk_in_on_the_day_gets_a_number_even_when_every_seat_is_taken(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    await _fill(factory, clock, secrets, setting.sitting)
    clock.advance(dt.timedelta(days=3))  # 5 March, 09:00: the sitting's day
    token = await sign_in(client, "clerk")
    listed = await client.get(BOOK_URL)
    assert "可现场登记" in listed.text and "电话预约已截止" in listed.text
    form = await client.get(_sitting_url(setting.sitting))
    assert 'name="channel" value="in_person"' in form.text and "登记并取号" in form.text
    assert 'name="slot"' not in form.text
    before = len(await _messages(factory))

    sent = _form(31, channel="in_person", slot="")
    status, where = await _post(client, _sitting_url(setting.sitting), token, sent)
    assert status == 303, where
    slip = await client.get(where)
    assert slip.status_code == 200 and "排队号" in slip.text and "1号" in slip.text
    assert "现场登记成功，排队号：1号。" in slip.text and "@media print" in slip.text
    (walked,) = await _bookings_of(factory, secrets, "13900000031")
    assert (walked.channel, walked.status, walked.queue_number) == ("in_person", "booked", 1)
    assert walked.slot_start is None
    assert len(await _messages(factory)) == before, "a walk-in is told on the spot, not by SMS"

    status, where = await _post(
        client, _sitting_url(setting.sitting), token, _form(32, channel="in_person")
    )
    assert status == 303
    (second,) = await _bookings_of(factory, secrets, "13900000032")
    assert second.queue_number == 2 and second.slot_start is None
    status, text = await _post(client, _sitting_url(setting.sitting), token, _form(33))
    assert status == 422 and "截止" in text, "by phone, the notice still closes the sitting"


async def test_a_walk_in_for_a_later_sitting_is_refused(
    client: Client, factory: Factory, setting: Setting, secrets: Secrets
) -> None:
    token = await sign_in(client, "clerk")
    form = await client.get(_sitting_url(setting.sitting))
    assert 'value="in_person"' not in form.text
    sent = _form(41, channel="in_person", name="赵大勇")
    status, text = await _post(client, _sitting_url(setting.sitting), token, sent)
    assert status == 422 and "现场登记只能在接访当天办理。" in text and 'value="赵大勇"' in text
    assert await _bookings_of(factory, secrets, "13900000041") == []


# ---------------------------------------------------------------- who may


async def test_only_clerks_of_the_county_book(
    client: Client, factory: Factory, clock: FixedClock, setting: Setting, secrets: Secrets
) -> None:
    async with transaction(factory) as db:
        made = await bookings.book(db, SYSTEM, clock.now(), request(setting.sitting, 51), secrets)
    for username in ("leader", "jiwei"):
        token = await sign_in(client, username)
        assert (await client.get(BOOK_URL)).status_code == 403
        status, _ = await _post(client, _sitting_url(setting.sitting), token, _form(52))
        assert status == 403
    token = await sign_in(client, "far_clerk")
    elsewhere = await client.get(BOOK_URL)
    assert elsewhere.status_code == 200 and _sitting_url(setting.sitting) not in elsewhere.text
    form = await client.get(_sitting_url(setting.sitting))
    assert form.status_code == 403 and "管辖范围" in form.text
    status, text = await _post(client, _sitting_url(setting.sitting), token, _form(52))
    assert status == 403 and "管辖范围" in text
    assert (await client.get(f"{BOOK_URL}/bookings/{made.booking.code}")).status_code == 403
    token = await sign_in(client, "office")
    assert (await client.get(_sitting_url(setting.sitting))).status_code == 200
    assert await _bookings_of(factory, secrets, "13900000052") == []


async def test_a_citizen_without_a_session_is_sent_to_the_login(
    client: Client, factory: Factory, setting: Setting
) -> None:
    for url in (BOOK_URL, _sitting_url(setting.sitting)):
        answer = await client.get(url, follow_redirects=False)
        assert answer.status_code in {302, 303} and answer.headers["location"].startswith(
            "/login?next="
        )
    await client.get("/yuyue")
    token = client.cookies.get("jiefang_csrf")
    assert token
    status, where = await _post(client, _sitting_url(setting.sitting), token, _form(61))
    assert status in {302, 303} and where.startswith("/login")
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(Booking)) == 0
