"""Who may see a case (and how much), with recusal first.

- Anyone accused in the case, or speaking for an accused unit, is answered "not found":
  not even the case's existence reaches them (《信访工作条例》第三十条).
- A leader sees the cases they own or co-own; a unit handler only its unit's assignments;
  clerks, supervisors, the office and admins the cases of the counties their scope reaches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.errors import NotFound
from app.org.models import Post, Tenure, Unit
from app.ownership import recusal
from app.ownership.models import Case, CaseAccused, CaseAssignment, CaseOwner, CaseUnit

#: Roles that read every case of the counties their scope reaches.
SCOPE_READERS = frozenset({Role.clerk, Role.supervisor, Role.office, Role.admin})
NOT_FOUND = "找不到该信访事项。"


async def viewer_of(db: AsyncSession, actor: Principal) -> recusal.Viewer:
    """The actor's person and every unit they speak for: their current posts' units and
    their grants' scope units."""
    units = {g.scope_unit_id for g in actor.grants if g.scope_unit_id is not None}
    if actor.person_id is not None:
        rows = await db.scalars(
            select(Post.unit_id)
            .join(Tenure, Tenure.post_id == Post.id)
            .where(Tenure.person_id == actor.person_id, Tenure.end_date.is_(None))
        )
        units.update(rows)
    return recusal.Viewer(actor.person_id, frozenset(units))


async def accused_of(db: AsyncSession, case_id: int) -> recusal.Accused:
    persons = await db.scalars(select(CaseAccused.person_id).where(CaseAccused.case_id == case_id))
    units = await db.scalars(
        select(CaseUnit.unit_id).where(CaseUnit.case_id == case_id, CaseUnit.role == "accused")
    )
    return recusal.Accused.of(persons, units)


def not_recused(query: Select[Any], viewer: recusal.Viewer, case_id: Any = Case.id) -> Select[Any]:
    """Leave out of a query over cases (their ids `case_id`) those the viewer is accused in
    or speaks for an accused unit of (《信访工作条例》第三十条): lists and counts never reach
    them."""
    if viewer.person_id is not None:
        query = query.where(
            not_(
                exists().where(
                    CaseAccused.case_id == case_id, CaseAccused.person_id == viewer.person_id
                )
            )
        )
    if viewer.unit_ids:
        query = query.where(
            not_(
                exists().where(
                    CaseUnit.case_id == case_id,
                    CaseUnit.role == "accused",
                    CaseUnit.unit_id.in_(sorted(viewer.unit_ids)),
                )
            )
        )
    return query


async def recused_case_ids(db: AsyncSession, viewer: recusal.Viewer) -> list[int]:
    """The cases the viewer is recused from, as `not_recused` decides: a handful, so a
    count over a province's rows leaves them out by id instead of probing every row."""
    found: set[int] = set()
    if viewer.person_id is not None:
        found.update(
            await db.scalars(
                select(CaseAccused.case_id).where(CaseAccused.person_id == viewer.person_id)
            )
        )
    if viewer.unit_ids:
        found.update(
            await db.scalars(
                select(CaseUnit.case_id).where(
                    CaseUnit.role == "accused", CaseUnit.unit_id.in_(sorted(viewer.unit_ids))
                )
            )
        )
    return sorted(found)


async def require_not_recused(db: AsyncSession, actor: Principal, case: Case) -> None:
    """404 for the accused: the case does not exist as far as they can tell."""
    if recusal.recused(await viewer_of(db, actor), await accused_of(db, case.id)):
        raise NotFound(NOT_FOUND)


async def _county_path(db: AsyncSession, county_id: int) -> str:
    path = await db.scalar(select(Unit.path).where(Unit.id == county_id))
    return path or ""


async def _owns(db: AsyncSession, actor: Principal, case_id: int) -> bool:
    if actor.person_id is None or not actor.has_any({Role.leader}):
        return False
    found = await db.scalar(
        select(CaseOwner.id).where(
            CaseOwner.case_id == case_id,
            CaseOwner.person_id == actor.person_id,
            CaseOwner.active.is_(True),
        )
    )
    return found is not None


async def _handles(db: AsyncSession, actor: Principal, case_id: int) -> bool:
    units = [g.scope_unit_id for g in actor.grants_for({Role.unit_handler}) if g.scope_unit_id]
    if not units:
        return False
    found = await db.scalar(
        select(CaseAssignment.id).where(
            CaseAssignment.case_id == case_id, CaseAssignment.unit_id.in_(units)
        )
    )
    return found is not None


async def may_read(db: AsyncSession, actor: Principal, case: Case) -> bool:
    if actor.reaches(SCOPE_READERS, await _county_path(db, case.county_id)):
        return True
    return await _owns(db, actor, case.id) or await _handles(db, actor, case.id)


async def readable_case(db: AsyncSession, actor: Principal, case_id: int) -> Case:
    """The case, for someone allowed to read it; 404 otherwise (recused or not theirs)."""
    case = await db.get(Case, case_id)
    if case is None:
        raise NotFound(NOT_FOUND)
    await require_not_recused(db, actor, case)
    if not await may_read(db, actor, case):
        raise NotFound(NOT_FOUND)
    return case
