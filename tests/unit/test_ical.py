"""The iCalendar output, read back by two independent parsers: `icalendar` itself and
`recurring_ical_events` (which expands the calendar the way a client would)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events  # type: ignore[import-untyped]
from icalendar import Calendar, Component, Event

from app.scheduling.ical import PRODID, CalendarEvent, feed, single_event

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 1, 9, 15, tzinfo=SHANGHAI)
NAME = "东山镇领导接访日程"
DESCRIPTION = "接访领导：张建华（党委书记）\n陪同：县信访局，东山镇综治中心；请群众携带身份证。"


def sitting(
    uid: str,
    *,
    day: int = 2,
    hour: int = 8,
    minute: int = 30,
    sequence: int = 0,
    cancelled: bool = False,
    description: str = DESCRIPTION,
) -> CalendarEvent:
    start = dt.datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)
    return CalendarEvent(
        uid=uid,
        sequence=sequence,
        start=start,
        end=start + dt.timedelta(hours=3),
        summary="领导接访日：张建华",
        location="东山镇人民政府一楼信访接待室",
        description=description,
        cancelled=cancelled,
        last_modified=dt.datetime(2026, 2, 27, 16, 0, tzinfo=dt.UTC),
    )


def parse(data: bytes) -> Calendar:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    return calendar


def events_of(data: bytes) -> dict[str, Event]:
    return {str(e["UID"]): e for e in parse(data).events}


def moment(component: Component, name: str) -> dt.datetime:
    value = component.decoded(name)
    assert isinstance(value, dt.datetime)
    return value


def expanded(data: bytes) -> list[Event]:
    calendar = parse(data)
    found: list[Event] = recurring_ical_events.of(calendar).between(
        dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    )
    return sorted(found, key=lambda e: str(e["UID"]))


def test_calendar_header() -> None:
    calendar = parse(feed(NAME, [sitting("a")], now=NOW, ttl_minutes=90))
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == NAME
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert calendar["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert calendar.refresh_interval == dt.timedelta(minutes=90)
    assert b"\r\nX-PUBLISHED-TTL:PT1H30M\r\n" in calendar.to_ical()


def test_one_vtimezone_for_shanghai() -> None:
    calendar = parse(feed(NAME, [sitting("a"), sitting("b", day=3)], now=NOW))
    timezones = calendar.timezones
    assert [str(tz["TZID"]) for tz in timezones] == ["Asia/Shanghai"]
    assert calendar.get_missing_tzids() == set()
    (standard,) = timezones[0].standard
    assert standard.decoded("TZOFFSETTO") == dt.timedelta(hours=8)
    assert timezones[0].daylight == []


def test_chinese_text_round_trips_through_both_parsers() -> None:
    data = feed(NAME, [sitting("a")], now=NOW)
    for event in [events_of(data)["a"], *expanded(data)]:
        assert str(event["SUMMARY"]) == "领导接访日：张建华"
        assert str(event["LOCATION"]) == "东山镇人民政府一楼信访接待室"
        assert str(event["DESCRIPTION"]) == DESCRIPTION


def test_start_is_half_past_eight_shanghai_time() -> None:
    utc_made = sitting("a").start.astimezone(dt.UTC)
    assert (utc_made.hour, utc_made.minute) == (0, 30)
    from_utc = CalendarEvent("a", 0, utc_made, utc_made + dt.timedelta(hours=3), "s", "l", "d")
    data = feed(NAME, [from_utc], now=NOW)
    assert b"DTSTART;TZID=Asia/Shanghai:20260302T083000\r\n" in data
    assert b"DTEND;TZID=Asia/Shanghai:20260302T113000\r\n" in data
    parsed = events_of(data)["a"]
    assert parsed["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert moment(parsed, "DTSTART") == utc_made
    assert moment(parsed, "DTSTART").replace(tzinfo=None) == dt.datetime(2026, 3, 2, 8, 30)
    (occurrence,) = expanded(data)
    assert moment(occurrence, "DTSTART") == utc_made
    assert moment(occurrence, "DTSTART").astimezone(SHANGHAI).time() == dt.time(8, 30)


def test_uid_sequence_stamp_and_status_as_given() -> None:
    data = feed(NAME, [sitting("s-1@jiefang", sequence=4), sitting("s-2@jiefang", day=3)], now=NOW)
    events = events_of(data)
    assert set(events) == {"s-1@jiefang", "s-2@jiefang"}
    assert events["s-1@jiefang"].decoded("SEQUENCE") == 4
    assert events["s-2@jiefang"].decoded("SEQUENCE") == 0
    for event in events.values():
        assert moment(event, "DTSTAMP") == NOW.astimezone(dt.UTC)
        assert moment(event, "LAST-MODIFIED") == dt.datetime(2026, 2, 27, 16, 0, tzinfo=dt.UTC)
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["TRANSP"]) == "OPAQUE"
    assert b"DTSTAMP:20260301T011500Z\r\n" in data


def test_cancelled_sitting_stays_in_the_feed_as_cancelled() -> None:
    data = feed(NAME, [sitting("kept"), sitting("off", day=4, cancelled=True)], now=NOW)
    assert str(events_of(data)["off"]["STATUS"]) == "CANCELLED"
    assert {str(e["UID"]): str(e["STATUS"]) for e in expanded(data)} == {
        "kept": "CONFIRMED",
        "off": "CANCELLED",
    }


def test_no_last_modified_when_not_given() -> None:
    bare = CalendarEvent("a", 0, NOW, NOW + dt.timedelta(hours=1), "s", "l", "d")
    assert "LAST-MODIFIED" not in events_of(feed(NAME, [bare], now=NOW))["a"]


def test_events_sorted_by_start_then_uid_and_output_deterministic() -> None:
    events = [sitting("c", day=5), sitting("b", day=2), sitting("a", day=5), sitting("d", day=3)]
    first = feed(NAME, events, now=NOW)
    assert first == feed(NAME, list(reversed(events)), now=NOW)
    assert first == feed(NAME, iter(events), now=NOW)
    uids = [str(e["UID"]) for e in parse(first).events]
    assert uids == ["b", "d", "a", "c"]
    assert single_event(events[0], now=NOW) == single_event(events[0], now=NOW)


def test_same_instant_in_another_zone_gives_same_bytes() -> None:
    here = sitting("a")
    there = CalendarEvent(
        here.uid,
        here.sequence,
        here.start.astimezone(ZoneInfo("Europe/Berlin")),
        here.end.astimezone(dt.UTC),
        here.summary,
        here.location,
        here.description,
        last_modified=here.last_modified,
    )
    now_utc = NOW.astimezone(dt.UTC)
    assert feed(NAME, [here], now=NOW) == feed(NAME, [there], now=now_utc)


def test_long_chinese_text_is_folded_at_75_octets() -> None:
    long_text = "信访群众反映东山镇上塘村土地征收补偿款未按期发放，要求依法依规予以解决。" * 12
    data = feed(NAME, [sitting("a", description=long_text)], now=NOW)
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)
    assert b"\n" not in data.replace(b"\r\n", b"")
    # No multi-byte character is split across a fold.
    assert all(_valid_utf8(line) for line in lines)
    assert str(events_of(data)["a"]["DESCRIPTION"]) == long_text
    (occurrence,) = expanded(data)
    assert str(occurrence["DESCRIPTION"]) == long_text


def _valid_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_single_event_with_and_without_method() -> None:
    event = sitting("one", sequence=2, cancelled=True)
    invitation = parse(single_event(event, now=NOW, method="request"))
    assert str(invitation["METHOD"]) == "REQUEST"
    assert [str(tz["TZID"]) for tz in invitation.timezones] == ["Asia/Shanghai"]
    (vevent,) = invitation.events
    assert (str(vevent["UID"]), vevent.decoded("SEQUENCE"), str(vevent["STATUS"])) == (
        "one",
        2,
        "CANCELLED",
    )
    assert str(parse(single_event(event, now=NOW))["METHOD"]) == "PUBLISH"
    assert "METHOD" not in parse(single_event(event, now=NOW, method=None))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": dt.datetime(2026, 3, 2, 8, 30)}, "naive"),
        ({"last_modified": dt.datetime(2026, 3, 1)}, "naive"),
        ({"end": dt.datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)}, "end must be after start"),
        ({"sequence": -1}, "negative"),
        ({"uid": ""}, "uid"),
    ],
)
def test_invalid_events_are_refused(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "uid": "a",
        "sequence": 0,
        "start": dt.datetime(2026, 3, 2, 8, 30, tzinfo=SHANGHAI),
        "end": dt.datetime(2026, 3, 2, 11, 30, tzinfo=SHANGHAI),
        "summary": "s",
        "location": "l",
        "description": "d",
    }
    with pytest.raises(ValueError, match=message):
        CalendarEvent(**{**fields, **change})  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        feed(NAME, [], now=dt.datetime(2026, 3, 1))
