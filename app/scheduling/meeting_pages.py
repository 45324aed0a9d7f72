"""Meeting pages (会议安排: the 周二无会日 guard) and the staff's calendar subscriptions
(我的日历订阅).

Every write is POST-redirect-GET. A meeting the guard refuses comes back with the reasons
next to the form and a box for the written reason that overrides them (admins and the
office only); nothing is saved until then. A new subscription address is shown once,
right after it is made: only its hash is kept.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.auth.roles import ORG_READER_ROLES, STAFF_ROLES, Role
from app.core.clock import SHANGHAI, Clock, local_today
from app.core.errors import DomainError, RuleViolation
from app.core.forms import FormInvalid
from app.core.web import flash, nav_item, page
from app.org import services as org
from app.org.models import Person, Unit
from app.scheduling import services
from app.scheduling.meetings import LEVEL_LABELS
from app.scheduling.models import Meeting
from app.scheduling.routes import feed_path, venue_feed_path
from app.scheduling.schemas import MeetingIn

READ = allow(*ORG_READER_ROLES)
WRITE = allow(Role.admin, Role.office)
ANYONE = allow(*STAFF_ROLES)
EDITORS = frozenset({Role.admin, Role.office})

nav_item("会议安排", "/meetings", ORG_READER_ROLES, order=40)
nav_item("我的日历订阅", "/my/calendar", STAFF_ROLES, order=75)

MEETINGS_URL = "/meetings"
SUBSCRIPTIONS_URL = "/my/calendar"
UPCOMING_DAYS = 366
CHOICES_LIMIT = 1000
LEVEL_CHOICES = [(k, LEVEL_LABELS[k]) for k in ("village", "community", "township", "street")]
WEEKDAYS = "一二三四五六日"
_ID_SEPARATORS = re.compile(r"[,，、;；\s]+")
_NEW_TOKEN = "_calendar_token"


def weekday_label(day: dt.date) -> str:
    return "星期" + WEEKDAYS[day.weekday()]


# ---------------------------------------------------------------- the meeting form


@dataclass(frozen=True, slots=True)
class Sent:
    """A meeting form that came back: what was typed, and why it was refused."""

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None


_FIELD_MESSAGES = {
    "title": ("title", "会议名称不能为空，最长 128 个字。"),
    "start_time": ("start_time", "开始时间格式应为 09:00。"),
    "end_time": ("end_time", "结束时间格式应为 11:30。"),
    "override_reason": ("override_reason", "书面说明最长 500 个字。"),
    "unit_kinds": ("unit_kinds", "请从列表中选择单位层级。"),
}


async def sent_values(request: Request[Any, Any, Any]) -> dict[str, Any]:
    form = await request.form()
    one = {k: str(v).strip() for k, v in form.items() if k != "_csrf_token"}
    many = {k: [str(v) for v in form.getall(k, [])] for k in ("persons", "posts", "unit_kinds")}
    return {**one, **many}


def parse_ids(chosen: Iterable[str], typed: str, name: str) -> list[int]:
    """Ids picked in a list and typed as "12, 15"."""
    parts = [p for p in (*chosen, *_ID_SEPARATORS.split(typed)) if p.strip()]
    try:
        return sorted({int(p) for p in parts})
    except ValueError:
        raise FormInvalid({name: "编号只能是数字，多个编号用逗号分隔。"}) from None


def _day(values: Mapping[str, Any]) -> dt.date:
    text = str(values.get("day", ""))
    if not text:
        raise FormInvalid({"day": "请填写会议日期。"})
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise FormInvalid({"day": "会议日期格式应为 2026-03-10。"}) from None


def meeting_from(values: Mapping[str, Any], county_id: int) -> MeetingIn:
    missing = {
        name: f"请填写{label}。"
        for name, label in (
            ("title", "会议名称"),
            ("start_time", "开始时间"),
            ("end_time", "结束时间"),
        )
        if not values.get(name)
    }
    if missing:
        raise FormInvalid(missing)
    data = {
        "county_id": county_id,
        "title": values["title"],
        "day": _day(values),
        "start_time": values["start_time"],
        "end_time": values["end_time"],
        "persons": parse_ids(values.get("persons", []), values.get("person_ids", ""), "person_ids"),
        "posts": parse_ids(values.get("posts", []), values.get("post_ids", ""), "post_ids"),
        "unit_kinds": list(values.get("unit_kinds", [])),
        "override_reason": values.get("override_reason") or None,
    }
    try:
        return msgspec.convert(data, MeetingIn)
    except msgspec.ValidationError as bad:
        name = next((k for k in _FIELD_MESSAGES if f"$.{k}" in str(bad)), "")
        form_name, message = _FIELD_MESSAGES.get(name, ("", "提交的内容格式不正确。"))
        raise FormInvalid({form_name: message}) from bad


def refused(error: DomainError) -> Sent:
    """The guard's reasons listed one by one; any other refusal as one message."""
    reasons = error.extra.get("reasons") if isinstance(error, RuleViolation) else None
    if isinstance(reasons, list) and reasons:
        return Sent(reasons=[str(r) for r in reasons])
    return Sent(error=error.detail)


# ---------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class Ctx:
    request: Request[Any, Any, Any]
    db: AsyncSession
    actor: Principal
    clock: Clock


async def chosen_county(ctx: Ctx, county_id: int | None) -> tuple[Unit | None, list[Unit]]:
    """The county asked for (if the actor works there), else the first they work in."""
    counties = await services.counties_for(ctx.db, ctx.actor)
    if county_id is not None:
        found = next((c for c in counties if c.id == county_id), None)
        return found or await _refuse_county(ctx, county_id), counties
    return (counties[0] if counties else None), counties


async def _refuse_county(ctx: Ctx, county_id: int) -> Unit:
    county = await org.get_unit(ctx.db, county_id)
    raise DomainError(f"{county.name}不在您账号的管辖范围内。", slug="out-of-scope")


@dataclass(frozen=True, slots=True)
class MeetingRow:
    meeting: Meeting
    weekday: str
    required: list[str]


async def meeting_rows(db: AsyncSession, listed: list[Meeting]) -> list[MeetingRow]:
    person_ids = {p for m in listed for p in m.required.get("persons", [])}
    post_ids = {p for m in listed for p in m.required.get("posts", [])}
    names = await services.person_names(db, person_ids)
    posts = await services.posts_by_id(db, post_ids)
    rows = []
    for m in listed:
        required = [names.get(p, f"人员{p}") for p in m.required.get("persons", [])]
        required += [
            f"{posts[p].unit.name}{posts[p].title}" if p in posts else f"职务{p}"
            for p in m.required.get("posts", [])
        ]
        required += [f"全体{LEVEL_LABELS.get(k, k)}" for k in m.required.get("unit_kinds", [])]
        rows.append(MeetingRow(m, weekday_label(m.day), required))
    return rows


async def _form_choices(ctx: Ctx, county: Unit) -> dict[str, Any]:
    persons = await org.search_persons(ctx.db, ctx.actor, county.id, limit=CHOICES_LIMIT)
    posts = await services.meeting_post_choices(ctx.db, county.id)
    return {
        "person_choices": [(p.id, p.name) for p in persons],
        "post_choices": [(p.id, f"{p.unit.name} · {p.title}") for p in posts],
    }


async def render_meetings(
    ctx: Ctx, county_id: int | None, *, status_code: int = 200, sent: Sent | None = None
) -> Template:
    county, counties = await chosen_county(ctx, county_id)
    today = local_today(ctx.clock)
    context: dict[str, Any] = {
        "county": county,
        "counties": counties,
        "today": today,
        "sent": sent or Sent(),
        "level_choices": LEVEL_CHOICES,
        "rows": [],
        "can_write": False,
    }
    if county is not None:
        listed = await services.meetings_of(
            ctx.db, county.id, today, today + dt.timedelta(days=UPCOMING_DAYS)
        )
        context["rows"] = await meeting_rows(ctx.db, listed)
        context["can_write"] = ctx.actor.reaches(EDITORS, county.path)
        if context["can_write"]:
            context |= await _form_choices(ctx, county)
    return page(ctx.request, "meetings/index.html", status_code=status_code, **context)


def meetings_url(county_id: int) -> str:
    return f"{MEETINGS_URL}?county_id={county_id}"


# ---------------------------------------------------------------- subscriptions


def absolute(request: Request[Any, Any, Any], path: str) -> dict[str, str]:
    """The http(s) address and its webcal:// twin, which calendar apps open to subscribe."""
    base = str(request.base_url).rstrip("/")
    url = base + path
    return {"https": url, "webcal": "webcal://" + url.split("://", 1)[-1]}


async def _subject(ctx: Ctx, person_id: int | None) -> Person | None:
    """Whose subscriptions: the actor's own, or (admins, office) a chosen person's."""
    wanted = person_id if person_id is not None else ctx.actor.person_id
    return None if wanted is None else await org.get_person(ctx.db, wanted)


async def _venue_links(ctx: Ctx, person: Person | None) -> list[dict[str, Any]]:
    county_id = person.county_id if person is not None else None
    if county_id is None:
        counties = await services.counties_for(ctx.db, ctx.actor)
        county_id = counties[0].id if counties else None
    if county_id is None:
        return []
    venues = await services.venues_of(ctx.db, county_id)
    return [{"venue": v, **absolute(ctx.request, venue_feed_path(v.id))} for v in venues]


async def render_subscriptions(ctx: Ctx, person_id: int | None) -> Template:
    person = await _subject(ctx, person_id)
    tokens = await services.calendar_tokens_of(ctx.db, ctx.actor, person.id) if person else []
    issued = ctx.request.session.pop(_NEW_TOKEN, None) if "session" in ctx.request.scope else None
    fresh = None
    if isinstance(issued, dict) and person is not None and issued.get("person") == person.id:
        fresh = absolute(ctx.request, feed_path(str(issued["token"])))
    return page(
        ctx.request,
        "meetings/subscriptions.html",
        person=person,
        own=person is not None and person.id == ctx.actor.person_id,
        tokens=tokens,
        fresh=fresh,
        venues=await _venue_links(ctx, person),
        shanghai=SHANGHAI,
    )


def subscriptions_url(person_id: int, own: bool) -> str:
    return SUBSCRIPTIONS_URL if own else f"{SUBSCRIPTIONS_URL}?person_id={person_id}"


# ---------------------------------------------------------------- controllers


class MeetingPages(Controller):
    path = MEETINGS_URL
    include_in_schema = False

    @get("/", opt=READ)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county_id: int | None = None,
    ) -> Template:
        return await render_meetings(Ctx(request, db, actor, clock), county_id)

    @post("/", opt=WRITE)
    async def create(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        ctx = Ctx(request, db, actor, clock)
        values = await sent_values(request)
        county_id = int(values["county_id"]) if values.get("county_id", "").isdigit() else None
        try:
            if county_id is None:
                raise FormInvalid({"": "请先选择县（区、市）。"})
            data = meeting_from(values, county_id)
            meeting = await services.create_meeting(db, actor, clock.now(), data)
        except FormInvalid as bad:
            await db.rollback()
            sent = Sent(values, errors=bad.errors)
            return await render_meetings(ctx, county_id, status_code=422, sent=sent)
        except DomainError as refusal:
            await db.rollback()
            sent = replace(refused(refusal), values=values)
            return await render_meetings(ctx, county_id, status_code=refusal.status, sent=sent)
        note = "（已书面说明越过会议规则，已记入台账）" if meeting.override_reason else ""
        flash(request, f"已安排会议：{meeting.title}，{meeting.day.isoformat()}。{note}")
        return Redirect(path=meetings_url(meeting.county_id))


class SubscriptionPages(Controller):
    path = SUBSCRIPTIONS_URL
    include_in_schema = False

    @get("/", opt=ANYONE)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        person_id: int | None = None,
    ) -> Template:
        return await render_subscriptions(Ctx(request, db, actor, clock), person_id)

    @post("/tokens", opt=ANYONE)
    async def issue(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Redirect:
        form = await request.form()
        chosen = str(form.get("person_id", "")).strip()
        person_id = int(chosen) if chosen.isdigit() else actor.person_id
        if person_id is None:
            raise RuleViolation("您的账号未关联人员，无法生成个人日历订阅地址。")
        token = await services.issue_calendar_token(db, actor, clock.now(), person_id)
        request.session[_NEW_TOKEN] = {"person": person_id, "token": token}
        flash(request, "已生成新的订阅地址。请立即复制：离开本页后将不再显示。")
        return Redirect(path=subscriptions_url(person_id, person_id == actor.person_id))

    @post("/tokens/{token_id:int}/revoke", opt=ANYONE)
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        token_id: int,
    ) -> Redirect:
        row = await services.revoke_calendar_token(db, actor, clock.now(), token_id)
        flash(request, "已吊销该订阅地址，使用它的日历将不再更新。")
        return Redirect(path=subscriptions_url(row.person_id, row.person_id == actor.person_id))


ROUTES = [MeetingPages, SubscriptionPages]
