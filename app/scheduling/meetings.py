"""The meetings guard: why a meeting may not be held as planned.

Pure: no database, no clock. The caller resolves who must attend (to person ids with the
reception roles of the posts they hold that day), what the calendar says about the day,
and the attendees' published sittings that day; `refusals` returns the Chinese reasons the
meeting is refused, an empty list when it may go ahead.

Two rules:

- 周二无会日 — Tuesday is kept free of meetings so that village (community) secretaries
  receive villagers (柯城区：村（社）书记“周二无会日”接访约访机制). A meeting on a working
  Tuesday may not require village secretaries: by unit level (村/社区), by a post whose
  reception role is village secretary, or by a person who holds such a post that day. A
  Tuesday that is a rest day has no reception to protect.
- A meeting may not take a required attendee away from a published sitting: leaders'
  reception days are announced to the public, who come to meet them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.org.rules import ReceptionRole, UnitKind
from app.scheduling.hours import Hours, clock_text

TUESDAY = 2
VILLAGE_LEVELS = frozenset({UnitKind.village.value, UnitKind.community.value})
TUESDAY_REASON = "周二为无会日，村（社区）书记接待群众，不得安排需其参加的会议"

_VILLAGE_MAIN = frozenset({ReceptionRole.village_secretary.value})
_TOWNSHIP_MAIN = frozenset(
    {
        ReceptionRole.township_secretary.value,
        ReceptionRole.township_head.value,
        ReceptionRole.township_congress.value,
    }
)
#: The unit levels a meeting may require, and which posts there it calls in: the village
#: (community) secretaries, or a township's (street's) three main leaders.
LEVEL_ROLES: dict[str, frozenset[str]] = {
    UnitKind.village.value: _VILLAGE_MAIN,
    UnitKind.community.value: _VILLAGE_MAIN,
    UnitKind.township.value: _TOWNSHIP_MAIN,
    UnitKind.street.value: _TOWNSHIP_MAIN,
}

LEVEL_LABELS: dict[str, str] = {
    UnitKind.village.value: "村",
    UnitKind.community.value: "社区",
    UnitKind.township.value: "乡镇",
    UnitKind.street.value: "街道",
}


@dataclass(frozen=True, slots=True)
class MeetingPlan:
    """A meeting as entered: its day and hours, and who must attend it."""

    day: dt.date
    start: dt.time
    end: dt.time
    persons: frozenset[int] = frozenset()
    posts: frozenset[int] = frozenset()
    unit_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Attendee:
    """A person who must attend, with the reception roles of the posts held that day."""

    person_id: int
    name: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DayFacts:
    """What the calendar says about the meeting's day."""

    workday: bool = True


@dataclass(frozen=True, slots=True)
class SittingFacts:
    """A published sitting of an attendee on the meeting's day."""

    person_id: int
    rule_name: str
    venue_name: str
    hours: tuple[Hours, ...] = field(default_factory=tuple)


def refusals(
    plan: MeetingPlan,
    attendees: Iterable[Attendee],
    day: DayFacts,
    sittings: Iterable[SittingFacts],
    *,
    post_roles: Mapping[int, str] | None = None,
) -> list[str]:
    """The reasons the meeting is refused (empty: it may be held). `post_roles` maps each
    required post to its reception role, so a vacant secretary post still counts."""
    people = {a.person_id: a for a in attendees}
    reasons: list[str] = []
    if requires_village_secretaries(plan, people.values(), post_roles or {}) and _guarded(
        plan.day, day
    ):
        reasons.append(TUESDAY_REASON)
    reasons.extend(collisions(plan, people, sittings))
    return reasons


def _guarded(day: dt.date, facts: DayFacts) -> bool:
    return day.isoweekday() == TUESDAY and facts.workday


def requires_village_secretaries(
    plan: MeetingPlan, attendees: Iterable[Attendee], post_roles: Mapping[int, str]
) -> bool:
    """By level (村/社区), by a village-secretary post, or by a person holding one."""
    secretary = ReceptionRole.village_secretary.value
    return (
        bool(plan.unit_kinds & VILLAGE_LEVELS)
        or any(post_roles.get(p) == secretary for p in plan.posts)
        or any(secretary in a.roles for a in attendees)
    )


def collisions(
    plan: MeetingPlan, attendees: Mapping[int, Attendee], sittings: Iterable[SittingFacts]
) -> list[str]:
    """One reason per attendee's sitting whose hours meet the meeting's."""
    reasons: list[str] = []
    for sitting in sorted(sittings, key=lambda s: (s.person_id, s.rule_name)):
        person = attendees.get(sitting.person_id)
        hit = [h for h in sitting.hours if h.overlaps(plan.start, plan.end)]
        if person is None or not hit:
            continue
        when = "、".join(h.describe() for h in hit)
        reasons.append(
            f"与{person.name}已公布的接访安排冲突：{plan.day.isoformat()} {when}，"
            f"{sitting.rule_name}（{sitting.venue_name}）"
        )
    return reasons


def hours_problem(start: dt.time, end: dt.time) -> str | None:
    if end <= start:
        return f"会议结束时间（{clock_text(end)}）必须晚于开始时间（{clock_text(start)}）。"
    return None


def level_problem(unit_kinds: Iterable[str]) -> str | None:
    unknown = sorted(set(unit_kinds) - set(LEVEL_ROLES))
    if unknown:
        return "参会单位层级只能是村、社区、乡镇或街道。"
    return None
