"""接访排班 pages: the county's roster home with its versions, a version with its solve
progress, result and what publishing would change, the comparison of two versions, the
printable month view of the published sittings, and the forms for rules, venues,
unavailability (typed or imported from an .ics file) and pinned assignments.

Every page is for staff who read the organisation data; the services refuse writes to
anyone who is not an admin or office of the county (leaders may mark themselves away), and
the page is shown again with that refusal at its top. Every write is POST-redirect-GET: bad
input re-renders the page (422) with the Chinese message next to the field, keeps what was
typed, and changes nothing.
"""

from __future__ import annotations

import calendar as stdcal
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.auth.roles import ORG_READER_ROLES, Role
from app.core.clock import SHANGHAI, Clock, local_today
from app.core.errors import DomainError, NotFound
from app.core.forms import (
    FieldRule,
    FormInvalid,
    build,
    date_field,
    int_field,
    require,
    text,
)
from app.core.holidays import calendar_for
from app.core.web import flash, nav_item, page
from app.core.workdays import WorkCalendar
from app.org import services as org
from app.org.models import Unit
from app.scheduling import services
from app.scheduling.models import ReceptionRule, Roster, Sitting, Venue
from app.scheduling.schemas import (
    PinIn,
    RosterIn,
    RuleIn,
    UnavailabilityIn,
    UnavailableReason,
    VenueIn,
)
from app.scheduling.services import EDITORS, STATUS_LABELS, RosterStatus

READ = allow(*ORG_READER_ROLES)

nav_item("接访排班", "/rosters", ORG_READER_ROLES, order=30)

RULE_KIND_LABELS = {"daily": "每日坐班", "monthly": "每月固定日", "weekly": "每周固定日"}
SOLVE_LABELS = {"OPTIMAL": "最优", "FEASIBLE": "可行", "INFEASIBLE": "无解", "UNKNOWN": "未知"}
VIOLATION_LABELS = {
    "load": "负担均衡",
    "rest_load": "节假日负担均衡",
    "once_per_month": "每月一次",
    "rotation": "轮换",
    "primary": "书记优先",
    "desired": "希望日期",
    "undesired": "不希望日期",
    "fallback": "候补接替",
}
JOB_LABELS = {"queued": "排队等待", "running": "正在计算", "succeeded": "已完成", "failed": "失败"}
STATUS_BADGES = {
    RosterStatus.queued: "badge-yellow",
    RosterStatus.ready: "badge-yellow",
    RosterStatus.published: "badge-green",
    RosterStatus.infeasible: "badge-red",
    RosterStatus.failed: "badge-red",
}
REST_DAY_CHOICES = [
    ("", "按规则类别（每月顺延、每周不排、每日照常）"),
    ("next_workday", "顺延到下一个工作日"),
    ("keep", "节假日照常接访"),
    ("skip", "节假日当次不安排"),
]
ROTATION_CHOICES = [("rotate", "每月轮换接访日"), ("fixed", "每人固定接访日")]
WEEKDAY_NAMES = "一二三四五六日"
WEEKDAY_CHOICES = [(str(n), f"星期{WEEKDAY_NAMES[n - 1]}") for n in range(1, 8)]
KIND_CHOICES = list(RULE_KIND_LABELS.items())
SOURCE_LABELS = {"page": "页面登记", "ics": "日历导入"}
REASON_CHOICES = [(r.value, r.value) for r in UnavailableReason]
TOWNSHIP_KINDS = frozenset({"township", "street"})
DEFAULT_SESSIONS = "am 上午 08:30-11:30\npm 下午 14:30-17:30"
DEFAULT_AWAY_DAYS = 90
PEOPLE_LIMIT = 1000
MAX_ICS_BYTES = 1024 * 1024

_LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")
_SESSION_LINE = re.compile(
    r"^(\S+)\s+(\S+)\s+(\d{1,2}):(\d{2})\s*(?:-|–|—|~|～|至)\s*(\d{1,2}):(\d{2})$"
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MULTI_FIELDS = frozenset({"pool_posts", "fallback_posts"})

Values = dict[str, Any]
Choices = list[tuple[int, str]]


# ---------------------------------------------------------------- small formatting


def local_time(moment: dt.datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def weekday_name(day: dt.date) -> str:
    return f"周{WEEKDAY_NAMES[day.weekday()]}"


def period_text(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()} 至 {end.isoformat()}"


def month_start(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(first: dt.date) -> dt.date:
    return first.replace(day=stdcal.monthrange(first.year, first.month)[1])


def official_person(official: object) -> int | None:
    """Officials in a solve's result are "P<person id>"."""
    text = str(official or "")
    return int(text[1:]) if text[:1] == "P" and text[1:].isdigit() else None


def as_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- form parsing


def values_of(form: FormMultiDict) -> Values:
    """The typed values (files left out); the checkbox groups as lists."""
    out: Values = {}
    for key in dict.fromkeys(form.keys()):
        if key == "_csrf_token":
            continue
        items = [str(v).strip() for v in form.getall(key) if isinstance(v, str)]
        out[key] = items if key in MULTI_FIELDS else (items[-1] if items else "")
    return out


def optional_id(value: object) -> int | None:
    """An id typed or chosen in a form or a query; anything else is no choice."""
    return int(value) if isinstance(value, str) and value.isdigit() else None


def id_list(values: Mapping[str, Any], name: str, message: str) -> list[int]:
    raw = values.get(name) or []
    items = [raw] if isinstance(raw, str) else list(raw)
    if not all(str(item).isdigit() for item in items):
        raise FormInvalid({name: message})
    return [int(item) for item in items]


def split_list(value: str) -> list[str]:
    return [item for item in _LIST_SEPARATORS.split(value) if item]


# ---------------------------------------------------------------- where the pages are


@dataclass(frozen=True, slots=True)
class Ctx:
    request: Request[Any, Any, Any]
    db: AsyncSession
    actor: Principal
    clock: Clock

    @property
    def today(self) -> dt.date:
        return local_today(self.clock)


@dataclass(frozen=True, slots=True)
class Place:
    """The county a page is about, the counties the account may switch to, and whether
    the account may change its rosters."""

    county: Unit
    choices: list[tuple[int, str]]
    can_edit: bool

    @property
    def query(self) -> str:
        return f"county={self.county.id}"


async def place_of(ctx: Ctx, asked: int | None) -> Place:
    """The county asked for when the account reaches it, else the first one it reaches."""
    paths = ctx.actor.scope_paths(ORG_READER_ROLES)
    counties = await services.counties_for(ctx.db, ctx.actor)
    if not counties:
        raise NotFound("您的账号管辖范围内没有县（市、区），无法查看接访排班。")
    county = next((c for c in counties if c.id == asked), counties[0])
    choices = [(c.id, c.name) for c in counties] if paths is None or len(counties) > 1 else []
    return Place(county, choices, ctx.actor.reaches(EDITORS, county.path))


# ---------------------------------------------------------------- refused forms


@dataclass(frozen=True, slots=True)
class Sent:
    """A form that came back refused: which one, what was typed, and why."""

    form: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    target: int | None = None


NOTHING_SENT = Sent()

Done = tuple[str, str]  # the flash message, where to go next
Work = Callable[[Values], Awaitable[Done]]
Render = Callable[[Sent, int], Awaitable[Template]]


async def submit(
    ctx: Ctx,
    form: str,
    work: Work,
    render: Render,
    *,
    values: Values | None = None,
    target: int | None = None,
) -> Template | Redirect:
    """Run one write: success flashes its message and redirects; a bad form (422) or a
    refusal (its own status) re-renders the page with what was typed and why."""
    if values is None:
        values = values_of(await ctx.request.form())
    try:
        message, where = await work(values)
    except FormInvalid as bad:
        await ctx.db.rollback()
        return await render(Sent(form, values, bad.errors, target=target), 422)
    except DomainError as refused:
        await ctx.db.rollback()
        sent = Sent(form, values, error=refused.detail, target=target)
        return await render(sent, refused.status)
    flash(ctx.request, message)
    return Redirect(path=where)


# ---------------------------------------------------------------- names in results


@dataclass(frozen=True, slots=True)
class Names:
    rules: dict[int, str]
    codes: dict[str, str]
    people: dict[int, str]

    def person(self, person_id: int | None) -> str:
        if person_id is None:
            return "—"
        return self.people.get(person_id, f"人员 {person_id}")

    def official(self, official: object) -> str:
        return self.person(official_person(official)) if official else "—"

    def rule(self, rule_id: int) -> str:
        return self.rules.get(rule_id, f"规则 {rule_id}")

    def code(self, code: object) -> str:
        return self.codes.get(str(code), str(code))


async def names_for(db: AsyncSession, county_id: int, person_ids: Iterable[int]) -> Names:
    rules = await services.rules_of(db, county_id)
    return Names(
        {r.id: r.name for r in rules},
        {r.code: r.name for r in rules},
        await services.person_names(db, person_ids),
    )


@dataclass(frozen=True, slots=True)
class ChangeRow:
    day: dt.date
    weekday: str
    rule: str
    person: str


@dataclass(frozen=True, slots=True)
class DiffView:
    added: list[ChangeRow]
    removed: list[ChangeRow]
    kept: int


def diff_people(change: services.Diff) -> set[int]:
    return {p for _, _, p in (*change.added, *change.removed)}


def diff_view(change: services.Diff, names: Names) -> DiffView:
    def rows(triples: Sequence[services.Triple]) -> list[ChangeRow]:
        return [
            ChangeRow(day, weekday_name(day), names.rule(rule), names.person(person))
            for rule, day, person in triples
        ]

    return DiffView(rows(change.added), rows(change.removed), change.kept)


# ---------------------------------------------------------------- versions


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    status: str
    label: str
    badge: str
    period: str
    note: str
    created: str
    published: str
    solve: str
    objective: int | None
    bound: int | None


def version_row(roster: Roster) -> VersionRow:
    result = roster.result or {}
    return VersionRow(
        roster.id,
        roster.status,
        STATUS_LABELS.get(roster.status, roster.status),
        STATUS_BADGES.get(roster.status, "badge-grey"),
        period_text(roster.period_start, roster.period_end),
        roster.note,
        local_time(roster.created_at),
        local_time(roster.published_at),
        SOLVE_LABELS.get(str(result.get("status", "")), ""),
        as_int(result.get("objective")),
        as_int(result.get("bound")),
    )


@dataclass(frozen=True, slots=True)
class ViolationRow:
    rule: str
    kind: str
    official: str
    day: str
    penalty: int
    detail: str


@dataclass(frozen=True, slots=True)
class ConflictRow:
    message: str
    rules: str
    officials: str
    dates: str


@dataclass(frozen=True, slots=True)
class SolveView:
    status: str
    label: str
    objective: int | None
    bound: int | None
    gap: str
    wall_time: float | None
    changes: int | None
    warnings: list[str]
    violations: list[ViolationRow]
    conflicts: list[ConflictRow]
    load: list[tuple[str, int]]


def gap_text(objective: int | None, bound: int | None) -> str:
    if objective is None or bound is None:
        return "—"
    if objective <= 0:
        return "0%"
    return f"{max(0.0, (objective - bound) / objective) * 100:.1f}%"


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def violation_rows(result: Mapping[str, Any], names: Names) -> list[ViolationRow]:
    return [
        ViolationRow(
            names.code(v.get("rule")),
            VIOLATION_LABELS.get(str(v.get("kind")), str(v.get("kind"))),
            names.official(v.get("official")),
            str(v.get("date") or "—"),
            as_int(v.get("penalty")) or 0,
            str(v.get("detail") or ""),
        )
        for v in _dicts(result.get("violations"))
    ]


def conflict_rows(result: Mapping[str, Any], names: Names) -> list[ConflictRow]:
    return [
        ConflictRow(
            str(c.get("message", "")),
            "、".join(names.code(r) for r in c.get("rules") or []),
            "、".join(names.official(o) for o in c.get("officials") or []),
            "、".join(str(d) for d in c.get("dates") or []),
        )
        for c in _dicts(result.get("conflicts"))
    ]


def result_people(result: Mapping[str, Any]) -> set[int]:
    officials: list[object] = [v.get("official") for v in _dicts(result.get("violations"))]
    for c in _dicts(result.get("conflicts")):
        officials.extend(c.get("officials") or [])
    load = result.get("load")
    officials.extend(load if isinstance(load, dict) else [])
    return {p for p in map(official_person, officials) if p is not None}


def solve_view(result: Mapping[str, Any], names: Names) -> SolveView | None:
    status = str(result.get("status", ""))
    if not status:
        return None
    objective, bound = as_int(result.get("objective")), as_int(result.get("bound"))
    load = result.get("load")
    return SolveView(
        status,
        SOLVE_LABELS.get(status, status),
        objective,
        bound,
        gap_text(objective, bound),
        as_float(result.get("wall_time_s")),
        as_int(result.get("changes")),
        [str(w) for w in result.get("warnings") or []],
        violation_rows(result, names),
        conflict_rows(result, names),
        sorted(
            ((names.official(o), as_int(n) or 0) for o, n in load.items()),
            key=lambda row: (-row[1], row[0]),
        )
        if isinstance(load, dict)
        else [],
    )


@dataclass(frozen=True, slots=True)
class ProgressView:
    job_status: str
    job_label: str
    objective: int | None
    bound: int | None
    elapsed: float | None
    failed: bool

    @property
    def running(self) -> bool:
        return self.job_status in ("queued", "running")


def progress_view(progress: Mapping[str, object]) -> ProgressView | None:
    if not progress:
        return None
    status = str(progress.get("job_status", ""))
    return ProgressView(
        status,
        JOB_LABELS.get(status, status),
        as_int(progress.get("objective")),
        as_int(progress.get("bound")),
        as_float(progress.get("elapsed")),
        status == "failed",
    )


async def render_version(
    ctx: Ctx, roster_id: int, sent: Sent = NOTHING_SENT, status_code: int = 200
) -> Template:
    roster = await services.get_roster(ctx.db, roster_id)
    versions = await services.rosters_of(ctx.db, ctx.actor, roster.county_id)  # reader's scope
    place = await place_of(ctx, roster.county_id)
    ready = roster.status == RosterStatus.ready
    change = await services.roster_diff(ctx.db, roster) if ready else None
    people = result_people(roster.result or {}) | (diff_people(change) if change else set())
    names = await names_for(ctx.db, roster.county_id, people)
    waiting = roster.status == RosterStatus.queued
    progress = progress_view(await services.progress_of(ctx.db, roster)) if waiting else None
    return page(
        ctx.request,
        "scheduling/version.html",
        status_code=status_code,
        place=place,
        roster=roster,
        row=version_row(roster),
        progress=progress,
        refresh=progress is not None and progress.running,
        solved=solve_view(roster.result or {}, names),
        change=diff_view(change, names) if change else None,
        others=[version_row(v) for v in versions if v.id != roster.id],
        sent=sent,
    )


async def render_compare(ctx: Ctx, older_id: int, newer_id: int) -> Template:
    older = await services.get_roster(ctx.db, older_id)
    newer = await services.get_roster(ctx.db, newer_id)
    if older.county_id != newer.county_id:
        raise NotFound("这两个排班版本不属于同一个县，无法比较。")
    versions = await services.rosters_of(ctx.db, ctx.actor, older.county_id)
    change = await services.compare(ctx.db, older.id, newer.id)
    names = await names_for(ctx.db, older.county_id, diff_people(change))
    return page(
        ctx.request,
        "scheduling/compare.html",
        place=await place_of(ctx, older.county_id),
        older=version_row(older),
        newer=version_row(newer),
        change=diff_view(change, names),
        versions=[version_row(v) for v in versions],
    )


# ---------------------------------------------------------------- the roster home


def roster_from(values: Mapping[str, Any], county_id: int) -> RosterIn:
    start = date_field(values, "start", "开始日期")
    end = date_field(values, "end", "结束日期")
    if end < start:
        raise FormInvalid({"end": "结束日期不能早于开始日期。"})
    if (end - start).days > services.MAX_PERIOD_DAYS:
        raise FormInvalid({"end": "一次排班不能超过一年，请缩短排班期间。"})
    limit = text(values, "time_limit") or "60"
    try:
        seconds = float(limit)
    except ValueError:
        raise FormInvalid({"time_limit": "计算时限应为 1 至 600 秒。"}) from None
    data = {
        "county_id": county_id,
        "start": start,
        "end": end,
        "note": text(values, "note"),
        "time_limit": seconds,
    }
    return build(
        RosterIn,
        data,
        {
            "note": FieldRule("note", "备注最长 255 个字。"),
            "time_limit": FieldRule("time_limit", "计算时限应为 1 至 600 秒。"),
        },
    )


def new_roster_defaults(today: dt.date) -> dict[str, str]:
    first = month_start(today, 1)
    return {
        "start": first.isoformat(),
        "end": month_end(first).isoformat(),
        "note": "",
        "time_limit": "60",
    }


async def render_home(
    ctx: Ctx, county_id: int | None, sent: Sent = NOTHING_SENT, status_code: int = 200
) -> Template:
    place = await place_of(ctx, county_id)
    versions = await services.rosters_of(ctx.db, ctx.actor, place.county.id)
    published = await services.current_published(ctx.db, place.county.id)
    return page(
        ctx.request,
        "scheduling/home.html",
        status_code=status_code,
        place=place,
        published=version_row(published) if published else None,
        versions=[version_row(v) for v in versions],
        defaults=new_roster_defaults(ctx.today),
        month=ctx.today.strftime("%Y-%m"),
        sent=sent,
    )


# ---------------------------------------------------------------- the month view


@dataclass(frozen=True, slots=True)
class MonthQuery:
    """The month view's filters as typed in the address, with the problems found."""

    first: dt.date
    unit: int | None = None
    venue: int | None = None
    person: int | None = None
    mine: bool = False
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def last(self) -> dt.date:
        return month_end(self.first)


def parse_month(value: str, today: dt.date) -> tuple[dt.date, str | None]:
    found = _MONTH.match(value.strip())
    if not value.strip():
        return month_start(today), None
    if found and 1 <= int(found[2]) <= 12 and 2000 <= int(found[1]) <= 2100:
        return dt.date(int(found[1]), int(found[2]), 1), None
    return month_start(today), "月份格式不正确，应为 2026-03 这样的年月；已显示本月。"


def _filter_id(value: str, name: str, label: str, errors: dict[str, str]) -> int | None:
    if value and not value.isdigit():
        errors[name] = f"{label}选择不正确，已显示全部。"
    return optional_id(value)


def month_query(ctx: Ctx, raw: Mapping[str, str]) -> MonthQuery:
    errors: dict[str, str] = {}
    first, problem = parse_month(raw.get("month", ""), ctx.today)
    if problem:
        errors["month"] = problem
    person_text = raw.get("person", "")
    mine = not person_text and Role.leader in ctx.actor.roles and ctx.actor.person_id is not None
    if mine or person_text == "all":
        person = ctx.actor.person_id if mine else None
    else:
        person = _filter_id(person_text, "person", "接访领导", errors)
    return MonthQuery(
        first,
        _filter_id(raw.get("unit", ""), "unit", "乡镇（街道）", errors),
        _filter_id(raw.get("venue", ""), "venue", "接访场所", errors),
        person,
        mine,
        errors,
    )


def month_link(place: Place, q: MonthQuery, months: int) -> str:
    params = {
        "county": str(place.county.id),
        "month": month_start(q.first, months).strftime("%Y-%m"),
    }
    extra = {"unit": q.unit, "venue": q.venue, "person": q.person}
    params |= {k: str(v) for k, v in extra.items() if v is not None}
    if q.person is None:
        params["person"] = "all"
    return "/rosters/month?" + urlencode(params)


@dataclass(frozen=True, slots=True)
class SittingView:
    rule: str
    person: str
    venue: str
    kind: str


@dataclass(frozen=True, slots=True)
class Cell:
    day: dt.date
    in_month: bool
    workday: bool
    name: str
    provisional: bool
    today: bool
    sittings: list[SittingView]


def sitting_view(s: Sitting) -> SittingView:
    return SittingView(s.rule.name, s.person.name, s.venue.name, s.rule.kind)


def cell(
    day: dt.date,
    q: MonthQuery,
    cal: WorkCalendar,
    by_day: Mapping[dt.date, list[Sitting]],
    today: dt.date,
) -> Cell:
    info = cal.describe(day)
    return Cell(
        day,
        day.month == q.first.month,
        info.workday,
        info.name or "",
        info.provisional,
        day == today,
        [sitting_view(s) for s in by_day.get(day, [])],
    )


def month_grid(
    q: MonthQuery, cal: WorkCalendar, sittings: Iterable[Sitting], today: dt.date
) -> list[list[Cell]]:
    """Weeks from Monday to Sunday covering the month."""
    by_day: dict[dt.date, list[Sitting]] = defaultdict(list)
    for s in sittings:
        by_day[s.day].append(s)
    start = q.first - dt.timedelta(days=q.first.weekday())
    weeks = -(-((q.last - start).days + 1) // 7)
    days = [start + dt.timedelta(days=n) for n in range(weeks * 7)]
    cells = [cell(day, q, cal, by_day, today) for day in days]
    return [cells[n : n + 7] for n in range(0, len(cells), 7)]


async def township_choices(ctx: Ctx, county_id: int) -> list[tuple[int, str]]:
    children = await org.visible_units(ctx.db, ctx.actor, parent_id=county_id)
    return [(u.id, u.name) for u in children if u.kind in TOWNSHIP_KINDS]


async def people_choices(
    db: AsyncSession, county_id: int, start: dt.date, end: dt.date
) -> list[tuple[int, str]]:
    return [(p.id, p.name) for p in await services.rostered_people(db, county_id, start, end)]


@dataclass(frozen=True, slots=True)
class PinRow:
    id: int
    day: dt.date
    weekday: str
    rule: str
    person: str


async def pin_rows(ctx: Ctx, county_id: int, q: MonthQuery) -> list[PinRow]:
    pins = await services.pins_between(ctx.db, county_id, q.first, q.last)
    names = await names_for(ctx.db, county_id, [p.person_id for p in pins])
    return [
        PinRow(p.id, p.day, weekday_name(p.day), names.rule(p.rule_id), names.person(p.person_id))
        for p in pins
    ]


async def render_month(
    ctx: Ctx, place: Place, q: MonthQuery, sent: Sent = NOTHING_SENT, status_code: int = 200
) -> Template:
    county = place.county.id
    sittings = await services.sittings_between(
        ctx.db, county, q.first, q.last, unit_id=q.unit, venue_id=q.venue, person_id=q.person
    )
    cal = await calendar_for(ctx.db, county)
    rules = await services.rules_of(ctx.db, county)
    return page(
        ctx.request,
        "scheduling/month.html",
        status_code=status_code,
        place=place,
        q=q,
        title=f"{q.first.year}年{q.first.month}月",
        weeks=month_grid(q, cal, sittings, ctx.today),
        count=len(sittings),
        provisional=cal.is_provisional(q.first.year),
        weekday_names=list(WEEKDAY_NAMES),
        prev_link=month_link(place, q, -1),
        next_link=month_link(place, q, 1),
        units=await township_choices(ctx, county),
        venues=[(v.id, v.name) for v in await services.venues_of(ctx.db, county)],
        people=await people_choices(ctx.db, county, q.first, q.last),
        pins=await pin_rows(ctx, county, q) if place.can_edit else [],
        rule_choices=[(r.id, r.name) for r in rules],
        sent=sent,
    )


# ---------------------------------------------------------------- rules and venues


_RULE_FIELDS = {
    "code": FieldRule("code", "规则代码只能由字母、数字、下划线和连字符组成，最长 32 位。"),
    "name": FieldRule("name", "规则名称不能为空，最长 64 个字。"),
    "kind": FieldRule("kind", "请从列表中选择规则类别。"),
    "per_day": FieldRule("per_day", "每次接访人数应为 1 至 20 人。"),
    "min_gap_days": FieldRule("min_gap_days", "同一人两次坐班的最少间隔应为 0 至 60 天。"),
    "days_of_month": FieldRule("days_of_month", "每月接访日应为 1 至 31 之间的日期。"),
    "on_rest_day": FieldRule("on_rest_day", "请从列表中选择节假日的处理方式。"),
    "rotation": FieldRule("rotation", "请从列表中选择轮换方式。"),
    "weekday": FieldRule("weekday", "请从列表中选择星期几。"),
}
_VENUE_FIELDS = {
    "unit_id": FieldRule("venue_unit", "请选择场所所属单位。"),
    "name": FieldRule("venue_name", "场所名称不能为空，最长 64 个字。"),
    "address": FieldRule("address", "地址不能为空，最长 255 个字。"),
    "sessions": FieldRule(
        "venue_sessions", "时段代码只能用小写字母、数字和下划线（如 am），名称最长 64 个字。"
    ),
    "rooms": FieldRule("rooms", "每个接待室名称不超过 64 个字。"),
    "slot_minutes": FieldRule("slot_minutes", "每个预约时段应为 5 至 240 分钟。"),
    "seats_per_slot": FieldRule("seats_per_slot", "每个时段可预约人数应为 1 至 50 人。"),
}


def days_of_month(values: Mapping[str, Any]) -> list[int]:
    items = split_list(text(values, "days_of_month")) or ["1", "11", "21"]
    if not all(item.isdigit() for item in items):
        raise FormInvalid({"days_of_month": "每月接访日请填写日期数字，用顿号分隔，如 1、11、21。"})
    return [int(item) for item in items]


def rule_sessions(values: Mapping[str, Any], venue: Venue) -> list[str]:
    """The venue's booking sessions the rule sits in; all of them when none is typed."""
    keys = [str(s.get("key", "")) for s in venue.sessions]
    typed = split_list(text(values, "sessions"))
    unknown = [key for key in typed if key not in keys]
    if unknown:
        allowed = "、".join(keys)
        raise FormInvalid({"sessions": f"接待时段须是所选场所的时段代码之一：{allowed}。"})
    return typed or keys


def rule_from(values: Mapping[str, Any], unit_id: int, venue: Venue) -> RuleIn:
    require(values, {"code": "规则代码", "name": "规则名称", "kind": "规则类别"})
    pool = id_list(values, "pool_posts", "请从列表中选择接访职务。")
    if not pool:
        raise FormInvalid({"pool_posts": "请至少选择一个接访职务。"})
    data = {
        "unit_id": unit_id,
        "code": text(values, "code"),
        "name": text(values, "name"),
        "kind": text(values, "kind"),
        "venue_id": venue.id,
        "pool_posts": pool,
        "fallback_posts": id_list(values, "fallback_posts", "请从列表中选择候补职务。"),
        "primary_post_id": optional_id(text(values, "primary_post_id")),
        "per_day": int_field(values, "per_day", "每次接访人数应为 1 至 20 人。"),
        "min_gap_days": int_field(values, "min_gap_days", "最少间隔天数应为 0 至 60 的整数。"),
        "days_of_month": days_of_month(values),
        "on_rest_day": text(values, "on_rest_day") or None,
        "rotation": text(values, "rotation") or "rotate",
        "weekday": int_field(values, "weekday", "请从列表中选择星期几。"),
        "sessions": rule_sessions(values, venue),
    }
    return build(RuleIn, data, _RULE_FIELDS)


def session_of(line: str, number: int) -> dict[str, str]:
    found = _SESSION_LINE.match(line.strip())
    if found is None:
        raise FormInvalid(
            {"venue_sessions": f"接待时段第 {number} 行格式不正确，应为“am 上午 08:30-11:30”。"}
        )
    key, label, h1, m1, h2, m2 = found.groups()
    return {
        "key": key,
        "label": label,
        "start": f"{int(h1):02d}:{m1}",
        "end": f"{int(h2):02d}:{m2}",
    }


def venue_from(values: Mapping[str, Any]) -> VenueIn:
    require(values, {"venue_name": "场所名称", "address": "地址", "venue_sessions": "接待时段"})
    lines = [line for line in text(values, "venue_sessions").splitlines() if line.strip()]
    data = {
        "unit_id": int_field(values, "venue_unit", "请选择场所所属单位。"),
        "name": text(values, "venue_name"),
        "address": text(values, "address"),
        "sessions": [session_of(line, n) for n, line in enumerate(lines, start=1)],
        "rooms": split_list(text(values, "rooms")),
        "slot_minutes": int_field(values, "slot_minutes", "每个预约时段应为 5 至 240 分钟。"),
        "seats_per_slot": int_field(
            values, "seats_per_slot", "每个时段可预约人数应为 1 至 50 人。"
        ),
    }
    return build(VenueIn, data, _VENUE_FIELDS)


def sessions_text(sessions: Iterable[Mapping[str, str]]) -> str:
    return "\n".join(f"{s['key']} {s['label']} {s['start']}-{s['end']}" for s in sessions)


def rule_values(rule: ReceptionRule) -> Values:
    o = rule.options
    return {
        "unit_id": str(rule.unit_id),
        "code": rule.code,
        "name": rule.name,
        "kind": rule.kind,
        "venue_id": str(rule.venue_id),
        "pool_posts": [str(p) for p in rule.pool_posts],
        "fallback_posts": [str(p) for p in rule.fallback_posts],
        "primary_post_id": str(rule.primary_post_id or ""),
        "per_day": str(o.get("per_day", 1)),
        "min_gap_days": str(o.get("min_gap_days", 0)),
        "days_of_month": "、".join(str(d) for d in o.get("days_of_month", [1, 11, 21])),
        "on_rest_day": str(o.get("on_rest_day", "")),
        "rotation": str(o.get("rotation", "rotate")),
        "weekday": str(o.get("weekday", 2)),
        "sessions": " ".join(o.get("sessions", [])),
    }


NEW_RULE = {
    "per_day": "1",
    "min_gap_days": "0",
    "days_of_month": "1、11、21",
    "rotation": "rotate",
    "weekday": "2",
}


def venue_values(venue: Venue) -> Values:
    return {
        "venue_unit": str(venue.unit_id),
        "venue_name": venue.name,
        "address": venue.address,
        "venue_sessions": sessions_text(venue.sessions),
        "rooms": "、".join(venue.rooms),
        "slot_minutes": str(venue.slot_minutes),
        "seats_per_slot": str(venue.seats_per_slot),
    }


NEW_VENUE = {"venue_sessions": DEFAULT_SESSIONS, "slot_minutes": "30", "seats_per_slot": "2"}


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: ReceptionRule
    kind: str
    pool: str
    fallback: str
    primary: str
    summary: str


def rule_summary(rule: ReceptionRule) -> str:
    o = rule.options
    rest = dict(REST_DAY_CHOICES).get(str(o.get("on_rest_day", "")), "")
    if rule.kind == "daily":
        gap = as_int(o.get("min_gap_days")) or 0
        when = f"每天 {o.get('per_day', 1)} 人" + (f"，同一人至少间隔 {gap} 天" if gap else "")
    elif rule.kind == "monthly":
        days = "、".join(str(d) for d in o.get("days_of_month", []))
        turn = dict(ROTATION_CHOICES).get(str(o.get("rotation")), "")
        when = f"每月 {days} 日，{turn}"
    else:
        when = f"每周{WEEKDAY_NAMES[int(o.get('weekday', 2)) - 1]}"
    return when + (f"；{rest}" if o.get("on_rest_day") else "")


async def rule_rows(db: AsyncSession, rules: list[ReceptionRule]) -> list[RuleRow]:
    wanted = {p for r in rules for p in (*r.pool_posts, *r.fallback_posts)}
    posts = await services.posts_by_id(db, wanted | {r.primary_post_id or 0 for r in rules})

    def titles(ids: Iterable[int], with_unit: bool = False) -> str:
        named = [posts[i] for i in ids if i in posts]
        return "、".join(f"{p.unit.name}·{p.title}" if with_unit else p.title for p in named) or "—"

    return [
        RuleRow(
            r,
            RULE_KIND_LABELS.get(r.kind, r.kind),
            titles(r.pool_posts),
            titles(r.fallback_posts, with_unit=True),
            titles([r.primary_post_id] if r.primary_post_id else []),
            rule_summary(r),
        )
        for r in rules
    ]


@dataclass(frozen=True, slots=True)
class RuleForm:
    """The rule form's state: which unit its posts come from, which rule it edits."""

    unit: Unit | None
    rule_id: int | None
    values: Mapping[str, Any]
    errors: Mapping[str, str]
    posts: Choices
    fallback: Choices


async def unit_posts(ctx: Ctx, unit: Unit, county: Unit) -> tuple[Choices, Choices]:
    """The unit's own posts (pool, primary) and those of it and its superiors in the
    county (fallback)."""
    own = [(p.id, p.title) for p in await org.posts_of(ctx.db, ctx.actor, unit.id)]
    fallback = list(own)
    for above in await org.ancestors(ctx.db, unit):
        if above.id != unit.id and above.path.startswith(county.path):
            posts = await org.posts_of(ctx.db, ctx.actor, above.id)
            fallback.extend((p.id, f"{above.name}·{p.title}") for p in posts)
    return own, fallback


async def rule_form(
    ctx: Ctx, county: Unit, unit_id: int | None, edit_id: int | None, sent: Sent
) -> RuleForm:
    mine = sent.form == "rule"
    values: Mapping[str, Any] = sent.values if mine else NEW_RULE
    if edit_id is not None and not mine:
        rule = await services.get_rule(ctx.db, edit_id)
        if rule.county_id != county.id:
            raise NotFound("找不到该接访规则。")
        values = rule_values(rule)
    unit_id = optional_id(values.get("unit_id")) or unit_id
    unit = await org.get_unit(ctx.db, unit_id) if unit_id else None
    if unit is not None and unit.county_id != county.id:
        unit = None
    own, fallback = await unit_posts(ctx, unit, county) if unit else ([], [])
    return RuleForm(unit, edit_id, values, sent.errors if mine else {}, own, fallback)


def unit_label(unit: Unit, county: Unit) -> str:
    depth = unit.path.count("/") - county.path.count("/")
    return "　" * depth + unit.name


async def render_rules(
    ctx: Ctx,
    county_id: int | None,
    *,
    unit_id: int | None = None,
    edit_id: int | None = None,
    venue_id: int | None = None,
    sent: Sent = NOTHING_SENT,
    status_code: int = 200,
) -> Template:
    place = await place_of(ctx, county_id)
    county = place.county
    rules = await services.rules_of(ctx.db, county.id)
    venues = await services.venues_of(ctx.db, county.id)
    units = await org.subtree(ctx.db, ctx.actor, county.id)
    edited_venue = next((v for v in venues if v.id == venue_id), None)
    venue_sent = sent.form == "venue"
    return page(
        ctx.request,
        "scheduling/rules.html",
        status_code=status_code,
        place=place,
        rows=await rule_rows(ctx.db, rules),
        venues=venues,
        venue_choices=[(v.id, v.name) for v in venues],
        unit_choices=[(u.id, unit_label(u, county)) for u in units],
        form=await rule_form(ctx, county, unit_id, edit_id, sent) if place.can_edit else None,
        venue_id=venue_id if edited_venue or (venue_sent and venue_id) else None,
        venue_values=sent.values
        if venue_sent
        else (venue_values(edited_venue) if edited_venue else NEW_VENUE),
        kinds=KIND_CHOICES,
        rest_days=REST_DAY_CHOICES,
        rotations=ROTATION_CHOICES,
        weekdays=WEEKDAY_CHOICES,
        sent=sent,
    )


# ---------------------------------------------------------------- unavailability


@dataclass(frozen=True, slots=True)
class AwayRow:
    id: int
    person: str
    start: dt.date
    end: dt.date
    days: int
    reason: str
    source: str
    removable: bool


@dataclass(frozen=True, slots=True)
class AwayQuery:
    start: dt.date
    end: dt.date
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def query(self) -> str:
        return urlencode({"start": self.start.isoformat(), "end": self.end.isoformat()})


def away_query(raw: Mapping[str, str], today: dt.date) -> AwayQuery:
    default = AwayQuery(today, today + dt.timedelta(days=DEFAULT_AWAY_DAYS))
    if not raw.get("start") and not raw.get("end"):
        return default
    try:
        start = dt.date.fromisoformat(raw.get("start", "") or today.isoformat())
        end = dt.date.fromisoformat(raw.get("end", "") or default.end.isoformat())
    except ValueError:
        problem = "日期格式不正确，应为 2026-01-05 这样的日期；已显示今后 90 天。"
        return AwayQuery(default.start, default.end, {"start": problem})
    if end < start:
        problem = "结束日期不能早于开始日期；已显示今后 90 天。"
        return AwayQuery(default.start, default.end, {"end": problem})
    return AwayQuery(start, end)


async def away_people(ctx: Ctx, place: Place) -> list[tuple[int, str]]:
    """Whom the account may mark away: anyone who sits, for editors; else only oneself."""
    if place.can_edit:
        start, end = ctx.today, ctx.today + dt.timedelta(days=366)
        sitting = await people_choices(ctx.db, place.county.id, start, end)
        if sitting:
            return sitting
        found = await org.search_persons(ctx.db, ctx.actor, place.county.id, limit=PEOPLE_LIMIT)
        return [(p.id, p.name) for p in found]  # no rules yet: anyone of the county
    own = ctx.actor.person_id
    if own is None:
        return []
    return sorted((await services.person_names(ctx.db, [own])).items())


async def render_away(
    ctx: Ctx, county_id: int | None, q: AwayQuery, sent: Sent = NOTHING_SENT, status_code: int = 200
) -> Template:
    place = await place_of(ctx, county_id)
    await services.rosters_of(ctx.db, ctx.actor, place.county.id)  # the reader's scope
    items = await services.unavailability_of(ctx.db, place.county.id, q.start, q.end)
    rows = [
        AwayRow(
            a.id,
            a.person.name,
            a.start_date,
            a.end_date,
            (a.end_date - a.start_date).days + 1,
            a.reason,
            SOURCE_LABELS.get(a.source, a.source),
            place.can_edit or a.person_id == ctx.actor.person_id,
        )
        for a in items
    ]
    return page(
        ctx.request,
        "scheduling/unavailability.html",
        status_code=status_code,
        place=place,
        q=q,
        rows=rows,
        people=await away_people(ctx, place),
        reasons=REASON_CHOICES,
        sent=sent,
        today=ctx.today,
    )


def away_from(values: Mapping[str, Any]) -> UnavailabilityIn:
    person = int_field(values, "person_id", "请选择人员。")
    start = date_field(values, "away_start", "开始日期")
    end = date_field(values, "away_end", "结束日期")
    if end < start:
        raise FormInvalid({"away_end": "结束日期不能早于开始日期。"})
    data = {"person_id": person, "start": start, "end": end, "reason": text(values, "reason")}
    return build(
        UnavailabilityIn, data, {"reason": FieldRule("reason", "请从列表中选择不可接访的原因。")}
    )


def reason_of(values: Mapping[str, Any], name: str) -> UnavailableReason:
    try:
        return UnavailableReason(text(values, name) or UnavailableReason.meeting.value)
    except ValueError:
        raise FormInvalid({name: "请从列表中选择不可接访的原因。"}) from None


async def ics_bytes(form: FormMultiDict) -> bytes:
    upload = form.get("ics_file")
    if not isinstance(upload, UploadFile):
        raise FormInvalid({"ics_file": "请选择要导入的 .ics 日历文件。"})
    try:
        data = await upload.read(MAX_ICS_BYTES + 1)
    finally:
        await upload.close()
    if not data.strip():
        raise FormInvalid({"ics_file": "请选择要导入的 .ics 日历文件。"})
    if len(data) > MAX_ICS_BYTES:
        raise FormInvalid({"ics_file": "日历文件超过 1 MB，请只导出需要的日程后再上传。"})
    return data


def away_back(values: Mapping[str, Any], county_id: int) -> str:
    params = {"county": str(county_id)}
    params |= {k: text(values, f"list_{k}") for k in ("start", "end") if text(values, f"list_{k}")}
    return "/rosters/unavailability?" + urlencode(params)


# ---------------------------------------------------------------- controllers


def provide_ctx(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
) -> Ctx:
    return Ctx(request, db, actor, clock)


CTX = {"ctx": Provide(provide_ctx, sync_to_thread=False)}


async def form_values(ctx: Ctx) -> tuple[Values, int | None]:
    """The posted form and the county it names."""
    values = values_of(await ctx.request.form())
    return values, optional_id(values.get("county"))


class RosterPages(Controller):
    path = "/rosters"
    include_in_schema = False
    dependencies = CTX

    @get("/", opt=READ)
    async def home(self, ctx: Ctx, county: str = "") -> Template:
        return await render_home(ctx, optional_id(county))

    @post("/", opt=READ)
    async def create(self, ctx: Ctx) -> Template | Redirect:
        values, county_id = await form_values(ctx)

        async def work(values: Values) -> Done:
            place = await place_of(ctx, county_id)
            data = roster_from(values, place.county.id)
            roster = await services.draft_roster(ctx.db, ctx.actor, ctx.clock.now(), data)
            period = period_text(roster.period_start, roster.period_end)
            return f"已新建排班（{period}），正在计算，本页会自动刷新。", f"/rosters/{roster.id}"

        async def render(sent: Sent, status: int) -> Template:
            return await render_home(ctx, county_id, sent, status)

        return await submit(ctx, "create", work, render, values=values)

    @post("/replan", opt=READ)
    async def replan(self, ctx: Ctx) -> Template | Redirect:
        values, county_id = await form_values(ctx)

        async def work(values: Values) -> Done:
            place = await place_of(ctx, county_id)
            now, today = ctx.clock.now(), ctx.today
            roster = await services.replan(ctx.db, ctx.actor, now, place.county.id, today)
            period = period_text(roster.period_start, roster.period_end)
            return f"已按最新变化发起调整排班（{period}），正在计算。", f"/rosters/{roster.id}"

        async def render(sent: Sent, status: int) -> Template:
            return await render_home(ctx, county_id, sent, status)

        return await submit(ctx, "replan", work, render, values=values)

    @get("/{roster_id:int}", opt=READ)
    async def version(self, ctx: Ctx, roster_id: int) -> Template:
        return await render_version(ctx, roster_id)

    @post("/{roster_id:int}/publish", opt=READ)
    async def publish(self, ctx: Ctx, roster_id: int) -> Template | Redirect:
        async def work(values: Values) -> Done:
            change = await services.publish(ctx.db, ctx.actor, ctx.clock.now(), roster_id)
            counts = f"新增 {len(change.added)} 次、取消 {len(change.removed)} 次"
            return f"已发布排班：{counts}、保留 {change.kept} 次接访安排。", f"/rosters/{roster_id}"

        async def render(sent: Sent, status: int) -> Template:
            return await render_version(ctx, roster_id, sent, status)

        return await submit(ctx, "publish", work, render)

    @post("/{roster_id:int}/discard", opt=READ)
    async def discard(self, ctx: Ctx, roster_id: int) -> Template | Redirect:
        async def work(values: Values) -> Done:
            roster = await services.get_roster(ctx.db, roster_id)
            await services.discard(ctx.db, ctx.actor, ctx.clock.now(), roster_id)
            return f"已作废排班版本 {roster_id}。", f"/rosters?county={roster.county_id}"

        async def render(sent: Sent, status: int) -> Template:
            return await render_version(ctx, roster_id, sent, status)

        return await submit(ctx, "discard", work, render)

    @get("/compare", opt=READ)
    async def compare(self, ctx: Ctx, a: str = "", b: str = "") -> Template | Redirect:
        """Two versions of one county, the older (smaller number) first."""
        first, second = optional_id(a), optional_id(b)
        if first is None or second is None or first == second:
            flash(ctx.request, "请选择另一个排班版本进行比较。", "error")
            return Redirect(path=f"/rosters/{first}" if first else "/rosters")
        return await render_compare(ctx, min(first, second), max(first, second))

    @get("/month", opt=READ)
    async def month(
        self,
        ctx: Ctx,
        county: str = "",
        month: str = "",
        unit: str = "",
        venue: str = "",
        person: str = "",
    ) -> Template:
        """`person` is an official's person id, "all", or empty: a leader's own sittings."""
        place = await place_of(ctx, optional_id(county))
        q = month_query(ctx, {"month": month, "unit": unit, "venue": venue, "person": person})
        return await render_month(ctx, place, q, status_code=422 if q.errors else 200)

    @post("/pins", opt=READ)
    async def add_pin(self, ctx: Ctx) -> Template | Redirect:
        values, _ = await form_values(ctx)

        async def work(values: Values) -> Done:
            data = PinIn(
                int_field(values, "rule_id", "请选择接访规则。"),
                date_field(values, "day", "日期"),
                int_field(values, "person_id", "请选择接访领导。"),
            )
            await services.add_pin(ctx.db, ctx.actor, ctx.clock.now(), data)
            return f"已固定 {data.day.isoformat()} 的接访安排，下次排班将保留。", pin_back(values)

        return await submit(ctx, "pin", work, month_render(ctx, values), values=values)

    @post("/pins/{pin_id:int}/delete", opt=READ)
    async def remove_pin(self, ctx: Ctx, pin_id: int) -> Template | Redirect:
        values, _ = await form_values(ctx)

        async def work(values: Values) -> Done:
            await services.remove_pin(ctx.db, ctx.actor, ctx.clock.now(), pin_id)
            return "已取消该固定安排。", pin_back(values)

        render = month_render(ctx, values)
        return await submit(ctx, "unpin", work, render, values=values, target=pin_id)


def pin_back(values: Mapping[str, Any]) -> str:
    params = {"county": text(values, "county"), "month": text(values, "month")}
    return "/rosters/month?" + urlencode({k: v for k, v in params.items() if v}) + "#pins"


def month_render(ctx: Ctx, values: Mapping[str, Any]) -> Render:
    async def render(sent: Sent, status: int) -> Template:
        place = await place_of(ctx, optional_id(values.get("county")))
        q = month_query(ctx, {"month": text(values, "month"), "person": "all"})
        return await render_month(ctx, place, q, sent, status)

    return render


class RulePages(Controller):
    path = "/rosters/rules"
    include_in_schema = False
    dependencies = CTX

    @get("/", opt=READ)
    async def rules(
        self, ctx: Ctx, county: str = "", unit: str = "", edit: str = "", venue: str = ""
    ) -> Template:
        """`unit` chooses the unit of a new rule, `edit` a rule to change, `venue` a venue."""
        return await render_rules(
            ctx,
            optional_id(county),
            unit_id=optional_id(unit),
            edit_id=optional_id(edit),
            venue_id=optional_id(venue),
        )

    @post("/", opt=READ)
    async def add_rule(self, ctx: Ctx) -> Template | Redirect:
        return await save_rule(ctx, None)

    @post("/{rule_id:int}", opt=READ)
    async def edit_rule(self, ctx: Ctx, rule_id: int) -> Template | Redirect:
        return await save_rule(ctx, rule_id)

    @post("/venues", opt=READ)
    async def add_venue(self, ctx: Ctx) -> Template | Redirect:
        return await save_venue(ctx, None)

    @post("/venues/{venue_id:int}", opt=READ)
    async def edit_venue(self, ctx: Ctx, venue_id: int) -> Template | Redirect:
        return await save_venue(ctx, venue_id)


async def save_rule(ctx: Ctx, rule_id: int | None) -> Template | Redirect:
    values, county_id = await form_values(ctx)

    async def work(values: Values) -> Done:
        unit_id = int_field(values, "unit_id", "请选择规则所属单位。")
        venue_id = int_field(values, "venue_id", "请选择接访场所。")
        data = rule_from(values, unit_id, await services.get_venue(ctx.db, venue_id))
        rule = await services.save_rule(ctx.db, ctx.actor, ctx.clock.now(), data, rule_id)
        where = f"/rosters/rules?county={rule.county_id}#rules"
        return f"已保存接访规则：{rule.name}（{rule.code}）。", where

    async def render(sent: Sent, status: int) -> Template:
        return await render_rules(ctx, county_id, edit_id=rule_id, sent=sent, status_code=status)

    return await submit(ctx, "rule", work, render, values=values)


async def save_venue(ctx: Ctx, venue_id: int | None) -> Template | Redirect:
    values, county_id = await form_values(ctx)

    async def work(values: Values) -> Done:
        data = venue_from(values)
        venue = await services.save_venue(ctx.db, ctx.actor, ctx.clock.now(), data, venue_id)
        where = f"/rosters/rules?county={venue.county_id}#venues"
        return f"已保存接访场所：{venue.name}。", where

    async def render(sent: Sent, status: int) -> Template:
        return await render_rules(ctx, county_id, venue_id=venue_id, sent=sent, status_code=status)

    return await submit(ctx, "venue", work, render, values=values)


class AwayPages(Controller):
    path = "/rosters/unavailability"
    include_in_schema = False
    dependencies = CTX

    @get("/", opt=READ)
    async def listing(self, ctx: Ctx, county: str = "", start: str = "", end: str = "") -> Template:
        q = away_query({"start": start, "end": end}, ctx.today)
        status = 422 if q.errors else 200
        return await render_away(ctx, optional_id(county), q, status_code=status)

    @post("/", opt=READ)
    async def add(self, ctx: Ctx) -> Template | Redirect:
        values, _ = await form_values(ctx)

        async def work(values: Values) -> Done:
            away = await services.add_unavailability(
                ctx.db, ctx.actor, ctx.clock.now(), away_from(values)
            )
            who = (await org.get_person(ctx.db, away.person_id)).name
            span = period_text(away.start_date, away.end_date)
            message = f"已登记{who} {span} 不可接访（{away.reason}）。"
            return message, away_back(values, away.county_id)

        return await submit(ctx, "away", work, away_render(ctx, values), values=values)

    @post("/import", opt=READ)
    async def import_ics(self, ctx: Ctx) -> Template | Redirect:
        """Busy times from an uploaded .ics file (multipart)."""
        form = await ctx.request.form()
        values = values_of(form)

        async def work(values: Values) -> Done:
            person = int_field(values, "ics_person", "请选择人员。")
            reason = reason_of(values, "ics_reason")
            data = await ics_bytes(form)
            added = await services.import_unavailability(
                ctx.db, ctx.actor, ctx.clock.now(), person, data, reason
            )
            back = away_back(values, optional_id(values.get("county")) or 0)
            if not added:
                return "日历中没有新的忙碌日程，未新增登记。", back
            return f"已从日历导入 {len(added)} 条不可接访登记。", back

        return await submit(ctx, "ics", work, away_render(ctx, values), values=values)

    @post("/{away_id:int}/delete", opt=READ)
    async def remove(self, ctx: Ctx, away_id: int) -> Template | Redirect:
        values, county_id = await form_values(ctx)

        async def work(values: Values) -> Done:
            await services.remove_unavailability(ctx.db, ctx.actor, ctx.clock.now(), away_id)
            return "已撤销该不可接访登记。", away_back(values, county_id or 0)

        render = away_render(ctx, values)
        return await submit(ctx, "remove", work, render, values=values, target=away_id)


def away_render(ctx: Ctx, values: Mapping[str, Any]) -> Render:
    async def render(sent: Sent, status: int) -> Template:
        raw = {"start": text(values, "list_start"), "end": text(values, "list_end")}
        q = away_query(raw, ctx.today)
        return await render_away(ctx, optional_id(values.get("county")), q, sent, status)

    return render


ROUTES = [RosterPages, RulePages, AwayPages]
