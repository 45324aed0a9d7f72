"""The citizen's 预约接访 pages on SQLite and PostgreSQL: the list of sittings, the online
journey from a mobile number to the confirmation with its QR code and ledger receipt, the
.ics invitation before and after cancelling, and refusals that are Chinese and book
nothing."""

from __future__ import annotations

import datetime as dt
import re

from icalendar import Calendar
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.codes import make_code
from app.core.db import transaction
from app.core.personal_data import Secrets
from app.ledger.models import LedgerEntry
from app.org.models import Person
from app.scheduling import booking_services as bookings
from app.scheduling.models import Booking, OutboxMessage, Sitting
from tests.integration.conftest import SYSTEM
from tests.integration.test_booking_services import request, resident

pytest_plugins = ["tests.integration.test_booking_services"]

Client = AsyncTestClient[Litestar]
Factory = async_sessionmaker[AsyncSession]
NOT_FOUND = "没有找到与该预约码和手机号码相符的预约"


def _sitting_url(sitting: int) -> str:
    return f"/yuyue/sittings/{sitting}"


async def _csrf(client: Client, sitting: int) -> str:
    await client.get(_sitting_url(sitting))
    token = client.cookies.get("jiefang_csrf")
    assert token
    return token


async def _post(client: Client, url: str, token: str, **fields: str) -> tuple[int, str]:
    """POST a page form; returns the status and the redirect target or the page text."""
    answer = await client.post(url, data={**fields, "_csrf_token": token}, follow_redirects=False)
    return answer.status_code, answer.headers.get("location", answer.text)


async def _code_sent_to(factory: Factory, mobile: str) -> str:
    async with factory() as db:
        body = await db.scalar(
            select(OutboxMessage.body)
            .where(OutboxMessage.kind == "otp", OutboxMessage.to_masked.endswith(mobile[-4:]))
            .order_by(OutboxMessage.id.desc())
        )
    found = re.search(r"验证码(\d{6})", body or "")
    assert found, body
    return found.group(1)


async def _verify(client: Client, factory: Factory, sitting: int, mobile: str) -> str:
    """Steps 1 and 2: the mobile number gets a code, the code proves it."""
    token = await _csrf(client, sitting)
    status, _ = await _post(client, f"{_sitting_url(sitting)}/mobile", token, mobile=mobile)
    assert status in {302, 303}
    code = await _code_sent_to(factory, mobile)
    status, _ = await _post(client, f"{_sitting_url(sitting)}/verify", token, code=code)
    assert status in {302, 303}
    return token


def _form(n: int, **changes: str) -> dict[str, str]:
    return {
        "name": "陈小明",
        "id_type": "resident",
        "id_number": resident(n),
        "topic": "土地征收",
        "summary": "反映征地补偿标准问题",
        "party_size": "1",
        "representatives": "",
        "slot": "08:30",
        **changes,
    }


async def _bookings_of(factory: Factory, secrets: Secrets, mobile: str) -> int:
    async with factory() as db:
        found = await db.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.mobile_hash == secrets.ref("mobile", mobile))
        )
    return int(found or 0)


async def _invite(client: Client, code: str) -> dict[str, object]:
    answer = await client.get(f"/yuyue/bookings/{code}/invite.ics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    event = Calendar.from_ical(answer.content).walk("VEVENT")[0]
    return {
        "uid": str(event["UID"]),
        "sequence": event.decoded("SEQUENCE"),
        "status": str(event["STATUS"]),
        "start": event.decoded("DTSTART"),
    }


async def test_the_list_shows_published_sittings_with_their_leader_and_seats(
    client: Client, factory: Factory, sitting: int
) -> None:
    async with factory() as db:
        shown = await db.get(Sitting, sitting)
        assert shown is not None
        leader, venue, unit = shown.person.name, shown.venue.name, shown.rule.unit_id
    page = await client.get("/yuyue")
    assert page.status_code == 200, page.text
    assert _sitting_url(sitting) in page.text and leader in page.text and venue in page.text
    assert "3月5日 星期四" in page.text and "余" in page.text
    for query in (f"official={shown.person_id}", f"unit={unit}", "unit=&official="):
        narrowed = await client.get(f"/yuyue?{query}")
        assert narrowed.status_code == 200 and _sitting_url(sitting) in narrowed.text, query
    async with factory() as db:
        other = await db.scalar(select(Person.id).where(Person.id != shown.person_id).limit(1))
    assert other is not None
    elsewhere = await client.get(f"/yuyue?official={other}")
    assert elsewhere.status_code == 200 and f'href="{_sitting_url(sitting)}"' not in elsewhere.text


async def test_a_citizen_books_online_and_manages_the_booking(
    client: Client, factory: Factory, sitting: int, secrets: Secrets
) -> None:
    mobile = "13900000051"
    first = await client.get(_sitting_url(sitting))
    assert first.status_code == 200 and "获取验证码" in first.text
    token = await _verify(client, factory, sitting, mobile)
    form_page = await client.get(_sitting_url(sitting))
    assert "139****0051" in form_page.text and "已验证" in form_page.text
    assert "居民身份证" in form_page.text and "涉法涉诉" in form_page.text
    status, where = await _post(client, f"{_sitting_url(sitting)}/book", token, **_form(51))
    assert status in {302, 303}, where
    code = where.rsplit("/", 1)[-1]
    assert len(code) == 9 and where == f"/yuyue/bookings/{code}"

    shown = await client.get(where)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    async with factory() as db:
        booking = await db.scalar(select(Booking).where(Booking.code == code))
        assert booking is not None and booking.channel == "online"
        seq = await db.scalar(
            select(LedgerEntry.seq).where(
                LedgerEntry.subject_type == "booking",
                LedgerEntry.subject_id == str(booking.id),
                LedgerEntry.action == "booking.created",
            )
        )
        sms = await db.scalar(
            select(OutboxMessage.body).where(OutboxMessage.kind == "confirmation")
        )
        s = booking.sitting
        address, leader = s.venue.address, s.person.name
    text = shown.text
    assert code in text and "<svg" in text and address in text and leader in text
    assert "居民身份证" in text and booking.id_masked in text and resident(51) not in text
    assert f"第 {seq} 条" in text and "本人有效身份证件" in text
    assert sms is not None and code in sms

    invite = await _invite(client, code)
    assert str(invite["uid"]).startswith(f"booking-{code}@") and invite["sequence"] == 0
    assert invite["status"] == "CONFIRMED"
    start = invite["start"]
    assert isinstance(start, dt.datetime)
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 3, 5, 0, 30, tzinfo=dt.UTC)

    status, _ = await _post(client, f"/yuyue/bookings/{code}/cancel", token)
    assert status in {302, 303}
    gone = await client.get(f"/yuyue/bookings/{code}")
    assert "已取消" in gone.text and "取消预约</button>" not in gone.text
    after = await _invite(client, code)
    assert after["uid"] == invite["uid"]
    assert after["status"] == "CANCELLED" and after["sequence"] == 1


async def test_the_booking_page_asks_another_browser_for_the_mobile_number(
    client: Client, factory: Factory, clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    async with transaction(factory) as db:
        made = await bookings.book(db, SYSTEM, clock.now(), request(sitting, 61), secrets)
    code = made.booking.code
    asked = await client.get(f"/yuyue/bookings/{code}")
    assert asked.status_code == 200 and "请输入预约时使用的手机号码" in asked.text
    assert "<svg" not in asked.text
    invite = await client.get(f"/yuyue/bookings/{code}/invite.ics", follow_redirects=False)
    assert invite.status_code in {302, 303}
    token = await _csrf(client, sitting)
    status, text = await _post(client, f"/yuyue/bookings/{code}", token, mobile="13900009999")
    assert status == 404 and NOT_FOUND in text
    status, where = await _post(client, f"/yuyue/bookings/{code}", token, mobile="13900000061")
    assert status in {302, 303} and where == f"/yuyue/bookings/{code}"
    shown = await client.get(where)
    assert "<svg" in shown.text and "电话" in shown.text


async def test_a_wrong_one_time_code_is_refused_in_chinese_and_counted(
    client: Client, factory: Factory, sitting: int
) -> None:
    mobile = "13900000071"
    token = await _csrf(client, sitting)
    await _post(client, f"{_sitting_url(sitting)}/mobile", token, mobile=mobile)
    right = await _code_sent_to(factory, mobile)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        status, text = await _post(client, f"{_sitting_url(sitting)}/verify", token, code=wrong)
        assert status == 422 and "验证码不正确" in text
    status, text = await _post(client, f"{_sitting_url(sitting)}/verify", token, code=right)
    assert status == 422 and "验证码已失效" in text, "five wrong tries spend the code"
    status, text = await _post(client, f"{_sitting_url(sitting)}/mobile", token, mobile="12345")
    assert status == 422 and "手机号码应为11位数字" in text


async def test_a_full_slot_answers_409_and_books_nothing(
    client: Client, factory: Factory, clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    for n in (81, 82):
        async with transaction(factory) as db:
            await bookings.book(db, SYSTEM, clock.now(), request(sitting, n), secrets)
    mobile = "13900000083"
    token = await _verify(client, factory, sitting, mobile)
    shown = await client.get(_sitting_url(sitting))
    assert "已约满，可候补" in shown.text
    url = f"{_sitting_url(sitting)}/book"
    status, text = await _post(client, url, token, **_form(83))
    assert status == 409 and "约满" in text and "候补" in text
    bad_number = resident(83)[:-1] + ("0" if resident(83)[-1] != "0" else "1")
    status, text = await _post(client, url, token, **_form(83, slot="09:00", id_number=bad_number))
    assert status == 422 and "校验位" in text
    status, text = await _post(client, url, token, **_form(83, slot="09:00", party_size="4"))
    assert status == 422 and "代表" in text
    assert await _bookings_of(factory, secrets, mobile) == 0
    status, where = await _post(client, url, token, **_form(83, waitlist="1"))
    assert status in {302, 303}
    assert "候补中" in (await client.get(where)).text


async def test_a_lookup_with_a_wrong_mobile_says_the_same_as_an_unknown_code(
    client: Client, factory: Factory, clock: FixedClock, sitting: int, secrets: Secrets
) -> None:
    async with transaction(factory) as db:
        made = await bookings.book(db, SYSTEM, clock.now(), request(sitting, 91), secrets)
    code = made.booking.code
    unknown = next(c for c in (make_code(bytes([i]) * 16) for i in range(5)) if c != code)
    token = await _csrf(client, sitting)
    assert (await client.get("/yuyue/lookup")).status_code == 200
    wrong_mobile = await _post(client, "/yuyue/lookup", token, code=code, mobile="13900009999")
    wrong_code = await _post(client, "/yuyue/lookup", token, code=unknown, mobile="13900000091")
    assert wrong_mobile[0] == wrong_code[0] == 404
    assert NOT_FOUND in wrong_mobile[1] and NOT_FOUND in wrong_code[1]
    status, where = await _post(
        client, "/yuyue/lookup", token, code=code.lower(), mobile="139 0000 0091"
    )
    assert status in {302, 303} and where == f"/yuyue/bookings/{code}"
    statuses = [
        (await _post(client, "/yuyue/lookup", token, code=unknown, mobile="13900000091"))
        for _ in range(60)
    ]
    assert statuses[-1][0] == 429 and "查询过于频繁" in statuses[-1][1]


async def test_a_sitting_whose_booking_closed_sends_no_code(
    client: Client, factory: Factory, sitting: int
) -> None:
    async with factory() as db:
        today = await db.scalar(select(Sitting.id).where(Sitting.day == dt.date(2026, 3, 2)))
    assert today is not None
    shown = await client.get(_sitting_url(today))
    assert shown.status_code == 200 and "网上预约已截止" in shown.text
    assert "获取验证码" not in shown.text
    token = await _csrf(client, today)
    status, text = await _post(client, f"{_sitting_url(today)}/mobile", token, mobile="13900000101")
    assert status == 422 and "不能网上预约" in text
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert (await client.get("/yuyue/sittings/999999")).status_code == 404
