"""A departing official's sittings at the handover's archive, on SQLite and PostgreSQL: the
successor in the same post takes every future sitting the successor can stand in (the old
ones cancelled with SEQUENCE + 1, the bookings following, each citizen told); the ones the
successor cannot take are cancelled and a re-plan is drafted for them; nothing before the
effective date moves; and nothing at all happens when the caller's transaction rolls back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.core.models import Job
from app.core.personal_data import Secrets
from app.org import services as org
from app.org.models import Tenure
from app.org.schemas import EndReason, PersonIn, TenureEnd, TenureIn
from app.scheduling import booking_services as bookings
from app.scheduling import services
from app.scheduling.handover_services import (
    HANDOVER_NOTE,
    SittingsHandedOver,
    Standing,
    future_sittings_of,
    hand_over_sittings,
)
from app.scheduling.models import Booking, OutboxMessage, Pin, ReceptionRule, Roster, Sitting
from app.scheduling.schemas import PinIn, UnavailabilityIn
from tests.integration.conftest import SYSTEM, County
from tests.integration.sittings_setup import (
    Reception,
    build_reception,
    entries,
    ledger_size,
    principal,
    publish,
)
from tests.integration.test_booking_services import request

Factory = async_sessionmaker[AsyncSession]

# The clock is 2026-03-02 09:00 in Shanghai. 张建华 leaves the 副县长 post on the 9th.
PERIOD = (dt.date(2026, 3, 2), dt.date(2026, 3, 15))
EFFECTIVE = dt.date(2026, 3, 9)
BEFORE = dt.date(2026, 3, 4)
ZHANG_DAYS = [BEFORE, EFFECTIVE, dt.date(2026, 3, 11), dt.date(2026, 3, 13)]
AWAY_DAY = dt.date(2026, 3, 11)


@dataclass(frozen=True, slots=True)
class Departure:
    reception: Reception
    departing: int  # 张建华's 副县长 tenure
    successor: int  # 赵新's 副县长 tenure, from the effective date
    successor_person: int
    sittings: dict[dt.date, int]  # 张建华's sittings by day
    booked: list[str]  # codes of the bookings on 张建华's sitting of the effective date


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def departure(
    factory: Factory, clock: FixedClock, county: County, secrets: Secrets
) -> Departure:
    """Every day of the period sat: 张建华 on four days, 王明 on the others; 赵新 appointed
    副县长 from the effective date; two citizens booked with 张建华 on that day."""
    built = await build_reception(factory, clock, county)
    days = [PERIOD[0] + dt.timedelta(days=n) for n in range((PERIOD[1] - PERIOD[0]).days + 1)]
    plan = [(d, built.leader if d in ZHANG_DAYS else built.other_leader) for d in days]
    await publish(factory, clock, county.county, PERIOD, plan)
    now = clock.now()
    async with transaction(factory) as db:
        zhao = await org.create_person(db, SYSTEM, now, PersonIn("赵新", "男", county.county))
        tenure = await org.appoint(db, SYSTEM, now, TenureIn(zhao.id, built.leader_post, EFFECTIVE))
        departing = await db.scalar(
            select(Tenure.id).where(
                Tenure.person_id == built.leader, Tenure.post_id == built.leader_post
            )
        )
        mine = await db.scalars(select(Sitting).where(Sitting.person_id == built.leader))
        sittings = {s.day: s.id for s in mine}
    assert departing is not None
    booked = []
    for n in (1, 2):
        async with transaction(factory) as db:
            made = await bookings.book(
                db, SYSTEM, now, request(sittings[EFFECTIVE], n), secrets, bookings.Policy()
            )
            booked.append(made.booking.code)
    return Departure(built, departing, tenure.id, zhao.id, sittings, booked)


async def _hand_over(
    factory: Factory, clock: FixedClock, departure: Departure, successor: int | None
) -> SittingsHandedOver:
    """What the archive does: hand the sittings over and end the departing tenure, in one
    transaction, as the office."""
    office = await principal(factory, clock, "office")
    async with transaction(factory) as db:
        done = await hand_over_sittings(
            db, office, clock.now(), departure.departing, successor, EFFECTIVE
        )
        await org.end_tenure(
            db,
            SYSTEM,
            clock.now(),
            departure.departing,
            TenureEnd(EFFECTIVE, EndReason.transfer),
        )
    return done


async def _sittings(factory: Factory, ids: list[int]) -> list[Sitting]:
    async with factory() as db:
        found = await db.scalars(select(Sitting).where(Sitting.id.in_(ids)).order_by(Sitting.day))
        return list(found)


async def _bookings(factory: Factory, codes: list[str]) -> list[Booking]:
    async with factory() as db:
        found = await db.scalars(select(Booking).where(Booking.code.in_(codes)))
        by_code = {b.code: b for b in found}
    return [by_code[c] for c in codes]


async def _messages(factory: Factory, clock: FixedClock, keys_dir: Path) -> list[str]:
    """Run every due job (the change notices, a re-plan's solve), then read the outbox."""
    worker = Worker(factory, clock, keys=KeyRing(keys_dir))
    while await worker.run_once():
        pass
    async with factory() as db:
        found = await db.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.kind == "change")
            .order_by(OutboxMessage.id)
        )
        return list(found)


async def _counts(factory: Factory) -> tuple[int, ...]:
    async with factory() as db:
        counted = []
        for model in (Roster, Sitting, Job, OutboxMessage):
            counted.append(int(await db.scalar(select(func.count()).select_from(model)) or 0))
        scheduled = await db.scalar(
            select(func.count()).select_from(Sitting).where(Sitting.status == "scheduled")
        )
    return (*counted, int(scheduled or 0), await ledger_size(factory))


async def test_the_successor_in_the_post_takes_every_future_sitting_and_citizens_are_told(
    factory: Factory, clock: FixedClock, departure: Departure, keys_dir: Path
) -> None:
    async with factory() as db:
        before = await services.current_published(db, departure.reception.county.county)
    assert before is not None
    done = await _hand_over(factory, clock, departure, departure.successor)
    leaving = [departure.sittings[d] for d in ZHANG_DAYS[1:]]
    assert done.unfilled == [] and done.replan_roster_id is None
    assert (done.bookings_moved, done.bookings_cancelled) == (2, 0)
    old, new = await _sittings(factory, leaving), await _sittings(factory, done.moved)
    assert [(s.status, s.sequence) for s in old] == [("cancelled", 1)] * 3
    assert [s.day for s in new] == ZHANG_DAYS[1:]
    assert {(s.person_id, s.tenure_id, s.status) for s in new} == {
        (departure.successor_person, departure.successor, "scheduled")
    }
    moved = await _bookings(factory, departure.booked)
    assert {(b.sitting_id, b.status, b.sequence) for b in moved} == {(done.moved[0], "booked", 1)}
    async with factory() as db:
        roster = await services.get_roster(db, done.roster_id or 0)
        superseded = await services.get_roster(db, before.id)
    assert (roster.status, roster.note, roster.based_on_id) == (
        "published",
        HANDOVER_NOTE,
        before.id,
    )
    assert superseded.status == "superseded"
    published = await entries(factory, "roster", roster.id)
    assert [(a, p["added"], p["cancelled"]) for a, p in published] == [("roster.published", 3, 3)]
    for b in moved:
        assert [a for a, _ in await entries(factory, "booking", b.id)] == [
            "booking.created",
            "booking.moved",
        ]
    texts = await _messages(factory, clock, keys_dir)
    assert len(texts) == 2 and all("接访领导由张建华改为赵新" in t for t in texts)


async def test_sittings_before_the_effective_date_stay_with_the_departing_official(
    factory: Factory, clock: FixedClock, departure: Departure
) -> None:
    await _hand_over(factory, clock, departure, departure.successor)
    [kept] = await _sittings(factory, [departure.sittings[BEFORE]])
    assert (kept.status, kept.sequence, kept.person_id, kept.tenure_id) == (
        "scheduled",
        0,
        departure.reception.leader,
        departure.departing,
    )
    async with factory() as db:
        assert await future_sittings_of(db, departure.departing, EFFECTIVE) == []
        left = await future_sittings_of(db, departure.departing, BEFORE)
    assert [s.id for s in left] == [departure.sittings[BEFORE]]


async def test_a_day_the_successor_is_away_is_left_for_a_replan_that_fills_only_it(
    factory: Factory, clock: FixedClock, departure: Departure, keys_dir: Path
) -> None:
    async with transaction(factory) as db:
        away = UnavailabilityIn(departure.successor_person, AWAY_DAY, AWAY_DAY)
        await services.add_unavailability(db, SYSTEM, clock.now(), away)
    done = await _hand_over(factory, clock, departure, departure.successor)
    assert done.unfilled == [departure.sittings[AWAY_DAY]]
    assert [s.day for s in await _sittings(factory, done.moved)] == [EFFECTIVE, ZHANG_DAYS[3]]
    [hole] = await _sittings(factory, done.unfilled)
    assert (hole.status, hole.sequence) == ("cancelled", 1)
    assert done.replan_roster_id is not None
    async with factory() as db:
        replan = await services.get_roster(db, done.replan_roster_id)
        job = await db.get(Job, replan.job_id or 0)
    assert (replan.status, replan.based_on_id) == ("queued", done.roster_id)
    assert (replan.period_start, replan.period_end) == (AWAY_DAY, PERIOD[1])
    assert job is not None and job.kind == "roster.solve"
    drafted = await entries(factory, "roster", replan.id)
    assert [(a, p["based_on"]) for a, p in drafted] == [("roster.drafted", done.roster_id)]
    await _messages(factory, clock, keys_dir)  # the worker solves the re-plan
    async with factory() as db:
        solved = await services.get_roster(db, replan.id)
        change = await services.roster_diff(db, solved)
    assert solved.status == "ready"
    assert change.removed == [] and change.added == [
        (departure.reception.rule, AWAY_DAY, departure.reception.other_leader)
    ]


async def test_with_no_successor_every_future_sitting_is_unfilled_and_replanned(
    factory: Factory, clock: FixedClock, departure: Departure, keys_dir: Path
) -> None:
    done = await _hand_over(factory, clock, departure, None)
    leaving = [departure.sittings[d] for d in ZHANG_DAYS[1:]]
    assert done.moved == [] and done.unfilled == leaving
    assert done.replan_roster_id is not None
    assert [s.status for s in await _sittings(factory, leaving)] == ["cancelled"] * 3
    # The bookings follow to the nearest sitting of the rule (王明's, the next day).
    assert done.bookings_moved + done.bookings_cancelled == 2
    moved = await _bookings(factory, departure.booked)
    targets = await _sittings(factory, [b.sitting_id for b in moved if b.status != "cancelled"])
    assert all(s.person_id == departure.reception.other_leader for s in targets)
    texts = await _messages(factory, clock, keys_dir)
    assert len(texts) == 2


async def test_the_departing_officials_pins_from_the_effective_date_are_removed(
    factory: Factory, clock: FixedClock, departure: Departure
) -> None:
    """A pin naming someone out of post would bind every later solve; one before the
    effective date is history and stays."""
    rule, later = departure.reception.rule, EFFECTIVE + dt.timedelta(days=1)
    async with transaction(factory) as db:
        kept = await services.add_pin(
            db, SYSTEM, clock.now(), PinIn(rule, BEFORE, departure.reception.leader)
        )
        gone = await services.add_pin(
            db, SYSTEM, clock.now(), PinIn(rule, later, departure.reception.leader)
        )
        kept_id, gone_id = kept.id, gone.id
    done = await _hand_over(factory, clock, departure, departure.successor)
    assert done.pins_removed == 1
    async with factory() as db:
        left = list(await db.scalars(select(Pin.id).where(Pin.rule_id == rule)))
    assert left == [kept_id]
    assert [a for a, _ in await entries(factory, "pin", gone_id)] == [
        "schedule.pin.added",
        "schedule.pin.removed",
    ]


async def test_a_tenure_without_future_sittings_changes_nothing(
    factory: Factory, clock: FixedClock, departure: Departure
) -> None:
    before = await _counts(factory)
    office = await principal(factory, clock, "office")
    async with transaction(factory) as db:
        done = await hand_over_sittings(
            db, office, clock.now(), departure.successor, None, EFFECTIVE
        )
    assert done == SittingsHandedOver([], [], 0, 0, None)
    assert await _counts(factory) == before


async def test_a_rolled_back_archive_changes_nothing(
    factory: Factory, clock: FixedClock, departure: Departure, keys_dir: Path
) -> None:
    before = await _counts(factory)
    office = await principal(factory, clock, "office")
    with pytest.raises(RuntimeError, match="a later step of the archive failed"):
        async with transaction(factory) as db:
            done = await hand_over_sittings(
                db, office, clock.now(), departure.departing, None, EFFECTIVE
            )
            assert done.unfilled and done.replan_roster_id is not None
            raise RuntimeError("a later step of the archive failed")
    assert await _counts(factory) == before
    assert {
        (b.sitting_id, b.status, b.sequence) for b in await _bookings(factory, departure.booked)
    } == {(departure.sittings[EFFECTIVE], "booked", 0)}
    assert await _messages(factory, clock, keys_dir) == []


def test_the_successor_stands_only_where_the_solver_would_let_them() -> None:
    """In post through a post of the rule (a fallback post only for a fallback seat), not
    away, not sitting elsewhere that day, and the rule's minimum gap kept."""
    rule = ReceptionRule(id=1, pool_posts=[10], fallback_posts=[20], options={"min_gap_days": 3})
    tenure = Tenure(id=2, person_id=3, post_id=10, start_date=EFFECTIVE, end_date=None)

    def sitting(day: dt.date) -> Sitting:
        return Sitting(id=day.day, rule_id=rule.id, rule=rule, day=day)

    standing = Standing(tenure, departing_post=10, away=[(AWAY_DAY, AWAY_DAY)])
    assert not standing.can_take(sitting(BEFORE))  # not yet in post
    assert not standing.can_take(sitting(AWAY_DAY))
    assert standing.can_take(sitting(EFFECTIVE))
    standing.take(sitting(EFFECTIVE))
    assert not standing.can_take(sitting(EFFECTIVE))  # one sitting a day
    assert not standing.can_take(sitting(EFFECTIVE + dt.timedelta(days=2)))  # the gap
    assert standing.can_take(sitting(EFFECTIVE + dt.timedelta(days=3)))
    fallback = Tenure(id=4, person_id=5, post_id=20, start_date=EFFECTIVE, end_date=None)
    assert not Standing(fallback, departing_post=10).can_take(sitting(EFFECTIVE))
    assert Standing(fallback, departing_post=20).can_take(sitting(EFFECTIVE))
    leaving = Tenure(id=6, person_id=7, post_id=10, start_date=BEFORE, planned_end=EFFECTIVE)
    assert not Standing(leaving, departing_post=10).can_take(sitting(EFFECTIVE))
