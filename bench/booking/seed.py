"""The data the booking benchmarks run on.

* `booking_county`: a county with `venues` reception venues of the county leaders (two
  sessions, 08:30–11:30 and 14:30–17:30, half-hour slots, `seats` seats each), one daily
  rule per venue, one more venue with few seats per slot for the last-seats burst, and a
  clerk account — all through the services — then a roster of the coming days drafted,
  stored and published through the services as `tests/integration/sittings_setup.py`
  does. Sittings are held from the day after tomorrow (bookings for tomorrow close at
  17:00 today) to the 29th day from today, inside the 30-day booking window.
* `listing_year`: a county with `venues` venues (the county centre, 20 townships, the
  rest villages), each with its unit, post, official (appointed), venue and daily rule
  made through the services; then one roster and its sittings, one per venue per working
  day for a year around today, written with Core bulk inserts (a published roster's
  rows, without the roster's per-sitting ORM work), and the seats taken in some slots of
  the coming 30 days. `ANALYZE` afterwards, as autovacuum would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import services as auth
from app.core.auth.access import system_principal
from app.core.auth.roles import Role
from app.core.db import create_engine, session_factory, transaction
from app.core.workdays import WorkCalendar
from app.org import services as org
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import PersonIn, PostIn, TenureIn, UnitIn
from app.scheduling import services as scheduling
from app.scheduling.models import Roster, RosterAssignment, Sitting, SlotSeats, Venue
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
from app.scheduling.slots import slots_of
from bench.booking.scratch import Deployment
from bench.roster.names import (
    TOWNSHIPS,
    VILLAGE_HEADS,
    VILLAGE_TAILS,
    PersonNames,
    place_names,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SYSTEM = system_principal("bench")
SESSIONS = [
    BookingSession("am", "上午", "08:30", "11:30"),
    BookingSession("pm", "下午", "14:30", "17:30"),
]
SLOT_MINUTES = 30
SINCE = dt.date(2024, 1, 2)  # every official took office before any sitting
CLERK = "bench-clerk"
PASSWORD = "bench-password-9"
FIRST_DAY, LAST_DAY = 2, 29  # sittings to book: days from today
TOWNSHIP_COUNT = 20
INSERT_BATCH = 5_000
T = TypeVar("T")


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def slot_starts(sessions: Sequence[BookingSession]) -> list[str]:
    spans = [(s.start, s.end) for s in sessions]
    return [f"{s.start:%H:%M}" for s in slots_of(spans, SLOT_MINUTES, 1)]


@dataclass(frozen=True, slots=True)
class Seat:
    sitting: int
    slot: str


@dataclass(frozen=True, slots=True)
class Place:
    """What one reception is made of: where, who, when."""

    unit: int
    county: int
    role: ReceptionRole
    code: str  # the rule's code
    official: str
    name: str
    sessions: list[BookingSession]
    seats: int


@dataclass(frozen=True, slots=True)
class Reception:
    """One unit's post, official, venue and rule."""

    unit: int
    person: int
    tenure: int
    venue: int
    rule: int
    code: str
    slots: list[str]


async def _reception(db: AsyncSession, place: Place) -> Reception:
    """A post with one official in it, a venue and a daily rule, through the services."""
    now, p = dt.datetime.now(dt.UTC), place
    post = await org.create_post(db, SYSTEM, now, PostIn(p.unit, f"接访岗位{p.code}", p.role, True))
    person = await org.create_person(db, SYSTEM, now, PersonIn(p.official, "男", p.county))
    tenure = await org.appoint(db, SYSTEM, now, TenureIn(person.id, post.id, SINCE))
    address = f"{p.name}人民路{len(p.code)}号"
    venue = await scheduling.save_venue(
        db,
        SYSTEM,
        now,
        VenueIn(p.unit, f"{p.name}接访室", address, p.sessions, [], SLOT_MINUTES, p.seats),
    )
    keys = [s.key for s in p.sessions]
    rule = await scheduling.save_rule(
        db,
        SYSTEM,
        now,
        RuleIn(p.unit, p.code, f"{p.name}接访", RuleKind.daily, venue.id, [post.id], sessions=keys),
    )
    return Reception(
        p.unit, person.id, tenure.id, venue.id, rule.id, p.code, slot_starts(p.sessions)
    )


async def _unit(db: AsyncSession, kind: UnitKind, code: str, name: str, parent: int | None) -> int:
    now = dt.datetime.now(dt.UTC)
    return (await org.create_unit(db, SYSTEM, now, UnitIn(kind, code, name, parent))).id


Factory = async_sessionmaker[AsyncSession]


async def _with_factory(made: Deployment, work: Callable[[Factory], Awaitable[T]]) -> T:
    engine = create_engine(made.settings(), pool=False)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- the booking county


@dataclass(frozen=True, slots=True)
class BookingCounty:
    county: int
    seats: list[Seat]  # every bookable slot of the main venues
    seats_per_slot: int
    hot: list[Seat]  # the hot venue's slots, one per last-seats burst
    hot_seats: int


async def _booking_units(
    db: AsyncSession, venues: int, seats: int, hot_seats: int
) -> tuple[int, list[Reception]]:
    county = await _unit(db, UnitKind.county, "339901", "基准县", None)
    await auth.create_account(
        db,
        SYSTEM,
        dt.datetime.now(dt.UTC),
        username=CLERK,
        password=PASSWORD,
        display_name="接访窗口",
        roles=[Role.clerk],
        scope_unit_id=county,
    )
    names, made = PersonNames(random.Random(1)), []
    for i in range(venues + 1):
        hot = i == venues
        code, sessions = ("hot", SESSIONS[:1]) if hot else (f"centre{i:02d}", SESSIONS)
        role, name = ReceptionRole.county_leader, f"县中心{i}"
        place = Place(county, county, role, code, names.next(), name, sessions, seats)
        if hot:
            place = replace(place, seats=hot_seats)
        made.append(await _reception(db, place))
    return county, made


async def _publish(factory: Factory, county: int, receptions: list[Reception]) -> None:
    """Draft, store and publish the coming days' roster, as sittings_setup.publish does."""
    first, now = today(), dt.datetime.now(dt.UTC)
    days = [first + dt.timedelta(days=n) for n in range(FIRST_DAY, LAST_DAY + 1)]
    assignments = [
        Assignment(r.code, day, scheduling.official_id(r.person))
        for r in receptions
        for day in days
    ]
    period = RosterIn(county, first, days[-1])
    async with transaction(factory) as db:
        roster = await scheduling.draft_roster(db, SYSTEM, now, period, solve_later=False)
        loaded = await scheduling.load_instance(db, county, period.start, period.end)
        result = Result(Status.optimal, assignments, objective=0, bound=0)
        await scheduling.store_result(db, SYSTEM, now, roster, loaded, result)
        await scheduling.publish(db, SYSTEM, now, roster.id)


async def _sittings_of(db: AsyncSession, rule: int) -> list[int]:
    query = select(Sitting.id).where(Sitting.rule_id == rule, Sitting.status == "scheduled")
    return list(await db.scalars(query.order_by(Sitting.day, Sitting.id)))


async def _build_booking(
    factory: Factory, venues: int, seats: int, hot_seats: int
) -> BookingCounty:
    async with transaction(factory) as db:
        county, receptions = await _booking_units(db, venues, seats, hot_seats)
    await _publish(factory, county, receptions)
    async with factory() as db:
        main = [s for r in receptions[:-1] for s in await _sittings_of(db, r.rule)]
        hot = await _sittings_of(db, receptions[-1].rule)
    return BookingCounty(
        county,
        [Seat(s, t) for s in main for t in receptions[0].slots],
        seats,
        [Seat(s, t) for s in hot for t in receptions[-1].slots],
        hot_seats,
    )


def booking_county(made: Deployment, venues: int, seats: int, hot_seats: int) -> BookingCounty:
    return asyncio.run(
        _with_factory(made, lambda factory: _build_booking(factory, venues, seats, hot_seats))
    )


# ---------------------------------------------------------------- the listing year


@dataclass(frozen=True, slots=True)
class ListingCounty:
    county: int
    townships: list[int]
    officials: list[int]
    venues: int
    sittings: int
    first: dt.date
    last: dt.date


def _township_name(index: int) -> str:
    name = TOWNSHIPS[index % len(TOWNSHIPS)]
    return name.replace("街道", "镇") if name.endswith("街道") else name


async def _township(
    db: AsyncSession, county: int, index: int, villages: list[str], names: PersonNames
) -> list[Reception]:
    """A township's reception (both sessions) and its villages' (mornings), via services."""
    code, name = f"339902{index:03d}", _township_name(index)
    unit = await _unit(db, UnitKind.township, code, name, county)
    role = ReceptionRole.township_secretary
    rule = f"t{index:02d}"
    made = [await _reception(db, Place(unit, county, role, rule, names.next(), name, SESSIONS, 2))]
    for v, village in enumerate(villages):
        vid = await _unit(db, UnitKind.village, f"{code}{v:03d}", village, unit)
        role, mornings = ReceptionRole.village_secretary, SESSIONS[:1]
        place = Place(vid, county, role, f"{rule}v{v:03d}", names.next(), village, mornings, 2)
        made.append(await _reception(db, place))
    return made


async def _listing_units(factory: Factory, venues: int) -> tuple[int, list[Reception]]:
    """The county centre, TOWNSHIP_COUNT townships, and villages up to `venues` receptions;
    one transaction per township."""
    rng = random.Random(7)
    names = PersonNames(rng)
    villages = place_names(rng, venues - 1 - TOWNSHIP_COUNT, VILLAGE_HEADS, VILLAGE_TAILS, "村")
    async with transaction(factory) as db:
        county = await _unit(db, UnitKind.county, "339902", "列表县", None)
        role = ReceptionRole.county_leader
        centre = Place(county, county, role, "centre", names.next(), "县", SESSIONS, 5)
        made = [await _reception(db, centre)]
    for t in range(TOWNSHIP_COUNT):
        async with transaction(factory) as db:
            made += await _township(db, county, t, villages[t::TOWNSHIP_COUNT], names)
    return county, made


def _sitting_rows(
    receptions: list[Reception], county: int, roster: int, days: list[dt.date]
) -> Iterator[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    for day in days:
        for r in receptions:
            yield {
                "county_id": county,
                "rule_id": r.rule,
                "venue_id": r.venue,
                "day": day,
                "person_id": r.person,
                "tenure_id": r.tenure,
                "roster_id": roster,
                "status": "scheduled",
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
            }


async def _insert_all(db: AsyncSession, table: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Core executemany in batches of INSERT_BATCH rows."""
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            await db.execute(insert(table), batch)
            count, batch = count + len(batch), []
    if batch:
        await db.execute(insert(table), batch)
    return count + len(batch)


async def _roster(
    factory: Factory, county: int, receptions: list[Reception], days: list[dt.date]
) -> int:
    """A roster drafted through the services, its assignments and sittings bulk-inserted,
    then marked published as `publish` would."""
    now = dt.datetime.now(dt.UTC)
    async with transaction(factory) as db:
        period = RosterIn(county, days[0], days[-1])
        roster = await scheduling.draft_roster(db, SYSTEM, now, period, solve_later=False)
        rows = list(_sitting_rows(receptions, county, roster.id, days))
        keys = ("roster_id", "rule_id", "day", "person_id", "tenure_id")
        await _insert_all(db, RosterAssignment.__table__, ({k: r[k] for k in keys} for r in rows))
        count = await _insert_all(db, Sitting.__table__, rows)
        await db.execute(
            update(Roster)
            .where(Roster.id == roster.id)
            .values(status="published", published_at=now, result={"status": "OPTIMAL"})
        )
    return count


async def _seats_taken(
    factory: Factory, county: int, receptions: list[Reception], rng: random.Random
) -> int:
    """Half the slots of the coming 30 days' sittings have seats taken (slot_seats rows)."""
    first = today()
    starts = {r.rule: r.slots for r in receptions}
    async with transaction(factory) as db:
        coming = await db.execute(
            select(Sitting.id, Sitting.rule_id, Venue.seats_per_slot)
            .join(Venue, Venue.id == Sitting.venue_id)
            .where(Sitting.county_id == county, Sitting.day >= first)
            .where(Sitting.day <= first + dt.timedelta(days=30))
        )
        rows = (
            {"sitting_id": sitting, "slot_start": start, "seats": seats, "taken": taken}
            for sitting, rule, seats in coming.all()
            for start in starts[rule]
            if rng.random() < 0.5 and (taken := rng.randint(1, seats))
        )
        count = await _insert_all(db, SlotSeats.__table__, rows)
        await db.execute(text("ANALYZE"))
    return count


def working_days(first: dt.date, last: dt.date) -> list[dt.date]:
    cal = WorkCalendar.china()
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [d for d in days if cal.is_workday(d)]


async def _build_listing(factory: Factory, venues: int, days: list[dt.date]) -> ListingCounty:
    county, receptions = await _listing_units(factory, venues)
    sittings = await _roster(factory, county, receptions, days)
    await _seats_taken(factory, county, receptions, random.Random(11))
    townships = [r.unit for r in receptions if r.unit != county and "v" not in r.code]
    officials = [r.person for r in receptions]
    return ListingCounty(county, townships, officials, len(receptions), sittings, days[0], days[-1])


def listing_year(made: Deployment, venues: int) -> ListingCounty:
    """A year of sittings (half before today, half after) for `venues` venues."""
    first = today() - dt.timedelta(days=182)
    days = working_days(first, first + dt.timedelta(days=364))
    return asyncio.run(_with_factory(made, lambda factory: _build_listing(factory, venues, days)))
