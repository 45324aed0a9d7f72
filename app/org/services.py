"""Organisation use cases: one function per use case, all inside the caller's transaction.

Every function takes the acting principal and "now"; none commits. Refusals raise
`DomainError`s before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import ORG_READER_ROLES, Role
from app.core.errors import NotFound
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org import rules
from app.org.errors import (
    Duplicate,
    InvalidDates,
    InvalidParent,
    InvalidPost,
    TenureAlreadyEnded,
    TenureOverlap,
    TenureReferenced,
)
from app.org.models import Person, Post, Tenure, Unit
from app.org.references import remaining_references
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import (
    PersonIn,
    PersonPatch,
    PostIn,
    TenureEnd,
    TenureIn,
    TenurePatch,
    UnitIn,
    UnitPatch,
)

ADMIN = {Role.admin}

UNIT_CREATED = ledger_action(
    "org.unit.created",
    "unit",
    "建立单位（县级单位为其台账的第 0 条）",
    kind="单位类别",
    code="单位代码",
    name="单位名称（机关名称，非个人信息）",
    parent="上级单位编号",
)
UNIT_UPDATED = ledger_action(
    "org.unit.updated",
    "unit",
    "修改单位；只含变化的字段",
    code="新代码",
    name="新名称",
)
LEDGER_OPENED = ledger_action(
    "ledger.opened",
    "ledger",
    "为新建的县开设台账（记入部署管理台账）",
    origin="新台账的 origin",
    county="县级单位编号",
)
PERSON_CREATED = ledger_action(
    "org.person.created",
    "person",
    "登记人员（不记姓名等个人信息）",
    county="所属县编号",
)
PERSON_UPDATED = ledger_action(
    "org.person.updated",
    "person",
    "修改人员信息（只记改了哪些字段）",
    fields="被修改的字段名列表",
)
POST_CREATED = ledger_action(
    "org.post.created",
    "post",
    "设置职务",
    unit="单位编号",
    title="职务名称",
    reception_role="接访角色",
    single_holder="是否单人职务",
)
TENURE_STARTED = ledger_action(
    "org.tenure.started",
    "tenure",
    "任职（人员担任职务）",
    person="人员编号",
    post="职务编号",
    start_date="任职起始日",
    portfolio="分管领域标签列表",
)
TENURE_UPDATED = ledger_action(
    "org.tenure.updated",
    "tenure",
    "修改任职；只含变化的字段",
    start_date="新的任职起始日",
    portfolio="新的分管领域标签列表",
)
TENURE_END_ANNOUNCED = ledger_action(
    "org.tenure.end_announced",
    "tenure",
    "确定（或撤回）离任交接的离任日期；自该日起该职务可任命接任人员",
    planned_end="拟离任日（不含当日），撤回时为 null",
)
TENURE_ENDED = ledger_action(
    "org.tenure.ended",
    "tenure",
    "离任（任职结束）",
    end_date="结束日（不含当日）",
    reason="离任原因（调任、转任、免职、退休、其他）",
)


async def _record(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    county: int | None,
    action: str,
    subject: tuple[str, int],
    /,
    **payload: object,
) -> None:
    await ledger.append(
        db,
        county=county,
        actor=actor,
        action=action,
        subject=subject,
        payload=payload,
        at=now,
        role=Role.admin.value,
    )


# ---------------------------------------------------------------- units


async def get_unit(db: AsyncSession, unit_id: int) -> Unit:
    unit = await db.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"单位 {unit_id} 不存在。")
    return unit


async def _parent_for(db: AsyncSession, actor: Principal, data: UnitIn) -> Unit | None:
    if data.parent_id is None:
        if actor.scope_paths(ADMIN) is not None:
            raise InvalidParent("只有全局管理员可以建立顶级单位，请选择上级单位。")
        return None
    parent = await db.get(Unit, data.parent_id)
    if parent is None:
        raise InvalidParent(f"上级单位 {data.parent_id} 不存在。")
    require_scope(actor, ADMIN, parent.path, "在该单位下建立下级单位")
    return parent


async def _ensure_code_free(db: AsyncSession, code: str, except_id: int | None = None) -> None:
    holder = await db.scalar(select(Unit.id).where(Unit.code == code))
    if holder is not None and holder != except_id:
        raise Duplicate(f"单位代码 {code} 已被使用。")


async def create_unit(db: AsyncSession, actor: Principal, now: dt.datetime, data: UnitIn) -> Unit:
    parent = await _parent_for(db, actor, data)
    problem = rules.parent_problem(data.kind, UnitKind(parent.kind) if parent else None)
    if problem:
        raise InvalidParent(problem + "。")
    await _ensure_code_free(db, data.code)
    unit = Unit(
        parent_id=parent.id if parent else None,
        kind=data.kind,
        code=data.code,
        name=data.name,
        created_at=now,
        updated_at=now,
    )
    db.add(unit)
    await db.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    unit.county_id = _county_of(unit, parent)
    await db.flush()
    if unit.kind == UnitKind.county:
        opened = await ledger.open_county_ledger(db, unit.id, unit.code, now)
        await _record(
            db,
            actor,
            now,
            None,
            LEDGER_OPENED,
            ("ledger", opened.id),
            origin=opened.origin,
            county=unit.id,
        )
    await _record(
        db,
        actor,
        now,
        unit.county_id,
        UNIT_CREATED,
        ("unit", unit.id),
        kind=unit.kind,
        code=unit.code,
        name=unit.name,
        parent=unit.parent_id,
    )
    return unit


def _county_of(unit: Unit, parent: Unit | None) -> int | None:
    if unit.kind == UnitKind.county:
        return unit.id
    return parent.county_id if parent else None


async def update_unit(
    db: AsyncSession, actor: Principal, now: dt.datetime, unit_id: int, data: UnitPatch
) -> Unit:
    unit = await get_unit(db, unit_id)
    require_scope(actor, ADMIN, unit.path, "修改该单位")
    changed: dict[str, object] = {}
    if data.code is not None and data.code != unit.code:
        await _ensure_code_free(db, data.code, unit.id)
        unit.code = changed["code"] = data.code
    if data.name is not None and data.name != unit.name:
        unit.name = changed["name"] = data.name
    unit.updated_at = now
    await db.flush()
    if changed:
        await _record(db, actor, now, unit.county_id, UNIT_UPDATED, ("unit", unit.id), **changed)
    return unit


def _visible(actor: Principal, roles: set[Role] | frozenset[Role]) -> list[str] | None:
    return actor.scope_paths(roles)


async def visible_units(
    db: AsyncSession, actor: Principal, *, parent_id: int | None = None, roots: bool = False
) -> list[Unit]:
    """Units the actor can read: children of `parent_id`, or the top of their scope."""
    paths = _visible(actor, ORG_READER_ROLES)
    query = select(Unit).order_by(Unit.kind, Unit.code)
    if parent_id is not None:
        parent = await get_unit(db, parent_id)
        require_scope(actor, ORG_READER_ROLES, parent.path, "查看该单位")
        return list(await db.scalars(query.where(Unit.parent_id == parent_id)))
    if paths is None:
        return list(await db.scalars(query.where(Unit.parent_id.is_(None)) if roots else query))
    units = list(await db.scalars(query.where(Unit.path.in_(paths))))
    return units


async def subtree(db: AsyncSession, actor: Principal, unit_id: int) -> list[Unit]:
    """The unit and everything below it, ordered by path (parents before children)."""
    unit = await get_unit(db, unit_id)
    require_scope(actor, ORG_READER_ROLES, unit.path, "查看该单位")
    return list(
        await db.scalars(select(Unit).where(Unit.path.startswith(unit.path)).order_by(Unit.path))
    )


async def ancestors(db: AsyncSession, unit: Unit) -> list[Unit]:
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    found = {u.id: u for u in await db.scalars(select(Unit).where(Unit.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# ---------------------------------------------------------------- persons


async def get_person(db: AsyncSession, person_id: int) -> Person:
    person = await db.get(Person, person_id)
    if person is None:
        raise NotFound(f"人员 {person_id} 不存在。")
    return person


async def _person_scope(
    db: AsyncSession, actor: Principal, county_id: int | None, what: str
) -> None:
    if county_id is None:
        if actor.scope_paths(ADMIN) is not None:
            raise InvalidParent("请指定人员所属的县（区、市）。")
        return
    county = await db.get(Unit, county_id)
    if county is None or county.kind != UnitKind.county:
        raise InvalidParent(f"县（区、市）{county_id} 不存在。")
    require_scope(actor, ADMIN, county.path, what)


async def create_person(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: PersonIn
) -> Person:
    await _person_scope(db, actor, data.county_id, "在该县登记人员")
    person = Person(
        name=data.name, gender=data.gender, county_id=data.county_id, created_at=now, updated_at=now
    )
    db.add(person)
    await db.flush()
    await _record(
        db,
        actor,
        now,
        person.county_id,
        PERSON_CREATED,
        ("person", person.id),
        county=person.county_id,
    )
    return person


async def update_person(
    db: AsyncSession, actor: Principal, now: dt.datetime, person_id: int, data: PersonPatch
) -> Person:
    person = await get_person(db, person_id)
    await _person_scope(db, actor, person.county_id, "修改该人员")
    fields: list[str] = []
    if data.name is not None and data.name != person.name:
        person.name = data.name
        fields.append("name")
    if data.gender is not None and data.gender != person.gender:
        person.gender = data.gender
        fields.append("gender")
    person.updated_at = now
    await db.flush()
    if fields:
        await _record(
            db, actor, now, person.county_id, PERSON_UPDATED, ("person", person.id), fields=fields
        )
    return person


async def search_persons(
    db: AsyncSession, actor: Principal, county_id: int | None, text: str = "", limit: int = 50
) -> list[Person]:
    if county_id is not None:
        county = await get_unit(db, county_id)
        require_scope(actor, ORG_READER_ROLES, county.path, "查看该县人员")
    query = select(Person).where(Person.county_id == county_id).order_by(Person.id)
    if text:
        query = query.where(Person.name.contains(text))
    return list(await db.scalars(query.limit(limit)))


# ---------------------------------------------------------------- posts


async def get_post(db: AsyncSession, post_id: int) -> Post:
    post = await db.get(Post, post_id, populate_existing=True)
    if post is None:
        raise NotFound(f"职务 {post_id} 不存在。")
    return post


async def create_post(db: AsyncSession, actor: Principal, now: dt.datetime, data: PostIn) -> Post:
    unit = await db.get(Unit, data.unit_id)
    if unit is None:
        raise InvalidPost(f"单位 {data.unit_id} 不存在。")
    require_scope(actor, ADMIN, unit.path, "在该单位设置职务")
    problem = rules.role_problem(data.reception_role, UnitKind(unit.kind))
    if problem:
        raise InvalidPost(problem + "。")
    taken = await db.scalar(
        select(Post.id).where(Post.unit_id == unit.id, Post.title == data.title)
    )
    if taken is not None:
        raise Duplicate(f"{unit.name}已设有“{data.title}”职务。")
    post = Post(
        unit_id=unit.id,
        title=data.title,
        reception_role=data.reception_role,
        single_holder=data.single_holder,
        created_at=now,
    )
    db.add(post)
    await db.flush()
    await db.refresh(post, ["unit"])
    await _record(
        db,
        actor,
        now,
        unit.county_id,
        POST_CREATED,
        ("post", post.id),
        unit=unit.id,
        title=post.title,
        reception_role=post.reception_role,
        single_holder=post.single_holder,
    )
    return post


async def posts_of(db: AsyncSession, actor: Principal, unit_id: int) -> list[Post]:
    unit = await get_unit(db, unit_id)
    require_scope(actor, ORG_READER_ROLES, unit.path, "查看该单位")
    return list(await db.scalars(select(Post).where(Post.unit_id == unit_id).order_by(Post.id)))


# ---------------------------------------------------------------- tenures


async def get_tenure(db: AsyncSession, tenure_id: int) -> Tenure:
    # populate_existing: a tenure created in this transaction has its relations unloaded.
    tenure = await db.get(Tenure, tenure_id, populate_existing=True)
    if tenure is None:
        raise NotFound(f"任职记录 {tenure_id} 不存在。")
    return tenure


async def _check_overlap(
    db: AsyncSession, post: Post, person_id: int, span: rules.Span, skip: int | None
) -> None:
    query = select(Tenure).where(Tenure.post_id == post.id, Tenure.id != (skip or -1))
    if not post.single_holder:
        query = query.where(Tenure.person_id == person_id)
    others = list(await db.scalars(query))
    clash = next((t for t in others if _held(t).overlaps(span)), None)
    if clash is not None:
        last = clash.end_date or clash.planned_end
        until = last.isoformat() if last else "今"
        raise TenureOverlap(
            f"“{post.title}”在 {clash.start_date.isoformat()} 至 {until} 已由{clash.person.name}担任，"
            "任职时间不能重叠。"
        )


def _held(tenure: Tenure) -> rules.Span:
    """The days a tenure keeps its post: to its end, or to the end announced for a handover."""
    return rules.Span(tenure.start_date, tenure.end_date or tenure.planned_end)


async def appoint(db: AsyncSession, actor: Principal, now: dt.datetime, data: TenureIn) -> Tenure:
    """A person takes a post from `start_date` (任职)."""
    post = await db.get(Post, data.post_id, populate_existing=True)
    if post is None:
        raise InvalidPost(f"职务 {data.post_id} 不存在。")
    require_scope(actor, ADMIN, post.unit.path, "任命该单位的职务")
    person = await db.get(Person, data.person_id)
    if person is None:
        raise InvalidPost(f"人员 {data.person_id} 不存在。")
    await _check_overlap(db, post, person.id, rules.Span(data.start_date), None)
    tenure = Tenure(
        person_id=person.id,
        post_id=post.id,
        start_date=data.start_date,
        portfolio=_clean_tags(data.portfolio),
        created_at=now,
        updated_at=now,
    )
    db.add(tenure)
    await db.flush()
    await db.refresh(tenure, ["person", "post"])
    await _record(
        db,
        actor,
        now,
        post.unit.county_id,
        TENURE_STARTED,
        ("tenure", tenure.id),
        person=person.id,
        post=post.id,
        start_date=tenure.start_date.isoformat(),
        portfolio=list(tenure.portfolio),
    )
    return tenure


def _clean_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


async def update_tenure(
    db: AsyncSession, actor: Principal, now: dt.datetime, tenure_id: int, data: TenurePatch
) -> Tenure:
    tenure = await get_tenure(db, tenure_id)
    require_scope(actor, ADMIN, tenure.post.unit.path, "修改该任职")
    changed: dict[str, object] = {}
    if data.start_date is not None and data.start_date != tenure.start_date:
        span = rules.Span(data.start_date, tenure.end_date)
        problem = rules.span_problem(span)
        if problem:
            raise InvalidDates(problem + "。")
        await _check_overlap(db, tenure.post, tenure.person_id, span, tenure.id)
        tenure.start_date = data.start_date
        changed["start_date"] = data.start_date.isoformat()
    if data.portfolio is not None and _clean_tags(data.portfolio) != tenure.portfolio:
        tenure.portfolio = changed["portfolio"] = _clean_tags(data.portfolio)
    tenure.updated_at = now
    await db.flush()
    if changed:
        await _record(
            db,
            actor,
            now,
            tenure.post.unit.county_id,
            TENURE_UPDATED,
            ("tenure", tenure.id),
            **changed,
        )
    return tenure


async def end_tenure(
    db: AsyncSession, actor: Principal, now: dt.datetime, tenure_id: int, data: TenureEnd
) -> Tenure:
    """End a tenure (离任). Refused while open cases, future sittings or pending assignments
    still refer to it: they must move first, in the same transaction."""
    tenure = await get_tenure(db, tenure_id)
    require_scope(actor, ADMIN, tenure.post.unit.path, "办理该任职的离任")
    return await close_tenure(db, actor, now, tenure, data, Role.admin)


async def close_tenure(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    tenure: Tenure,
    data: TenureEnd,
    role: Role,
) -> Tenure:
    """End a tenure whose caller already checked the actor's right (an admin, or the office
    archiving a departure handover in the same transaction)."""
    if tenure.end_date is not None:
        raise TenureAlreadyEnded(f"该任职已于 {tenure.end_date.isoformat()} 结束。")
    problem = rules.span_problem(rules.Span(tenure.start_date, data.end_date))
    if problem:
        raise InvalidDates(problem + "。")
    remaining = await remaining_references(db, tenure.id, data.end_date)
    if remaining:
        raise TenureReferenced(
            "以下事项仍由该任职负责，须先通过离任交接或改派移交：" + "；".join(remaining) + "。",
            references=remaining,
        )
    tenure.end_date = data.end_date
    tenure.end_reason = data.reason
    tenure.planned_end = None
    tenure.updated_at = now
    await db.flush()
    await ledger.append(
        db,
        county=tenure.post.unit.county_id,
        actor=actor,
        action=TENURE_ENDED,
        subject=("tenure", tenure.id),
        payload={"end_date": data.end_date.isoformat(), "reason": str(data.reason)},
        at=now,
        role=role.value,
    )
    return tenure


async def announce_departure(
    db: AsyncSession, actor: Principal, now: dt.datetime, tenure: Tenure, day: dt.date | None
) -> None:
    """Record (or withdraw, with None) the day a tenure is to end, as a departure handover
    opens (or is withdrawn); the office's right is checked by the handover."""
    if day is None and await _successor_from(db, tenure) is not None:
        raise TenureOverlap("该职务已任命接任人员，不能撤回离任日期。")
    tenure.planned_end = day
    tenure.updated_at = now
    await db.flush()
    await ledger.append(
        db,
        county=tenure.post.unit.county_id,
        actor=actor,
        action=TENURE_END_ANNOUNCED,
        subject=("tenure", tenure.id),
        payload={"planned_end": day.isoformat() if day else None},
        at=now,
        role=Role.office.value,
    )


async def _successor_from(db: AsyncSession, tenure: Tenure) -> Tenure | None:
    if not tenure.post.single_holder:
        return None
    later: Tenure | None = await db.scalar(
        select(Tenure).where(
            Tenure.post_id == tenure.post_id,
            Tenure.id != tenure.id,
            Tenure.start_date > tenure.start_date,
        )
    )
    return later


async def tenures_at(
    db: AsyncSession, actor: Principal, unit_id: int, *, include_ended: bool = True
) -> list[Tenure]:
    unit = await get_unit(db, unit_id)
    require_scope(actor, ORG_READER_ROLES, unit.path, "查看该单位")
    query = select(Tenure).join(Post).where(Post.unit_id == unit_id)
    if not include_ended:
        query = query.where(Tenure.end_date.is_(None))
    return list(await db.scalars(query.order_by(Post.id, Tenure.start_date)))


async def counties_under(db: AsyncSession, paths: list[str]) -> list[int]:
    """The counties whose unit lies within (or contains) one of these scope paths."""
    rows = await db.execute(select(Unit.id, Unit.path).where(Unit.kind == UnitKind.county))
    return [
        uid
        for uid, path in rows.tuples()
        if any(path.startswith(p) or p.startswith(path) for p in paths)
    ]


async def tenures_holding(
    db: AsyncSession, paths: list[str] | None, today: dt.date, *, include_future: bool
) -> list[Tenure]:
    """Tenures not ended by today at units under these scope paths (None: everywhere);
    with `include_future`, also those starting later (a successor appointed ahead)."""
    if paths == []:
        return []
    query = (
        select(Tenure)
        .join(Post, Post.id == Tenure.post_id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(or_(Tenure.end_date.is_(None), Tenure.end_date > today))
        .order_by(Unit.path, Post.id, Tenure.start_date, Tenure.id)
    )
    if paths is not None:
        query = query.where(or_(*(Unit.path.startswith(p) for p in paths)))
    if not include_future:
        query = query.where(Tenure.start_date <= today)
    return list(await db.scalars(query))


async def open_tenures_at(db: AsyncSession, unit_id: int) -> list[Tenure]:
    """The unit's tenures that have not ended, by post."""
    query = (
        select(Tenure)
        .join(Post, Post.id == Tenure.post_id)
        .where(Post.unit_id == unit_id, Tenure.end_date.is_(None))
    )
    return list(await db.scalars(query.order_by(Post.id, Tenure.id)))


async def open_tenures_of(db: AsyncSession, person_id: int) -> list[Tenure]:
    """The person's tenures that have not ended (whatever their announced end)."""
    query = select(Tenure).where(Tenure.person_id == person_id, Tenure.end_date.is_(None))
    return list(await db.scalars(query.order_by(Tenure.id)))


async def tenures_in_charge_of(db: AsyncSession, topic: str) -> list[int]:
    """The tenures whose 分管领域 (portfolio, public information) names the topic: a tag
    equal to it or containing it, so 土地 finds 土地征收."""
    wanted = topic.strip()
    rows = await db.execute(select(Tenure.id, Tenure.portfolio))
    return [tid for tid, tags in rows.tuples() if any(wanted in tag for tag in tags or [])]


async def portfolio_tags(db: AsyncSession, tenure_ids: list[int]) -> list[str]:
    """The 分管领域 tags of these tenures, each once, sorted."""
    rows = await db.scalars(select(Tenure.portfolio).where(Tenure.id.in_(tenure_ids)))
    return sorted({tag for tags in rows for tag in tags or []})


async def tenures_of_person(db: AsyncSession, actor: Principal, person_id: int) -> list[Tenure]:
    person = await get_person(db, person_id)
    tenures = list(
        await db.scalars(
            select(Tenure).where(Tenure.person_id == person.id).order_by(Tenure.start_date)
        )
    )
    return [t for t in tenures if actor.reaches(ORG_READER_ROLES, t.post.unit.path)]


def holds_role(tenure: Tenure, role: ReceptionRole, day: dt.date) -> bool:
    return tenure.post.reception_role == role and rules.Span(
        tenure.start_date, tenure.end_date
    ).contains(day)
