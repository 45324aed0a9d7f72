"""The meetings guard through the services and the /meetings page, on SQLite and
PostgreSQL: 周二无会日, collisions with published sittings, and the written override."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError, Forbidden, NotFound, RuleViolation
from app.scheduling import services as scheduling
from app.scheduling.meetings import TUESDAY_REASON
from app.scheduling.models import Meeting
from app.scheduling.schemas import MeetingIn
from tests.integration.conftest import County
from tests.integration.sittings_setup import (
    RULE_NAME,
    Factory,
    Reception,
    build_reception,
    entries,
    ledger_size,
    principal,
    publish,
    sign_in,
)

Client = AsyncTestClient[Litestar]

TUESDAY = dt.date(2026, 3, 10)
SITTING_DAY = dt.date(2026, 3, 11)  # a Wednesday: 张建华 sits at the centre all day
FREE_WEDNESDAY = dt.date(2026, 3, 18)
OVERRIDE = "县委全会须全体村书记列席，经县委办主任批准。"


@pytest.fixture
async def reception(factory: Factory, clock: FixedClock, county: County) -> Reception:
    built = await build_reception(factory, clock, county)
    sittings = [
        (SITTING_DAY, built.leader),
        (SITTING_DAY + dt.timedelta(days=1), built.other_leader),
    ]
    await publish(
        factory, clock, county.county, (dt.date(2026, 3, 9), dt.date(2026, 3, 15)), sittings
    )
    return built


def meeting(
    r: Reception,
    day: dt.date,
    *,
    start: str = "09:00",
    end: str = "10:00",
    persons: list[int] | None = None,
    posts: list[int] | None = None,
    unit_kinds: list[str] | None = None,
    override: str | None = None,
) -> MeetingIn:
    return MeetingIn(
        r.county.county,
        "全县信访工作推进会",
        day,
        start,
        end,
        persons=persons or [],
        posts=posts or [],
        unit_kinds=unit_kinds or [],
        override_reason=override,
    )


async def create(factory: Factory, clock: FixedClock, username: str, data: MeetingIn) -> Meeting:
    actor = await principal(factory, clock, username)
    async with transaction(factory) as db:
        return await scheduling.create_meeting(db, actor, clock.now(), data)


async def meeting_count(factory: Factory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(Meeting)) or 0)


# ---------------------------------------------------------------- services


async def test_a_tuesday_meeting_of_village_secretaries_is_refused_and_nothing_written(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    before = await ledger_size(factory)
    with pytest.raises(RuleViolation) as refused:
        await create(factory, clock, "admin", meeting(reception, TUESDAY, unit_kinds=["village"]))
    assert refused.value.extra["reasons"] == [TUESDAY_REASON]
    assert "周二为无会日" in refused.value.detail
    assert await meeting_count(factory) == 0
    assert await ledger_size(factory) == before


async def test_a_tuesday_meeting_requiring_a_village_secretary_by_name_or_post_is_refused(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    for data in (
        meeting(reception, TUESDAY, persons=[reception.secretary]),
        meeting(reception, TUESDAY, posts=[reception.secretary_post]),
    ):
        with pytest.raises(RuleViolation) as refused:
            await create(factory, clock, "admin", data)
        assert refused.value.extra["reasons"] == [TUESDAY_REASON]
    assert await meeting_count(factory) == 0


async def test_an_admin_overrides_the_tuesday_rule_with_a_written_reason_and_it_is_ledgered(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    data = meeting(reception, TUESDAY, unit_kinds=["village"], override=OVERRIDE)
    saved = await create(factory, clock, "admin", data)
    assert saved.override_reason == OVERRIDE
    assert saved.required == {"persons": [], "posts": [], "unit_kinds": ["village"]}
    recorded = await entries(factory, "meeting", saved.id)
    assert [action for action, _ in recorded] == ["meeting.created", "meeting.guard_overridden"]
    created, overridden = (payload for _, payload in recorded)
    assert created["day"] == "2026-03-10"
    assert created["unit_kinds"] == ["village"]
    assert created["attendees"] == 1  # 上塘村's secretary
    assert overridden == {"meeting": saved.id, "reasons": 1}
    assert OVERRIDE not in str(recorded)  # free text stays out of the ledger


async def test_the_office_may_override_but_a_clerk_may_not_even_enter_a_meeting(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    data = meeting(reception, TUESDAY, unit_kinds=["community", "village"], override=OVERRIDE)
    with pytest.raises(Forbidden):
        await create(factory, clock, "clerk", data)
    saved = await create(factory, clock, "office", data)
    assert saved.override_reason == OVERRIDE


async def test_a_meeting_colliding_with_a_leaders_published_sitting_is_refused_naming_him(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    data = meeting(
        reception, SITTING_DAY, start="10:00", end="12:00", posts=[reception.leader_post]
    )
    with pytest.raises(RuleViolation) as refused:
        await create(factory, clock, "admin", data)
    (reason,) = refused.value.extra["reasons"]
    assert "张建华" in reason
    assert RULE_NAME in reason
    assert "上午 08:30—11:30" in reason
    assert "2026-03-11" in reason
    assert "王明" not in reason  # his sitting is the next day
    assert await meeting_count(factory) == 0


async def test_a_meeting_in_the_leaders_lunch_break_is_accepted(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    data = meeting(reception, SITTING_DAY, start="12:00", end="14:00", persons=[reception.leader])
    saved = await create(factory, clock, "admin", data)
    assert saved.override_reason is None


async def test_a_non_colliding_wednesday_meeting_is_accepted_without_override(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    data = meeting(
        reception,
        FREE_WEDNESDAY,
        persons=[reception.leader],
        unit_kinds=["village", "township"],
        override="无需说明",
    )
    saved = await create(factory, clock, "admin", data)
    assert saved.override_reason is None  # nothing was overridden
    recorded = await entries(factory, "meeting", saved.id)
    assert [action for action, _ in recorded] == ["meeting.created"]
    # 张建华 (also 东山镇党委书记) and 上塘村's secretary; the township has no other holder
    assert recorded[0][1]["attendees"] == 2
    async with factory() as db:
        listed = await scheduling.meetings_of(db, reception.county.county, TUESDAY, FREE_WEDNESDAY)
    assert [m.id for m in listed] == [saved.id]


async def test_a_meeting_in_the_past_or_with_bad_hours_is_refused(
    factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    cases: list[tuple[MeetingIn, type[DomainError]]] = [
        (meeting(reception, dt.date(2026, 3, 1)), RuleViolation),
        (meeting(reception, FREE_WEDNESDAY, start="11:00", end="10:00"), RuleViolation),
        (meeting(reception, FREE_WEDNESDAY, unit_kinds=["county"]), RuleViolation),
        (meeting(reception, FREE_WEDNESDAY, persons=[999_999]), NotFound),
    ]
    for data, refusal in cases:
        with pytest.raises(refusal):
            await create(factory, clock, "admin", data)
    assert await meeting_count(factory) == 0


# ---------------------------------------------------------------- the page


def form(r: Reception, csrf: str, day: dt.date, **extra: object) -> dict[str, object]:
    return {
        "_csrf_token": csrf,
        "county_id": str(r.county.county),
        "title": "全县信访工作推进会",
        "day": day.isoformat(),
        "start_time": "09:00",
        "end_time": "10:00",
        **extra,
    }


async def test_the_page_shows_the_refusal_then_saves_with_a_written_reason(
    client: Client, factory: Factory, reception: Reception
) -> None:
    csrf = await sign_in(client, "admin")
    shown = await client.get("/meetings")
    assert shown.status_code == 200
    assert "周二无会日" in shown.text
    assert "安排会议" in shown.text

    data = form(reception, csrf, TUESDAY, unit_kinds=["village"])
    refused = await client.post("/meetings", data=data)
    assert refused.status_code == 422
    assert TUESDAY_REASON in refused.text
    assert "越过会议规则的书面说明" in refused.text
    assert await meeting_count(factory) == 0

    data["override_reason"] = OVERRIDE
    saved = await client.post("/meetings", data=data, follow_redirects=False)
    assert saved.status_code in {302, 303}, saved.text
    listed = await client.get(saved.headers["location"])
    assert "全县信访工作推进会" in listed.text
    assert "2026-03-10 星期二" in listed.text
    assert "经书面说明越过会议规则" in listed.text
    assert OVERRIDE in listed.text
    assert "全体村" in listed.text
    assert await meeting_count(factory) == 1


async def test_the_page_names_the_leader_whose_sitting_a_meeting_takes(
    client: Client, factory: Factory, reception: Reception
) -> None:
    csrf = await sign_in(client, "office")
    data = form(reception, csrf, SITTING_DAY, persons=[str(reception.leader)])
    refused = await client.post("/meetings", data=data)
    assert refused.status_code == 422
    assert "张建华" in refused.text
    assert RULE_NAME in refused.text

    data = form(reception, csrf, FREE_WEDNESDAY, post_ids=f"{reception.leader_post}")
    saved = await client.post("/meetings", data=data, follow_redirects=False)
    assert saved.status_code in {302, 303}, saved.text
    listed = await client.get("/meetings")
    assert "测试县副县长" in listed.text


async def test_the_page_refuses_bad_input_and_clerks(
    client: Client, factory: Factory, reception: Reception
) -> None:
    csrf = await sign_in(client, "admin")
    bad = await client.post(
        "/meetings", data=form(reception, csrf, FREE_WEDNESDAY, end_time="08:00")
    )
    assert bad.status_code == 422
    assert "必须晚于开始时间" in bad.text
    typo = await client.post(
        "/meetings", data=form(reception, csrf, FREE_WEDNESDAY, person_ids="张三")
    )
    assert typo.status_code == 422
    assert "编号只能是数字" in typo.text

    await client.get("/logout")
    client.cookies.clear()
    csrf = await sign_in(client, "clerk")
    assert (await client.get("/meetings")).status_code == 200
    forbidden = await client.post("/meetings", data=form(reception, csrf, FREE_WEDNESDAY))
    assert forbidden.status_code == 403
    assert await meeting_count(factory) == 0
