"""Roster services on SQLite and PostgreSQL: rules and venues from the organisation's posts,
a draft solved by the worker's job, publishing into sittings, re-planning after a
leader falls ill with only the sittings inside the absence changing, and the ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import Conflict, DomainError
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.ledger.models import LedgerEntry
from app.org import services as org
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import PersonIn, PostIn, TenureIn, UnitIn
from app.scheduling import jobs as _jobs  # noqa: F401  (registers roster.solve)
from app.scheduling import services
from app.scheduling.models import Sitting
from app.scheduling.schemas import (
    BookingSession,
    RosterIn,
    RuleIn,
    RuleKind,
    UnavailabilityIn,
    UnavailableReason,
    VenueIn,
)
from tests.integration.conftest import SYSTEM

START, END = dt.date(2026, 3, 1), dt.date(2026, 4, 30)
DAY = [
    BookingSession("am", "上午", "08:30", "11:30"),
    BookingSession("pm", "下午", "14:30", "17:30"),
]


@dataclass
class Little:
    county: int
    leaders: list[int]  # person ids
    township_heads: list[int]


async def _post_with_holder(
    db: AsyncSession,
    now: dt.datetime,
    unit: int,
    title: str,
    role: ReceptionRole,
    name: str,
    county: int,
) -> tuple[int, int]:
    post = await org.create_post(db, SYSTEM, now, PostIn(unit, title, role))
    person = await org.create_person(db, SYSTEM, now, PersonIn(name, "男", county))
    await org.appoint(db, SYSTEM, now, TenureIn(person.id, post.id, dt.date(2024, 1, 2)))
    return post.id, person.id


async def _build(db: AsyncSession, now: dt.datetime) -> Little:
    county = (
        await org.create_unit(db, SYSTEM, now, UnitIn(UnitKind.county, "880001", "排班县"))
    ).id
    town = (
        await org.create_unit(
            db, SYSTEM, now, UnitIn(UnitKind.township, "880001001", "东坪镇", county)
        )
    ).id
    leaders = [
        await _post_with_holder(db, now, county, title, ReceptionRole.county_leader, name, county)
        for title, name in (
            ("县长", "钱立新"),
            ("常务副县长", "孙海平"),
            ("副县长", "李晓东"),
            ("县委副书记", "周文涛"),
            ("政法委书记", "吴国庆"),
        )
    ]
    heads = [
        await _post_with_holder(db, now, town, title, role, name, county)
        for title, role, name in (
            ("党委书记", ReceptionRole.township_secretary, "郑春生"),
            ("镇长", ReceptionRole.township_head, "王志明"),
            ("人大主席", ReceptionRole.township_congress, "冯建国"),
        )
    ]
    centre = await services.save_venue(
        db, SYSTEM, now, VenueIn(county, "县社会治理中心", "排班县人民路1号", DAY)
    )
    town_venue = await services.save_venue(
        db, SYSTEM, now, VenueIn(town, "东坪镇便民服务中心", "东坪镇政府大院", DAY)
    )
    await services.save_rule(
        db,
        SYSTEM,
        now,
        RuleIn(
            county,
            "county",
            "县领导坐班接访",
            RuleKind.daily,
            centre.id,
            [p for p, _ in leaders],
            min_gap_days=3,
            sessions=["am", "pm"],
        ),
    )
    await services.save_rule(
        db,
        SYSTEM,
        now,
        RuleIn(
            town,
            "T01",
            "东坪镇三个一接访",
            RuleKind.monthly,
            town_venue.id,
            [p for p, _ in heads],
        ),
    )
    return Little(county, [p for _, p in leaders], [p for _, p in heads])


@pytest.fixture
async def little(factory: async_sessionmaker[AsyncSession], clock: FixedClock) -> Little:
    async with transaction(factory) as db:
        return await _build(db, clock.now())


@pytest.fixture
def worker(factory: async_sessionmaker[AsyncSession], clock: FixedClock, keys_dir: Path) -> Worker:
    return Worker(factory, clock, keys=KeyRing(keys_dir))


async def _solve(
    factory: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    worker: Worker,
    county: int,
    *,
    replan: bool = False,
) -> int:
    async with transaction(factory) as db:
        if replan:
            roster = await services.replan(db, SYSTEM, clock.now(), county, dt.date(2026, 3, 2))
        else:
            roster = await services.draft_roster(
                db, SYSTEM, clock.now(), RosterIn(county, START, END, time_limit=20)
            )
    while await worker.run_once():
        pass
    return roster.id


async def _publish(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, roster: int
) -> services.Diff:
    async with transaction(factory) as db:
        return await services.publish(db, SYSTEM, clock.now(), roster)


async def _actions(db: AsyncSession) -> list[str]:
    return list(await db.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))


async def test_a_solved_draft_publishes_into_sittings_and_the_ledger(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little, worker: Worker
) -> None:
    roster_id = await _solve(factory, clock, worker, little.county)
    async with factory() as db:
        roster = await services.get_roster(db, roster_id)
        assert roster.status == services.RosterStatus.ready
        assert roster.result["status"] == "OPTIMAL"
        assert roster.result["objective"] == roster.result["bound"]
    change = await _publish(factory, clock, roster_id)
    # 61 days of the county rule and two months of 1st/11th/21st.
    assert len(change.added) == 61 + 6 and not change.removed
    async with factory() as db:
        sittings = await services.sittings_between(db, little.county, START, END)
        assert {s.person_id for s in sittings if s.rule.code == "T01"} == set(little.township_heads)
        actions = await _actions(db)
        solved = await db.scalar(select(LedgerEntry).where(LedgerEntry.action == "roster.solved"))
        published = await db.scalar(
            select(LedgerEntry).where(LedgerEntry.action == "roster.published")
        )
    assert {"roster.drafted", "roster.solved", "roster.published"} <= set(actions)
    assert solved is not None and published is not None
    assert published.payload["digest"] == solved.payload["digest"]
    assert published.payload["added"] == 67


async def test_replanning_after_an_absence_moves_only_the_sittings_inside_it(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little, worker: Worker
) -> None:
    await _publish(factory, clock, await _solve(factory, clock, worker, little.county))
    async with factory() as db:
        before = await services.sittings_between(db, little.county, START, END)
    ill = little.leaders[0]
    first, last = dt.date(2026, 3, 10), dt.date(2026, 3, 23)
    inside = {(s.rule_id, s.day) for s in before if s.person_id == ill and first <= s.day <= last}
    assert inside, "the ill leader sits inside the absence in the first roster"
    async with transaction(factory) as db:
        await services.add_unavailability(
            db, SYSTEM, clock.now(), UnavailabilityIn(ill, first, last, UnavailableReason.leave)
        )
    roster_id = await _solve(factory, clock, worker, little.county, replan=True)
    async with factory() as db:
        roster = await services.get_roster(db, roster_id)
        change = await services.roster_diff(db, roster)
    assert roster.result["changes"] == roster.result["min_changes"] == len(inside)
    assert {(r, d) for r, d, p in change.removed} == inside
    assert {p for _, _, p in change.removed} == {ill}
    assert {(r, d) for r, d, _ in change.added} == inside
    await _publish(factory, clock, roster_id)
    async with factory() as db:
        cancelled = list(await db.scalars(select(Sitting).where(Sitting.status == "cancelled")))
    assert {(s.rule_id, s.day) for s in cancelled} == inside
    assert all(s.sequence == 1 and s.person_id == ill for s in cancelled)


async def test_a_version_based_on_an_outdated_roster_cannot_be_published(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little, worker: Worker
) -> None:
    await _publish(factory, clock, await _solve(factory, clock, worker, little.county))
    first = await _solve(factory, clock, worker, little.county, replan=True)
    second = await _solve(factory, clock, worker, little.county, replan=True)
    await _publish(factory, clock, first)
    with pytest.raises(Conflict):
        await _publish(factory, clock, second)
    async with factory() as db:
        assert (await services.get_roster(db, second)).status == services.RosterStatus.ready


async def test_busy_times_import_from_an_ics_file_once(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little
) -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:trip-1\r\nDTSTAMP:20260301T000000Z\r\n"
        "DTSTART;VALUE=DATE:20260316\r\nDTEND;VALUE=DATE:20260319\r\nSUMMARY:出差\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:meeting-2\r\nDTSTAMP:20260301T000000Z\r\n"
        "DTSTART:20260325T020000Z\r\nDTEND:20260325T040000Z\r\nSUMMARY:会议\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:gone-3\r\nDTSTAMP:20260301T000000Z\r\nSTATUS:CANCELLED\r\n"
        "DTSTART;VALUE=DATE:20260401\r\nDTEND;VALUE=DATE:20260402\r\nSUMMARY:取消\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    ).encode()
    person = little.leaders[1]
    for _ in range(2):
        async with transaction(factory) as db:
            await services.import_unavailability(db, SYSTEM, clock.now(), person, ics)
    async with factory() as db:
        rows = await services.unavailability_of(db, little.county, START, END)
    assert [(r.start_date, r.end_date, r.source) for r in rows] == [
        (dt.date(2026, 3, 16), dt.date(2026, 3, 18), "ics"),
        (dt.date(2026, 3, 25), dt.date(2026, 3, 25), "ics"),
    ]


async def test_bad_input_changes_nothing(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little
) -> None:
    with pytest.raises(DomainError, match="结束日期"):
        async with transaction(factory) as db:
            await services.add_unavailability(
                db,
                SYSTEM,
                clock.now(),
                UnavailabilityIn(little.leaders[0], dt.date(2026, 3, 5), dt.date(2026, 3, 1)),
            )
    with pytest.raises(DomainError, match="排班期间"):
        async with transaction(factory) as db:
            await services.draft_roster(
                db, SYSTEM, clock.now(), RosterIn(little.county, END, START)
            )
    async with factory() as db:
        assert await services.unavailability_of(db, little.county, START, END) == []
        assert await services.rosters_of(db, SYSTEM, little.county) == []


async def test_a_new_venue_address_is_a_new_version_of_every_coming_sitting_there(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, little: Little, worker: Worker
) -> None:
    await _publish(factory, clock, await _solve(factory, clock, worker, little.county))
    async with transaction(factory) as db:
        venue = (await services.venues_of(db, little.county))[0]
        moved = VenueIn(venue.unit_id, venue.name, "排班县新华路8号", DAY)
        await services.save_venue(db, SYSTEM, clock.now(), moved, venue.id)
    async with factory() as db:
        sittings = list(await db.scalars(select(Sitting).where(Sitting.venue_id == venue.id)))
    today = dt.date(2026, 3, 2)  # the clock's day in Asia/Shanghai
    assert {s.sequence for s in sittings if s.day >= today} == {1}
    assert {s.sequence for s in sittings if s.day < today} == {0}
