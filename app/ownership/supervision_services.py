"""Supervision (督查): overdue and soon-due owned cases by owner, unit and township with the
late clock named; the red/black list (红黑榜) for a period; the daily summary (每日汇总) with
its early warning. Everything is scoped to the counties the supervisor's scope reaches, and
a case the supervisor is recused from (accused, or speaking for an accused unit) is never
counted or listed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select, and_, exists, func, or_, select, text
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.errors import Forbidden
from app.core.settings import Settings
from app.org.models import Person, Unit
from app.org.rules import UnitKind
from app.ownership import ranking, recusal, workflow
from app.ownership.fact_services import ANSWERING
from app.ownership.models import Case, CaseClock, CaseOwner, RankingFact, is_open
from app.ownership.visibility import not_recused, recused_case_ids, viewer_of
from app.scheduling import reception_services as receptions


@functools.cache
def _rules_at(path: Path) -> ranking.Rules:
    return ranking.rules_from_json(path.read_bytes())


def rules_of(settings: Settings) -> ranking.Rules:
    """The red/black list rules of this deployment: its file, else the defaults."""
    return _rules_at(settings.ranking_file) if settings.ranking_file else ranking.DEFAULT_RULES


def warning_rule_of(settings: Settings) -> WarningRule:
    return WarningRule(settings.warning_cases, settings.warning_days)


SUPERVISORS = frozenset({Role.supervisor, Role.office, Role.admin})
TOWNSHIP_KINDS = frozenset({UnitKind.township, UnitKind.street})


@dataclass(frozen=True, slots=True)
class UnitRef:
    """What the board and the list need of a unit: a province holds some 14,000 units,
    read as plain rows rather than whole `Unit` objects."""

    id: int
    parent_id: int | None
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class Scope:
    """The counties a supervisor reads, and who is looking (for recusal)."""

    county_ids: list[int]
    viewer: recusal.Viewer
    units: dict[int, UnitRef]

    def township_of(self, unit_id: int) -> UnitRef | None:
        """The township or street a unit lies in (itself if it is one); None for county
        departments and the county itself."""
        unit = self.units.get(unit_id)
        while unit is not None and unit.kind not in TOWNSHIP_KINDS:
            unit = self.units.get(unit.parent_id) if unit.parent_id else None
        return unit


async def scope_of(db: AsyncSession, actor: Principal, county_id: int | None = None) -> Scope:
    paths = actor.scope_paths(SUPERVISORS)
    if not actor.has_any(SUPERVISORS):
        raise Forbidden("督查页面只对督查、组织/办公室和管理员账号开放。")
    columns = (Unit.id, Unit.parent_id, Unit.kind, Unit.name)
    query = select(*columns).where(Unit.kind == str(UnitKind.county))
    if paths is not None:
        query = query.where(or_(*[Unit.path.startswith(p) for p in paths]))
    counties = [UnitRef(*r) for r in await _plain_rows(db, query)]
    county_ids = [c.id for c in counties if county_id is None or c.id == county_id]
    if county_id is not None and not county_ids:
        raise Forbidden("该县不在您账号的督查范围内。")
    rows = await _plain_rows(db, select(*columns).where(Unit.county_id.in_(county_ids)))
    by_id = {r[0]: UnitRef(*r) for r in rows} | {c.id: c for c in counties}
    return Scope(county_ids, await viewer_of(db, actor), by_id)


# --------------------------------------------------------------------------- overdue board


@dataclass(frozen=True, slots=True)
class Tally:
    overdue: int = 0
    soon: int = 0
    #: clock name -> overdue count: which clock is late.
    late_clocks: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: int
    name: str
    tally: Tally


@dataclass(frozen=True, slots=True)
class Board:
    today: dt.date
    warn_days: int
    total: Tally
    by_owner: list[GroupRow]
    by_unit: list[GroupRow]
    by_township: list[GroupRow]


def _open(query: Select[Any]) -> Select[Any]:
    return query.where(is_open())


async def overdue_board(db: AsyncSession, scope: Scope, today: dt.date, warn_days: int) -> Board:
    """Open cases whose earliest running clock is overdue (due before today) or due within
    `warn_days`, counted by answering owner, territorial unit and township."""
    horizon = today + dt.timedelta(days=warn_days)
    overdue = (Case.next_due < today).label("overdue")
    base = _open(
        select(Case.territorial_unit_id, Case.next_clock, overdue, func.count()).where(
            Case.county_id.in_(scope.county_ids), Case.next_due <= horizon
        )
    )
    base = not_recused(base, scope.viewer)
    unit_rows = await _plain_rows(
        db, base.group_by(Case.territorial_unit_id, Case.next_clock, overdue)
    )
    owner_query = not_recused(
        _open(
            select(CaseOwner.person_id, Case.next_clock, overdue, func.count(), Person.name)
            .join(CaseOwner, and_(CaseOwner.case_id == Case.id, CaseOwner.active.is_(True)))
            .join(Person, Person.id == CaseOwner.person_id)
            .where(
                Case.county_id.in_(scope.county_ids),
                Case.next_due <= horizon,
                CaseOwner.role.in_(ANSWERING),
            )
        ),
        scope.viewer,
    ).group_by(CaseOwner.person_id, Person.name, Case.next_clock, overdue)
    owner_rows = await _plain_rows(db, owner_query)
    names = {r[0]: r[4] for r in owner_rows}
    units = _tallies((r[0], r[1], r[2], r[3]) for r in unit_rows)
    town_of = {u: _town_key(scope, u) for u in {r[0] for r in unit_rows}}
    towns = _tallies((town_of[r[0]], r[1], r[2], r[3]) for r in unit_rows)
    return Board(
        today,
        warn_days,
        _total(units),
        _rows(_tallies((r[0], r[1], r[2], r[3]) for r in owner_rows), names),
        _rows(units, {k: scope.units[k].name for k in units if k in scope.units}),
        _rows(towns, _town_names(scope, towns)),
    )


def _town_key(scope: Scope, unit_id: int) -> int:
    town = scope.township_of(unit_id)
    return town.id if town else 0


def _town_names(scope: Scope, towns: dict[int, Tally]) -> dict[int, str]:
    return {k: (scope.units[k].name if k in scope.units else "县直部门") for k in towns}


def _tallies(rows: Iterable[tuple[int, str | None, bool, int]]) -> dict[int, Tally]:
    """(key, clock, overdue?, count) rows into a tally per key; the late clocks most
    overdue first. A province's board has some ten thousand keys, most with one late
    clock or none, so a sort is done only where there is something to sort."""
    overdue: dict[int, int] = {}
    soon: dict[int, int] = {}
    late: dict[int, dict[str, int]] = {}
    for key, clock, is_overdue, count in rows:
        if is_overdue:
            overdue[key] = overdue.get(key, 0) + count
            clocks = late.setdefault(key, {})
            clocks[clock or ""] = clocks.get(clock or "", 0) + count
        else:
            soon[key] = soon.get(key, 0) + count
    return {
        key: Tally(overdue.get(key, 0), soon.get(key, 0), _most_first(late.get(key)))
        for key in overdue.keys() | soon.keys()
    }


def _most_first(clocks: dict[str, int] | None) -> tuple[tuple[str, int], ...]:
    if not clocks:
        return ()
    if len(clocks) == 1:
        return tuple(clocks.items())
    return tuple(sorted(clocks.items(), key=lambda i: -i[1]))


async def _plain_rows(db: AsyncSession, query: Select[Any]) -> Sequence[Row[Any]]:
    """Rows of an aggregate or column query, run on the session's connection: plain
    tuples, without the ORM's per-row work (tens of thousands of rows for a province)."""
    connection = await db.connection()
    return (await connection.execute(query)).all()


def _total(tallies: dict[int, Tally]) -> Tally:
    late: dict[str, int] = defaultdict(int)
    for t in tallies.values():
        for clock, n in t.late_clocks:
            late[clock] += n
    return Tally(
        sum(t.overdue for t in tallies.values()),
        sum(t.soon for t in tallies.values()),
        tuple(sorted(late.items(), key=lambda i: -i[1])),
    )


def _rows(tallies: dict[int, Tally], names: dict[int, str]) -> list[GroupRow]:
    rows = [GroupRow(k, names.get(k, str(k)), t) for k, t in tallies.items()]
    return sorted(rows, key=lambda r: (-r.tally.overdue, -r.tally.soon, r.name))


async def _person_names(db: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await _plain_rows(db, select(Person.id, Person.name).where(Person.id.in_(sorted(ids))))
    return {i: n for i, n in rows}


async def drill_down(
    db: AsyncSession,
    scope: Scope,
    today: dt.date,
    warn_days: int,
    *,
    owner: int | None = None,
    unit: int | None = None,
    township: int | None = None,
    limit: int = 200,
) -> Sequence[Case]:
    """The cases behind one row of the board, most overdue first."""
    horizon = today + dt.timedelta(days=warn_days)
    query = _open(
        select(Case).where(Case.county_id.in_(scope.county_ids), Case.next_due <= horizon)
    )
    if owner is not None:
        query = query.where(
            exists().where(
                CaseOwner.case_id == Case.id,
                CaseOwner.person_id == owner,
                CaseOwner.active.is_(True),
                CaseOwner.role.in_(ANSWERING),
            )
        )
    if unit is not None:
        query = query.where(Case.territorial_unit_id == unit)
    if township is not None:
        inside = [u.id for u in scope.units.values() if _town_key(scope, u.id) == township]
        query = query.where(Case.territorial_unit_id.in_(inside))
    query = not_recused(query, scope.viewer).order_by(Case.next_due, Case.id).limit(limit)
    return list(await db.scalars(query))


# --------------------------------------------------------------------------- red/black list


class By(StrEnum):
    unit = "unit"
    leader = "leader"


def _ones(condition: Any) -> Any:
    return func.sum(sql_case((condition, 1), else_=0))


@dataclass(frozen=True, slots=True)
class _Period:
    """What one red/black list counts over: the scope's counties, the period, and the
    cases its viewer is recused from (`visibility.recused_case_ids`)."""

    scope: Scope
    start: dt.date
    end: dt.date
    recused: list[int]

    async def counted(self, db: AsyncSession, query: Select[Any], case_id: Any) -> list[Any]:
        """The rows of a count already limited to the scope's counties, grouped by its
        first column, leaving out the cases the viewer is recused from."""
        if self.recused:
            query = query.where(case_id.not_in(self.recused))
        key = list(query.selected_columns)[:1]
        return [tuple(r) for r in await _plain_rows(db, query.group_by(*key))]


async def _clock_counts(
    db: AsyncSession, p: _Period, names: Sequence[str]
) -> list[tuple[Any, ...]]:
    """By unit, clocks of these names stopped in the period and those stopped in time:
    from the stopped clocks' index (which holds the case's unit), no case read."""
    c = CaseClock
    query = select(c.territorial_unit_id, func.count(), _ones(c.stopped_on <= c.due)).where(
        c.county_id.in_(p.scope.county_ids),
        c.name.in_(list(names)),
        c.state == "stopped",
        c.stopped_on >= p.start,
        c.stopped_on <= p.end,
    )
    return await p.counted(db, query, c.case_id)


async def _reply_counts(db: AsyncSession, p: _Period) -> list[tuple[Any, ...]]:
    query = select(
        Case.territorial_unit_id, func.count(), _ones(Case.evaluation.is_not(None))
    ).where(
        Case.county_id.in_(p.scope.county_ids),
        Case.replied_on >= p.start,
        Case.replied_on <= p.end,
    )
    return await p.counted(db, query, Case.id)


async def _rating_counts(db: AsyncSession, p: _Period) -> list[tuple[Any, ...]]:
    first = dt.datetime.combine(p.start, dt.time(), SHANGHAI)
    last = dt.datetime.combine(p.end + dt.timedelta(days=1), dt.time(), SHANGHAI)
    query = select(
        Case.territorial_unit_id,
        func.count(),
        _ones(Case.evaluation == "satisfied"),
        _ones(Case.evaluation == "basically"),
    ).where(
        Case.county_id.in_(p.scope.county_ids),
        Case.evaluated_at >= first,
        Case.evaluated_at < last,
    )
    return await p.counted(db, query, Case.id)


async def _unit_counts(db: AsyncSession, p: _Period, tallies: ranking.Tallies) -> dict[int, str]:
    """Each township's or department's counts (a case counts for the township its
    territorial unit lies in); their names are the scope's."""
    rolled: dict[int, int] = {}

    def add(unit_id: int, **counts: int) -> None:
        key = rolled.get(unit_id)
        if key is None:
            key = rolled[unit_id] = _unit_key(p.scope, unit_id)
        tallies.add(key, counts)

    for key, n, ok in await _clock_counts(db, p, [ranking.ACCEPT_CLOCK]):
        add(key, decisions=n, timely_decisions=ok)
    for key, n, ok in await _clock_counts(db, p, ranking.TIMED_CLOCKS):
        add(key, timed_replies=n, on_time_replies=ok)
    for key, n, rated in await _reply_counts(db, p):
        add(key, replies=n, rated_replies=rated)
    for key, n, sat, basic in await _rating_counts(db, p):
        add(key, rated=n, satisfied=sat, basically=basic)
    return {}


async def _leader_counts(db: AsyncSession, p: _Period, tallies: ranking.Tallies) -> dict[int, str]:
    """Each answering owner's counts and name, from the facts kept for the list by leader:
    counted by owner, kind and grade, then turned into one row per owner, both in the
    database (a province has a million facts a quarter and thousands of owners)."""
    f = RankingFact
    query = select(f.person_id, f.metric, f.grade, func.count().label("n")).where(
        f.county_id.in_(p.scope.county_ids), f.day >= p.start, f.day <= p.end
    )
    if p.recused:
        query = query.where(f.case_id.not_in(p.recused))
    grouped = query.group_by(f.person_id, f.metric, f.grade).subquery()

    def facts(kind: ranking.Fact, grade: int | None) -> Any:
        wanted = grouped.c.metric == str(kind)
        if grade is not None:
            wanted = and_(wanted, grouped.c.grade == grade)
        return func.sum(sql_case((wanted, grouped.c.n), else_=0))

    fields = list(ranking.FACT_FIELDS)
    counts = [facts(*ranking.FACT_FIELDS[name]) for name in fields]
    pivot = (
        select(grouped.c.person_id, Person.name, *counts)
        .join(Person, Person.id == grouped.c.person_id)
        .group_by(grouped.c.person_id, Person.name)
    )
    names = {}
    for person, name, *numbers in await _plain_rows(db, pivot):
        tallies.add(person, dict(zip(fields, numbers, strict=True)))
        names[person] = name
    return names


async def _plan_for_these_values(db: AsyncSession) -> None:
    """On PostgreSQL, plan the list's counts for this period and these counties, for the
    rest of the transaction: after five runs of a prepared statement PostgreSQL may
    switch to a generic plan, which for these counts reads twice as much."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def red_black(
    db: AsyncSession,
    scope: Scope,
    by: By,
    start: dt.date,
    end: dt.date,
    rules: ranking.Rules = ranking.DEFAULT_RULES,
) -> list[ranking.Row]:
    """The red/black list of units (townships and departments: a case counts for the
    township its territorial unit lies in) or of leaders (the answering owners)."""
    await _plan_for_these_values(db)
    period = _Period(scope, start, end, await recused_case_ids(db, scope.viewer))
    tallies = ranking.Tallies()
    count = _unit_counts if by is By.unit else _leader_counts
    names = await count(db, period, tallies)
    for t in await receptions.reception_tallies(db, scope.county_ids, start, end):
        key = _unit_key(scope, t.unit_id) if by is By.unit else t.person_id
        tallies.add(key, {"receptions": t.total, "on_the_spot": t.on_the_spot})
    counted = tallies.counts()
    names |= await _names(db, scope, by, set(counted) - set(names))
    named = [(k, names.get(k, str(k)), counts) for k, counts in counted.items()]
    return ranking.rank(named, rules)


def _unit_key(scope: Scope, unit_id: int) -> int:
    town = scope.township_of(unit_id)
    return town.id if town else unit_id


async def _names(db: AsyncSession, scope: Scope, by: By, keys: set[int]) -> dict[int, str]:
    if by is By.leader:
        return await _person_names(db, keys)
    return {k: scope.units[k].name for k in keys if k in scope.units}


# --------------------------------------------------------------------------- daily summary


@dataclass(frozen=True, slots=True)
class WarningRule:
    """预警: the same category at the same place reaching `cases` within `days` days
    (seed 003: 高频次问题抄送给有关部门主要领导作为预警信息)."""

    cases: int = 3
    days: int = 7


@dataclass(frozen=True, slots=True)
class Warning:
    category: str
    unit_id: int
    unit: str
    cases: int


@dataclass(frozen=True, slots=True)
class DailySummary:
    day: dt.date
    receptions: int
    on_the_spot: int
    registered: list[tuple[str, int]]
    channels: list[tuple[str, int]]
    replies: int
    overdue: int
    warnings: list[Warning]


async def daily_summary(
    db: AsyncSession, scope: Scope, day: dt.date, rule: WarningRule = WarningRule()
) -> DailySummary:
    """每日汇总: what the day brought (receptions, new cases by category and channel, replies),
    what is overdue tonight, and the early warnings."""
    tallies = await receptions.reception_tallies(db, scope.county_ids, day, day)
    by_category = await _grouped_counts(db, scope, Case.category, Case.received_on == day)
    by_channel = await _grouped_counts(db, scope, Case.channel, Case.received_on == day)
    replies = await _count(db, scope, Case.replied_on == day)
    overdue = await _count(
        db, scope, Case.next_due < day, Case.status.in_([str(s) for s in workflow.OPEN])
    )
    return DailySummary(
        day,
        sum(t.total for t in tallies),
        sum(t.on_the_spot for t in tallies),
        by_category,
        by_channel,
        replies,
        overdue,
        await warnings(db, scope, day, rule),
    )


async def _grouped_counts(
    db: AsyncSession, scope: Scope, column: Any, *where: Any
) -> list[tuple[str, int]]:
    query = not_recused(
        select(column, func.count()).where(Case.county_id.in_(scope.county_ids), *where),
        scope.viewer,
    ).group_by(column)
    rows = [(str(k), int(n)) for k, n in (await db.execute(query)).tuples()]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


async def _count(db: AsyncSession, scope: Scope, *where: Any) -> int:
    query = not_recused(
        select(func.count()).select_from(Case).where(Case.county_id.in_(scope.county_ids), *where),
        scope.viewer,
    )
    return int(await db.scalar(query) or 0)


async def warnings(
    db: AsyncSession, scope: Scope, day: dt.date, rule: WarningRule
) -> list[Warning]:
    since = day - dt.timedelta(days=rule.days - 1)
    count = func.count()
    query = (
        not_recused(
            select(Case.category, Case.territorial_unit_id, count).where(
                Case.county_id.in_(scope.county_ids),
                Case.received_on >= since,
                Case.received_on <= day,
            ),
            scope.viewer,
        )
        .group_by(Case.category, Case.territorial_unit_id)
        .having(count >= rule.cases)
    )
    rows = (await db.execute(query)).tuples()
    found = [
        Warning(c, u, scope.units[u].name if u in scope.units else str(u), int(n))
        for c, u, n in rows
    ]
    return sorted(found, key=lambda w: (-w.cases, w.unit, w.category))
