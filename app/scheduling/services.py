"""Roster use cases: venues, rules, unavailability, pins, roster versions and publishing.

One function per use case, all inside the caller's transaction; none commits. Refusals
raise `DomainError`s before anything is written. Every state change appends its ledger
entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar
import msgspec
import rfc8785
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import ORG_READER_ROLES, Role
from app.core.errors import Conflict, NotFound, RuleViolation
from app.core.holidays import calendar_for
from app.core.workdays import WorkCalendar
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org.models import Person, Post, Tenure, Unit
from app.scheduling import booking_services as bookings
from app.scheduling import meetings
from app.scheduling.hours import Hours, covered, parse_clock, span
from app.scheduling.ical import CalendarEvent, feed
from app.scheduling.models import (
    CalendarToken,
    Meeting,
    Pin,
    ReceptionRule,
    Roster,
    RosterAssignment,
    Sitting,
    Unavailability,
    Venue,
)
from app.scheduling.schemas import (
    DAY_SESSION,
    Assignment,
    Instance,
    Interval,
    MeetingIn,
    Official,
    Period,
    PinIn,
    Result,
    RosterIn,
    Rule,
    RuleIn,
    RuleKind,
    Term,
    UnavailabilityIn,
    UnavailableReason,
    VenueIn,
)

EDITORS = frozenset({Role.admin, Role.office})
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_PERIOD_DAYS = 400


class RosterStatus:
    queued = "queued"
    ready = "ready"
    infeasible = "infeasible"
    failed = "failed"
    published = "published"
    superseded = "superseded"
    discarded = "discarded"


STATUS_LABELS = {
    RosterStatus.queued: "排班中",
    RosterStatus.ready: "待发布",
    RosterStatus.infeasible: "无法排班",
    RosterStatus.failed: "排班失败",
    RosterStatus.published: "已发布",
    RosterStatus.superseded: "已被新版本取代",
    RosterStatus.discarded: "已作废",
}

VENUE_SAVED = ledger_action(
    "schedule.venue.saved",
    "venue",
    "建立或修改接访场所",
    unit="所属单位编号",
    fields="变化的字段名",
)
RULE_SAVED = ledger_action(
    "schedule.rule.saved",
    "reception_rule",
    "建立或修改接访规则",
    unit="所属单位编号",
    kind="规则类别（daily/monthly/weekly）",
    fields="变化的字段名",
)
AWAY_ADDED = ledger_action(
    "schedule.unavailability.added",
    "unavailability",
    "登记领导不可接访的日期",
    person="人员编号",
    start="起始日（含）",
    end="结束日（含）",
    reason="原因类别",
)
AWAY_REMOVED = ledger_action(
    "schedule.unavailability.removed", "unavailability", "撤销不可接访登记", person="人员编号"
)
PIN_ADDED = ledger_action(
    "schedule.pin.added", "pin", "固定一次接访安排", rule="规则编号", day="日期", person="人员编号"
)
PIN_REMOVED = ledger_action("schedule.pin.removed", "pin", "取消固定安排", rule="规则编号")
ROSTER_DRAFTED = ledger_action(
    "roster.drafted",
    "roster",
    "发起排班（生成草稿）",
    start="起始日",
    end="结束日",
    based_on="所依据的已发布版本编号",
)
ROSTER_SOLVED = ledger_action(
    "roster.solved",
    "roster",
    "排班求解完成",
    status="求解状态（OPTIMAL/FEASIBLE/INFEASIBLE/UNKNOWN）",
    objective="软约束罚分",
    bound="罚分下界",
    assignments="安排数",
    changes="相对已发布版本的变动数",
    digest="安排清单的 SHA-256",
)
ROSTER_DISCARDED = ledger_action("roster.discarded", "roster", "作废未发布的排班版本")
ROSTER_PUBLISHED = ledger_action(
    "roster.published",
    "roster",
    "发布排班",
    start="起始日",
    end="结束日",
    added="新增的接访安排数",
    cancelled="取消的接访安排数",
    kept="保留的接访安排数",
    digest="安排清单的 SHA-256（与 roster.solved 一致）",
)


async def _record(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    county: int,
    action: str,
    subject: tuple[str, int],
    /,
    **payload: object,
) -> None:
    role = Role.admin.value if Role.admin in actor.roles else None
    await ledger.append(
        db,
        county=county,
        actor=actor,
        action=action,
        subject=subject,
        payload=payload,
        at=now,
        role=role or (Role.office.value if Role.office in actor.roles else None),
    )


async def _unit(db: AsyncSession, unit_id: int) -> Unit:
    unit = await db.get(Unit, unit_id)
    if unit is None:
        raise NotFound("找不到该单位。")
    return unit


def _county_of(unit: Unit) -> int:
    county = unit.county_id if unit.kind != "county" else unit.id
    if county is None:
        raise RuleViolation("接访排班只能设在县及其下属单位。")
    return county


# --------------------------------------------------------------------------- venues


async def save_venue(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: VenueIn, venue_id: int | None = None
) -> Venue:
    unit = await _unit(db, data.unit_id)
    require_scope(actor, EDITORS, unit.path, "设置接访场所")
    _check_sessions(data)
    venue = await get_venue(db, venue_id) if venue_id else None
    values = {
        "unit_id": unit.id,
        "name": data.name,
        "address": data.address,
        "rooms": data.rooms,
        "sessions": msgspec.to_builtins(data.sessions),
        "slot_minutes": data.slot_minutes,
        "seats_per_slot": data.seats_per_slot,
    }
    changed = sorted(k for k, v in values.items() if venue is None or getattr(venue, k) != v)
    if venue is None:
        venue = Venue(county_id=_county_of(unit), created_at=now, updated_at=now, **values)
        db.add(venue)
    else:
        for k, v in values.items():
            setattr(venue, k, v)
        venue.updated_at = now
        if {"name", "address", "sessions"} & set(changed):
            await _touch_sittings(db, now, Sitting.venue_id == venue.id)
    await db.flush()
    await _record(
        db,
        actor,
        now,
        venue.county_id,
        VENUE_SAVED,
        ("venue", venue.id),
        unit=unit.id,
        fields=changed,
    )
    return venue


def _check_sessions(data: VenueIn) -> None:
    if not data.sessions:
        raise RuleViolation("接访场所至少要有一个接待时段。")
    for s in data.sessions:
        if s.start >= s.end:
            raise RuleViolation(f"时段“{s.label}”的结束时间必须晚于开始时间。")
    if len({s.key for s in data.sessions}) != len(data.sessions):
        raise RuleViolation("接待时段的代码不能重复。")


async def get_venue(db: AsyncSession, venue_id: int) -> Venue:
    venue = await db.get(Venue, venue_id)
    if venue is None:
        raise NotFound("找不到该接访场所。")
    return venue


async def venues_of(db: AsyncSession, county_id: int) -> list[Venue]:
    return list(
        await db.scalars(select(Venue).where(Venue.county_id == county_id).order_by(Venue.id))
    )


# --------------------------------------------------------------------------- rules


def _options(data: RuleIn) -> dict[str, object]:
    options: dict[str, object] = {"per_day": data.per_day, "sessions": data.sessions}
    if data.kind is RuleKind.daily:
        options["min_gap_days"] = data.min_gap_days
    elif data.kind is RuleKind.monthly:
        options |= {
            "days_of_month": sorted(set(data.days_of_month)),
            "once_per_member_per_month": data.once_per_member_per_month,
            "rotation": str(data.rotation),
        }
    else:
        options["weekday"] = data.weekday
    if data.on_rest_day is not None:
        options["on_rest_day"] = str(data.on_rest_day)
    return options


async def _check_rule(db: AsyncSession, data: RuleIn, unit: Unit, county: int) -> None:
    venue = await get_venue(db, data.venue_id)
    if venue.county_id != county:
        raise RuleViolation("接访场所不属于该县。")
    if not data.pool_posts:
        raise RuleViolation("接访规则至少要有一个接访职务。")
    posts = {
        p.id: p
        for p in await db.scalars(
            select(Post).where(Post.id.in_([*data.pool_posts, *data.fallback_posts]))
        )
    }
    missing = ({*data.pool_posts, *data.fallback_posts}) - set(posts)
    if missing:
        raise RuleViolation("接访职务不存在：" + "、".join(map(str, sorted(missing))))
    if any(p.unit_id != unit.id for p in posts.values() if p.id in data.pool_posts):
        raise RuleViolation("接访职务必须是本单位的职务。")
    if data.primary_post_id is not None and data.primary_post_id not in data.pool_posts:
        raise RuleViolation("主接访职务必须是接访职务之一。")
    if data.kind is RuleKind.weekly and data.primary_post_id is None and len(data.pool_posts) > 1:
        raise RuleViolation("每周接访规则有多个职务时，须指定主接访职务（如村党组织书记）。")


async def save_rule(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: RuleIn, rule_id: int | None = None
) -> ReceptionRule:
    unit = await _unit(db, data.unit_id)
    require_scope(actor, EDITORS, unit.path, "设置接访规则")
    county = _county_of(unit)
    await _check_rule(db, data, unit, county)
    rule = await get_rule(db, rule_id) if rule_id else None
    clash = await db.scalar(
        select(ReceptionRule).where(
            ReceptionRule.county_id == county, ReceptionRule.code == data.code
        )
    )
    if clash is not None and (rule is None or clash.id != rule.id):
        raise Conflict(f"规则代码 {data.code} 已被使用。")
    values = {
        "unit_id": unit.id,
        "code": data.code,
        "name": data.name,
        "kind": str(data.kind),
        "venue_id": data.venue_id,
        "pool_posts": data.pool_posts,
        "fallback_posts": data.fallback_posts,
        "primary_post_id": data.primary_post_id,
        "options": _options(data),
    }
    changed = sorted(k for k, v in values.items() if rule is None or getattr(rule, k) != v)
    if rule is None:
        rule = ReceptionRule(
            county_id=county, created_at=now, updated_at=now, active=True, **values
        )
        db.add(rule)
    else:
        for k, v in values.items():
            setattr(rule, k, v)
        rule.updated_at = now
        if {"name", "venue_id", "options"} & set(changed):
            await _touch_sittings(db, now, Sitting.rule_id == rule.id, venue_id=rule.venue_id)
    await db.flush()
    await _record(
        db,
        actor,
        now,
        county,
        RULE_SAVED,
        ("reception_rule", rule.id),
        unit=unit.id,
        kind=str(data.kind),
        fields=changed,
    )
    return rule


async def _touch_sittings(
    db: AsyncSession, now: dt.datetime, which: ColumnElement[bool], venue_id: int | None = None
) -> None:
    """A change calendars show (a venue's address or hours, a rule's name or venue) is a
    new version of every coming sitting it concerns: SEQUENCE goes up (RFC 5545 §3.8.7.4)
    so subscribed calendars take the update; a rule moved to another venue moves them."""
    today = now.astimezone(SHANGHAI).date()
    query = select(Sitting).where(which, Sitting.day >= today, Sitting.status == "scheduled")
    for sitting in await db.scalars(query):
        sitting.sequence += 1
        sitting.updated_at = now
        if venue_id is not None:
            sitting.venue_id = venue_id


async def get_rule(db: AsyncSession, rule_id: int) -> ReceptionRule:
    rule = await db.get(ReceptionRule, rule_id)
    if rule is None:
        raise NotFound("找不到该接访规则。")
    return rule


async def rules_of(db: AsyncSession, county_id: int) -> list[ReceptionRule]:
    query = select(ReceptionRule).where(ReceptionRule.county_id == county_id)
    return list(await db.scalars(query.order_by(ReceptionRule.kind, ReceptionRule.code)))


# --------------------------------------------------------------------------- unavailability


async def _person_unit_path(db: AsyncSession, person: Person) -> str:
    county = await db.get(Unit, person.county_id) if person.county_id else None
    return county.path if county else "/"


async def add_unavailability(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    data: UnavailabilityIn,
    *,
    source: str = "page",
    source_uid: str | None = None,
) -> Unavailability:
    """Leaders enter their own absences; the office and admins enter anyone's."""
    person = await db.get(Person, data.person_id)
    if person is None or person.county_id is None:
        raise NotFound("找不到该人员。")
    if actor.person_id != person.id:
        require_scope(actor, EDITORS, await _person_unit_path(db, person), "登记他人的不可接访日期")
    if data.end < data.start:
        raise RuleViolation("结束日期不能早于开始日期。")
    if (data.end - data.start).days > MAX_PERIOD_DAYS:
        raise RuleViolation("一次登记的不可接访期间不能超过一年。")
    away = Unavailability(
        county_id=person.county_id,
        person_id=person.id,
        start_date=data.start,
        end_date=data.end,
        reason=str(data.reason),
        source=source,
        source_uid=source_uid,
        created_at=now,
    )
    db.add(away)
    await db.flush()
    await _record(
        db,
        actor,
        now,
        person.county_id,
        AWAY_ADDED,
        ("unavailability", away.id),
        person=person.id,
        start=data.start.isoformat(),
        end=data.end.isoformat(),
        reason=str(data.reason),
    )
    return away


async def remove_unavailability(
    db: AsyncSession, actor: Principal, now: dt.datetime, away_id: int
) -> None:
    away = await db.get(Unavailability, away_id)
    if away is None:
        raise NotFound("找不到该登记。")
    if actor.person_id != away.person_id:
        require_scope(actor, EDITORS, await _person_unit_path(db, away.person), "撤销他人的登记")
    await db.delete(away)
    await _record(
        db,
        actor,
        now,
        away.county_id,
        AWAY_REMOVED,
        ("unavailability", away_id),
        person=away.person_id,
    )


async def unavailability_of(
    db: AsyncSession, county_id: int, start: dt.date, end: dt.date
) -> list[Unavailability]:
    query = select(Unavailability).where(
        Unavailability.county_id == county_id,
        Unavailability.start_date <= end,
        Unavailability.end_date >= start,
    )
    return list(await db.scalars(query.order_by(Unavailability.start_date)))


# --------------------------------------------------------------------------- pins


async def add_pin(db: AsyncSession, actor: Principal, now: dt.datetime, data: PinIn) -> Pin:
    rule = await get_rule(db, data.rule_id)
    require_scope(actor, EDITORS, rule.unit.path, "固定接访安排")
    if await db.get(Person, data.person_id) is None:
        raise NotFound("找不到该人员。")
    exists = await db.scalar(
        select(Pin).where(
            Pin.rule_id == rule.id, Pin.day == data.day, Pin.person_id == data.person_id
        )
    )
    if exists is not None:
        raise Conflict("该安排已经固定。")
    pin = Pin(rule_id=rule.id, day=data.day, person_id=data.person_id, created_at=now)
    db.add(pin)
    await db.flush()
    await _record(
        db,
        actor,
        now,
        rule.county_id,
        PIN_ADDED,
        ("pin", pin.id),
        rule=rule.id,
        day=data.day.isoformat(),
        person=data.person_id,
    )
    return pin


async def remove_pin(db: AsyncSession, actor: Principal, now: dt.datetime, pin_id: int) -> None:
    pin = await db.get(Pin, pin_id)
    if pin is None:
        raise NotFound("找不到该固定安排。")
    rule = await get_rule(db, pin.rule_id)
    require_scope(actor, EDITORS, rule.unit.path, "取消固定安排")
    await db.delete(pin)
    await _record(db, actor, now, rule.county_id, PIN_REMOVED, ("pin", pin_id), rule=rule.id)


# --------------------------------------------------------------------------- the instance


def official_id(person_id: int) -> str:
    return f"P{person_id}"


def person_of(official: str) -> int:
    return int(official[1:])


@dataclass(slots=True)
class Loaded:
    """The database's view of a county's rosters for a period, as a solver instance."""

    instance: Instance
    calendar: WorkCalendar
    rules: dict[str, ReceptionRule]
    #: (rule code, person id) -> that person's tenures on the rule's posts
    tenures: dict[tuple[str, int], list[Tenure]]


async def _tenures_on(
    db: AsyncSession, posts: Iterable[int], start: dt.date, end: dt.date
) -> list[Tenure]:
    query = select(Tenure).where(
        Tenure.post_id.in_(list(posts)),
        Tenure.start_date <= end,
        (Tenure.end_date.is_(None)) | (Tenure.end_date > start),
    )
    return list(await db.scalars(query.order_by(Tenure.start_date)))


def _primary(
    tenures: list[Tenure], post_id: int | None, start: dt.date, end: dt.date
) -> str | None:
    """The holder of the primary post for most of the period."""
    days: dict[int, int] = defaultdict(int)
    for t in tenures:
        if t.post_id == post_id:
            last = min(end, (t.end_date or end + dt.timedelta(days=1)) - dt.timedelta(days=1))
            days[t.person_id] += max(0, (last - max(start, t.start_date)).days + 1)
    return official_id(max(days, key=lambda p: days[p])) if days else None


def _rule_of(row: ReceptionRule, tenures: list[Tenure], period: Period) -> Rule:
    pool_posts, fallback_posts = set(row.pool_posts), set(row.fallback_posts)
    pool = sorted({official_id(t.person_id) for t in tenures if t.post_id in pool_posts})
    fallback = sorted(
        {official_id(t.person_id) for t in tenures if t.post_id in fallback_posts} - set(pool)
    )
    terms = [Term(official_id(t.person_id), t.start_date, t.end_date) for t in tenures]
    options = dict(row.options)
    data = {
        "id": row.code,
        "kind": row.kind,
        "pool": pool,
        "fallback": fallback,
        "terms": terms,
        "name": row.name,
        "venue": row.venue.name,
        "primary": _primary(tenures, row.primary_post_id, period.start, period.end),
        **options,
    }
    return msgspec.convert(data, Rule, from_attributes=True)


async def load_instance(db: AsyncSession, county_id: int, start: dt.date, end: dt.date) -> Loaded:
    period = Period(start, end)
    rows = [r for r in await rules_of(db, county_id) if r.active]
    rules: list[Rule] = []
    tenure_map: dict[tuple[str, int], list[Tenure]] = defaultdict(list)
    people: dict[int, Person] = {}
    for row in rows:
        tenures = await _tenures_on(db, {*row.pool_posts, *row.fallback_posts}, start, end)
        rules.append(_rule_of(row, tenures, period))
        for t in tenures:
            tenure_map[(row.code, t.person_id)].append(t)
            people[t.person_id] = t.person
    officials = await _officials(db, county_id, people, start, end)
    pins, previous = await _pins_and_previous(db, rows, start, end)
    instance = Instance(period, officials, rules, pinned=pins, previous=previous)
    return Loaded(
        instance, await calendar_for(db, county_id), {r.code: r for r in rows}, tenure_map
    )


async def _officials(
    db: AsyncSession, county_id: int, people: dict[int, Person], start: dt.date, end: dt.date
) -> list[Official]:
    away: dict[int, list[Interval]] = defaultdict(list)
    for a in await unavailability_of(db, county_id, start, end):
        away[a.person_id].append(Interval(a.start_date, a.end_date, a.reason))
    return [
        Official(official_id(p.id), p.name, unavailable=away.get(p.id, []))
        for p in sorted(people.values(), key=lambda p: p.id)
    ]


async def _pins_and_previous(
    db: AsyncSession, rows: Sequence[ReceptionRule], start: dt.date, end: dt.date
) -> tuple[list[Assignment], list[Assignment]]:
    code = {r.id: r.code for r in rows}
    pins = await db.scalars(
        select(Pin).where(Pin.rule_id.in_(list(code)), Pin.day >= start, Pin.day <= end)
    )
    live = await live_keys(db, list(code), start, end)
    return (
        [Assignment(code[p.rule_id], p.day, official_id(p.person_id)) for p in pins],
        [Assignment(code[s.rule_id], s.day, official_id(s.person_id)) for s in live],
    )


def _live(rule_ids: list[int], start: dt.date, end: dt.date) -> ColumnElement[bool]:
    return and_(
        Sitting.rule_id.in_(rule_ids),
        Sitting.day >= start,
        Sitting.day <= end,
        Sitting.status == "scheduled",
    )


class LiveKey(NamedTuple):
    id: int
    rule_id: int
    day: dt.date
    person_id: int
    tenure_id: int | None


async def live_keys(
    db: AsyncSession, rule_ids: list[int], start: dt.date, end: dt.date
) -> list[LiveKey]:
    """The live sittings' keys, without loading the sittings (and their rule, venue and
    person): what diffing a year's roster needs, in a fraction of the time."""
    query = select(
        Sitting.id, Sitting.rule_id, Sitting.day, Sitting.person_id, Sitting.tenure_id
    ).where(_live(rule_ids, start, end))
    rows = await db.execute(query.order_by(Sitting.day, Sitting.rule_id))
    return [LiveKey(*row) for row in rows.tuples()]


# --------------------------------------------------------------------------- roster versions


def digest(assignments: Iterable[Assignment]) -> str:
    """SHA-256 of the canonical JSON of the sorted assignments: what the ledger anchors."""
    rows = [msgspec.to_builtins(a) for a in sorted(assignments)]
    return hashlib.sha256(rfc8785.dumps(rows)).hexdigest()


async def get_roster(db: AsyncSession, roster_id: int) -> Roster:
    roster = await db.get(Roster, roster_id)
    if roster is None:
        raise NotFound("找不到该排班版本。")
    return roster


async def current_published(db: AsyncSession, county_id: int) -> Roster | None:
    query = select(Roster).where(
        Roster.county_id == county_id, Roster.status == RosterStatus.published
    )
    found: Roster | None = await db.scalar(query.order_by(Roster.published_at.desc()).limit(1))
    return found


async def draft_roster(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    data: RosterIn,
    *,
    solve_later: bool = True,
) -> Roster:
    """Open a roster version for a period; the solve runs as a job (see jobs.py) unless the
    caller solves it itself (the demo loader)."""
    from app.core.jobs import enqueue

    county = await _unit(db, data.county_id)
    require_scope(actor, EDITORS, county.path, "排班")
    if data.end < data.start or (data.end - data.start).days > MAX_PERIOD_DAYS:
        raise RuleViolation("排班期间不正确：结束日期须不早于开始日期，且不超过一年。")
    based_on = await current_published(db, county.id)
    roster = Roster(
        county_id=county.id,
        period_start=data.start,
        period_end=data.end,
        status=RosterStatus.queued,
        based_on_id=based_on.id if based_on else None,
        note=data.note,
        created_at=now,
        result={},
    )
    db.add(roster)
    await db.flush()
    if solve_later:
        job = await enqueue(
            db,
            "roster.solve",
            {"roster": roster.id, "time_limit": data.time_limit},
            now=now,
            max_attempts=2,
        )
        roster.job_id = job.id
    await _record(
        db,
        actor,
        now,
        county.id,
        ROSTER_DRAFTED,
        ("roster", roster.id),
        start=data.start.isoformat(),
        end=data.end.isoformat(),
        based_on=roster.based_on_id,
    )
    return roster


async def store_result(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    roster: Roster,
    loaded: Loaded,
    result: Result,
) -> None:
    """Keep a solve's result on its draft (assignments as rows, the rest as JSON)."""
    for a in result.assignments:
        rule = loaded.rules[a.rule]
        db.add(
            RosterAssignment(
                roster_id=roster.id,
                rule_id=rule.id,
                day=a.date,
                person_id=person_of(a.official),
                tenure_id=_tenure_for(loaded, a),
            )
        )
    ok = result.status in ("OPTIMAL", "FEASIBLE")
    roster.status = RosterStatus.ready if ok else RosterStatus.infeasible
    summary = msgspec.to_builtins(msgspec.structs.replace(result, assignments=[]))
    roster.result = {**summary, "digest": digest(result.assignments)}
    await db.flush()
    await _record(
        db,
        actor,
        now,
        roster.county_id,
        ROSTER_SOLVED,
        ("roster", roster.id),
        status=str(result.status),
        objective=result.objective,
        bound=result.bound,
        assignments=len(result.assignments),
        changes=result.changes,
        digest=digest(result.assignments),
    )


def _tenure_for(loaded: Loaded, a: Assignment) -> int | None:
    for t in loaded.tenures.get((a.rule, person_of(a.official)), []):
        if t.start_date <= a.date and (t.end_date is None or a.date < t.end_date):
            return t.id
    return None


async def assignments_of(db: AsyncSession, roster_id: int) -> list[RosterAssignment]:
    query = select(RosterAssignment).where(RosterAssignment.roster_id == roster_id)
    return list(await db.scalars(query.order_by(RosterAssignment.day, RosterAssignment.rule_id)))


Triple = tuple[int, dt.date, int]  # rule id, day, person id


@dataclass(frozen=True, slots=True)
class Diff:
    added: list[Triple]
    removed: list[Triple]
    kept: int


def diff(old: Iterable[Triple], new: Iterable[Triple]) -> Diff:
    before, after = set(old), set(new)
    key = lambda t: (t[1], t[0], t[2])  # noqa: E731
    return Diff(
        sorted(after - before, key=key), sorted(before - after, key=key), len(before & after)
    )


async def roster_diff(db: AsyncSession, roster: Roster) -> Diff:
    """What publishing this version changes in the live sittings of its period."""
    rules = [r.id for r in await rules_of(db, roster.county_id)]
    live = await live_keys(db, rules, roster.period_start, roster.period_end)
    mine = await assignments_of(db, roster.id)
    return diff(
        ((s.rule_id, s.day, s.person_id) for s in live),
        ((a.rule_id, a.day, a.person_id) for a in mine),
    )


async def compare(db: AsyncSession, older_id: int, newer_id: int) -> Diff:
    old = await assignments_of(db, older_id)
    new = await assignments_of(db, newer_id)
    return diff(
        ((a.rule_id, a.day, a.person_id) for a in old),
        ((a.rule_id, a.day, a.person_id) for a in new),
    )


async def publish(db: AsyncSession, actor: Principal, now: dt.datetime, roster_id: int) -> Diff:
    """Make a ready version the live roster of its period: keep the sittings it keeps,
    cancel the ones it drops (sequence + 1, so calendars remove them), add the new."""
    roster = await get_roster(db, roster_id)
    county = await _unit(db, roster.county_id)
    require_scope(actor, EDITORS, county.path, "发布排班")
    if roster.status != RosterStatus.ready:
        raise RuleViolation(f"该版本{STATUS_LABELS.get(roster.status, roster.status)}，不能发布。")
    latest = await current_published(db, roster.county_id)
    if latest is not None and latest.id != roster.based_on_id:
        raise Conflict("排班已有更新的发布版本，请基于最新版本重新排班后再发布。")
    change = await roster_diff(db, roster)
    dropped = await _apply(db, roster, change, now)
    await db.flush()
    await bookings.follow_roster(db, now, dropped)
    if latest is not None:
        latest.status = RosterStatus.superseded
    roster.status, roster.published_at = RosterStatus.published, now
    await db.flush()
    await _record(
        db,
        actor,
        now,
        roster.county_id,
        ROSTER_PUBLISHED,
        ("roster", roster.id),
        start=roster.period_start.isoformat(),
        end=roster.period_end.isoformat(),
        added=len(change.added),
        cancelled=len(change.removed),
        kept=change.kept,
        digest=roster.result.get("digest") or await _roster_digest(db, roster),
    )
    return change


async def _sittings_by_id(db: AsyncSession, ids: list[int]) -> list[Sitting]:
    if not ids:
        return []
    query = select(Sitting).where(Sitting.id.in_(ids)).order_by(Sitting.day, Sitting.rule_id)
    return list(await db.scalars(query))


async def _roster_digest(db: AsyncSession, roster: Roster) -> str:
    code = {r.id: r.code for r in await rules_of(db, roster.county_id)}
    rows = await assignments_of(db, roster.id)
    return digest(Assignment(code[a.rule_id], a.day, official_id(a.person_id)) for a in rows)


async def _apply(db: AsyncSession, roster: Roster, change: Diff, now: dt.datetime) -> list[Sitting]:
    """Cancel the dropped sittings and add the new; returns the cancelled ones."""
    removed = set(change.removed)
    rules = {r.id: r for r in await rules_of(db, roster.county_id)}
    live = await live_keys(db, list(rules), roster.period_start, roster.period_end)
    gone = [k.id for k in live if (k.rule_id, k.day, k.person_id) in removed]
    dropped = await _sittings_by_id(db, gone)
    for s in dropped:
        s.status, s.sequence, s.updated_at = "cancelled", s.sequence + 1, now
    tenure = {
        (a.rule_id, a.day, a.person_id): a.tenure_id for a in await assignments_of(db, roster.id)
    }
    for rule_id, day, person in change.added:
        db.add(
            Sitting(
                county_id=roster.county_id,
                rule_id=rule_id,
                venue_id=rules[rule_id].venue_id,
                day=day,
                person_id=person,
                tenure_id=tenure[(rule_id, day, person)],
                roster_id=roster.id,
                status="scheduled",
                sequence=0,
                created_at=now,
                updated_at=now,
            )
        )
    return dropped


async def rosters_of(db: AsyncSession, actor: Principal, county_id: int) -> list[Roster]:
    county = await _unit(db, county_id)
    require_scope(actor, ORG_READER_ROLES, county.path, "查看排班")
    query = select(Roster).where(Roster.county_id == county_id)
    return list(await db.scalars(query.order_by(Roster.id.desc())))


async def replan(
    db: AsyncSession, actor: Principal, now: dt.datetime, county_id: int, today: dt.date
) -> Roster:
    """One click after a change (a leader falls ill): a new version of the published
    period from today on, solved against the published roster with the fewest changes."""
    latest = await current_published(db, county_id)
    if latest is None:
        raise RuleViolation("还没有已发布的排班，请先新建排班。")
    start = max(today, latest.period_start)
    if start > latest.period_end:
        raise RuleViolation("已发布的排班已经结束，请新建下一期排班。")
    data = RosterIn(county_id, start, latest.period_end, note="调整排班")
    return await draft_roster(db, actor, now, data)


async def discard(db: AsyncSession, actor: Principal, now: dt.datetime, roster_id: int) -> None:
    roster = await get_roster(db, roster_id)
    require_scope(actor, EDITORS, (await _unit(db, roster.county_id)).path, "作废排班版本")
    if roster.status in (RosterStatus.published, RosterStatus.superseded):
        raise RuleViolation("已发布的版本不能作废。")
    roster.status = RosterStatus.discarded
    await _record(db, actor, now, roster.county_id, ROSTER_DISCARDED, ("roster", roster.id))


async def progress_of(db: AsyncSession, roster: Roster) -> dict[str, object]:
    """The solve's progress as the job row has it (objective, bound, elapsed)."""
    from app.core.models import Job

    job = await db.get(Job, roster.job_id) if roster.job_id else None
    if job is None:
        return {}
    return {"job_status": job.status, **(job.progress or {}), "error": job.last_error}


async def sittings_between(
    db: AsyncSession,
    county_id: int,
    start: dt.date,
    end: dt.date,
    *,
    unit_id: int | None = None,
    venue_id: int | None = None,
    person_id: int | None = None,
    include_cancelled: bool = False,
) -> list[Sitting]:
    """Published sittings of a county for the month view, narrowed to a township (its own
    rules and its villages'), a venue or an official."""
    query = select(Sitting).where(
        Sitting.county_id == county_id, Sitting.day >= start, Sitting.day <= end
    )
    if not include_cancelled:
        query = query.where(Sitting.status == "scheduled")
    if venue_id is not None:
        query = query.where(Sitting.venue_id == venue_id)
    if person_id is not None:
        query = query.where(Sitting.person_id == person_id)
    if unit_id is not None:
        unit = await _unit(db, unit_id)
        inside = select(Unit.id).where(Unit.path.startswith(unit.path))
        rules = select(ReceptionRule.id).where(ReceptionRule.unit_id.in_(inside))
        query = query.where(Sitting.rule_id.in_(rules))
    return list(await db.scalars(query.order_by(Sitting.day, Sitting.rule_id)))


def _local_date(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).date() if value.tzinfo else value.date()
    return value


def _ics_days(event: icalendar.cal.Component) -> tuple[dt.date, dt.date] | None:
    """The inclusive dates an .ics busy event covers (DTEND is exclusive: an all-day event
    ending on the 5th covers the 4th; a meeting until 12:00 on the 5th covers the 5th)."""
    if "DTSTART" not in event:
        return None
    start: dt.date = event.decoded("DTSTART")
    end: dt.date = event.decoded("DTEND") if "DTEND" in event else start
    first = _local_date(start)
    if isinstance(end, dt.datetime):
        last = _local_date(end - dt.timedelta(microseconds=1))
    else:
        last = end - dt.timedelta(days=1) if end > start else end
    return first, max(first, last)


async def import_unavailability(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    person_id: int,
    data: bytes,
    reason: UnavailableReason = UnavailableReason.meeting,
) -> list[Unavailability]:
    """Busy times from an .ics file (an exported calendar): each VEVENT that is not
    cancelled or free becomes an unavailability; an event imported before is skipped."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise RuleViolation("无法读取该日历文件，请上传 .ics 格式的日历。") from exc
    known = set(
        await db.scalars(
            select(Unavailability.source_uid).where(
                Unavailability.person_id == person_id, Unavailability.source_uid.is_not(None)
            )
        )
    )
    added: list[Unavailability] = []
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID", "")) or None
        span = _ics_days(event)
        free = str(event.get("TRANSP", "")).upper() == "TRANSPARENT"
        if span is None or free or str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if uid and uid in known:
            continue
        item = UnavailabilityIn(person_id, span[0], span[1], reason)
        added.append(await add_unavailability(db, actor, now, item, source="ics", source_uid=uid))
    return added


# --------------------------------------------------------------------------- page queries


async def person_names(db: AsyncSession, person_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    rows = await db.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    return {int(row.id): str(row.name) for row in rows}


async def posts_by_id(db: AsyncSession, post_ids: Iterable[int]) -> dict[int, Post]:
    ids = sorted(set(post_ids))
    if not ids:
        return {}
    return {p.id: p for p in await db.scalars(select(Post).where(Post.id.in_(ids)))}


async def rostered_people(
    db: AsyncSession, county_id: int, start: dt.date, end: dt.date
) -> list[Person]:
    """Who may sit in the county's rules between two dates: the holders of their posts."""
    posts = {p for r in await rules_of(db, county_id) for p in (*r.pool_posts, *r.fallback_posts)}
    people = {t.person_id: t.person for t in await _tenures_on(db, posts, start, end)}
    return sorted(people.values(), key=lambda p: p.id)


async def pins_between(db: AsyncSession, county_id: int, start: dt.date, end: dt.date) -> list[Pin]:
    rules = select(ReceptionRule.id).where(ReceptionRule.county_id == county_id)
    query = select(Pin).where(Pin.rule_id.in_(rules), Pin.day >= start, Pin.day <= end)
    return list(await db.scalars(query.order_by(Pin.day, Pin.rule_id)))


# --------------------------------------------------------------------------- meetings

MEETING_CREATED = ledger_action(
    "meeting.created",
    "meeting",
    "安排会议",
    day="会议日期",
    start="开始时间（HH:MM）",
    end="结束时间（HH:MM）",
    persons="必须参会的人员编号列表",
    posts="必须参会的职务编号列表",
    unit_kinds="必须参会的单位层级列表（village/community/township/street）",
    attendees="按当日任职解析出的参会人数",
)
MEETING_GUARD_OVERRIDDEN = ledger_action(
    "meeting.guard_overridden",
    "meeting",
    "经书面说明越过会议规则（周二无会日、与已公布的接访冲突）安排会议",
    meeting="会议编号",
    reasons="被越过的拒绝理由条数",
)
#: Who may enter meetings, and who may override the guard with a written reason.
MEETING_EDITORS = EDITORS
GUARD_OVERRIDERS = frozenset({Role.admin, Role.office})


@dataclass(frozen=True, slots=True)
class Attendance:
    """Who a meeting calls in on its day, and the reception role of each required post."""

    attendees: list[meetings.Attendee]
    post_roles: dict[int, str]


def meeting_plan(data: MeetingIn) -> meetings.MeetingPlan:
    """The entered meeting as the guard sees it; refuses bad hours or levels."""
    start, end = parse_clock(data.start_time), parse_clock(data.end_time)
    problem = meetings.hours_problem(start, end) or meetings.level_problem(data.unit_kinds)
    if problem:
        raise RuleViolation(problem)
    return meetings.MeetingPlan(
        data.day,
        start,
        end,
        frozenset(data.persons),
        frozenset(data.posts),
        frozenset(data.unit_kinds),
    )


async def _required_posts(db: AsyncSession, county_id: int, post_ids: Iterable[int]) -> list[Post]:
    wanted = set(post_ids)
    found = list(await db.scalars(select(Post).where(Post.id.in_(wanted)))) if wanted else []
    inside = [p for p in found if county_id in (p.unit.id, p.unit.county_id)]
    missing = wanted - {p.id for p in inside}
    if missing:
        raise NotFound("本县没有这些职务：" + "、".join(map(str, sorted(missing))))
    return inside


async def _required_persons(
    db: AsyncSession, county_id: int, person_ids: Iterable[int]
) -> list[Person]:
    wanted = set(person_ids)
    found = list(await db.scalars(select(Person).where(Person.id.in_(wanted)))) if wanted else []
    inside = [p for p in found if p.county_id == county_id]
    missing = wanted - {p.id for p in inside}
    if missing:
        raise NotFound("本县没有这些人员：" + "、".join(map(str, sorted(missing))))
    return inside


async def _level_posts(db: AsyncSession, county_id: int, levels: Iterable[str]) -> list[int]:
    """The posts a meeting calls in by unit level: every village's secretary, …"""
    kinds = set(levels)
    if not kinds:
        return []
    roles = set().union(*(meetings.LEVEL_ROLES[k] for k in kinds))
    query = (
        select(Post.id)
        .join(Unit, Post.unit_id == Unit.id)
        .where(Unit.county_id == county_id, Unit.kind.in_(kinds), Post.reception_role.in_(roles))
    )
    return list(await db.scalars(query))


async def _tenures_on_day(
    db: AsyncSession, day: dt.date, *, posts: Iterable[int] = (), persons: Iterable[int] = ()
) -> list[Tenure]:
    """Tenures in force on `day`, of these posts or of these persons."""
    post_ids, person_ids = list(posts), list(persons)
    if not post_ids and not person_ids:
        return []
    query = select(Tenure).where(
        Tenure.post_id.in_(post_ids) | Tenure.person_id.in_(person_ids),
        Tenure.start_date <= day,
        Tenure.end_date.is_(None) | (Tenure.end_date > day),
    )
    return list(await db.scalars(query.order_by(Tenure.person_id, Tenure.id)))


async def resolve_attendance(
    db: AsyncSession, county_id: int, plan: meetings.MeetingPlan
) -> Attendance:
    """Required persons, the holders of required posts and of the posts the required unit
    levels call in, each with the reception roles of every post they hold that day."""
    posts = await _required_posts(db, county_id, plan.posts)
    chosen = await _required_persons(db, county_id, plan.persons)
    level_posts = await _level_posts(db, county_id, plan.unit_kinds)
    holders = await _tenures_on_day(db, plan.day, posts={*plan.posts, *level_posts})
    names = {p.id: p.name for p in chosen} | {t.person_id: t.person.name for t in holders}
    held = await _tenures_on_day(db, plan.day, persons=names)
    roles: dict[int, set[str]] = defaultdict(set)
    for tenure in held:
        roles[tenure.person_id].add(tenure.post.reception_role)
    attendees = [
        meetings.Attendee(pid, name, frozenset(roles[pid])) for pid, name in sorted(names.items())
    ]
    return Attendance(attendees, {p.id: p.reception_role for p in posts})


def sitting_hours(sitting: Sitting) -> list[Hours]:
    """The venue sessions a sitting covers (its rule's `sessions`; "day" = the whole day)."""
    sessions = sitting.rule.options.get("sessions") or [DAY_SESSION]
    return covered(sitting.venue.sessions, sessions)


async def _sitting_facts(
    db: AsyncSession, person_ids: Iterable[int], day: dt.date
) -> list[meetings.SittingFacts]:
    ids = list(person_ids)
    if not ids:
        return []
    query = select(Sitting).where(
        Sitting.person_id.in_(ids), Sitting.day == day, Sitting.status == "scheduled"
    )
    return [
        meetings.SittingFacts(s.person_id, s.rule.name, s.venue.name, tuple(sitting_hours(s)))
        for s in await db.scalars(query.order_by(Sitting.id))
    ]


async def meeting_refusals(
    db: AsyncSession, county_id: int, plan: meetings.MeetingPlan
) -> tuple[Attendance, list[str]]:
    """Who the meeting calls in, and why the guard refuses it (empty: it may be held)."""
    attendance = await resolve_attendance(db, county_id, plan)
    calendar = await calendar_for(db, county_id)
    sittings = await _sitting_facts(db, (a.person_id for a in attendance.attendees), plan.day)
    reasons = meetings.refusals(
        plan,
        attendance.attendees,
        meetings.DayFacts(workday=calendar.is_workday(plan.day)),
        sittings,
        post_roles=attendance.post_roles,
    )
    return attendance, reasons


async def _meeting_county(db: AsyncSession, county_id: int) -> Unit:
    county = await _unit(db, county_id)
    if county.kind != "county":
        raise RuleViolation("会议须安排在县（区、市）一级。")
    return county


async def create_meeting(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: MeetingIn
) -> Meeting:
    """Enter a meeting the guard allows; a refused one only with a written reason from an
    admin or the office, and the override is ledgered. A refusal writes nothing."""
    county = await _meeting_county(db, data.county_id)
    require_scope(actor, MEETING_EDITORS, county.path, "安排会议")
    plan = meeting_plan(data)
    if plan.day < now.astimezone(SHANGHAI).date():
        raise RuleViolation("会议日期已过，不能再安排。")
    attendance, reasons = await meeting_refusals(db, county.id, plan)
    override = (data.override_reason or "").strip()
    if reasons and not override:
        raise RuleViolation("；".join(reasons) + "。", reasons=reasons)
    if reasons:
        require_scope(actor, GUARD_OVERRIDERS, county.path, "越过会议规则安排会议")
    meeting = _new_meeting(county.id, actor, now, data, override if reasons else None)
    db.add(meeting)
    await db.flush()
    await _record_meeting(db, actor, now, meeting, len(attendance.attendees), len(reasons))
    return meeting


def _new_meeting(
    county_id: int, actor: Principal, now: dt.datetime, data: MeetingIn, override: str | None
) -> Meeting:
    required = {
        "persons": sorted(set(data.persons)),
        "posts": sorted(set(data.posts)),
        "unit_kinds": sorted(set(data.unit_kinds)),
    }
    return Meeting(
        county_id=county_id,
        title=data.title.strip(),
        day=data.day,
        start_time=data.start_time,
        end_time=data.end_time,
        required=required,
        override_reason=override,
        created_by=actor.account_id or None,
        created_at=now,
    )


async def _record_meeting(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    meeting: Meeting,
    attendees: int,
    overridden: int,
) -> None:
    subject = ("meeting", meeting.id)
    await _record(
        db,
        actor,
        now,
        meeting.county_id,
        MEETING_CREATED,
        subject,
        day=meeting.day.isoformat(),
        start=meeting.start_time,
        end=meeting.end_time,
        persons=meeting.required["persons"],
        posts=meeting.required["posts"],
        unit_kinds=meeting.required["unit_kinds"],
        attendees=attendees,
    )
    if overridden:
        await _record(
            db,
            actor,
            now,
            meeting.county_id,
            MEETING_GUARD_OVERRIDDEN,
            subject,
            meeting=meeting.id,
            reasons=overridden,
        )


async def meetings_of(
    db: AsyncSession, county_id: int, start: dt.date, end: dt.date
) -> list[Meeting]:
    query = select(Meeting).where(
        Meeting.county_id == county_id, Meeting.day >= start, Meeting.day <= end
    )
    return list(await db.scalars(query.order_by(Meeting.day, Meeting.start_time, Meeting.id)))


async def counties_for(db: AsyncSession, actor: Principal) -> list[Unit]:
    """The counties the actor works in: those inside their scope or holding it."""
    paths = actor.scope_paths(ORG_READER_ROLES)
    rows = await db.scalars(select(Unit).where(Unit.kind == "county").order_by(Unit.code))
    return [
        u
        for u in rows
        if paths is None or any(u.path.startswith(p) or p.startswith(u.path) for p in paths)
    ]


async def meeting_post_choices(db: AsyncSession, county_id: int) -> list[Post]:
    """Posts a meeting may require by name: the county's own, its departments', its
    townships' and streets' (villages are required by level instead)."""
    levels = ("county", "department", "township", "street")
    query = (
        select(Post)
        .join(Unit, Post.unit_id == Unit.id)
        .where(
            (Unit.id == county_id) | (Unit.county_id == county_id),
            Unit.kind.in_(levels),
        )
    )
    return list(await db.scalars(query.order_by(Unit.path, Post.id)))


# --------------------------------------------------------------------------- calendar feeds

TOKEN_ISSUED = ledger_action(
    "calendar.token.issued",
    "calendar_token",
    "签发个人日历订阅地址（只保存地址的 SHA-256）",
    person="人员编号",
)
TOKEN_REVOKED = ledger_action(
    "calendar.token.revoked", "calendar_token", "吊销个人日历订阅地址", person="人员编号"
)
#: A feed keeps the sittings of the last 30 days, so a subscriber still sees a recent one.
FEED_HISTORY_DAYS = 30
#: DTSTAMP of a feed with no sittings: any fixed moment keeps its bytes stable.
FEED_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DEFAULT_DEPLOYMENT = "jiefang"


def token_digest(token: str) -> str:
    """Only this is stored: the token is 32 random bytes, so plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _feed_owner(db: AsyncSession, actor: Principal, person_id: int, what: str) -> Person:
    """The person themselves, or an admin or the office of their county."""
    person = await db.get(Person, person_id)
    if person is None:
        raise NotFound("找不到该人员。")
    if actor.person_id != person.id:
        require_scope(actor, EDITORS, await _person_unit_path(db, person), what)
    return person


async def issue_calendar_token(
    db: AsyncSession, actor: Principal, now: dt.datetime, person_id: int
) -> str:
    """A new private feed address for the person; the token is returned once, only its hash
    is kept. A person may hold several, each revocable on its own."""
    person = await _feed_owner(db, actor, person_id, "为他人签发日历订阅地址")
    token = secrets.token_urlsafe(32)
    row = CalendarToken(person_id=person.id, token_hash=token_digest(token), created_at=now)
    db.add(row)
    await db.flush()
    await _record_token(db, actor, now, TOKEN_ISSUED, row, person)
    return token


async def revoke_calendar_token(
    db: AsyncSession, actor: Principal, now: dt.datetime, token_id: int
) -> CalendarToken:
    row = await db.get(CalendarToken, token_id)
    if row is None:
        raise NotFound("找不到该订阅地址。")
    person = await _feed_owner(db, actor, row.person_id, "吊销他人的日历订阅地址")
    if row.revoked_at is not None:
        raise Conflict("该订阅地址已经吊销。")
    row.revoked_at = now
    await db.flush()
    await _record_token(db, actor, now, TOKEN_REVOKED, row, person)
    return row


async def _record_token(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    action: str,
    row: CalendarToken,
    person: Person,
) -> None:
    """In the person's county ledger, or the administration ledger for a person registered
    deployment-wide."""
    role = next((r.value for r in (Role.admin, Role.office) if r in actor.roles), None)
    await ledger.append(
        db,
        county=person.county_id,
        actor=actor,
        action=action,
        subject=("calendar_token", row.id),
        payload={"person": person.id},
        at=now,
        role=role,
    )


async def calendar_tokens_of(
    db: AsyncSession, actor: Principal, person_id: int
) -> list[CalendarToken]:
    await _feed_owner(db, actor, person_id, "查看他人的日历订阅地址")
    query = select(CalendarToken).where(CalendarToken.person_id == person_id)
    return list(await db.scalars(query.order_by(CalendarToken.id.desc())))


async def person_for_token(db: AsyncSession, token: str) -> int:
    """The person a live feed token belongs to; NotFound for an unknown or revoked one."""
    row = await db.scalar(
        select(CalendarToken).where(
            CalendarToken.token_hash == token_digest(token), CalendarToken.revoked_at.is_(None)
        )
    )
    if row is None:
        raise NotFound("该日历订阅地址不存在或已被吊销。")
    return row.person_id


async def deployment_name(db: AsyncSession) -> str:
    """The deployment's fixed name, as the administration ledger's origin has it."""
    admin = await ledger.admin_ledger(db)
    return admin.origin.rsplit("/", 1)[0] if admin is not None else DEFAULT_DEPLOYMENT


def sitting_event(sitting: Sitting, deployment: str) -> CalendarEvent:
    """A published sitting as a calendar entry: its UID never changes, its SEQUENCE is the
    row's, and a cancelled row stays in the feed with STATUS:CANCELLED."""
    hours = sitting_hours(sitting)
    first, last = span(hours) or (dt.time(0, 0), dt.time(23, 59))
    cancelled = sitting.status == "cancelled"
    summary = f"{sitting.rule.name}：{sitting.person.name}"
    return CalendarEvent(
        uid=f"sitting-{sitting.id}@{deployment}",
        sequence=sitting.sequence,
        start=dt.datetime.combine(sitting.day, first, SHANGHAI),
        end=dt.datetime.combine(sitting.day, last, SHANGHAI),
        summary=f"【已取消】{summary}" if cancelled else summary,
        location=f"{sitting.venue.name}，{sitting.venue.address}",
        description=_sitting_description(sitting, hours, cancelled),
        cancelled=cancelled,
        last_modified=sitting.updated_at,
    )


def _sitting_description(sitting: Sitting, hours: list[Hours], cancelled: bool) -> str:
    lines = [
        f"接访规则：{sitting.rule.name}",
        f"接访领导：{sitting.person.name}",
        f"接访时间：{sitting.day.isoformat()} " + "、".join(h.describe() for h in hours),
        f"接访地点：{sitting.venue.name}（{sitting.venue.address}）",
    ]
    if cancelled:
        lines.append("本次接访已取消。")
    lines.append("如有变动将自动更新。")
    return "\n".join(lines)


async def _feed_rows(
    db: AsyncSession, where: ColumnElement[bool], now: dt.datetime
) -> list[Sitting]:
    since = now.astimezone(SHANGHAI).date() - dt.timedelta(days=FEED_HISTORY_DAYS)
    query = select(Sitting).where(where, Sitting.day >= since)
    return list(await db.scalars(query.order_by(Sitting.day, Sitting.id)))


async def _feed(db: AsyncSession, name: str, rows: list[Sitting], deployment: str | None) -> bytes:
    """DTSTAMP is the latest change of the rows, not the wall clock: the same rows give the
    same bytes, so the feed's ETag changes only when a sitting does."""
    where = deployment or await deployment_name(db)
    stamp = max((s.updated_at for s in rows), default=FEED_EPOCH)
    return feed(name, [sitting_event(s, where) for s in rows], now=stamp)


async def person_feed(
    db: AsyncSession, person_id: int, now: dt.datetime, *, deployment: str | None = None
) -> bytes:
    """Every sitting of a person from 30 days ago on, scheduled and cancelled."""
    person = await db.get(Person, person_id)
    if person is None:
        raise NotFound("找不到该人员。")
    rows = await _feed_rows(db, Sitting.person_id == person_id, now)
    return await _feed(db, f"{person.name}的接访安排", rows, deployment)


async def venue_feed(
    db: AsyncSession, venue_id: int, now: dt.datetime, *, deployment: str | None = None
) -> bytes:
    """Every sitting at a venue from 30 days ago on: the public's calendar of who receives."""
    venue = await get_venue(db, venue_id)
    rows = await _feed_rows(db, Sitting.venue_id == venue_id, now)
    return await _feed(db, f"{venue.name}接访安排", rows, deployment)


async def duty_tenure(db: AsyncSession, county_id: int, day: dt.date) -> int | None:
    """The tenure of the county leader on duty (县领导365坐班接访) on `day`, or the nearest
    duty day before it (a petition arriving on a day without a published sitting goes to
    the last leader who sat), else after it; None when the county has no daily sittings.
    A petition that came in without a meeting (online, by letter) is theirs first."""
    daily = select(ReceptionRule.id).where(
        ReceptionRule.county_id == county_id, ReceptionRule.kind == RuleKind.daily
    )
    base = select(Sitting.tenure_id).where(
        Sitting.rule_id.in_(daily), Sitting.status == "scheduled", Sitting.tenure_id.is_not(None)
    )
    before = await db.scalar(
        base.where(Sitting.day <= day).order_by(Sitting.day.desc(), Sitting.id).limit(1)
    )
    if before is not None:
        return int(before)
    after = await db.scalar(
        base.where(Sitting.day > day).order_by(Sitting.day, Sitting.id).limit(1)
    )
    return int(after) if after is not None else None
