"""Organisation JSON API: thin — parse, authorise, call a service, serialise."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.auth.roles import ORG_READER_ROLES, Role
from app.core.clock import Clock
from app.org import services
from app.org.models import Person, Post, Tenure, Unit
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import (
    PersonIn,
    PersonOut,
    PersonPatch,
    PostIn,
    PostOut,
    TenureEnd,
    TenureIn,
    TenureOut,
    TenurePatch,
    UnitIn,
    UnitOut,
    UnitPatch,
)

READ = allow(*ORG_READER_ROLES)
WRITE = allow(Role.admin)


def unit_out(unit: Unit) -> UnitOut:
    return UnitOut(
        unit.id,
        UnitKind(unit.kind),
        unit.code,
        unit.name,
        unit.parent_id,
        unit.county_id,
        unit.path,
    )


def person_out(person: Person) -> PersonOut:
    return PersonOut(person.id, person.name, person.gender, person.county_id)


def post_out(post: Post) -> PostOut:
    return PostOut(
        post.id, post.unit_id, post.title, ReceptionRole(post.reception_role), post.single_holder
    )


def tenure_out(tenure: Tenure) -> TenureOut:
    post = tenure.post
    return TenureOut(
        id=tenure.id,
        person_id=tenure.person_id,
        person_name=tenure.person.name,
        post_id=post.id,
        post_title=post.title,
        unit_id=post.unit_id,
        unit_name=post.unit.name,
        reception_role=ReceptionRole(post.reception_role),
        start_date=tenure.start_date,
        end_date=tenure.end_date,
        end_reason=tenure.end_reason,
        portfolio=list(tenure.portfolio),
    )


class UnitController(Controller):
    path = "/api/v1/units"
    tags = ("org",)

    @get("/", opt=READ)
    async def list_units(
        self, db: AsyncSession, actor: Principal, parent_id: int | None = None
    ) -> list[UnitOut]:
        """Children of `parent_id`, or the units at the top of the caller's scope."""
        return [unit_out(u) for u in await services.visible_units(db, actor, parent_id=parent_id)]

    @post("/", opt=WRITE)
    async def create(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: UnitIn
    ) -> UnitOut:
        return unit_out(await services.create_unit(db, actor, clock.now(), data))

    @get("/{unit_id:int}", opt=READ)
    async def show(self, db: AsyncSession, actor: Principal, unit_id: int) -> UnitOut:
        tree = await services.subtree(db, actor, unit_id)
        return unit_out(tree[0])

    @patch("/{unit_id:int}", opt=WRITE)
    async def update(
        self, db: AsyncSession, actor: Principal, clock: Clock, unit_id: int, data: UnitPatch
    ) -> UnitOut:
        return unit_out(await services.update_unit(db, actor, clock.now(), unit_id, data))

    @get("/{unit_id:int}/posts", opt=READ)
    async def posts(self, db: AsyncSession, actor: Principal, unit_id: int) -> list[PostOut]:
        return [post_out(p) for p in await services.posts_of(db, actor, unit_id)]

    @get("/{unit_id:int}/tenures", opt=READ)
    async def tenures(
        self, db: AsyncSession, actor: Principal, unit_id: int, include_ended: bool = True
    ) -> list[TenureOut]:
        found = await services.tenures_at(db, actor, unit_id, include_ended=include_ended)
        return [tenure_out(t) for t in found]


class PersonController(Controller):
    path = "/api/v1/persons"
    tags = ("org",)

    @get("/", opt=READ)
    async def search(
        self, db: AsyncSession, actor: Principal, county_id: int | None = None, q: str = ""
    ) -> list[PersonOut]:
        return [person_out(p) for p in await services.search_persons(db, actor, county_id, q)]

    @post("/", opt=WRITE)
    async def create(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: PersonIn
    ) -> PersonOut:
        return person_out(await services.create_person(db, actor, clock.now(), data))

    @patch("/{person_id:int}", opt=WRITE)
    async def update(
        self, db: AsyncSession, actor: Principal, clock: Clock, person_id: int, data: PersonPatch
    ) -> PersonOut:
        return person_out(await services.update_person(db, actor, clock.now(), person_id, data))

    @get("/{person_id:int}/tenures", opt=READ)
    async def tenures(self, db: AsyncSession, actor: Principal, person_id: int) -> list[TenureOut]:
        return [tenure_out(t) for t in await services.tenures_of_person(db, actor, person_id)]


class PostController(Controller):
    path = "/api/v1/posts"
    tags = ("org",)

    @post("/", opt=WRITE)
    async def create(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: PostIn
    ) -> PostOut:
        return post_out(await services.create_post(db, actor, clock.now(), data))


class TenureController(Controller):
    path = "/api/v1/tenures"
    tags = ("org",)

    @post("/", opt=WRITE)
    async def appoint(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: TenureIn
    ) -> TenureOut:
        """Appoint a person to a post (任职)."""
        return tenure_out(await services.appoint(db, actor, clock.now(), data))

    @patch("/{tenure_id:int}", opt=WRITE)
    async def update(
        self, db: AsyncSession, actor: Principal, clock: Clock, tenure_id: int, data: TenurePatch
    ) -> TenureOut:
        return tenure_out(await services.update_tenure(db, actor, clock.now(), tenure_id, data))

    @post("/{tenure_id:int}/end", opt=WRITE, status_code=200)
    async def end(
        self, db: AsyncSession, actor: Principal, clock: Clock, tenure_id: int, data: TenureEnd
    ) -> TenureOut:
        """End a tenure (离任); 409 while cases, sittings or assignments still refer to it."""
        return tenure_out(await services.end_tenure(db, actor, clock.now(), tenure_id, data))


ROUTES = [UnitController, PersonController, PostController, TenureController]
