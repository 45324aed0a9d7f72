"""The 接访排班 pages, on SQLite and PostgreSQL: an admin sets up venues and rules through
the forms, drafts a roster, watches the solve finish, reads what publishing changes,
publishes it and finds the sittings in the month view; a leader's leave re-planned with one
click changes only that leader's sittings; an .ics upload marks a leader away; a window
clerk is refused in Chinese; bad dates are refused and create nothing."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.core.models import Job
from app.org import services as org
from app.org.rules import ReceptionRole
from app.org.schemas import PersonIn, PostIn, TenureIn
from app.scheduling import services as scheduling
from app.scheduling.models import Roster, Unavailability
from tests.integration.conftest import PASSWORD, SYSTEM, County

Client = AsyncTestClient[Litestar]
Factory = async_sessionmaker[AsyncSession]

LEADERS = [
    ("县委书记", "李明远"),
    ("县长", "王建国"),
    ("常务副县长", "赵文华"),
    ("副县长", "陈思雨"),
]
MARCH = ("2026-03-01", "2026-03-31")
REDIRECT = {302, 303}
SESSIONS = "am 上午 08:30-11:30\npm 下午 14:30-17:30"


@dataclass
class Tiny:
    county: int
    township: int
    leader_posts: list[int]
    township_posts: list[int]
    people: dict[str, int]


@pytest.fixture
async def tiny(factory: Factory, clock: FixedClock, county: County) -> Tiny:
    """The test county with four county leaders and the township's three main posts held."""
    now, start = clock.now(), dt.date(2025, 1, 1)
    people: dict[str, int] = {"张建华": county.person}
    leader_posts: list[int] = []
    async with transaction(factory) as db:
        for title, name in LEADERS:
            post = await org.create_post(
                db, SYSTEM, now, PostIn(county.county, title, ReceptionRole.county_leader)
            )
            leader_posts.append(post.id)
            people[name] = await appoint(db, now, name, county.county, post.id, start)
        congress = await org.create_post(
            db, SYSTEM, now, PostIn(county.township, "人大主席", ReceptionRole.township_congress)
        )
        people["刘芳"] = await appoint(db, now, "刘芳", county.county, county.deputy_post, start)
        people["孙伟"] = await appoint(db, now, "孙伟", county.county, congress.id, start)
    township_posts = [county.secretary_post, county.deputy_post, congress.id]
    return Tiny(county.county, county.township, leader_posts, township_posts, people)


async def appoint(
    db: AsyncSession, now: dt.datetime, name: str, county: int, post: int, start: dt.date
) -> int:
    person = await org.create_person(db, SYSTEM, now, PersonIn(name, None, county))
    await org.appoint(db, SYSTEM, now, TenureIn(person.id, post, start))
    return person.id


# ---------------------------------------------------------------- helpers


async def sign_in(client: Client, username: str) -> str:
    """Sign in through the login form; returns the CSRF token for later posts."""
    await client.get("/login")
    token = client.cookies.get("jiefang_csrf")
    assert token
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code in {302, 303}, response.text
    return token


async def send(client: Client, token: str, url: str, data: Mapping[str, Any]) -> Any:
    return await client.post(url, data={**data, "_csrf_token": token}, follow_redirects=False)


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def table_rows(html: str, css: str) -> list[list[str]]:
    """The body rows of the first table with this class, as lists of cell texts."""
    classes = f"table {css}" if css else "table"
    found = re.search(rf'<table class="{classes}">(.*?)</table>', html, flags=re.S)
    assert found, f"no table {css}"
    body = found.group(1).split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [[plain(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


async def venue_ids(factory: Factory, county: int) -> dict[str, int]:
    async with factory() as db:
        return {v.name: v.id for v in await scheduling.venues_of(db, county)}


async def set_up_rules(client: Client, token: str, tiny: Tiny, factory: Factory) -> None:
    """Two venues and two rules, entered through the forms."""
    for unit, name in [(tiny.county, "县社会治理中心"), (tiny.township, "东山镇便民服务中心")]:
        venue = {
            "county": tiny.county,
            "venue_unit": unit,
            "venue_name": name,
            "address": f"{name}一楼",
            "venue_sessions": SESSIONS,
            "rooms": "接待室",
            "slot_minutes": "30",
            "seats_per_slot": "2",
        }
        response = await send(client, token, "/rosters/rules/venues", venue)
        assert response.status_code in REDIRECT, response.text
    venues = await venue_ids(factory, tiny.county)
    common = {"county": tiny.county, "per_day": "1", "rotation": "rotate", "weekday": "2"}
    county_rule = {
        **common,
        "unit_id": tiny.county,
        "code": "county",
        "name": "县领导坐班接访",
        "kind": "daily",
        "venue_id": venues["县社会治理中心"],
        "pool_posts": [str(p) for p in tiny.leader_posts],
        "min_gap_days": "2",
        "days_of_month": "",
    }
    township_rule = {
        **common,
        "unit_id": tiny.township,
        "code": "990001001",
        "name": "东山镇三个一接访",
        "kind": "monthly",
        "venue_id": venues["东山镇便民服务中心"],
        "pool_posts": [str(p) for p in tiny.township_posts],
        "min_gap_days": "0",
        "days_of_month": "1、11、21",
    }
    for rule in (county_rule, township_rule):
        response = await send(client, token, "/rosters/rules", rule)
        assert response.status_code in REDIRECT, response.text


async def run_jobs(factory: Factory, clock: FixedClock, keys_dir: Path) -> int:
    worker = Worker(factory, clock, keys=KeyRing(keys_dir))
    ran = 0
    while await worker.run_once():
        ran += 1
    return ran


def roster_id(response: Any) -> int:
    assert response.status_code in REDIRECT, response.text
    found = re.fullmatch(r"/rosters/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


async def draft_march(client: Client, token: str, tiny: Tiny) -> int:
    start, end = MARCH
    data = {"county": tiny.county, "start": start, "end": end, "note": "三月", "time_limit": "30"}
    return roster_id(await send(client, token, "/rosters", data))


async def roster_count(factory: Factory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(Roster)) or 0)


async def published_march(
    client: Client, token: str, tiny: Tiny, factory: Factory, clock: FixedClock, keys_dir: Path
) -> int:
    await set_up_rules(client, token, tiny, factory)
    first = await draft_march(client, token, tiny)
    assert await run_jobs(factory, clock, keys_dir) >= 1
    published = await send(client, token, f"/rosters/{first}/publish", {})
    assert published.status_code in REDIRECT, published.text
    return first


async def leave_around_a_sitting(
    factory: Factory, county: int, person: int
) -> tuple[dt.date, dt.date]:
    """Five days of leave that take in the leader's first published sitting from the 10th."""
    async with factory() as db:
        sittings = await scheduling.sittings_between(
            db, county, dt.date(2026, 3, 10), dt.date(2026, 3, 31), person_id=person
        )
    first = sittings[0].day - dt.timedelta(days=1)
    return first, first + dt.timedelta(days=4)


# ---------------------------------------------------------------- the journey


async def test_rules_entered_through_the_forms_are_listed(
    client: Client, tiny: Tiny, factory: Factory
) -> None:
    token = await sign_in(client, "admin")
    await set_up_rules(client, token, tiny, factory)

    html = (await client.get(f"/rosters/rules?county={tiny.county}")).text

    assert "已保存接访规则：东山镇三个一接访（990001001）。" in html
    rows = table_rows(html, "")
    assert any("县领导坐班接访" in r[0] and r[1] == "每日坐班" for r in rows)
    assert any("东山镇三个一接访" in r[0] and r[1] == "每月固定日" for r in rows)
    text = plain(html)
    assert "县委书记、县长、常务副县长、副县长" in text
    assert "党委书记、乡镇长、人大主席" in text
    assert "县社会治理中心" in text and "东山镇便民服务中心" in text
    assert "每月 1、11、21 日" in text and "同一人至少间隔 2 天" in text
    assert "上午 08:30–11:30" in text


async def test_a_drafted_roster_is_solved_by_the_worker_and_published_to_the_month_view(
    client: Client, tiny: Tiny, factory: Factory, clock: FixedClock, keys_dir: Path
) -> None:
    token = await sign_in(client, "admin")
    await set_up_rules(client, token, tiny, factory)
    nav = (await client.get("/rosters")).text
    assert '<a href="/rosters" class="active" aria-current="page">接访排班</a>' in nav

    first = await draft_march(client, token, tiny)
    waiting = (await client.get(f"/rosters/{first}")).text
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "排班中" in waiting and "排队等待" in waiting
    async with factory() as db:
        roster = await scheduling.get_roster(db, first)
        job = await db.get(Job, roster.job_id)
        assert job is not None and job.kind == "roster.solve" and job.status == "queued"

    assert await run_jobs(factory, clock, keys_dir) == 1
    solved = (await client.get(f"/rosters/{first}")).text
    assert 'http-equiv="refresh"' not in solved
    assert "求解结果：" in solved and "最优" in solved and "待发布" in solved
    assert "发布后将发生的变化" in solved
    added = table_rows(solved, "change-added")
    async with factory() as db:
        assert len(added) == len(await scheduling.assignments_of(db, first))
    assert len(added) == 31 + 3  # a county leader every day, three township days
    assert any(r[:2] == ["2026-03-11 周三", "东山镇三个一接访"] for r in added)
    assert "取消的接访安排（0 次）" in solved

    published = await send(client, token, f"/rosters/{first}/publish", {})
    assert published.status_code in REDIRECT
    after = (await client.get(f"/rosters/{first}")).text
    assert "已发布排班：新增 34 次、取消 0 次、保留 0 次接访安排。" in after
    assert "已发布" in after

    month = (await client.get(f"/rosters/month?county={tiny.county}&month=2026-03")).text
    assert "2026年3月接访安排" in month
    assert month.count('class="s-person"') == 34
    march_11 = day_cell(month, 11)
    assert "东山镇三个一接访" in march_11 and "东山镇便民服务中心" in march_11
    assert any(name in march_11 for _, name in LEADERS)
    assert 'class="rest' in day_cell(month, 1, whole=True)  # a Sunday is shaded and named
    assert "周末" in day_cell(month, 1)
    home = plain((await client.get(f"/rosters?county={tiny.county}")).text)
    assert f"版本 {first}" in home and "2026-03-01 至 2026-03-31" in home


def day_cell(html: str, day: int, *, whole: bool = False) -> str:
    """The grid cell of a day of the shown month."""
    cells = re.findall(r'(<td class="[^"]*">.*?</td>)', html, flags=re.S)
    for cell in cells:
        number = re.search(r'<span class="day-no">(\d+)</span>', cell)
        if number and int(number.group(1)) == day and "other-month" not in cell:
            return cell if whole else plain(cell)
    raise AssertionError(f"no cell for day {day}")


async def test_a_leader_sees_only_their_own_sittings_by_default(
    client: Client, tiny: Tiny, factory: Factory, clock: FixedClock, keys_dir: Path
) -> None:
    token = await sign_in(client, "admin")
    await published_march(client, token, tiny, factory, clock, keys_dir)
    await client.post("/logout", data={"_csrf_token": token})
    await sign_in(client, "leader")  # 张建华, the township secretary

    mine = (await client.get("/rosters/month?month=2026-03")).text
    everyone = (await client.get("/rosters/month?month=2026-03&person=all")).text

    assert "只显示您本人的接访安排" in mine
    people = re.findall(r'<strong class="s-person">(.*?)</strong>', mine)
    assert people == ["张建华"]
    assert len(re.findall(r'class="s-person"', everyone)) == 34


async def test_a_leave_replanned_in_one_click_changes_only_that_leaders_sittings(
    client: Client, tiny: Tiny, factory: Factory, clock: FixedClock, keys_dir: Path
) -> None:
    token = await sign_in(client, "admin")
    await published_march(client, token, tiny, factory, clock, keys_dir)
    away = tiny.people["李明远"]
    first, last = await leave_around_a_sitting(factory, tiny.county, away)
    marked = await send(
        client,
        token,
        "/rosters/unavailability",
        {
            "county": tiny.county,
            "person_id": away,
            "away_start": first.isoformat(),
            "away_end": last.isoformat(),
            "reason": "请假",
        },
    )
    assert marked.status_code in REDIRECT, marked.text
    listed = plain((await client.get(marked.headers["location"])).text)
    assert f"已登记李明远 {first} 至 {last} 不可接访（请假）。" in listed

    second = roster_id(await send(client, token, "/rosters/replan", {"county": tiny.county}))
    assert await run_jobs(factory, clock, keys_dir) == 1
    html = (await client.get(f"/rosters/{second}")).text

    assert "最优" in html and "调整排班" in html
    removed = table_rows(html, "change-removed")
    added = table_rows(html, "change-added")
    assert removed, "the leader sat at least once in the five days"
    assert all(
        r[2] == "李明远" and first <= dt.date.fromisoformat(r[0][:10]) <= last for r in removed
    )
    assert sorted(r[0] for r in added) == sorted(r[0] for r in removed)
    assert all(r[2] != "李明远" for r in added)
    async with factory() as db:
        live = await scheduling.sittings_between(db, tiny.county, first, last, person_id=away)
    assert len(live) == len(removed)

    compared = plain((await client.get(f"/rosters/compare?a={second}&b={second - 1}")).text)
    assert f"版本 {second} 相对版本 {second - 1} 的变化" in compared


async def test_an_ics_upload_marks_a_leader_away(
    client: Client, tiny: Tiny, factory: Factory
) -> None:
    token = await sign_in(client, "admin")
    busy = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:trip-1@example\r\nDTSTAMP:20260301T000000Z\r\n"
        "DTSTART;VALUE=DATE:20260316\r\nDTEND;VALUE=DATE:20260319\r\nSUMMARY:出差\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    response = await client.post(
        "/rosters/unavailability/import",
        data={
            "_csrf_token": token,
            "county": str(tiny.county),
            "ics_person": str(tiny.people["王建国"]),
            "ics_reason": "出差",
        },
        files={"ics_file": ("busy.ics", busy, "text/calendar")},
        follow_redirects=False,
    )
    assert response.status_code in REDIRECT, response.text

    html = plain((await client.get(response.headers["location"])).text)
    assert "已从日历导入 1 条不可接访登记。" in html
    assert "王建国 2026-03-16 至 2026-03-18 3 出差 日历导入" in html


# ---------------------------------------------------------------- refusals


async def test_a_window_clerk_is_refused_in_chinese(
    client: Client, tiny: Tiny, factory: Factory
) -> None:
    token = await sign_in(client, "clerk")
    page = (await client.get(f"/rosters?county={tiny.county}")).text
    assert "新建排班" not in page and "按最新变化调整排班" not in page

    start, end = MARCH
    data = {"county": tiny.county, "start": start, "end": end, "time_limit": "10"}
    response = await send(client, token, "/rosters", data)
    venue = await send(
        client,
        token,
        "/rosters/rules/venues",
        {
            "county": tiny.county,
            "venue_unit": tiny.county,
            "venue_name": "县社会治理中心",
            "address": "人民路1号",
            "venue_sessions": SESSIONS,
            "slot_minutes": "30",
            "seats_per_slot": "2",
        },
    )

    assert response.status_code == 403
    assert "未能完成：您的账号没有" in response.text and "不能排班" in response.text
    assert venue.status_code == 403 and "不能设置接访场所" in venue.text
    assert await roster_count(factory) == 0
    assert await venue_ids(factory, tiny.county) == {}


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-31", "2026-03-01", "结束日期不能早于开始日期。"),
        ("2026-02-30", "2026-03-31", "开始日期格式不正确，应为 2026-01-05 这样的日期。"),
        ("", "2026-03-31", "请填写开始日期。"),
    ],
)
async def test_bad_dates_are_refused_in_chinese_and_create_nothing(
    client: Client, tiny: Tiny, factory: Factory, start: str, end: str, message: str
) -> None:
    token = await sign_in(client, "admin")

    data = {"county": tiny.county, "start": start, "end": end, "time_limit": "10"}
    response = await send(client, token, "/rosters", data)
    away = await send(
        client,
        token,
        "/rosters/unavailability",
        {
            "county": tiny.county,
            "person_id": tiny.people["王建国"],
            "away_start": start,
            "away_end": end,
        },
    )

    assert response.status_code == 422
    assert message in response.text
    assert f'value="{end}"' in response.text  # what was typed comes back
    assert away.status_code == 422 and message in away.text
    assert await roster_count(factory) == 0
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(Unavailability)) == 0


async def test_a_deployment_wide_account_picks_the_county(client: Client, county: County) -> None:
    await sign_in(client, "root")

    first = (await client.get("/rosters")).text
    other = (await client.get(f"/rosters?county={county.other_county}")).text

    assert "<h1>测试县接访排班</h1>" in first
    picker = re.search(r'<select id="f-county" name="county">(.*?)</select>', first, re.S)
    assert picker and "测试县" in picker.group(1) and "邻县" in picker.group(1)
    assert "<h1>邻县接访排班</h1>" in other
