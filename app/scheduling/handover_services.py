"""A departing official's sittings at a departure handover (信访工作离任交接).

When a handover is archived, the departing tenure leaves the reception-rule pools from the
effective date and its future sittings go to the successor where the successor can stand:
a new roster version equal to the published one except for those sittings — the
minimal-change re-plan, made without a solve because only the sittings that cannot stand
change — published through `services.publish`, so dropped sittings are cancelled with
SEQUENCE + 1, the successor's are added, bookings follow (`booking_services.follow_roster`)
and each citizen is told through the change-notice job and the outbox. A sitting the
successor cannot take is cancelled and a normal re-plan (CP-SAT, fewest changes against the
published roster) is drafted to fill it, so no hole is left silently. The departing
official's pins from the effective date go too, unless another post of theirs stands on them.

Everything runs in the caller's transaction (the archive) and never commits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.errors import Conflict, RuleViolation
from app.org import services as org
from app.org.models import Tenure, Unit
from app.scheduling import services
from app.scheduling.booking_services import BookingStatus
from app.scheduling.models import (
    Booking,
    Pin,
    ReceptionRule,
    Roster,
    RosterAssignment,
    Sitting,
    SlotSeats,
    Unavailability,
)
from app.scheduling.schemas import Assignment, RosterIn

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The note of the version a handover publishes, and of the re-plan it drafts.
HANDOVER_NOTE = "离任交接"
REPLAN_NOTE = "离任交接：待重新排班"
_FOLLOWING = (BookingStatus.booked, BookingStatus.waitlisted)


@dataclass(frozen=True, slots=True)
class SittingsHandedOver:
    """What a handover did to the departing tenure's sittings."""

    #: The new sittings now held by the successor, by day.
    moved: list[int]
    #: The departing sittings from the effective date the successor cannot take: cancelled,
    #: and the days left for the re-plan ("N 次接访待重新排班").
    unfilled: list[int]
    bookings_moved: int
    bookings_cancelled: int
    #: The re-plan drafted for the unfilled days (solved by a job), if any.
    replan_roster_id: int | None
    #: The roster version the handover published, if any.
    roster_id: int | None = None
    #: The departing official's pins (fixed sittings) from the effective date that no other
    #: post of theirs can stand on: removed, each with its `schedule.pin.removed` entry.
    pins_removed: int = 0


async def future_sittings_of(
    db: AsyncSession, tenure_id: int, from_day: dt.date, *, lock: bool = False
) -> list[Sitting]:
    """The scheduled sittings held through this tenure from `from_day` on, by day. With
    `lock` the rows are locked for update, so a caller that takes its row locks before its
    ledger entries can take these first."""
    query = (
        select(Sitting)
        .where(
            Sitting.tenure_id == tenure_id,
            Sitting.day >= from_day,
            Sitting.status == "scheduled",
        )
        .order_by(Sitting.day, Sitting.id)
    )
    if lock:
        query = query.with_for_update(of=Sitting).execution_options(populate_existing=True)
    return list(await db.scalars(query))


# --------------------------------------------------------------------------- can stand


def in_post(tenure: Tenure, day: dt.date) -> bool:
    """Whether the tenure holds its post that day (an announced end counts as its end)."""
    end = tenure.end_date or tenure.planned_end
    return tenure.start_date <= day and (end is None or day < end)


@dataclass(slots=True)
class Standing:
    """Whether the successor can hold a departing sitting: the solver's hard rules that
    can be checked one sitting at a time — in post that day through a post of the rule
    (a fallback post only where the departing official sat through one too, so the
    fallback takes no seat the pool held), not away, no other sitting that day, and the
    rule's minimum gap between two sittings of one official."""

    tenure: Tenure
    departing_post: int
    away: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    #: Days the successor sits (in any rule), and their days in each rule.
    busy: set[dt.date] = field(default_factory=set)
    held: dict[int, list[dt.date]] = field(default_factory=lambda: defaultdict(list))

    def in_post(self, day: dt.date) -> bool:
        return in_post(self.tenure, day)

    def qualifies(self, rule: ReceptionRule) -> bool:
        post = self.tenure.post_id
        if post in rule.pool_posts:
            return True
        return post in rule.fallback_posts and self.departing_post not in rule.pool_posts

    def free(self, day: dt.date) -> bool:
        if day in self.busy:
            return False
        return not any(start <= day <= end for start, end in self.away)

    def spaced(self, rule: ReceptionRule, day: dt.date) -> bool:
        gap = int(rule.options.get("min_gap_days") or 0)
        return gap < 2 or all(abs((day - other).days) >= gap for other in self.held[rule.id])

    def can_take(self, sitting: Sitting) -> bool:
        return (
            self.in_post(sitting.day)
            and self.qualifies(sitting.rule)
            and self.free(sitting.day)
            and self.spaced(sitting.rule, sitting.day)
        )

    def take(self, sitting: Sitting) -> None:
        self.busy.add(sitting.day)
        self.held[sitting.rule_id].append(sitting.day)


def _widest_gap(sittings: Iterable[Sitting]) -> int:
    return max((int(s.rule.options.get("min_gap_days") or 0) for s in sittings), default=0)


async def standing_of(
    db: AsyncSession, successor: Tenure, departing: Tenure, leaving: Sequence[Sitting]
) -> Standing:
    """The successor's commitments around the departing sittings."""
    first, last = leaving[0].day, leaving[-1].day
    margin = dt.timedelta(days=_widest_gap(leaving))
    standing = Standing(successor, departing.post_id)
    away = await db.scalars(
        select(Unavailability).where(
            Unavailability.person_id == successor.person_id,
            Unavailability.start_date <= last,
            Unavailability.end_date >= first,
        )
    )
    standing.away = [(a.start_date, a.end_date) for a in away]
    theirs = await db.scalars(
        select(Sitting).where(
            Sitting.person_id == successor.person_id,
            Sitting.status == "scheduled",
            Sitting.day.between(first - margin, last + margin),
        )
    )
    for sitting in theirs:
        standing.take(sitting)
    return standing


async def _taken_by_successor(
    db: AsyncSession, successor: Tenure | None, departing: Tenure, leaving: Sequence[Sitting]
) -> set[int]:
    """The departing sittings the successor takes, in day order (an earlier one taken
    counts against a later one through the gap and one-a-day rules)."""
    if successor is None:
        return set()
    standing = await standing_of(db, successor, departing, leaving)
    taken: set[int] = set()
    for sitting in leaving:
        if standing.can_take(sitting):
            standing.take(sitting)
            taken.add(sitting.id)
    return taken


# --------------------------------------------------------------------------- locks


def _stands(tenure: Tenure, rule: ReceptionRule, day: dt.date) -> bool:
    posts = (*rule.pool_posts, *rule.fallback_posts)
    return in_post(tenure, day) and tenure.post_id in posts


async def _lock_pins(
    db: AsyncSession, departing: Tenure, county_id: int, start: dt.date
) -> list[Pin]:
    """The departing person's pins in the county from `start` on that no other tenure of
    theirs stands on that day: a pin naming someone out of post would bind every later
    solve (the re-plan's included). Locked here, before any ledger entry."""
    rules = {r.id: r for r in await services.rules_of(db, county_id)}
    pins = await db.scalars(
        select(Pin)
        .where(Pin.person_id == departing.person_id, Pin.rule_id.in_(list(rules)), Pin.day >= start)
        .order_by(Pin.id)
        .with_for_update()
    )
    others = [t for t in await org.open_tenures_of(db, departing.person_id) if t.id != departing.id]
    return [p for p in pins if not any(_stands(t, rules[p.rule_id], p.day) for t in others)]


async def _remove_pins(
    db: AsyncSession, actor: Principal, now: dt.datetime, pins: Sequence[Pin]
) -> int:
    for pin in pins:
        await services.remove_pin(db, actor, now, pin.id)
    return len(pins)


async def _lock_followers(db: AsyncSession, leaving: Sequence[Sitting]) -> list[int]:
    """Lock the bookings that will follow the cancelled sittings and their seats, as
    `follow_roster` will, before any ledger entry; returns the bookings' ids."""
    ids = [s.id for s in leaving]
    bookings = await db.scalars(
        select(Booking.id)
        .where(Booking.sitting_id.in_(ids), Booking.status.in_(_FOLLOWING))
        .order_by(Booking.id)
        .with_for_update(of=Booking)
    )
    following = list(bookings)
    await db.execute(
        select(SlotSeats.sitting_id)
        .where(SlotSeats.sitting_id.in_(ids))
        .order_by(SlotSeats.sitting_id, SlotSeats.slot_start)
        .with_for_update()
    )
    return following


async def _lock_published(db: AsyncSession, county_id: int) -> Roster | None:
    """The county's published roster, locked so no other publication slips in between;
    taken after the sittings, in the order `publish` takes them."""
    latest = await services.current_published(db, county_id)
    if latest is None:
        return None
    locked = await db.scalar(
        select(Roster)
        .where(Roster.id == latest.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None or locked.status != services.RosterStatus.published:
        raise Conflict("排班刚刚发布了新的版本，请重新办理。")
    return locked


# --------------------------------------------------------------------------- the version


def _county_id(unit: Unit) -> int:
    county = unit.id if unit.kind == "county" else unit.county_id
    if county is None:
        raise RuleViolation("该任职不属于任何县（市、区），没有接访安排可交接。")
    return county


def _period(latest: Roster | None, leaving: Sequence[Sitting]) -> tuple[dt.date, dt.date]:
    """The published period, widened to every departing sitting (one left over from an
    earlier version outside it), so publishing changes nothing else."""
    first, last = leaving[0].day, leaving[-1].day
    if latest is None:
        return first, last
    return min(latest.period_start, first), max(latest.period_end, last)


Row = tuple[int, dt.date, int, int | None]  # rule id, day, person id, tenure id


def _rows(
    live: Iterable[services.LiveKey],
    leaving: Sequence[Sitting],
    taken: set[int],
    successor: Tenure | None,
) -> list[Row]:
    """Every live sitting of the period as it stands, the taken ones with the successor;
    the departing sittings the successor cannot take are left out (cancelled)."""
    gone = {s.id for s in leaving}
    rows: list[Row] = []
    for s in live:
        if s.id not in gone:
            rows.append((s.rule_id, s.day, s.person_id, s.tenure_id))
        elif s.id in taken and successor is not None:
            rows.append((s.rule_id, s.day, successor.person_id, successor.id))
    return rows


async def _handover_version(
    db: AsyncSession,
    now: dt.datetime,
    county_id: int,
    latest: Roster | None,
    rows: list[Row],
    period: tuple[dt.date, dt.date],
) -> Roster:
    """A ready version made of `rows`, based on the published one."""
    code = {r.id: r.code for r in await services.rules_of(db, county_id)}
    assignments = [Assignment(code[r], d, services.official_id(p)) for r, d, p, _ in rows]
    roster = Roster(
        county_id=county_id,
        period_start=period[0],
        period_end=period[1],
        status=services.RosterStatus.ready,
        based_on_id=latest.id if latest else None,
        note=HANDOVER_NOTE,
        created_at=now,
        result={"digest": services.digest(assignments), "assignments": len(assignments)},
    )
    db.add(roster)
    await db.flush()
    db.add_all(
        RosterAssignment(roster_id=roster.id, rule_id=r, day=d, person_id=p, tenure_id=t)
        for r, d, p, t in rows
    )
    await db.flush()
    return roster


async def _replan(
    db: AsyncSession, actor: Principal, now: dt.datetime, county_id: int, first: dt.date
) -> Roster:
    """A normal re-plan from the first unfilled day to the end of the published period:
    the solve job (CP-SAT) fills the cancelled days with the fewest changes to the rest.
    The archive ends the departing tenure in the same transaction, so the solve, which runs
    after the commit, no longer counts the departing official in the pools."""
    latest = await services.current_published(db, county_id)
    assert latest is not None  # the handover version was just published
    end = max(latest.period_end, first)
    return await services.draft_roster(
        db, actor, now, RosterIn(county_id, first, end, note=REPLAN_NOTE)
    )


async def _booking_outcome(db: AsyncSession, following: list[int]) -> tuple[int, int]:
    if not following:
        return 0, 0
    statuses = list(await db.scalars(select(Booking.status).where(Booking.id.in_(following))))
    cancelled = sum(1 for s in statuses if s == BookingStatus.cancelled)
    return len(statuses) - cancelled, cancelled


async def _parties(
    db: AsyncSession, departing_id: int, successor_id: int | None
) -> tuple[Tenure, Tenure | None]:
    departing = await org.get_tenure(db, departing_id)
    if successor_id is None:
        return departing, None
    successor = await org.get_tenure(db, successor_id)
    if successor.person_id == departing.person_id:
        raise RuleViolation("接任人不能是离任人本人。")
    return departing, successor


async def hand_over_sittings(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    departing_tenure_id: int,
    successor_tenure_id: int | None,
    from_day: dt.date,
) -> SittingsHandedOver:
    """Give the departing tenure's sittings from `from_day` (the effective date; never
    before today, since a past sitting was held or missed and is not rewritten) to the
    successor where the successor can stand (`Standing`); cancel the rest and draft a
    re-plan for them. With no successor (an interim owner outside the post) every one is
    cancelled and re-planned. No future sittings: nothing is done.

    The caller is the office archiving the handover: `publish` and `draft_roster` accept
    the office (an editor of rosters) in its county, so the normal path is taken and the
    office needs no other role. The version is made and published in one step: its
    `roster.published` entry records it (a `roster.drafted` entry first would be written
    before `publish` locks the bookings' seats); the moved and cancelled bookings write
    `booking.moved`/`booking.cancelled`, the re-plan `roster.drafted`. Row locks come
    before this function's first ledger entry."""
    departing, successor = await _parties(db, departing_tenure_id, successor_tenure_id)
    county_id = _county_id(departing.post.unit)
    county = await org.get_unit(db, county_id)
    require_scope(actor, services.EDITORS, county.path, "交接离任领导的接访安排")
    start = max(from_day, now.astimezone(SHANGHAI).date())
    pins = await _lock_pins(db, departing, county_id, start)
    leaving = await future_sittings_of(db, departing.id, start, lock=True)
    if not leaving:
        removed = await _remove_pins(db, actor, now, pins)
        return SittingsHandedOver([], [], 0, 0, None, pins_removed=removed)
    following = await _lock_followers(db, leaving)
    latest = await _lock_published(db, county_id)
    taken = await _taken_by_successor(db, successor, departing, leaving)
    period = _period(latest, leaving)
    live = await services.live_keys(
        db, [r.id for r in await services.rules_of(db, county_id)], *period
    )
    rows = _rows(live, leaving, taken, successor)
    roster = await _handover_version(db, now, county_id, latest, rows, period)
    await services.publish(db, actor, now, roster.id)
    removed = await _remove_pins(db, actor, now, pins)
    moved = await db.scalars(
        select(Sitting.id).where(Sitting.roster_id == roster.id).order_by(Sitting.day, Sitting.id)
    )
    unfilled = [s for s in leaving if s.id not in taken]
    replan = await _replan(db, actor, now, county_id, unfilled[0].day) if unfilled else None
    bookings_moved, bookings_cancelled = await _booking_outcome(db, following)
    return SittingsHandedOver(
        moved=list(moved),
        unfilled=[s.id for s in unfilled],
        bookings_moved=bookings_moved,
        bookings_cancelled=bookings_cancelled,
        replan_roster_id=replan.id if replan else None,
        roster_id=roster.id,
        pins_removed=removed,
    )
