"""The red/black list's facts by leader (`models.RankingFact`), kept with what they derive
from: every change of a case's stopped clocks, reply, rating or answering owners calls
`refresh` in the same transaction; `rebuild` writes them all at once (after a bulk load).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, and_, cast, delete, func, insert, literal, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SHANGHAI
from app.ownership import ranking
from app.ownership.models import Case, CaseClock, CaseOwner, RankingFact

#: The owners who answer for a case on the list (包案 lead and 首接 first).
ANSWERING = ("lead", "first")
STOPPED = "stopped"


def _answering(case_id: Any) -> Any:
    return and_(
        CaseOwner.case_id == case_id,
        CaseOwner.active.is_(True),
        CaseOwner.role.in_(ANSWERING),
    )


async def refresh(db: AsyncSession, case: Case) -> None:
    """Write the case's facts anew, once per active answering owner."""
    await db.flush()
    persons = set(await db.scalars(select(CaseOwner.person_id).where(_answering(case.id))))
    stopped = await db.execute(
        select(CaseClock.name, CaseClock.stopped_on, CaseClock.due).where(
            CaseClock.case_id == case.id,
            CaseClock.state == STOPPED,
            CaseClock.name.in_(ranking.FACT_CLOCKS),
        )
    )
    rated = case.evaluated_at.astimezone(SHANGHAI).date() if case.evaluated_at else None
    clocks = [(name, on, due) for name, on, due in stopped.tuples() if on is not None]
    facts = ranking.case_facts(clocks, case.replied_on, case.evaluation, rated)
    await db.execute(delete(RankingFact).where(RankingFact.case_id == case.id))
    rows = [
        {
            "county_id": case.county_id,
            "case_id": case.id,
            "person_id": person,
            "metric": str(f.fact),
            "day": f.day,
            "grade": f.grade,
        }
        for person in sorted(persons)
        for f in facts
    ]
    if rows:
        await db.execute(insert(RankingFact), rows)


def _rated_day(db: AsyncSession) -> Any:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Shanghai", Case.evaluated_at), Date)
    # Stored as naive UTC text on SQLite; China keeps UTC+8 all year.
    return func.date(Case.evaluated_at, "+8 hours")


def _every_fact(db: AsyncSession) -> Any:
    """(county, case, fact, day, grade) of every case, as `ranking.case_facts` gives them."""
    c = CaseClock
    accept = sql_case(
        (c.name == ranking.ACCEPT_CLOCK, str(ranking.Fact.accept)), else_=str(ranking.Fact.timed)
    )
    clocks = select(
        c.county_id.label("county_id"),
        c.case_id.label("case_id"),
        accept.label("fact"),
        c.stopped_on.label("day"),
        sql_case((c.stopped_on <= c.due, 1), else_=0).label("grade"),
    ).where(c.state == STOPPED, c.name.in_(ranking.FACT_CLOCKS))
    replies = select(
        Case.county_id,
        Case.id,
        literal(str(ranking.Fact.reply)),
        Case.replied_on,
        sql_case((Case.evaluation.is_not(None), 1), else_=0),
    ).where(Case.replied_on.is_not(None))
    grades = [(Case.evaluation == e, g) for e, g in ranking.GRADES.items()]
    ratings = select(
        Case.county_id,
        Case.id,
        literal(str(ranking.Fact.rating)),
        _rated_day(db),
        sql_case(*grades, else_=0),
    ).where(Case.evaluated_at.is_not(None), Case.evaluation.is_not(None))
    return union_all(clocks, replies, ratings).subquery("facts")


async def rebuild(db: AsyncSession) -> int:
    """Write every case's facts from scratch; how many were written."""
    await db.execute(delete(RankingFact))
    facts = _every_fact(db)
    county, case_id, fact, day, grade = facts.c
    owners = (
        select(CaseOwner.case_id, CaseOwner.person_id)
        .where(CaseOwner.active.is_(True), CaseOwner.role.in_(ANSWERING))
        .distinct()
        .subquery("owners")
    )
    rows = select(county, case_id, owners.c.person_id, fact, day, grade).join(
        owners, owners.c.case_id == case_id
    )
    columns = ["county_id", "case_id", "person_id", "metric", "day", "grade"]
    await db.execute(insert(RankingFact).from_select(columns, rows))
    return int(await db.scalar(select(func.count()).select_from(RankingFact)) or 0)
