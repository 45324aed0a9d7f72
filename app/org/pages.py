"""Organisation pages: the unit tree, a unit with its posts and holders, and the admin's
forms to add units, posts and appointments and to end a tenure.

Every write is POST-redirect-GET: a refusal re-renders the unit page with the message next
to the form that was sent, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.auth.roles import ORG_READER_ROLES, Role
from app.core.clock import Clock, local_today
from app.core.errors import DomainError
from app.core.forms import FieldRule, FormInvalid, build, date_field, int_field, require
from app.core.web import flash, nav_item, page
from app.org import rules, services
from app.org.models import Post, Tenure, Unit
from app.org.rules import (
    ALLOWED_PARENTS,
    MAIN_POST_TITLES,
    RECEPTION_ROLE_LABELS,
    UNIT_KIND_LABELS,
    ReceptionRole,
    UnitKind,
)
from app.org.schemas import EndReason, PersonIn, PostIn, TenureEnd, TenureIn, UnitIn, UnitPatch

READ = allow(*ORG_READER_ROLES)
WRITE = allow(Role.admin)
ADMIN = frozenset({Role.admin})

nav_item("组织机构", "/admin/org", ORG_READER_ROLES, order=20)

#: How units are listed among their siblings: places first, then departments.
KIND_ORDER: dict[str, int] = {
    kind: rank
    for rank, kind in enumerate(
        [
            UnitKind.province,
            UnitKind.city,
            UnitKind.county,
            UnitKind.street,
            UnitKind.township,
            UnitKind.community,
            UnitKind.village,
            UnitKind.department,
        ]
    )
}
GENDERS = [("男", "男"), ("女", "女")]
PERSON_CHOICES_LIMIT = 1000
_TAG_SEPARATORS = re.compile(r"[,，、;；\s]+")


def unit_url(unit_id: int) -> str:
    return f"/admin/org/units/{unit_id}"


def _sibling_key(unit: Unit) -> tuple[int, str]:
    return KIND_ORDER.get(unit.kind, 99), unit.code


# ---------------------------------------------------------------- form parsing


def _values(form: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value).strip() for key, value in form.items() if key != "_csrf_token"}


def split_tags(text: str) -> list[str]:
    """分管领域: separated by commas (either width), 、 or semicolons."""
    return [tag for tag in _TAG_SEPARATORS.split(text) if tag]


_UNIT_FIELDS = {
    "code": FieldRule("code", "单位代码只能由数字、字母和连字符组成，最长 32 位。"),
    "name": FieldRule("name", "单位名称不能为空，最长 64 个字。"),
}
_CHILD_FIELDS = {
    "kind": FieldRule("child_kind", "请从列表中选择单位类别。"),
    "code": FieldRule("child_code", "单位代码只能由数字、字母和连字符组成，最长 32 位。"),
    "name": FieldRule("child_name", "单位名称不能为空，最长 64 个字。"),
}
_POST_FIELDS = {
    "title": FieldRule("title", "职务名称不能为空，最长 64 个字。"),
    "reception_role": FieldRule("reception_role", "请从列表中选择接访角色。"),
}
_PERSON_FIELDS = {
    "name": FieldRule("new_name", "姓名应为 2 至 32 个字。"),
    "gender": FieldRule("new_gender", "性别请选择“男”或“女”。"),
}
_TENURE_FIELDS = {
    "portfolio": FieldRule("portfolio", "每个分管领域不超过 32 个字。"),
}
_END_FIELDS = {
    "reason": FieldRule("reason", "请从列表中选择离任原因。"),
}


def unit_patch_from(values: Mapping[str, str]) -> UnitPatch:
    require(values, {"name": "单位名称", "code": "单位代码"})
    return build(UnitPatch, {"code": values["code"], "name": values["name"]}, _UNIT_FIELDS)


def child_from(values: Mapping[str, str], parent_id: int) -> UnitIn:
    require(values, {"child_kind": "单位类别", "child_code": "单位代码", "child_name": "单位名称"})
    data = {
        "kind": values["child_kind"],
        "code": values["child_code"],
        "name": values["child_name"],
        "parent_id": parent_id,
    }
    return build(UnitIn, data, _CHILD_FIELDS)


def post_from(values: Mapping[str, str], unit_id: int) -> PostIn:
    require(values, {"title": "职务名称"})
    data = {
        "unit_id": unit_id,
        "title": values["title"],
        "reception_role": values.get("reception_role") or ReceptionRole.none.value,
        "single_holder": bool(values.get("single_holder")),
    }
    return build(PostIn, data, _POST_FIELDS)


def new_person_from(values: Mapping[str, str], county_id: int | None) -> PersonIn | None:
    """The new person to register first, or None when an existing one was chosen."""
    chosen, name = values.get("person_id", ""), values.get("new_name", "")
    if chosen and name:
        raise FormInvalid({"new_name": "请在“已登记人员”和“新人员姓名”中只填一项。"})
    if not chosen and not name:
        raise FormInvalid({"person_id": "请选择任职人员，或填写新人员的姓名。"})
    if not name:
        return None
    data = {"name": name, "gender": values.get("new_gender") or None, "county_id": county_id}
    return build(PersonIn, data, _PERSON_FIELDS)


def tenure_from(values: Mapping[str, str], person_id: int) -> TenureIn:
    data = {
        "person_id": person_id,
        "post_id": int_field(values, "post_id", "请选择职务。"),
        "start_date": date_field(values, "start_date", "任职日期"),
        "portfolio": split_tags(values.get("portfolio", "")),
    }
    return build(TenureIn, data, _TENURE_FIELDS)


def tenure_end_from(values: Mapping[str, str]) -> TenureEnd:
    end_date = date_field(values, "end_date", "离任日期")
    require(values, {"reason": "离任原因"})
    return build(TenureEnd, {"end_date": end_date, "reason": values["reason"]}, _END_FIELDS)


# ---------------------------------------------------------------- the tree


@dataclass(slots=True)
class Node:
    unit: Unit
    children: list[Node] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(1 + child.size for child in self.children)


def build_tree(units: Iterable[Unit]) -> list[Node]:
    """Nest units (parents listed before children) into sorted trees."""
    nodes: dict[int, Node] = {}
    tops: list[Node] = []
    for unit in units:
        node = nodes[unit.id] = Node(unit)
        parent = nodes.get(unit.parent_id) if unit.parent_id is not None else None
        (parent.children if parent else tops).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: _sibling_key(n.unit))
    return tops


def outermost(units: list[Unit]) -> list[Unit]:
    """Drop units that lie inside another one of the list (overlapping scopes)."""
    return [u for u in units if not any(o.id != u.id and u.path.startswith(o.path) for o in units)]


# ---------------------------------------------------------------- the unit page


@dataclass(frozen=True, slots=True)
class Sent:
    """A form that came back refused: which one, what was typed, and why."""

    form: str
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    tenure_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ctx:
    request: Request[Any, Any, Any]
    db: AsyncSession
    actor: Principal
    clock: Clock


@dataclass(slots=True)
class PostRow:
    post: Post
    current: list[Tenure]


def child_kinds(kind: str) -> list[tuple[str, str]]:
    """The kinds of unit that may be created directly under a unit of `kind`."""
    parent = UnitKind(kind)
    allowed = [k for k, parents in ALLOWED_PARENTS.items() if parent in parents]
    return [(k.value, UNIT_KIND_LABELS[k]) for k in sorted(allowed, key=lambda k: KIND_ORDER[k])]


def role_choices(kind: str) -> list[tuple[str, str]]:
    unit_kind = UnitKind(kind)
    return [
        (role.value, label)
        for role, label in RECEPTION_ROLE_LABELS.items()
        if rules.role_problem(role, unit_kind) is None
    ]


def is_current(tenure: Tenure, today: dt.date) -> bool:
    return tenure.end_date is None or tenure.end_date > today


def post_rows(posts: list[Post], tenures: list[Tenure], today: dt.date) -> list[PostRow]:
    rows = {p.id: PostRow(p, []) for p in posts}
    for tenure in tenures:
        if tenure.post_id in rows and is_current(tenure, today):
            rows[tenure.post_id].current.append(tenure)
    return list(rows.values())


def history(tenures: list[Tenure], today: dt.date) -> list[Tenure]:
    ended = [t for t in tenures if not is_current(t, today)]
    return sorted(ended, key=lambda t: (t.end_date or today, t.id), reverse=True)


async def _breadcrumb(ctx: Ctx, unit: Unit) -> list[dict[str, Any]]:
    trail = await services.ancestors(ctx.db, unit)
    return [
        {"unit": u, "link": u.id != unit.id and ctx.actor.reaches(ORG_READER_ROLES, u.path)}
        for u in trail
    ]


async def _people(ctx: Ctx, unit: Unit, text: str) -> list[tuple[int, str]]:
    persons = await services.search_persons(
        ctx.db, ctx.actor, unit.county_id, text, limit=PERSON_CHOICES_LIMIT
    )
    return [(p.id, f"{p.name}（{p.gender}）" if p.gender else p.name) for p in persons]


def _forms(unit: Unit, posts: list[Post]) -> dict[str, Any]:
    kind = UnitKind(unit.kind)
    return {
        "child_kinds": child_kinds(unit.kind),
        "role_choices": role_choices(unit.kind),
        "title_suggestions": list(MAIN_POST_TITLES.get(kind, {}).values()),
        "post_choices": [(p.id, p.title) for p in posts],
        "genders": GENDERS,
        "end_reasons": [(r.value, r.value) for r in EndReason],
    }


async def render_unit(
    ctx: Ctx,
    unit_id: int,
    *,
    status_code: int = 200,
    sent: Sent | None = None,
    q: str = "",
    show: str = "",
) -> Template:
    unit = await services.get_unit(ctx.db, unit_id)
    posts = await services.posts_of(ctx.db, ctx.actor, unit.id)  # checks the reader's scope
    tenures = await services.tenures_at(ctx.db, ctx.actor, unit.id)
    today = local_today(ctx.clock)
    can_write = ctx.actor.reaches(ADMIN, unit.path)
    return page(
        ctx.request,
        "org/unit.html",
        status_code=status_code,
        unit=unit,
        kind_label=UNIT_KIND_LABELS.get(UnitKind(unit.kind), unit.kind),
        kind_labels=UNIT_KIND_LABELS,
        role_labels=RECEPTION_ROLE_LABELS,
        breadcrumb=await _breadcrumb(ctx, unit),
        children=sorted(
            await services.visible_units(ctx.db, ctx.actor, parent_id=unit.id), key=_sibling_key
        ),
        rows=post_rows(posts, tenures, today),
        ended=history(tenures, today),
        today=today,
        can_write=can_write,
        persons=await _people(ctx, unit, q) if can_write and posts else [],
        q=q,
        show=show,
        sent=sent or Sent(form=""),
        **_forms(unit, posts),
    )


async def _ensure_post_of(db: AsyncSession, post_id: int, unit_id: int) -> None:
    found = await db.get(Post, post_id)
    if found is None or found.unit_id != unit_id:
        raise FormInvalid({"post_id": "请从本单位的职务中选择。"})


Work = Callable[[dict[str, str]], Awaitable[str]]


async def submit(
    ctx: Ctx, unit_id: int, form: str, work: Work, tenure_id: int | None = None
) -> Template | Redirect:
    """Run one write: success flashes its message and redirects to the unit page; a bad
    form (422) or a refusal (its own status) re-renders the page with what was typed."""
    values = _values(await ctx.request.form())
    try:
        message = await work(values)
    except FormInvalid as bad:
        await ctx.db.rollback()
        sent = Sent(form, values, errors=bad.errors, tenure_id=tenure_id)
        return await render_unit(ctx, unit_id, status_code=422, sent=sent)
    except DomainError as refused:
        await ctx.db.rollback()
        sent = Sent(form, values, error=refused.detail, tenure_id=tenure_id)
        return await render_unit(ctx, unit_id, status_code=refused.status, sent=sent)
    flash(ctx.request, message)
    return Redirect(path=unit_url(unit_id))


# ---------------------------------------------------------------- controllers


class OrgPages(Controller):
    path = "/admin/org"
    include_in_schema = False

    @get("/", opt=READ)
    async def tree(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal
    ) -> Template:
        tops = outermost(await services.visible_units(db, actor, roots=True))
        trees: list[Node] = []
        for top in sorted(tops, key=_sibling_key):
            trees.extend(build_tree(await services.subtree(db, actor, top.id)))
        return page(request, "org/tree.html", trees=trees, kind_labels=UNIT_KIND_LABELS)

    @get("/units/{unit_id:int}", opt=READ)
    async def unit(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        unit_id: int,
        q: str = "",
        show: str = "",
    ) -> Template:
        """The unit; `q` filters the persons offered for appointment, `show` opens a form."""
        return await render_unit(Ctx(request, db, actor, clock), unit_id, q=q.strip(), show=show)

    @post("/units/{unit_id:int}/edit", opt=WRITE)
    async def edit(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        unit_id: int,
    ) -> Template | Redirect:
        async def work(values: dict[str, str]) -> str:
            unit = await services.update_unit(
                db, actor, clock.now(), unit_id, unit_patch_from(values)
            )
            return f"已保存{unit.name}的单位信息。"

        return await submit(Ctx(request, db, actor, clock), unit_id, "edit", work)

    @post("/units/{unit_id:int}/children", opt=WRITE)
    async def add_child(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        unit_id: int,
    ) -> Template | Redirect:
        async def work(values: dict[str, str]) -> str:
            child = await services.create_unit(db, actor, clock.now(), child_from(values, unit_id))
            return f"已新增下级单位：{child.name}（{child.code}）。"

        return await submit(Ctx(request, db, actor, clock), unit_id, "child", work)

    @post("/units/{unit_id:int}/posts", opt=WRITE)
    async def add_post(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        unit_id: int,
    ) -> Template | Redirect:
        async def work(values: dict[str, str]) -> str:
            created = await services.create_post(db, actor, clock.now(), post_from(values, unit_id))
            return f"已新增职务：{created.title}。"

        return await submit(Ctx(request, db, actor, clock), unit_id, "post", work)

    @post("/units/{unit_id:int}/appointments", opt=WRITE)
    async def appoint(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        unit_id: int,
    ) -> Template | Redirect:
        async def work(values: dict[str, str]) -> str:
            unit = await services.get_unit(db, unit_id)
            newcomer = new_person_from(values, unit.county_id)
            person_id = (
                int_field(values, "person_id", "请选择任职人员。") if newcomer is None else 0
            )
            data = tenure_from(values, person_id)
            await _ensure_post_of(db, data.post_id, unit_id)
            if newcomer is not None:
                person = await services.create_person(db, actor, clock.now(), newcomer)
                data = msgspec.structs.replace(data, person_id=person.id)
            tenure = await services.appoint(db, actor, clock.now(), data)
            return f"已任命{tenure.person.name}为{tenure.post.title}，自 {tenure.start_date.isoformat()} 起。"

        return await submit(Ctx(request, db, actor, clock), unit_id, "appoint", work)

    @post("/tenures/{tenure_id:int}/end", opt=WRITE)
    async def end_tenure(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        tenure_id: int,
    ) -> Template | Redirect:
        unit_id = (await services.get_tenure(db, tenure_id)).post.unit_id

        async def work(values: dict[str, str]) -> str:
            tenure = await services.end_tenure(
                db, actor, clock.now(), tenure_id, tenure_end_from(values)
            )
            ended = tenure.end_date.isoformat() if tenure.end_date else ""
            return f"已办理{tenure.person.name}的离任（{tenure.post.title}），离任日期 {ended}。"

        return await submit(
            Ctx(request, db, actor, clock), unit_id, "end", work, tenure_id=tenure_id
        )


ROUTES = [OrgPages]
