"""The deadline calculator over HTTP: the JSON API and the public page, on the calendar
admins maintain (an entered official year replaces the provisional one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.asgi import create_app
from app.core import holidays
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.settings import Settings
from tests.integration.conftest import SYSTEM, County

API = "/api/v1/deadlines/calculate"
PAGE = "/deadlines"


async def calculate(client: AsyncTestClient[Litestar], **query: str) -> Any:
    answer = await client.get(API, params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def enter_notice_2027(factory: async_sessionmaker[AsyncSession], now: dt.datetime) -> None:
    """A made-up notice for the test (not the real one): 春节 2月5日至13日放假，2月20日上班."""
    notice = holidays.YearFile(
        year=2027,
        source="国办发明电〔2026〕X号（测试用）",
        rest_days=["2027-01-01/2027-01-03", "2027-02-05/2027-02-13", "2027-10-01/2027-10-07"],
        working_days=["2027-02-20", "2027-09-26", "2027-10-09"],
        names={"2027-02-05": "春节", "2027-02-08": "春节", "2027-02-12": "春节"},
    )
    async with transaction(factory) as db:
        await holidays.enter_official_year(db, SYSTEM, now, notice)


# ---------------------------------------------------------------- the API


async def test_the_api_rolls_handle_past_national_day(
    client: AsyncTestClient[Litestar],
) -> None:
    body = await calculate(client, profile="national-2022", clock="handle", start="2026-08-02")
    assert body["due"] == "2026-10-08"
    assert (body["profile"], body["clock"], body["clock_label"]) == (
        "national-2022",
        "handle",
        "办理期限",
    )
    assert (body["days"], body["counting"], body["period_days"]) == (60, "calendar", 60)
    assert body["article"] == "《信访工作条例》第三十四条"
    assert "60日内办结" in body["quote"]
    assert body["rest_days_skipped"][0] == {"date": "2026-10-01", "name": "国庆节"}
    assert len(body["rest_days_skipped"]) == 7
    assert body["provisional"] is False and body["provisional_years"] == []
    assert "顺延至 2026-10-08（民法典第二百零三条）" in body["explanation"]


async def test_the_api_defaults_to_the_deployments_jurisdiction(
    client: AsyncTestClient[Litestar],
) -> None:
    # The test settings keep the default jurisdiction, Zhejiang: 5 working days.
    body = await calculate(client, clock="accept", start="2026-02-12")
    assert body["profile"] == "zhejiang-2016"
    assert body["due"] == "2026-02-26"
    assert body["counting"] == "working"
    assert body["adjusted_workdays"] == [{"date": "2026-02-14", "name": "调休上班"}]
    assert body["article"] == "《浙江省信访条例》第二十条"


async def test_a_national_deployment_calculates_by_the_national_profile(
    settings: Settings, clock: FixedClock, county: County
) -> None:
    national = msgspec.structs.replace(settings, jurisdiction="national")
    async with AsyncTestClient(app=create_app(national, clock=clock)) as client:
        body = await calculate(client, clock="handle", start="2026-01-10")
    assert (body["profile"], body["due"]) == ("national-2022", "2026-03-11")


async def test_the_api_extends_by_the_maximum_unless_told_otherwise(
    client: AsyncTestClient[Litestar],
) -> None:
    longest = await calculate(client, profile="national-2022", clock="extend", start="2026-08-02")
    assert (longest["extension_days"], longest["period_days"], longest["due"]) == (
        30,
        90,
        "2026-11-02",
    )
    shorter = await calculate(
        client, profile="zhejiang-2016", clock="extend", start="2026-03-02", extension="15"
    )
    assert (shorter["extension_days"], shorter["due"]) == (15, "2026-04-16")


async def test_the_api_adds_hearing_time_to_the_recheck_decision(
    client: AsyncTestClient[Litestar],
) -> None:
    body = await calculate(
        client, profile="national-2022", clock="recheck_decision", start="2026-03-02", paused="10"
    )
    assert (body["paused_days"], body["due"]) == (10, "2026-04-13")


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"clock": "finish", "start": "2026-03-02"}, "未知的期限“finish”"),
        ({"profile": "guangdong", "clock": "handle", "start": "2026-03-02"}, "未知的期限规则"),
        ({"clock": "handle", "start": "2026-02-30"}, "不是有效日期"),
        ({"clock": "handle"}, "请填写起算日期"),
        ({"start": "2026-03-02"}, "请选择要计算的期限"),
        ({"clock": "extend", "start": "2026-03-02", "extension": "61"}, "0 至 60 日"),
        ({"clock": "extend", "start": "2026-03-02", "extension": "x"}, "延长天数"),
        ({"clock": "handle", "start": "2026-03-02", "paused": "5"}, "第三十六条"),
    ],
)
async def test_the_api_refuses_bad_input_with_a_chinese_problem(
    client: AsyncTestClient[Litestar], query: dict[str, str], detail: str
) -> None:
    answer = await client.get(API, params=query)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-input"
    assert problem["title"] == "提交的内容有误"
    assert detail in problem["detail"]


async def test_the_api_is_public_and_described_in_the_schema(
    client: AsyncTestClient[Litestar],
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert API in schema["paths"]
    parameters = {p["name"] for p in schema["paths"][API]["get"]["parameters"]}
    assert parameters == {"profile", "clock", "start", "extension", "paused"}


# ---------------------------------------------------------------- 2027 and the notice


async def test_entering_the_2027_notice_recomputes_a_provisional_deadline(
    client: AsyncTestClient[Litestar],
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
) -> None:
    query = {"profile": "national-2022", "clock": "handle", "start": "2026-12-10"}
    before = await calculate(client, **query)
    # Provisional 2027: 春节 2-05..2-08 with 补假 2-09 and 2-10.
    assert before["due"] == "2027-02-11"
    assert before["provisional"] is True and before["provisional_years"] == [2027]
    assert "2027 年节假日安排尚未公布，本期限按暂定日历计算" in before["explanation"]

    await enter_notice_2027(factory, clock.now())

    after = await calculate(client, **query)
    # The notice rests through Saturday 2-13; Sunday 2-14 is no 调休 day.
    assert after["due"] == "2027-02-15"
    assert after["provisional"] is False and after["provisional_years"] == []
    working = await calculate(client, profile="zhejiang-2016", clock="accept", start="2027-02-03")
    assert (working["due"], working["provisional"]) == ("2027-02-18", False)


# ---------------------------------------------------------------- the page


async def test_the_page_shows_an_empty_form_first(client: AsyncTestClient[Litestar]) -> None:
    answer = await client.get(PAGE)
    assert answer.status_code == 200, answer.text
    assert "期限计算器" in answer.text
    assert 'name="clock"' in answer.text and 'name="start"' in answer.text
    assert '<option value="zhejiang-2016" selected>' in answer.text
    assert 'id="h-result"' not in answer.text


async def test_the_page_explains_the_due_date(client: AsyncTestClient[Litestar]) -> None:
    answer = await client.get(
        PAGE,
        params={
            "profile": "national-2022",
            "clock": "handle",
            "start": "2026-08-02",
            "extension": "",
            "paused": "",
        },
    )
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert "2026年10月8日" in text
    assert "自 2026-08-02（受理之日）起算，当日不计入（民法典第二百零一条）" in text
    assert "顺延至 2026-10-08（民法典第二百零三条）" in text
    assert "《信访工作条例》第三十四条" in text
    assert "2026-10-07" in text and "国庆节" in text
    assert '<option value="handle" selected>' in text
    assert "暂定日历" not in text


async def test_the_page_warns_of_a_provisional_2027(client: AsyncTestClient[Litestar]) -> None:
    answer = await client.get(
        PAGE, params={"profile": "national-2022", "clock": "handle", "start": "2026-12-10"}
    )
    assert answer.status_code == 200, answer.text
    assert "2027 年节假日安排尚未公布，本期限按暂定日历计算" in answer.text
    assert 'class="provisional"' in answer.text


async def test_the_page_shows_bad_input_in_chinese_with_422(
    client: AsyncTestClient[Litestar],
) -> None:
    answer = await client.get(
        PAGE,
        params={
            "profile": "national-2022",
            "clock": "extend",
            "start": "2026-08-02",
            "extension": "45",
        },
    )
    assert answer.status_code == 422
    assert "未能计算" in answer.text
    assert "延长期限为 0 至 30 日" in answer.text
    assert 'value="45"' in answer.text  # the form keeps what was typed
