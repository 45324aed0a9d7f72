"""A small reception set-up on top of the test county: county leaders, a village secretary,
the county reception centre with its morning and afternoon sessions, the 县领导坐班接访
rule, and rosters published through the services (with the assignments given, no solve)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import services as auth
from app.core.auth.access import Principal
from app.core.auth.models import Account
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.ledger.models import LedgerEntry
from app.org import services as org
from app.org.rules import ReceptionRole
from app.org.schemas import PersonIn, PostIn, TenureIn
from app.scheduling import services as scheduling
from app.scheduling.models import Sitting
from app.scheduling.schemas import (
    Assignment,
    BookingSession,
    Result,
    RosterIn,
    RuleIn,
    RuleKind,
    Status,
    VenueIn,
)
from tests.integration.conftest import PASSWORD, SYSTEM, County

Factory = async_sessionmaker[AsyncSession]

CENTRE_SESSIONS = [
    BookingSession("am", "上午", "08:30", "11:30"),
    BookingSession("pm", "下午", "14:30", "17:30"),
]
RULE_CODE = "county"
RULE_NAME = "县领导坐班接访"
VENUE_NAME = "县社会治理中心"
VENUE_ADDRESS = "测试县人民路1号社会治理中心一楼"


@dataclass(frozen=True, slots=True)
class Reception:
    county: County
    leader_post: int
    #: 张建华 (the `leader` account's person): 东山镇党委书记, also 副县长
    leader: int
    #: 王明: 副县长
    other_leader: int
    secretary_post: int
    #: 李秀英: 上塘村党支部书记
    secretary: int
    venue: int
    rule: int


async def build_reception(factory: Factory, clock: FixedClock, county: County) -> Reception:
    now = clock.now()
    since = dt.date(2025, 1, 1)
    async with transaction(factory) as db:
        post = await org.create_post(
            db, SYSTEM, now, PostIn(county.county, "副县长", ReceptionRole.county_leader, False)
        )
        wang = await org.create_person(db, SYSTEM, now, PersonIn("王明", "男", county.county))
        for person in (county.person, wang.id):
            await org.appoint(db, SYSTEM, now, TenureIn(person, post.id, since))
        village = await org.create_post(
            db, SYSTEM, now, PostIn(county.village, "党支部书记", ReceptionRole.village_secretary)
        )
        li = await org.create_person(db, SYSTEM, now, PersonIn("李秀英", "女", county.county))
        await org.appoint(db, SYSTEM, now, TenureIn(li.id, village.id, since))
        venue = await scheduling.save_venue(
            db,
            SYSTEM,
            now,
            VenueIn(county.county, VENUE_NAME, VENUE_ADDRESS, CENTRE_SESSIONS),
        )
        rule = await scheduling.save_rule(
            db,
            SYSTEM,
            now,
            RuleIn(
                county.county,
                RULE_CODE,
                RULE_NAME,
                RuleKind.daily,
                venue.id,
                [post.id],
                sessions=["am", "pm"],
            ),
        )
        await auth.create_account(
            db,
            SYSTEM,
            now,
            username="office",
            password=PASSWORD,
            display_name="县委办",
            roles=[Role.office],
            scope_unit_id=county.county,
            person_id=None,
        )
    return Reception(county, post.id, county.person, wang.id, village.id, li.id, venue.id, rule.id)


async def publish(
    factory: Factory,
    clock: FixedClock,
    county_id: int,
    period: tuple[dt.date, dt.date],
    sittings: Iterable[tuple[dt.date, int]],
) -> None:
    """Publish a roster of the 县领导坐班接访 rule: (day, person id) for each sitting."""
    start, end = period
    now = clock.now()
    async with transaction(factory) as db:
        roster = await scheduling.draft_roster(
            db, SYSTEM, now, RosterIn(county_id, start, end), solve_later=False
        )
        loaded = await scheduling.load_instance(db, county_id, start, end)
        assignments = [
            Assignment(RULE_CODE, day, scheduling.official_id(person)) for day, person in sittings
        ]
        result = Result(Status.optimal, assignments, objective=0, bound=0)
        await scheduling.store_result(db, SYSTEM, now, roster, loaded, result)
        await scheduling.publish(db, SYSTEM, now, roster.id)


async def principal(factory: Factory, clock: FixedClock, username: str) -> Principal:
    async with factory() as db:
        account = await db.scalar(select(Account).where(Account.username == username))
        assert account is not None
        found = await auth.principal_for(db, account.id, clock.now() + dt.timedelta(days=1))
    assert found is not None
    return found


async def ledger_size(factory: Factory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


async def entries(
    factory: Factory, subject_type: str, subject_id: int
) -> list[tuple[str, dict[str, Any]]]:
    """(action, payload) of the ledger entries about one record, in order."""
    async with factory() as db:
        rows = await db.execute(
            select(LedgerEntry.action, LedgerEntry.payload)
            .where(
                LedgerEntry.subject_type == subject_type,
                LedgerEntry.subject_id == str(subject_id),
            )
            .order_by(LedgerEntry.ledger_id, LedgerEntry.seq)
        )
        return [(str(r.action), dict(r.payload)) for r in rows]


async def sign_in(client: AsyncTestClient[Litestar], username: str) -> str:
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


DAY = dt.date(2026, 3, 5)
NEXT_DAY = dt.date(2026, 3, 6)


@dataclass(frozen=True, slots=True)
class Setting:
    """A reception with one published week: 张建华 sits on DAY, 王明 on NEXT_DAY."""

    reception: Reception
    sitting: int  # 张建华's, on DAY
    other: int  # 王明's, on NEXT_DAY


async def add_account(
    factory: Factory,
    clock: FixedClock,
    username: str,
    role: Role,
    scope: int | None,
    person: int | None,
) -> None:
    async with transaction(factory) as db:
        await auth.create_account(
            db,
            SYSTEM,
            clock.now(),
            username=username,
            password=PASSWORD,
            display_name=username,
            roles=[role],
            scope_unit_id=scope,
            person_id=person,
        )


async def two_days(factory: Factory, clock: FixedClock, county: County) -> Setting:
    """The published week, and `far_clerk`: a clerk of the other county."""
    built = await build_reception(factory, clock, county)
    week = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    await publish(
        factory, clock, county.county, week, [(DAY, built.leader), (NEXT_DAY, built.other_leader)]
    )
    await add_account(factory, clock, "far_clerk", Role.clerk, county.other_county, None)
    async with factory() as db:
        found = {s.day: s.id for s in await db.scalars(select(Sitting))}
    return Setting(built, found[DAY], found[NEXT_DAY])
