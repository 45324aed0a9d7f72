"""Reception sittings as iCalendar (RFC 5545) data: a subscribable feed and single events.

Pure: no database, no web framework, and no clock — the caller passes ``now`` (written as
DTSTAMP), so the same input always gives the same bytes: the output can be compared byte
for byte, and a caller that passes a stable ``now`` gets a stable ETag for the feed.

Times are written as Asia/Shanghai local time with a TZID and a VTIMEZONE, not as UTC: a
sitting is announced as "08:30", and a client that shows the raw data, or one in another
zone, must still see 08:30 in Beijing time.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vDuration, vText

__all__ = ["PRODID", "TZID", "CalendarEvent", "feed", "single_event"]

PRODID = "-//Jiefang//接访//ZH"
TZID = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZID)

# China has kept UTC+8 without daylight saving since 1991, so a VTIMEZONE that starts in
# 2000 is one STANDARD block; the range is fixed so every feed carries the same VTIMEZONE.
_TZ_FIRST = dt.date(2000, 1, 1)
_TZ_LAST = dt.date(2100, 1, 1)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One reception sitting as a calendar entry.

    ``uid`` must stay the same when the sitting is re-planned (moved, re-staffed,
    cancelled): calendar clients match updates by UID and change the entry in place
    instead of adding a second one. ``sequence`` must increase on every change that
    subscribers should see; clients ignore an update whose SEQUENCE is not higher than
    the one they hold (RFC 5545 §3.8.7.4). ``start``, ``end`` and ``last_modified`` must
    be timezone-aware, in any zone.
    """

    uid: str
    sequence: int
    start: dt.datetime
    end: dt.datetime
    summary: str
    location: str
    description: str
    cancelled: bool = False
    last_modified: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not self.uid:
            raise ValueError("uid must not be empty")
        if self.sequence < 0:
            raise ValueError("sequence must not be negative (RFC 5545 §3.8.7.4)")
        for moment in (self.start, self.end, self.last_modified):
            if moment is not None:
                _require_aware(moment)
        if self.end <= self.start:
            raise ValueError("end must be after start")


def feed(
    name: str, events: Iterable[CalendarEvent], *, now: dt.datetime, ttl_minutes: int = 60
) -> bytes:
    """A whole calendar to publish at a subscription URL (``webcal://``).

    Cancelled sittings stay in the feed with STATUS:CANCELLED instead of being dropped, so
    subscribers remove them: a client that imported the entry, or holds it from an
    invitation, never hears of a sitting that merely vanished. REFRESH-INTERVAL (RFC 7986 §5.7) and its older spelling
    X-PUBLISHED-TTL tell clients how often to poll. Events are sorted by start, then UID,
    so the output does not depend on the order the caller supplies.
    """
    if ttl_minutes <= 0:
        raise ValueError("ttl_minutes must be positive")
    ttl = dt.timedelta(minutes=ttl_minutes)
    calendar = _calendar("PUBLISH")
    calendar.add("NAME", vText(name))
    calendar.add("X-WR-CALNAME", vText(name))
    calendar.add("X-WR-TIMEZONE", vText(TZID))
    calendar.add("REFRESH-INTERVAL", ttl, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(ttl))
    stamp = _utc(now)
    for event in sorted(events, key=lambda e: (_utc(e.start), e.uid)):
        calendar.add_component(_vevent(event, stamp))
    return _bytes(calendar)


def single_event(
    event: CalendarEvent, *, now: dt.datetime, method: str | None = "PUBLISH"
) -> bytes:
    """A calendar holding one sitting: an invitation, or the body of a CalDAV PUT.

    Pass ``method=None`` for a CalDAV PUT: a calendar object resource must not carry a
    METHOD property (RFC 4791 §4.1). The same UID with a higher SEQUENCE replaces the
    earlier version on the server and in clients.
    """
    calendar = _calendar(method)
    calendar.add_component(_vevent(event, _utc(now)))
    return _bytes(calendar)


def _calendar(method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    if method is not None:
        calendar.add("METHOD", method.upper())
    calendar.add_component(_vtimezone())
    return calendar


def _vevent(event: CalendarEvent, stamp: dt.datetime) -> Event:
    vevent = Event()
    vevent.add("UID", event.uid)
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("DTSTAMP", stamp)
    vevent.add("DTSTART", event.start.astimezone(SHANGHAI))
    vevent.add("DTEND", event.end.astimezone(SHANGHAI))
    vevent.add("SUMMARY", event.summary)
    vevent.add("LOCATION", event.location)
    vevent.add("DESCRIPTION", event.description)
    vevent.add("STATUS", "CANCELLED" if event.cancelled else "CONFIRMED")
    if event.last_modified is not None:
        vevent.add("LAST-MODIFIED", _utc(event.last_modified))
    vevent.add("TRANSP", "OPAQUE")
    return vevent


def _vtimezone() -> Timezone:
    """A copy, so that no caller can alter the cached component."""
    return copy.deepcopy(_shanghai_vtimezone())


@cache
def _shanghai_vtimezone() -> Timezone:
    # icalendar derives the VTIMEZONE from the zoneinfo database (RFC 5545 §3.6.5); that
    # walks decades of offsets, so it is done once per process.
    return Timezone.from_tzid(TZID, first_date=_TZ_FIRST, last_date=_TZ_LAST)


def _bytes(calendar: Calendar) -> bytes:
    data: bytes = calendar.to_ical()
    return data


def _utc(moment: dt.datetime) -> dt.datetime:
    _require_aware(moment)
    return moment.astimezone(dt.UTC)


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: a timezone is required")
