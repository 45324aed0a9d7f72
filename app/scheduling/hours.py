"""The hours a sitting covers: the venue's booking sessions that its rule names.

Pure: values in, values out. A rule names sessions by key (`options["sessions"]`, e.g.
["am", "pm"]); "day" stands for the venue's whole day, from its first session's start to
its last session's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.scheduling.schemas import DAY_SESSION

WHOLE_DAY_LABEL = "全天"


@dataclass(frozen=True, slots=True)
class Hours:
    """One stretch of a sitting: a venue session, or the whole day."""

    key: str
    label: str
    start: dt.time
    end: dt.time

    def overlaps(self, start: dt.time, end: dt.time) -> bool:
        """Whether [start, end) meets this stretch; touching ends do not collide."""
        return start < self.end and self.start < end

    def describe(self) -> str:
        return f"{self.label} {clock_text(self.start)}—{clock_text(self.end)}"


def clock_text(moment: dt.time) -> str:
    return moment.strftime("%H:%M")


def parse_clock(text: str) -> dt.time:
    """A "08:30" text as a time; raises ValueError on anything else."""
    return dt.time.fromisoformat(text)


def _venue_hours(sessions: Iterable[Mapping[str, str]]) -> list[Hours]:
    found = [
        Hours(s["key"], s.get("label") or s["key"], parse_clock(s["start"]), parse_clock(s["end"]))
        for s in sessions
    ]
    return sorted(found, key=lambda h: (h.start, h.end))


def whole_day(sessions: Iterable[Mapping[str, str]]) -> Hours | None:
    """From the venue's first session start to its last session end."""
    hours = _venue_hours(sessions)
    if not hours:
        return None
    return Hours(DAY_SESSION, WHOLE_DAY_LABEL, hours[0].start, max(h.end for h in hours))


def covered(
    venue_sessions: Iterable[Mapping[str, str]], rule_sessions: Iterable[str]
) -> list[Hours]:
    """The stretches a sitting of a rule covers at a venue, in time order.

    "day" (or a rule naming no session the venue has) covers the whole day: a sitting is
    never taken to cover less than it may."""
    venue = list(venue_sessions)
    keys = set(rule_sessions)
    named = [h for h in _venue_hours(venue) if h.key in keys]
    if DAY_SESSION in keys or not named:
        day = whole_day(venue)
        return [day] if day is not None else []
    return named


def span(hours: Iterable[Hours]) -> tuple[dt.time, dt.time] | None:
    """From the earliest start to the latest end (a calendar event's DTSTART/DTEND)."""
    listed = list(hours)
    if not listed:
        return None
    return min(h.start for h in listed), max(h.end for h in listed)
