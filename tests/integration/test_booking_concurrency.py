"""Two hundred citizens ring for the last five seats of one slot at the same moment, on
SQLite and PostgreSQL.

A roster covering the next ten days (from the real today: the servers read the real
clock, and bookings close at 17:00 the day before a sitting) is published through the
services, with a morning session of five seats per slot. Then two separate
`jiefang serve --workers 1` processes are started on the test database, and 200 phone
bookings for the same 08:30 slot, alternating between the two servers, are fired all at
once. Exactly five must be booked, the other 195 refused with a clean 409 problem in
Chinese — no 500 and no "database is locked" — and, on a fresh session afterwards, the
seat counter, the bookings and their ledger entries must agree and the county's ledger
must verify. Twenty more requests for the full slot that ask for the waitlist are all
waitlisted.

No timing is asserted; the timeouts only turn a hung server into a failure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.identity import gb11643_check_char
from app.core.problems import PROBLEM_JSON
from app.core.settings import Settings
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_ledger
from app.org import services as org
from app.org.rules import ReceptionRole
from app.org.schemas import PostIn, TenureIn
from app.scheduling import services as scheduling
from app.scheduling.booking_services import BOOKING_CREATED
from app.scheduling.models import Booking, Sitting, SlotSeats
from app.scheduling.schemas import BookingSession, RuleIn, RuleKind, VenueIn
from tests.integration.conftest import SYSTEM, County
from tests.integration.sittings_setup import RULE_CODE, RULE_NAME, publish
from tests.integration.test_ledger_concurrency import (
    REQUEST_SECONDS,
    SERVERS,
    Server,
    _county_ledger,
    _seqs,
    _stop,
    _token,
    running_servers,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD_DAYS = 10
DAYS_AHEAD = 2  # bookings for tomorrow may already have closed at 17:00 today
SEATS = 5
SLOT = "08:30"
CALLERS = 200
WAITLISTERS = 20
BOOKINGS_PATH = "/api/v1/bookings"


@dataclass(frozen=True)
class Booked:
    county: County
    sitting: int
    day: dt.date


async def _publish_the_coming_days(
    factory: async_sessionmaker[AsyncSession], county: County
) -> Booked:
    """A county leader's post held by 张建华, the reception centre with one morning
    session of five seats per half hour, a daily rule, and a published roster of the next
    PERIOD_DAYS days with 张建华 sitting every day."""
    clock = FixedClock(dt.datetime.now(dt.UTC))
    now = clock.now()
    today = now.astimezone(SHANGHAI).date()
    async with transaction(factory) as db:
        post = await org.create_post(
            db, SYSTEM, now, PostIn(county.county, "副县长", ReceptionRole.county_leader, False)
        )
        await org.appoint(db, SYSTEM, now, TenureIn(county.person, post.id, dt.date(2025, 1, 1)))
        venue = await scheduling.save_venue(
            db,
            SYSTEM,
            now,
            VenueIn(
                county.county,
                "县社会治理中心",
                "测试县人民路1号",
                sessions=[BookingSession("am", "上午", "08:30", "11:30")],
                slot_minutes=30,
                seats_per_slot=SEATS,
            ),
        )
        await scheduling.save_rule(
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
                sessions=["am"],
            ),
        )
    days = [today + dt.timedelta(days=n) for n in range(PERIOD_DAYS)]
    await publish(
        factory, clock, county.county, (days[0], days[-1]), [(d, county.person) for d in days]
    )
    day = today + dt.timedelta(days=DAYS_AHEAD)
    async with factory() as db:
        sitting = await db.scalar(
            select(Sitting.id).where(Sitting.day == day, Sitting.status == "scheduled")
        )
    assert sitting is not None, f"no sitting published on {day}"
    return Booked(county, sitting, day)


@pytest.fixture
async def booked(factory: async_sessionmaker[AsyncSession], county: County) -> Booked:
    return await _publish_the_coming_days(factory, county)


@pytest.fixture
def servers(settings: Settings, booked: Booked, tmp_path: Path) -> Iterator[list[Server]]:
    """Two server processes on the test database, started once the roster is published;
    stopped, and their output printed, at teardown."""
    with running_servers(settings, tmp_path / "servers") as started:
        yield started


@dataclass(frozen=True)
class Outcome:
    caller: int
    server: int
    status: int
    content_type: str
    body: str

    def json(self) -> dict[str, object]:
        loaded = json.loads(self.body)
        assert isinstance(loaded, dict), self.body
        return loaded


def _resident_id(caller: int) -> str:
    body = f"11010519800101{caller:03d}"
    return body + gb11643_check_char(body)


def _request(sitting: int, caller: int, *, waitlist: bool) -> dict[str, object]:
    wanted: dict[str, object] = {
        "sitting_id": sitting,
        "slot_start": SLOT,
        "channel": "phone",
        "name": "张三",
        "mobile": f"139{caller:08d}",
        "id_type": "resident",
        "id_number": _resident_id(caller),
        "topic": "土地征收",
        "summary": "反映征地补偿问题",
        "party_size": 1,
    }
    if waitlist:
        wanted["waitlist"] = True
    return wanted


async def _call(
    clients: list[httpx.AsyncClient],
    headers: dict[str, str],
    sitting: int,
    caller: int,
    *,
    waitlist: bool = False,
) -> Outcome:
    server = caller % len(clients)
    try:
        response = await clients[server].post(
            BOOKINGS_PATH, headers=headers, json=_request(sitting, caller, waitlist=waitlist)
        )
    except httpx.HTTPError as failed:
        return Outcome(caller, server, 0, "", repr(failed))
    return Outcome(
        caller,
        server,
        response.status_code,
        response.headers.get("content-type", ""),
        response.text,
    )


async def _storm(
    servers: list[Server], sitting: int, callers: range, *, waitlist: bool = False
) -> list[Outcome]:
    """Every caller at once, alternating between the servers, with a clerk's token."""
    timeout = httpx.Timeout(REQUEST_SECONDS)
    limits = httpx.Limits(max_connections=len(callers), max_keepalive_connections=len(callers))
    clients = [httpx.AsyncClient(base_url=s.base, timeout=timeout, limits=limits) for s in servers]
    try:
        headers = await _token(clients[0], "admin")
        return list(
            await asyncio.gather(
                *(_call(clients, headers, sitting, c, waitlist=waitlist) for c in callers)
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def _show(outcomes: list[Outcome]) -> str:
    return "\n".join(
        f"caller {o.caller} on server {o.server}: {o.status} {o.body[:300]}" for o in outcomes[:10]
    )


def _served_bookings(server: Server) -> int:
    """uvicorn's access log: how many booking requests this process answered."""
    return sum(
        1 for line in server.output().splitlines() if f'"POST {BOOKINGS_PATH} HTTP/1.1"' in line
    )


async def _bookings(factory: async_sessionmaker[AsyncSession], sitting: int) -> list[Booking]:
    async with factory() as db:
        return list(
            await db.scalars(
                select(Booking).where(Booking.sitting_id == sitting).order_by(Booking.id)
            )
        )


async def _taken(factory: async_sessionmaker[AsyncSession], sitting: int) -> int | None:
    async with factory() as db:
        taken = await db.scalar(
            select(SlotSeats.taken).where(
                SlotSeats.sitting_id == sitting, SlotSeats.slot_start == SLOT
            )
        )
    return None if taken is None else int(taken)


async def _created_entries(
    factory: async_sessionmaker[AsyncSession], county_id: int
) -> list[LedgerEntry]:
    async with factory() as db:
        ledger = await _county_ledger(db, county_id)
        return list(
            await db.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.ledger_id == ledger.id, LedgerEntry.action == BOOKING_CREATED)
                .order_by(LedgerEntry.seq)
            )
        )


async def test_two_hundred_callers_for_five_seats_get_five_bookings_and_clean_refusals(
    servers: list[Server],
    booked: Booked,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    assert len({s.process.pid for s in servers}) == SERVERS
    sitting, county_id = booked.sitting, booked.county.county

    outcomes = await _storm(servers, sitting, range(CALLERS))
    by_status = Counter(o.status for o in outcomes)
    unexpected = [o for o in outcomes if o.status not in {201, 409}]
    assert not unexpected, f"{dict(by_status)}, e.g.:\n{_show(unexpected)}"
    assert by_status == {201: SEATS, 409: CALLERS - SEATS}, dict(by_status)
    winners = [o for o in outcomes if o.status == 201]
    for o in winners:
        answer = o.json()
        assert answer["status"] == "booked", o.body
        assert answer["sitting_id"] == sitting and answer["slot_start"] == SLOT, o.body
        assert answer["date"] == booked.day.isoformat(), o.body
    refused = [o for o in outcomes if o.status == 409]
    unclean = [
        o
        for o in refused
        if not o.content_type.startswith(PROBLEM_JSON)
        or "约满" not in str(o.json().get("detail", ""))
    ]
    assert not unclean, f"{len(unclean)} refusals were not clean problems:\n{_show(unclean)}"

    booked_rows = await _bookings(factory, sitting)
    assert [b.status for b in booked_rows] == ["booked"] * SEATS
    assert {b.slot_start for b in booked_rows} == {SLOT}
    codes = [b.code for b in booked_rows]
    assert len(set(codes)) == SEATS
    assert sorted(codes) == sorted(str(o.json()["code"]) for o in winners)
    assert await _taken(factory, sitting) == SEATS
    created = await _created_entries(factory, county_id)
    assert sorted(e.subject_id for e in created) == sorted(str(b.id) for b in booked_rows)
    assert {e.payload["status"] for e in created} == {"booked"}

    waiting = await _storm(servers, sitting, range(CALLERS, CALLERS + WAITLISTERS), waitlist=True)
    not_waitlisted = [o for o in waiting if o.status != 201 or o.json()["status"] != "waitlisted"]
    assert not not_waitlisted, _show(not_waitlisted)

    assert all(s.process.poll() is None for s in servers), "a server died during the run"
    for server in servers:
        _stop(server)
    for index, server in enumerate(servers):
        log = server.output()
        assert "database is locked" not in log, f"{server.name}:\n{log}"
        assert '" 500' not in log and "Traceback" not in log, f"{server.name}:\n{log}"
        sent = sum(1 for o in outcomes + waiting if o.server == index)
        assert _served_bookings(server) == sent, f"{server.name} did not answer its share"

    rows = await _bookings(factory, sitting)
    assert Counter(b.status for b in rows) == {"booked": SEATS, "waitlisted": WAITLISTERS}
    assert len({b.code for b in rows}) == len(rows)
    assert await _taken(factory, sitting) == SEATS
    created = await _created_entries(factory, county_id)
    assert len(created) == SEATS + WAITLISTERS
    assert Counter(e.payload["status"] for e in created) == {
        "booked": SEATS,
        "waitlisted": WAITLISTERS,
    }
    assert sorted(e.subject_id for e in created) == sorted(str(b.id) for b in rows)

    async with factory() as db:
        ledger = await _county_ledger(db, county_id)
        assert await _seqs(db, ledger.id) == list(range(ledger.size)), ledger.origin
    async with transaction(factory) as db:
        ledger = await _county_ledger(db, county_id)
        signed = await make_checkpoint(
            db, ledger.id, signer(settings.keys_dir), dt.datetime.now(dt.UTC)
        )
        assert signed is not None and signed.size == ledger.size
    async with factory() as db:
        ledger = await _county_ledger(db, county_id)
        report = await verify_ledger(db, ledger, verifiers(settings.keys_dir))
        assert report.ok, [p.message for p in report.problems]
        assert report.entries == ledger.size
