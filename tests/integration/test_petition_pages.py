"""网上信访 on the public page `/track/new`: prove the number once, correct a refused form
without a new code, and land on the case's tracking page with the code proven."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ownership.models import Case
from app.scheduling.models import OutboxMessage
from tests.integration.cases_setup import Desk, at, build_cases, resident
from tests.integration.conftest import County
from tests.integration.sittings_setup import Factory

Client = AsyncTestClient[Litestar]
MOBILE = "13700000051"


@pytest.fixture
async def desk(factory: Factory, clock: FixedClock, county: County, keys_dir: Path) -> Desk:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    clock.advance(at(dt.date(2026, 3, 5)) - clock.now())
    return Desk(factory, Secrets(KeyRing(keys_dir)), built, calendar)


async def csrf(client: Client) -> str:
    await client.get("/track/new")
    token = client.cookies.get("jiefang_csrf")
    assert token
    return token


async def code_sent(factory: Factory) -> str:
    async with factory() as db:
        body = await db.scalar(
            select(OutboxMessage.body)
            .where(OutboxMessage.kind == "otp")
            .order_by(OutboxMessage.id.desc())
        )
    found = re.search(r"验证码(\d{6})", body or "")
    assert found, body
    return found.group(1)


def form(desk: Desk, token: str, **changes: str) -> dict[str, str]:
    return {
        "_csrf_token": token,
        "mobile": MOBILE,
        "name": "孙小梅",
        "id_type": "resident",
        "id_number": resident(41),
        "territorial_unit_id": str(desk.c.county.township),
        "category": "城建住房",
        "kind": "suggestion",
        "claim_item": "6",
        "summary": "建议在镇中心小学门口增设人行横道和减速带。",
        **changes,
    }


async def test_a_citizen_petitions_online_and_follows_the_case(
    client: Client, desk: Desk, factory: Factory
) -> None:
    token = await csrf(client)
    sent = await client.post("/track/new/code", data={"_csrf_token": token, "mobile": MOBILE})
    assert sent.status_code == 200 and "验证码已发送" in sent.text
    otp = await code_sent(factory)

    wrong = await client.post(
        "/track/new",
        data=form(desk, token, otp=otp, id_number=resident(41)[:-1] + "0"),
        follow_redirects=False,
    )
    assert wrong.status_code == 422 and "校验位" in wrong.text
    # The number stays proven: the corrected form needs no new code.
    made = await client.post("/track/new", data=form(desk, token), follow_redirects=False)

    assert made.status_code == 303, made.text
    tracked = await client.get(made.headers["location"])
    assert tracked.status_code == 200 and "已登记" in tracked.text
    async with factory() as db:
        case = await db.scalar(select(Case))
    assert case is not None and case.channel == "online" and case.kind == "suggestion"
    assert case.claim_item is None


async def test_without_a_code_nothing_is_submitted(
    client: Client, desk: Desk, factory: Factory
) -> None:
    token = await csrf(client)

    refused = await client.post("/track/new", data=form(desk, token), follow_redirects=False)

    assert refused.status_code == 422 and "验证码" in refused.text
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(Case)) == 0
