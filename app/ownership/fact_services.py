"""The red/black list's facts (`models.RankingFact`) and their monthly totals
(`models.RankingTotal`), kept with what they derive from: every change of a case's
stopped clocks, reply, rating or answering owners calls `refresh` in the same
transaction; `rebuild` writes them all at once (after a bulk load)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, and_, cast, delete, func, insert, literal, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SHANGHAI
from app.core.db import dialect_insert
from app.ownership import ranking
from app.ownership.models import Case, CaseClock, CaseOwner, RankingFact, RankingTotal

#: The owners who answer for a case on the list (包案 lead and 首接 first).
ANSWERING = ("lead", "first")
STOPPED = "stopped"
#: A monthly total's identity (`models.RankingTotal`'s unique index).
TOTAL_KEY = ("county_id", "month", "board", "key_id", "metric", "grade")


def _answering(case_id: Any) -> Any:
    return and_(
        CaseOwner.case_id == case_id,
        CaseOwner.active.is_(True),
        CaseOwner.role.in_(ANSWERING),
    )


async def refresh(db: AsyncSession, case: Case) -> None:
    """Write the case's facts anew — once for its territorial unit, once per active
    answering owner — and move the monthly totals by the difference."""
    await db.flush()
    persons = await db.scalars(select(CaseOwner.person_id).where(_answering(case.id)))
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
    new = ranking.keyed_facts(facts, case.territorial_unit_id, persons)
    f = RankingFact
    kept = await db.execute(
        select(f.board, f.key_id, f.metric, f.day, f.grade).where(f.case_id == case.id)
    )
    old = [ranking.Keyed(*row) for row in kept.tuples()]
    if sorted(old) == sorted(new):
        return
    await db.execute(delete(f).where(f.case_id == case.id))
    if new:
        common = {"county_id": case.county_id, "case_id": case.id}
        await db.execute(insert(f), [common | _fact_row(k) for k in new])
    await _add_to_totals(db, case.county_id, ranking.total_changes(old, new))


def _fact_row(k: ranking.Keyed) -> dict[str, Any]:
    return {"board": k.board, "key_id": k.key, "metric": k.metric, "day": k.day, "grade": k.grade}


async def _add_to_totals(
    db: AsyncSession, county_id: int, changes: list[tuple[ranking.TotalKey, int]]
) -> None:
    """Add the changes to the monthly totals, creating the missing ones, in one statement
    (`ON CONFLICT … DO UPDATE` locks each total row, in key order, until commit)."""
    if not changes:
        return
    t = RankingTotal
    rows = [dict(zip(TOTAL_KEY, (county_id, *key), strict=True)) | {"n": n} for key, n in changes]
    upsert = dialect_insert(db)(t).values(rows)
    upsert = upsert.on_conflict_do_update(
        index_elements=list(TOTAL_KEY), set_={"n": t.n + upsert.excluded.n}
    )
    await db.execute(upsert)


def _rated_day(db: AsyncSession) -> Any:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Shanghai", Case.evaluated_at), Date)
    # Stored as naive UTC text on SQLite; China keeps UTC+8 all year.
    return func.date(Case.evaluated_at, "+8 hours")


def _every_fact(db: AsyncSession) -> Any:
    """(county, case, unit, fact, day, grade) of every case, as `ranking.case_facts` gives them."""
    c = CaseClock
    accept = sql_case(
        (c.name == ranking.ACCEPT_CLOCK, str(ranking.Fact.accept)), else_=str(ranking.Fact.timed)
    )
    clocks = select(
        c.county_id.label("county_id"),
        c.case_id.label("case_id"),
        Case.territorial_unit_id.label("unit_id"),
        accept.label("fact"),
        c.stopped_on.label("day"),
        sql_case((c.stopped_on <= c.due, 1), else_=0).label("grade"),
    ).where(c.state == STOPPED, c.name.in_(ranking.FACT_CLOCKS), Case.id == c.case_id)
    replies = select(
        Case.county_id,
        Case.id,
        Case.territorial_unit_id,
        literal(str(ranking.Fact.reply)),
        Case.replied_on,
        sql_case((Case.evaluation.is_not(None), 1), else_=0),
    ).where(Case.replied_on.is_not(None))
    grades = [(Case.evaluation == e, g) for e, g in ranking.GRADES.items()]
    ratings = select(
        Case.county_id,
        Case.id,
        Case.territorial_unit_id,
        literal(str(ranking.Fact.rating)),
        _rated_day(db),
        sql_case(*grades, else_=0),
    ).where(Case.evaluated_at.is_not(None), Case.evaluation.is_not(None))
    return union_all(clocks, replies, ratings).subquery("facts")


async def rebuild(db: AsyncSession) -> int:
    """Write every case's facts and the monthly totals from scratch; how many facts."""
    await db.execute(delete(RankingTotal))
    await db.execute(delete(RankingFact))
    facts = _every_fact(db)
    county, case_id, unit, fact, day, grade = facts.c
    owners = (
        select(CaseOwner.case_id, CaseOwner.person_id)
        .where(CaseOwner.active.is_(True), CaseOwner.role.in_(ANSWERING))
        .distinct()
        .subquery("owners")
    )
    by_unit = select(county, case_id, literal(str(ranking.Board.unit)), unit, fact, day, grade)
    by_leader = select(
        county, case_id, literal(str(ranking.Board.leader)), owners.c.person_id, fact, day, grade
    ).join(owners, owners.c.case_id == case_id)
    columns = ["county_id", "case_id", "board", "key_id", "metric", "day", "grade"]
    for rows in (by_unit, by_leader):
        await db.execute(insert(RankingFact).from_select(columns, rows))
    f = RankingFact
    month = _month(db, f.day)
    totals = select(
        f.county_id, month, f.board, f.key_id, f.metric, f.grade, func.count()
    ).group_by(f.county_id, month, f.board, f.key_id, f.metric, f.grade)
    await db.execute(insert(RankingTotal).from_select([*TOTAL_KEY, "n"], totals))
    return int(await db.scalar(select(func.count()).select_from(RankingFact)) or 0)


def _month(db: AsyncSession, day: Any) -> Any:
    """The first day of a date column's month, in SQL."""
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return func.date(day, "start of month")
