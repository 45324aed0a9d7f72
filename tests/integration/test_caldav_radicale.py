"""Sittings stored on a real CalDAV server (Radicale, run as a subprocess) and read back
with the `caldav` client: what `app.scheduling.ical` writes is what a server keeps, and a
re-planned sitting (same UID, higher SEQUENCE) replaces the old one instead of doubling it.

No database: this module requests none of the database fixtures, so it runs once. The
server is the session's `radicale_url` fixture (tests/integration/conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from caldav.calendarobjectresource import CalendarObjectResource
from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient
from icalendar import Calendar, Component

from app.scheduling.ical import PRODID, CalendarEvent, feed, single_event

pytest.importorskip(
    "radicale", reason="radicale is not installed (it is a dev dependency: pip install -e .[dev])"
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
USER = "jiefang"


@pytest.fixture
def calendar(radicale_url: str) -> Iterator[DavCalendar]:
    with DAVClient(url=radicale_url, username=USER, password="unused") as client:
        made = client.get_principal().make_calendar(name="东山镇领导接访", cal_id="sittings")
        assert isinstance(made, DavCalendar)
        yield made


def sitting(uid: str, day: int, *, sequence: int = 0, cancelled: bool = False) -> CalendarEvent:
    start = dt.datetime(2026, 3, day, 8, 30, tzinfo=SHANGHAI)
    return CalendarEvent(
        uid=uid,
        sequence=sequence,
        start=start,
        end=start + dt.timedelta(hours=3),
        summary=f"领导接访日（3月{day}日）",
        location="东山镇人民政府一楼信访接待室",
        description="接访领导：张建华；陪同：县信访局。",
        cancelled=cancelled,
    )


SITTINGS = [
    sitting("sitting-1@jiefang.test", 2, sequence=1),
    sitting("sitting-2@jiefang.test", 9),
    sitting("sitting-3@jiefang.test", 16, sequence=3, cancelled=True),
]


def parse(data: bytes | str) -> Calendar:
    parsed = Calendar.from_ical(data)
    assert isinstance(parsed, Calendar)
    return parsed


def resources(feed_data: bytes) -> list[bytes]:
    """One calendar object resource per VEVENT, as CalDAV requires (RFC 4791 §4.1):
    the feed's VTIMEZONE, its event, and no METHOD."""
    whole = parse(feed_data)
    (timezone,) = whole.timezones
    split = []
    for event in whole.events:
        one = Calendar()
        one.add("PRODID", PRODID)
        one.add("VERSION", "2.0")
        one.add_component(timezone)
        one.add_component(event)
        split.append(one.to_ical())
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


def start_of(event: Component) -> dt.datetime:
    value = event.decoded("DTSTART")
    assert isinstance(value, dt.datetime)
    return value


def test_feed_events_stored_and_replanned_on_radicale(calendar: DavCalendar) -> None:
    for body in resources(feed("东山镇领导接访", SITTINGS, now=NOW)):
        # The feed is the source of truth for SEQUENCE; the client must not bump it.
        calendar.add_event(body.decode("utf-8"), increase_seqno=False)

    events = stored(calendar)
    assert set(events) == {s.uid for s in SITTINGS}
    for given in SITTINGS:
        event = events[given.uid]
        assert event.decoded("SEQUENCE") == given.sequence
        assert str(event["STATUS"]) == ("CANCELLED" if given.cancelled else "CONFIRMED")
        assert str(event["SUMMARY"]) == given.summary
        assert str(event["LOCATION"]) == given.location
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
        assert start_of(event) == given.start

    moved = sitting("sitting-2@jiefang.test", 10, sequence=1)
    calendar.add_event(
        single_event(moved, now=NOW + dt.timedelta(days=1), method=None).decode("utf-8"),
        increase_seqno=False,
    )

    events = stored(calendar)
    assert len(events) == len(SITTINGS)
    event = events[moved.uid]
    assert event.decoded("SEQUENCE") == 1
    assert start_of(event) == dt.datetime(2026, 3, 10, 8, 30, tzinfo=SHANGHAI)
    assert start_of(event).astimezone(SHANGHAI).time() == dt.time(8, 30)
    assert str(event["SUMMARY"]) == "领导接访日（3月10日）"

    by_uid = calendar.get_event_by_uid(moved.uid)
    assert isinstance(by_uid, CalendarObjectResource)
    (fetched,) = parse(by_uid.get_data()).events
    assert fetched.decoded("SEQUENCE") == 1
    assert start_of(fetched) == moved.start
