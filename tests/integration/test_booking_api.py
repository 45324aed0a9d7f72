"""The booking API: sittings with free seats per slot, a booking by phone with its ledger
receipt, a lookup and cancellation by code and mobile number, and clean refusals."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.org.models import Tenure
from app.scheduling import citizen_services as citizens
from app.scheduling.models import OutboxMessage, Sitting
from tests.integration.conftest import bearer
from tests.integration.test_booking_services import resident
from tests.integration.test_ledger_pages import sign_in

pytest_plugins = ["tests.integration.test_booking_services"]

DAY = dt.date(2026, 3, 5)


def body(sitting: int, n: int, **changes: object) -> dict[str, object]:
    return {
        "sitting_id": sitting,
        "slot_start": "08:30",
        "channel": "phone",
        "name": "陈小明",
        "mobile": f"1390000{n:04d}",
        "id_type": "resident",
        "id_number": resident(n),
        "topic": "土地征收",
        "summary": "反映征地补偿标准问题",
        **changes,
    }


async def test_sittings_list_their_free_seats_per_slot(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    answer = await client.get(
        "/api/v1/sittings", params={"from": DAY.isoformat(), "to": DAY.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    found = {s["id"]: s for s in answer.json()["sittings"]}
    mine = found[sitting]
    assert mine["date"] == DAY.isoformat() and mine["official"]
    assert mine["slots"][0] == {"start": "08:30", "end": "09:00", "seats_left": 2}
    assert mine["seats_left"] == sum(s["seats_left"] for s in mine["slots"])


async def test_a_clerk_books_by_phone_and_the_citizen_finds_and_cancels_it(
    client: AsyncTestClient[Litestar], factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    headers = await bearer(client, "root")
    made = await client.post("/api/v1/bookings", json=body(sitting, 1), headers=headers)
    assert made.status_code == 201, made.text
    booking = made.json()
    assert booking["status"] == "booked" and len(booking["code"]) == 9
    assert booking["receipt"]["seq"] > 0 and len(booking["receipt"]["leaf_hash"]) == 64
    assert booking["id_masked"].startswith("330") and "*" in booking["id_masked"]
    async with factory() as db:
        sms = list(
            await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        )
    assert len(sms) == 1 and booking["code"] in sms[0].body and sms[0].to_masked == "139****0001"
    url = f"/api/v1/bookings/{booking['code']}"
    wrong = await client.get(url, headers={"X-Citizen-Mobile": "13911112222"})
    assert wrong.status_code == 404
    assert wrong.headers["content-type"].startswith("application/problem+json")
    shown = await client.get(url, headers={"X-Citizen-Mobile": "13900000001"})
    assert shown.status_code == 200 and shown.json()["slot_start"] == "08:30"
    gone = await client.delete(url, headers={"X-Citizen-Mobile": "13900000001"})
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    async with factory() as db:
        told = await db.scalar(
            select(OutboxMessage.body).where(OutboxMessage.kind == "cancellation")
        )
    assert told is not None and booking["code"] in told and "已取消" in told


async def test_refusals_are_problems_that_book_nothing(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    root = await bearer(client, "root")
    online = await client.post(
        "/api/v1/bookings", json=body(sitting, 2, channel="online"), headers=root
    )
    assert online.status_code == 401 and "短信验证码" in online.json()["detail"]
    outsider = await client.post(
        "/api/v1/bookings", json=body(sitting, 3), headers=await bearer(client, "clerk")
    )
    assert outsider.status_code == 403
    for n in (4, 5):
        assert (
            await client.post("/api/v1/bookings", json=body(sitting, n), headers=root)
        ).status_code == 201
    full = await client.post("/api/v1/bookings", json=body(sitting, 6), headers=root)
    assert full.status_code == 409 and "约满" in full.json()["detail"]


async def _code_sent_to(factory: async_sessionmaker[AsyncSession], mobile_tail: str) -> str:
    async with factory() as db:
        bodies = list(
            await db.scalars(
                select(OutboxMessage.body)
                .where(OutboxMessage.to_masked.endswith(mobile_tail))
                .order_by(OutboxMessage.id.desc())
            )
        )
    found = re.search(r"验证码(\d{6})", bodies[0])
    assert found, bodies
    return found.group(1)


async def test_a_citizen_books_online_after_a_one_time_code(
    client: AsyncTestClient[Litestar], factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    mobile = "13900000021"
    sent = await client.post("/api/v1/otp", json={"mobile": mobile})
    assert sent.status_code == 202, sent.text
    code = await _code_sent_to(factory, "0021")
    wrong = await client.post(
        "/api/v1/otp/verify",
        json={"mobile": mobile, "code": "000000" if code != "000000" else "111111"},
    )
    assert wrong.status_code == 422
    token = (await client.post("/api/v1/otp/verify", json={"mobile": mobile, "code": code})).json()[
        "citizen_token"
    ]
    other = body(sitting, 22, channel="online")
    refused = await client.post("/api/v1/bookings", json=other, headers={"X-Citizen-Token": token})
    assert refused.status_code == 401, "a token vouches for its own number only"
    made = await client.post(
        "/api/v1/bookings",
        json=body(sitting, 21, channel="online"),
        headers={"X-Citizen-Token": token},
    )
    assert made.status_code == 201, made.text
    assert made.json()["channel"] == "online"


async def test_one_time_codes_are_limited_per_number(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    answers = [
        (await client.post("/api/v1/otp", json={"mobile": "13900000031"})).status_code
        for _ in range(6)
    ]
    assert answers == [202] * 5 + [429]


async def test_the_outbox_job_sends_each_message_once_and_the_page_shows_it(
    client: AsyncTestClient[Litestar],
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    keys_dir: Path,
    sitting: int,
) -> None:
    assert (await client.post("/api/v1/otp", json={"mobile": "13900000041"})).status_code == 202
    worker = Worker(factory, clock, keys=KeyRing(keys_dir))
    while await worker.run_once():
        pass
    async with factory() as db:
        message = await db.scalar(select(OutboxMessage))
        assert message is not None and message.status == "sent" and message.attempts == 1
        assert message.provider == "outbox" and b"13900000041" not in message.to_enc
    async with transaction(factory) as db:
        again = await citizens.deliver(
            db, Secrets(KeyRing(keys_dir)), clock.now(), message.id, citizens.OutboxSender()
        )
    assert again is False
    await sign_in(client, "admin")
    shown = await client.get("/outbox")
    assert shown.status_code == 200 and "139****0041" in shown.text and "验证码" in shown.text
    await sign_in(client, "clerk")
    assert (await client.get("/outbox")).status_code == 403


async def test_wrong_codes_use_up_a_one_time_code(
    client: AsyncTestClient[Litestar], factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    mobile = "13900000051"
    assert (await client.post("/api/v1/otp", json={"mobile": mobile})).status_code == 202
    code = await _code_sent_to(factory, "0051")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        answer = await client.post("/api/v1/otp/verify", json={"mobile": mobile, "code": wrong})
        assert answer.status_code == 422 and answer.json()["detail"] == "验证码不正确。"
    late = await client.post("/api/v1/otp/verify", json={"mobile": mobile, "code": code})
    assert late.status_code == 422 and "失效" in late.json()["detail"]


async def test_a_cancellation_promotes_the_waiting_citizen_and_tells_them(
    client: AsyncTestClient[Litestar], factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    root = await bearer(client, "root")
    first = (await client.post("/api/v1/bookings", json=body(sitting, 61), headers=root)).json()
    assert (
        await client.post("/api/v1/bookings", json=body(sitting, 62), headers=root)
    ).status_code == 201
    waiting = await client.post(
        "/api/v1/bookings", json=body(sitting, 63, waitlist=True), headers=root
    )
    assert waiting.json()["status"] == "waitlisted"
    gone = await client.delete(
        f"/api/v1/bookings/{first['code']}", headers={"X-Citizen-Mobile": "13900000061"}
    )
    assert gone.status_code == 200
    promoted = await client.get(
        f"/api/v1/bookings/{waiting.json()['code']}", headers={"X-Citizen-Mobile": "13900000063"}
    )
    assert promoted.json()["status"] == "booked"
    async with factory() as db:
        told = list(
            await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "promotion"))
        )
    assert len(told) == 1 and told[0].to_masked == "139****0063"
    assert waiting.json()["code"] in told[0].body


async def test_sittings_can_be_narrowed_to_a_leaders_portfolio(
    client: AsyncTestClient[Litestar], factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    async with transaction(factory) as db:
        mine = await db.get(Sitting, sitting)
        assert mine is not None and mine.tenure_id is not None
        await db.execute(
            update(Tenure).where(Tenure.id == mine.tenure_id).values(portfolio=["土地征收", "信访"])
        )
        tenure = mine.tenure_id
    window = {"from": DAY.isoformat(), "to": (DAY + dt.timedelta(days=6)).isoformat()}
    every = (await client.get("/api/v1/sittings", params=window)).json()["sittings"]
    found = (await client.get("/api/v1/sittings", params={**window, "topic": "土地"})).json()
    async with factory() as db:
        held = set(await db.scalars(select(Sitting.id).where(Sitting.tenure_id == tenure)))
    assert sitting in {s["id"] for s in found["sittings"]}
    assert {s["id"] for s in found["sittings"]} == held & {s["id"] for s in every}
    assert len(found["sittings"]) < len(every)
    none = await client.get("/api/v1/sittings", params={**window, "topic": "教育"})
    assert none.json()["sittings"] == []
    listed = await client.get("/yuyue", params={"topic": "土地"})
    assert listed.status_code == 200 and "领导分管领域" in listed.text
    shown = {int(x) for x in re.findall(r"/yuyue/sittings/(\d+)", listed.text)}
    assert sitting in shown and shown <= held
