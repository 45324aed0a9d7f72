"""Generate a county year for the reception-roster solver, deterministically from a seed.

30 county leaders sit in the county's social-governance centre every day (am and pm), 20
townships hold 三个一 receptions on the 1st, 11th and 21st, and 300 villages and
communities receive on Tuesdays. Every official is away on about 10 % of their days, in
blocks of 1–10 days, arranged so that someone can always cover: a village deputy is never
away on a Tuesday the village secretary is away, no township's pool and fallback are all
away on one of its days, and at least 3 county leaders are in every day.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import msgspec

from app.core.workdays import WorkCalendar
from app.scheduling.schemas import (
    Assignment,
    Instance,
    Interval,
    Official,
    OnRestDay,
    Period,
    Rotation,
    Rule,
    RuleKind,
    TenureSpan,
)
from bench.roster.names import (
    COMMUNITY_HEADS,
    COMMUNITY_TAILS,
    TOWNSHIPS,
    VILLAGE_HEADS,
    VILLAGE_TAILS,
    PersonNames,
    place_names,
)

YEAR: Final = 2027
SEED: Final = 7

COUNTY_LEADERS: Final = 30
COUNTY_MIN_PRESENT: Final = 3
COUNTY_HANDOVER: Final = ("C07", "C31", 7)  # leaves, arrives, on the 1st of this month
TOWNSHIP_HANDOVER: Final = ("T05-S", "T05-S2", 10)
COMBINED_CHAIR: Final = frozenset({"T03", "T08", "T13", "T18"})  # secretary chairs the congress
DAYS_OF_MONTH: Final = (1, 11, 21)
VILLAGES_PER_TOWNSHIP: Final = 15
TUESDAY: Final = 2  # ISO weekday, as `Rule.weekday`

UNAVAILABLE_SHARE: Final = 0.10
LONGEST_BLOCK: Final = 10
REASONS: Final = ("请假", "出差", "会议", "培训")
PLACING_MISSES: Final = 1_000
MOVING_TRIES: Final = 200

WISHING_LEADERS: Final = 5
WISHES: Final = 2  # desired dates, and as many undesired ones

ONE_DAY: Final = timedelta(days=1)


def days_between(first: date, last: date) -> Iterator[date]:
    """Every date from `first` to `last`, both included."""
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def tenure_days(tenure: TenureSpan | None, period: Period) -> tuple[date, date]:
    """The first and last day in post within `period` (`to` is the first day out)."""
    tenure = tenure or TenureSpan()
    first = period.start if tenure.start is None else max(period.start, tenure.start)
    last = period.end if tenure.end is None else min(period.end, tenure.end - ONE_DAY)
    return first, last


@dataclass
class _Person:
    """An official while the instance is built: days in post and blocks away."""

    id: str
    name: str
    first: date  # first day in post within the period
    last: date  # last day in post within the period
    tenure: TenureSpan | None = None
    blocks: list[Interval] = field(default_factory=list)
    off: set[date] = field(default_factory=set)
    desired: list[date] = field(default_factory=list)
    undesired: list[date] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def available(self, day: date) -> bool:
        return self.first <= day <= self.last and day not in self.off

    def add(self, block: Interval) -> None:
        self.blocks.append(block)
        self.off.update(days_between(block.start, block.end))

    def remove(self, block: Interval) -> None:
        self.blocks.remove(block)
        self.off.difference_update(days_between(block.start, block.end))

    def official(self) -> Official:
        return Official(
            id=self.id,
            name=self.name,
            unavailable=sorted(self.blocks, key=lambda b: b.start),
            tenure=self.tenure,
            desired=self.desired,
            undesired=self.undesired,
        )


def _person(
    id_: str, names: PersonNames, period: Period, tenure: TenureSpan | None = None
) -> _Person:
    return _Person(id_, names.next(), *tenure_days(tenure, period), tenure)


def _handover(
    leaving: str, arriving: str, month: int, names: PersonNames, period: Period
) -> tuple[_Person, _Person]:
    """Two holders of one post: the first's tenure ends on the 1st of `month`, when the
    second's starts."""
    day = date(period.start.year, month, 1)
    old = _person(leaving, names, period, TenureSpan(end=day))
    new = _person(arriving, names, period, TenureSpan(start=day))
    return old, new


@dataclass
class _Group:
    """One rule, the people who can cover it, and the dates someone must be in."""

    rule: Rule
    people: list[_Person]
    dates: list[date]
    need: int = 1
    movable: list[_Person] = field(default_factory=list)  # whose blocks may move; [] = all


# --------------------------------------------------------------------------- the rules


def _county(period: Period, names: PersonNames) -> _Group:
    leaving, arriving, month = COUNTY_HANDOVER
    old, new = _handover(leaving, arriving, month, names, period)
    people = [
        old if f"C{n:02d}" == leaving else _person(f"C{n:02d}", names, period)
        for n in range(1, COUNTY_LEADERS + 1)
    ]
    people.append(new)
    rule = Rule(
        id="county",
        kind=RuleKind.daily,
        name="县领导坐班接访",
        venue="县社会治理中心",
        sessions=["am", "pm"],
        per_day=1,
        pool=[p.id for p in people],
        min_gap_days=5,
    )
    return _Group(rule, people, list(days_between(period.start, period.end)), COUNTY_MIN_PRESENT)


def _township_dates(period: Period, calendar: WorkCalendar) -> list[date]:
    """The days of month and the working days they move to: no one may be short on either."""
    found: set[date] = set()
    for month in range(1, 13):
        for day in DAYS_OF_MONTH:
            nominal = date(period.start.year, month, day)
            found.update({nominal, calendar.roll_forward(nominal)})
    return sorted(d for d in found if period.start <= d <= period.end)


def _township(
    number: int, name: str, period: Period, names: PersonNames, dates: list[date]
) -> _Group:
    tid = f"T{number:02d}"
    combined = tid in COMBINED_CHAIR
    posts = ("S", "H") if combined else ("S", "H", "C")
    people = [_person(f"{tid}-{post}", names, period) for post in posts]
    leaving, arriving, month = TOWNSHIP_HANDOVER
    if people[0].id == leaving:
        people[0:1] = _handover(leaving, arriving, month, names, period)
    fallback = [_person(f"{tid}-F", names, period)] if combined else []
    rule = Rule(
        id=tid,
        kind=RuleKind.monthly,
        name=f"{name}三个一接访",
        venue=f"{name}便民服务中心",
        days_of_month=list(DAYS_OF_MONTH),
        pool=[p.id for p in people],
        fallback=[p.id for p in fallback],
        on_rest_day=OnRestDay.next_workday,
        once_per_member_per_month=True,
        rotation=Rotation.rotate,
    )
    return _Group(rule, people + fallback, dates)


def _village(number: int, name: str, period: Period, names: PersonNames) -> _Group:
    vid = f"V{number:03d}"
    secretary = _person(f"{vid}-S", names, period)
    deputy = _person(f"{vid}-D", names, period)
    committee = "村委会" if name.endswith("村") else "居委会"
    rule = Rule(
        id=vid,
        kind=RuleKind.weekly,
        name=f"{name}周二接访",
        venue=f"{name.removesuffix('村')}{committee}",
        weekday=TUESDAY,
        pool=[secretary.id, deputy.id],
        primary=secretary.id,
        on_rest_day=OnRestDay.skip,
    )
    tuesdays = [d for d in days_between(period.start, period.end) if d.isoweekday() == TUESDAY]
    return _Group(rule, [secretary, deputy], tuesdays, movable=[deputy])


_VILLAGE_PARTS: Final = (VILLAGE_HEADS, VILLAGE_TAILS)
_COMMUNITY_PARTS: Final = (COMMUNITY_HEADS, COMMUNITY_TAILS)


def _unit_names(rng: random.Random) -> list[list[str]]:
    """Fifteen village or community names for each township, in township order."""
    streets = sum(t.endswith("街道") for t in TOWNSHIPS)
    each = VILLAGES_PER_TOWNSHIP
    villages = iter(place_names(rng, (len(TOWNSHIPS) - streets) * each, *_VILLAGE_PARTS, "村"))
    communities = iter(place_names(rng, streets * each, *_COMMUNITY_PARTS, "社区"))
    return [
        [next(communities if t.endswith("街道") else villages) for _ in range(each)]
        for t in TOWNSHIPS
    ]


def _groups(rng: random.Random, period: Period) -> list[_Group]:
    names = PersonNames(rng)
    calendar = WorkCalendar.china()
    township_dates = _township_dates(period, calendar)
    groups = [_county(period, names)]
    groups += [
        _township(n, name, period, names, township_dates)
        for n, name in enumerate(TOWNSHIPS, start=1)
    ]
    number = 0
    for units in _unit_names(rng):
        for name in units:
            number += 1
            groups.append(_village(number, name, period, names))
    return groups


# --------------------------------------------------------------------------- time away


def _fits(person: _Person, first: date, last: date, forbidden: Callable[[date], bool]) -> bool:
    """Inside the tenure, not touching another block, and on no forbidden date."""
    if first < person.first or last > person.last:
        return False
    if any(d in person.off for d in days_between(first - ONE_DAY, last + ONE_DAY)):
        return False
    return not any(forbidden(d) for d in days_between(first, last))


def _place(
    rng: random.Random,
    person: _Person,
    length: int,
    reason: str,
    tries: int,
    forbidden: Callable[[date], bool] = lambda _: False,
) -> bool:
    starts = person.days - length + 1
    if starts < 1:
        return False
    for _ in range(tries):
        first = person.first + timedelta(days=rng.randrange(starts))
        last = first + timedelta(days=length - 1)
        if _fits(person, first, last, forbidden):
            person.add(Interval(first, last, reason))
            return True
    return False


def _fill(rng: random.Random, person: _Person) -> None:
    """Blocks of 1–10 days at random until a tenth of the person's days are covered."""
    target = round(UNAVAILABLE_SHARE * person.days)
    misses = 0
    while len(person.off) < target and misses < PLACING_MISSES:
        length = min(rng.randint(1, LONGEST_BLOCK), target - len(person.off))
        if not _place(rng, person, length, rng.choice(REASONS), tries=1):
            misses += 1


def _present(group: _Group, day: date, without: _Person | None = None) -> int:
    return sum(p.available(day) for p in group.people if p is not without)


def _move_away_from(rng: random.Random, group: _Group, day: date) -> None:
    """Move one block covering `day` elsewhere, to dates where the others are enough
    without its owner; drop it if there is no such place."""
    candidates = [p for p in group.movable or group.people if p.first <= day <= p.last]
    candidates = [p for p in candidates if day in p.off]
    if not candidates:
        raise ValueError(f"{group.rule.id}: nobody to bring back on {day}")
    person = rng.choice(candidates)
    block = next(b for b in person.blocks if b.start <= day <= b.end)
    person.remove(block)
    short = frozenset(d for d in group.dates if _present(group, d, without=person) < group.need)
    length = (block.end - block.start).days + 1
    _place(rng, person, length, block.reason, MOVING_TRIES, short.__contains__)


def _ensure_cover(rng: random.Random, group: _Group) -> None:
    """No move creates a new short date: a block only goes where the others suffice."""
    for day in group.dates:
        while _present(group, day) < group.need:
            _move_away_from(rng, group, day)


def _wishes(rng: random.Random, county: _Group) -> None:
    """Two desired and two undesired dates, all in post and not away, for a few leaders."""
    settled = [p for p in county.people if p.tenure is None]
    for person in sorted(rng.sample(settled, WISHING_LEADERS), key=lambda p: p.id):
        free = [d for d in county.dates if person.available(d)]
        picked = rng.sample(free, 2 * WISHES)
        person.desired = sorted(picked[:WISHES])
        person.undesired = sorted(picked[WISHES:])


# --------------------------------------------------------------------------- public


def county_year(year: int = YEAR, seed: int = SEED) -> Instance:
    """The county's whole year: 1 daily, 20 monthly and 300 weekly rules."""
    rng = random.Random(seed)
    period = Period(date(year, 1, 1), date(year, 12, 31))
    groups = _groups(rng, period)
    people = [p for g in groups for p in g.people]
    for person in people:
        _fill(rng, person)
    for group in groups:
        _ensure_cover(rng, group)
    _wishes(rng, groups[0])
    return Instance(
        period=period,
        officials=[p.official() for p in people],
        rules=[g.rule for g in groups],
    )


def with_absence(
    instance: Instance, roster: list[Assignment], official: str, start: date, days: int
) -> Instance:
    """`instance` re-planned after `roster`: `official` is away `days` days from `start`."""
    if days < 1:
        raise ValueError(f"an absence lasts at least one day, not {days}")
    if all(o.id != official for o in instance.officials):
        raise ValueError(f"no official {official!r} in the instance")
    block = Interval(start, start + timedelta(days=days - 1), "请假")
    officials = [
        msgspec.structs.replace(
            o, unavailable=sorted([*o.unavailable, block], key=lambda b: (b.start, b.end))
        )
        if o.id == official
        else o
        for o in instance.officials
    ]
    return msgspec.structs.replace(instance, officials=officials, previous=list(roster))


def unavailable_share(instance: Instance) -> tuple[int, int]:
    """(days away, days in post) summed over officials, within the period."""
    away = in_post = 0
    for official in instance.officials:
        first, last = tenure_days(official.tenure, instance.period)
        off = {d for b in official.unavailable for d in days_between(b.start, b.end)}
        in_post += (last - first).days + 1
        away += sum(first <= d <= last for d in off)
    return away, in_post


def summary(instance: Instance, data: bytes) -> str:
    kinds = Counter(r.kind.value for r in instance.rules)
    away, in_post = unavailable_share(instance)
    return (
        f"{instance.period.start}..{instance.period.end}: {len(instance.officials)} officials, "
        f"rules {dict(sorted(kinds.items()))}, away {away / in_post:.1%} of {in_post:,} "
        f"official-days, {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--year", type=int, default=YEAR)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    instance = county_year(args.year, args.seed)
    built = time.perf_counter() - started
    data = msgspec.json.encode(instance)
    if msgspec.json.decode(data, type=Instance) != instance:
        raise SystemExit("the instance does not survive a JSON round trip")
    if args.out is None:
        sys.stdout.buffer.write(data + b"\n")
    else:
        args.out.write_bytes(data)
    print(f"{summary(instance, data)}; built in {built:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
