"""Calendar feeds over HTTP on SQLite and PostgreSQL, read the way calendar software reads
them: parsed with `icalendar`, expanded with `recurring_ical_events`, and stored on a real
CalDAV server (Radicale) with the `caldav` client.

The set-up publishes three rosters of the 县领导坐班接访 rule: one in January–February (one
sitting falls out of the 30-day window), one for the week of 9 March, and — in the test
that needs it — a changed one that hands 张建华's 11 March sitting to 王明.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events  # type: ignore[import-untyped]
from caldav.calendarobjectresource import CalendarObjectResource
from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient
from icalendar import Calendar, Component
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.core.clock import FixedClock
from app.core.db import transaction
from app.scheduling import services as scheduling
from app.scheduling.ical import PRODID
from app.scheduling.models import Sitting
from tests.integration.conftest import County
from tests.integration.sittings_setup import (
    RULE_NAME,
    VENUE_ADDRESS,
    VENUE_NAME,
    Factory,
    Reception,
    build_reception,
    entries,
    principal,
    publish,
    sign_in,
)

Client = AsyncTestClient[Litestar]
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = (dt.date(2026, 3, 9), dt.date(2026, 3, 15))
OLD = dt.date(2026, 1, 20)  # more than 30 days before "now" (2 March): not in the feeds
RECENT = dt.date(2026, 2, 10)
MOVED = dt.date(2026, 3, 11)  # 张建华's, handed to 王明 by the changed roster


@pytest.fixture
async def reception(factory: Factory, clock: FixedClock, county: County) -> Reception:
    built = await build_reception(factory, clock, county)
    zhang, wang = built.leader, built.other_leader
    early = (dt.date(2026, 1, 19), dt.date(2026, 2, 15))
    await publish(factory, clock, county.county, early, [(OLD, zhang), (RECENT, zhang)])
    week = [(dt.date(2026, 3, 10), zhang), (MOVED, zhang), (dt.date(2026, 3, 12), wang)]
    await publish(factory, clock, county.county, WEEK, week)
    return built


async def hand_over_the_moved_sitting(factory: Factory, clock: FixedClock, r: Reception) -> None:
    clock.advance(dt.timedelta(hours=5))
    week = [
        (dt.date(2026, 3, 10), r.leader),
        (MOVED, r.other_leader),
        (dt.date(2026, 3, 12), r.other_leader),
    ]
    await publish(factory, clock, r.county.county, WEEK, week)


async def issue(factory: Factory, clock: FixedClock, username: str, person: int) -> str:
    actor = await principal(factory, clock, username)
    async with transaction(factory) as db:
        return await scheduling.issue_calendar_token(db, actor, clock.now(), person)


async def sittings_of(factory: Factory, person: int) -> dict[dt.date, list[Sitting]]:
    found: dict[dt.date, list[Sitting]] = {}
    async with factory() as db:
        for s in await db.scalars(select(Sitting).where(Sitting.person_id == person)):
            found.setdefault(s.day, []).append(s)
    return found


def parse(data: bytes | str) -> Calendar:
    parsed = Calendar.from_ical(data)
    assert isinstance(parsed, Calendar)
    return parsed


def by_uid(calendar: Calendar) -> dict[str, Component]:
    return {str(e["UID"]): e for e in calendar.events}


def start_of(event: Component) -> dt.datetime:
    value = event.decoded("DTSTART")
    assert isinstance(value, dt.datetime)
    return value


def uid(sitting: Sitting) -> str:
    return f"sitting-{sitting.id}@jiefang"


async def fetch(client: Client, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    response = await client.get(path, headers=headers)
    return response.status_code, response.content, dict(response.headers)


# ---------------------------------------------------------------- the feeds


async def test_a_persons_feed_holds_their_sittings_as_calendar_software_reads_them(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    token = await issue(factory, clock, "leader", reception.leader)
    status, body, headers = await fetch(client, f"/ical/{token}.ics")
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["content-disposition"].startswith("inline; filename=")
    assert headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"'

    calendar = parse(body)
    (timezone,) = calendar.timezones
    assert str(timezone["TZID"]) == "Asia/Shanghai"
    assert str(calendar["X-WR-CALNAME"]) == "张建华的接访安排"
    mine = await sittings_of(factory, reception.leader)
    events = by_uid(calendar)
    assert set(events) == {uid(mine[d][0]) for d in (RECENT, dt.date(2026, 3, 10), MOVED)}
    assert uid(mine[OLD][0]) not in events

    event = events[uid(mine[MOVED][0])]
    assert str(event["SUMMARY"]) == f"{RULE_NAME}：张建华"
    assert VENUE_NAME in str(event["LOCATION"])
    assert VENUE_ADDRESS in str(event["LOCATION"])
    assert "上午 08:30—11:30、下午 14:30—17:30" in str(event["DESCRIPTION"])
    assert "如有变动将自动更新" in str(event["DESCRIPTION"])
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert start_of(event) == dt.datetime(2026, 3, 11, 8, 30, tzinfo=SHANGHAI)
    assert event.decoded("DTEND") == dt.datetime(2026, 3, 11, 17, 30, tzinfo=SHANGHAI)
    assert event.decoded("SEQUENCE") == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    # DTSTAMP is the rows' latest change, not the time of the request
    assert event.decoded("DTSTAMP") == clock.now()

    week = recurring_ical_events.of(calendar).between(dt.date(2026, 3, 9), dt.date(2026, 3, 16))
    assert sorted(start_of(e).date() for e in week) == [dt.date(2026, 3, 10), MOVED]


async def test_the_feed_is_stable_and_answers_304_when_unchanged(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    token = await issue(factory, clock, "leader", reception.leader)
    _, first, headers = await fetch(client, f"/ical/{token}.ics")
    clock.advance(dt.timedelta(hours=3))
    _, second, again = await fetch(client, f"/ical/{token}.ics")
    assert first == second
    assert set(by_uid(parse(first))) == set(by_uid(parse(second)))
    assert again["etag"] == headers["etag"]

    status, body, _ = await fetch(
        client, f"/ical/{token}.ics", **{"If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, b"")
    status, _, _ = await fetch(client, f"/ical/{token}.ics", **{"If-None-Match": '"other"'})
    assert status == 200


async def test_a_cancelled_sitting_stays_with_a_higher_sequence_and_status_cancelled(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    token = await issue(factory, clock, "admin", reception.leader)
    _, before, headers = await fetch(client, f"/ical/{token}.ics")
    await hand_over_the_moved_sitting(factory, clock, reception)

    status, after, new_headers = await fetch(
        client, f"/ical/{token}.ics", **{"If-None-Match": headers["etag"]}
    )
    assert status == 200
    assert new_headers["etag"] != headers["etag"]
    assert set(by_uid(parse(after))) == set(by_uid(parse(before)))
    (moved,) = (await sittings_of(factory, reception.leader))[MOVED]
    event = by_uid(parse(after))[uid(moved)]
    assert event.decoded("SEQUENCE") == 1
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("【已取消】")
    assert "本次接访已取消" in str(event["DESCRIPTION"])
    assert event.decoded("LAST-MODIFIED") == clock.now()

    (taken,) = (await sittings_of(factory, reception.other_leader))[MOVED]
    _, venue, _ = await fetch(client, f"/ical/venues/{reception.venue}.ics")
    on_the_day = [
        e
        for e in recurring_ical_events.of(parse(venue)).at(MOVED)
        if str(e["STATUS"]) != "CANCELLED"
    ]
    assert [str(e["UID"]) for e in on_the_day] == [uid(taken)]
    assert str(on_the_day[0]["SUMMARY"]) == f"{RULE_NAME}：王明"


async def test_a_venues_public_feed_needs_no_sign_in_and_lists_everyone(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    status, body, headers = await fetch(client, f"/ical/venues/{reception.venue}.ics")
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["cache-control"].startswith("public")
    assert "set-cookie" not in headers  # nothing per visitor: a shared cache may keep it
    calendar = parse(body)
    assert str(calendar["X-WR-CALNAME"]) == f"{VENUE_NAME}接访安排"
    summaries = sorted(str(e["SUMMARY"]) for e in calendar.events)
    assert summaries == sorted([f"{RULE_NAME}：张建华"] * 3 + [f"{RULE_NAME}：王明"])
    status, _, _ = await fetch(
        client, f"/ical/venues/{reception.venue}.ics", **{"If-None-Match": headers["etag"]}
    )
    assert status == 304


async def test_unknown_or_revoked_addresses_are_404_problems(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    token = await issue(factory, clock, "leader", reception.leader)
    assert (await client.get(f"/ical/{token}.ics")).status_code == 200
    async with factory() as db:
        (row,) = await scheduling.calendar_tokens_of(
            db, await principal(factory, clock, "leader"), reception.leader
        )
    actor = await principal(factory, clock, "leader")
    async with transaction(factory) as db:
        await scheduling.revoke_calendar_token(db, actor, clock.now(), row.id)

    for path in (
        f"/ical/{token}.ics",
        "/ical/not-a-token.ics",
        f"/ical/{token}",
        "/ical/venues/999999.ics",
        "/ical/venues/abc.ics",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "/problems/not-found"
    assert [a for a, _ in await entries(factory, "calendar_token", row.id)] == [
        "calendar.token.issued",
        "calendar.token.revoked",
    ]


# ---------------------------------------------------------------- the page


async def test_a_leader_subscribes_on_the_page_sees_the_address_once_and_revokes_it(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    csrf = await sign_in(client, "leader")
    page = await client.get("/my/calendar")
    assert page.status_code == 200
    assert "我的日历订阅" in page.text
    assert f"/ical/venues/{reception.venue}.ics" in page.text

    made = await client.post("/my/calendar/tokens", data={"_csrf_token": csrf})
    assert made.status_code == 200
    found = re.search(r"http://[^\"<]+/ical/([A-Za-z0-9_-]{40,})\.ics", made.text)
    assert found, made.text
    token = found.group(1)
    assert f"webcal://testserver.local/ical/{token}.ics" in made.text
    assert (await client.get(f"/ical/{token}.ics")).status_code == 200
    assert token not in (await client.get("/my/calendar")).text  # shown once

    async with factory() as db:
        (row,) = await scheduling.calendar_tokens_of(
            db, await principal(factory, clock, "leader"), reception.leader
        )
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    revoked = await client.post(f"/my/calendar/tokens/{row.id}/revoke", data={"_csrf_token": csrf})
    assert revoked.status_code == 200
    assert "已吊销" in revoked.text
    assert (await client.get(f"/ical/{token}.ics")).status_code == 404
    issued, gone = await entries(factory, "calendar_token", row.id)
    assert issued == ("calendar.token.issued", {"person": reception.leader})
    assert gone == ("calendar.token.revoked", {"person": reception.leader})


async def test_someone_else_cannot_revoke_a_leaders_address(
    client: Client, factory: Factory, clock: FixedClock, reception: Reception
) -> None:
    await issue(factory, clock, "leader", reception.leader)
    async with factory() as db:
        (row,) = await scheduling.calendar_tokens_of(
            db, await principal(factory, clock, "admin"), reception.leader
        )
    csrf = await sign_in(client, "clerk")
    page = await client.get("/my/calendar")
    assert "未关联人员" in page.text
    refused = await client.post(f"/my/calendar/tokens/{row.id}/revoke", data={"_csrf_token": csrf})
    assert refused.status_code == 403
    assert [a for a, _ in await entries(factory, "calendar_token", row.id)] == [
        "calendar.token.issued"
    ]


# ---------------------------------------------------------------- on a CalDAV server


@pytest.fixture
def dav_calendar(radicale_url: str) -> Iterator[DavCalendar]:
    with DAVClient(url=radicale_url, username="jiefang", password="unused") as dav:
        made = dav.get_principal().make_calendar(
            name="张建华的接访安排", cal_id=f"feed-{uuid.uuid4().hex[:12]}"
        )
        assert isinstance(made, DavCalendar)
        yield made


def resources(feed_data: bytes) -> list[str]:
    """One calendar object resource per VEVENT (RFC 4791 §4.1): the VTIMEZONE, the event,
    and no METHOD."""
    whole = parse(feed_data)
    (timezone,) = whole.timezones
    split = []
    for event in whole.events:
        one = Calendar()
        one.add("PRODID", PRODID)
        one.add("VERSION", "2.0")
        one.add_component(timezone)
        one.add_component(event)
        split.append(one.to_ical().decode("utf-8"))
    return split


def stored(calendar: DavCalendar) -> dict[str, Component]:
    found = calendar.get_events()
    assert isinstance(found, list)
    events: dict[str, Component] = {}
    for resource in found:
        assert isinstance(resource, CalendarObjectResource)
        (event,) = parse(resource.get_data()).events
        assert str(event["UID"]) not in events, "one resource per UID"
        events[str(event["UID"])] = event
    return events


def round_trip(calendar: DavCalendar, body: bytes) -> dict[str, Component]:
    """PUT every event of the feed, then read the collection back (the caldav client
    blocks, so this runs in a thread)."""
    for resource in resources(body):
        # The feed is the source of truth for SEQUENCE; the client must not bump it.
        calendar.add_event(resource, increase_seqno=False)
    return stored(calendar)


async def test_the_feeds_events_survive_a_round_trip_through_radicale(
    client: Client,
    factory: Factory,
    clock: FixedClock,
    reception: Reception,
    dav_calendar: DavCalendar,
) -> None:
    token = await issue(factory, clock, "leader", reception.leader)
    await hand_over_the_moved_sitting(factory, clock, reception)
    _, body, _ = await fetch(client, f"/ical/{token}.ics")
    sent = by_uid(parse(body))
    kept = await asyncio.to_thread(round_trip, dav_calendar, body)
    assert set(kept) == set(sent)
    for key, event in sent.items():
        assert kept[key].decoded("SEQUENCE") == event.decoded("SEQUENCE")
        assert str(kept[key]["STATUS"]) == str(event["STATUS"])
        assert str(kept[key]["SUMMARY"]) == str(event["SUMMARY"])
        assert start_of(kept[key]) == start_of(event)
    statuses = sorted((int(e.decoded("SEQUENCE")), str(e["STATUS"])) for e in kept.values())
    assert statuses == [(0, "CONFIRMED"), (0, "CONFIRMED"), (1, "CANCELLED")]
