"""Supervision (督查): overdue and soon-due owned cases by owner, unit and township with the
late clock named; the red/black list (红黑榜) for a period; the daily summary (每日汇总) with
its early warning. Everything is scoped to the counties the supervisor's scope reaches, and
a case the supervisor is recused from (accused, or speaking for an accused unit) is never
counted or listed.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Select, and_, exists, func, literal, or_, select, text, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.db import among_ids
from app.core.errors import Forbidden
from app.core.settings import Settings
from app.org.models import Person, Unit
from app.org.rules import UnitKind
from app.ownership import ranking, recusal, workflow
from app.ownership.clock_services import PETITIONERS_CLOCKS
from app.ownership.deadlines import ClockName
from app.ownership.fact_services import ANSWERING
from app.ownership.models import Case, CaseOwner, RankingFact, RankingTotal, is_open
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
TOWNSHIP_KINDS: frozenset[str] = frozenset({UnitKind.township, UnitKind.street})
COUNTY_KINDS: frozenset[str] = frozenset({UnitKind.county})


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
        return self._within(unit_id, TOWNSHIP_KINDS)

    def county_of(self, unit_id: int) -> int:
        county = self._within(unit_id, COUNTY_KINDS)
        return county.id if county else 0

    def _within(self, unit_id: int, kinds: frozenset[str]) -> UnitRef | None:
        """The unit or its nearest ancestor of one of `kinds`."""
        unit = self.units.get(unit_id)
        while unit is not None and unit.kind not in kinds:
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
    """A board over one county lists every owner, unit and township with a due or overdue
    case; over several counties (a city, the province) it adds a row per county and lists
    only the `top` most overdue owners, units and townships — a county's board has the
    rest — saying how many there are `in_all`."""

    today: dt.date
    warn_days: int
    total: Tally
    by_owner: list[GroupRow]
    by_unit: list[GroupRow]
    by_township: list[GroupRow]
    by_county: list[GroupRow] = field(default_factory=list)
    top: int | None = None
    owners_in_all: int = 0
    units_in_all: int = 0
    townships_in_all: int = 0


#: How many owners, units and townships a board over several counties lists.
BOARD_TOP = 100


def _open(query: Select[Any]) -> Select[Any]:
    return query.where(is_open())


#: The clocks a board names as late: the owners' (the petitioner's own windows to ask for
#: a review are never on an owner's list).
BOARD_CLOCKS = tuple(str(c) for c in ClockName if c not in PETITIONERS_CLOCKS)


def _pivot(due: Any, clock: Any, today: dt.date) -> list[Any]:
    """Per key: overdue, due soon, then overdue per clock of BOARD_CLOCKS."""
    late = due < today

    def count(when: Any) -> Any:
        return func.sum(sql_case((when, 1), else_=0))

    return [
        count(late),
        count(due >= today),
        *(count(and_(late, clock == c)) for c in BOARD_CLOCKS),
    ]


def _leave_out(query: Select[Any], case_id: Any, recused: list[int]) -> Select[Any]:
    return query.where(case_id.not_in(recused)) if recused else query


async def overdue_board(db: AsyncSession, scope: Scope, today: dt.date, warn_days: int) -> Board:
    """Open cases whose earliest running clock is overdue (due before today) or due within
    `warn_days`, counted by answering owner, territorial unit, township and (over several
    counties) county. The database gives one row of counts per unit and per owner."""
    horizon = today + dt.timedelta(days=warn_days)
    top = BOARD_TOP if len(scope.county_ids) > 1 else None
    recused = await recused_case_ids(db, scope.viewer)
    units = await _unit_counts(db, scope, today, horizon, recused)
    owners, owners_in_all = await _owner_counts(db, scope, today, horizon, recused, top)
    towns = _rolled_up(units, lambda u: _town_key(scope, u))
    counties = _rolled_up(units, scope.county_of) if top else {}
    return Board(
        today,
        warn_days,
        _tally([sum(column) for column in zip(*units.values(), strict=True)] or _NOTHING),
        _listed(owners, await _person_names(db, set(owners)), None),
        _listed(units, {k: scope.units[k].name for k in units if k in scope.units}, top),
        _listed(towns, _town_names(scope, towns), top),
        _listed(counties, {k: scope.units[k].name for k in counties if k in scope.units}, None),
        top,
        owners_in_all,
        len(units),
        len(towns),
    )


_NOTHING = [0] * (2 + len(BOARD_CLOCKS))


async def _unit_counts(
    db: AsyncSession, scope: Scope, today: dt.date, horizon: dt.date, recused: list[int]
) -> dict[int, list[int]]:
    """Territorial unit -> `_pivot` counts of its open cases due by `horizon`."""
    query = _open(
        select(Case.territorial_unit_id, *_pivot(Case.next_due, Case.next_clock, today)).where(
            Case.county_id.in_(scope.county_ids), Case.next_due <= horizon
        )
    )
    query = _leave_out(query, Case.id, recused).group_by(Case.territorial_unit_id)
    return {r[0]: list(r[1:]) for r in await _plain_rows(db, query)}


async def _owner_counts(
    db: AsyncSession,
    scope: Scope,
    today: dt.date,
    horizon: dt.date,
    recused: list[int],
    top: int | None,
) -> tuple[dict[int, list[int]], int]:
    """Answering owner -> `_pivot` counts (the `top` most overdue, if given), and how many
    owners there are in all; from the ownership rows' copy of their case's next due date
    (`CaseOwner.next_due`, one index) rather than a probe per case."""
    counts = _pivot(CaseOwner.next_due, CaseOwner.next_clock, today)
    query = select(CaseOwner.person_id, *counts, func.count().over()).where(
        CaseOwner.county_id.in_(scope.county_ids),
        CaseOwner.next_due <= horizon,
        CaseOwner.active.is_(True),
        CaseOwner.role.in_(ANSWERING),
    )
    query = _leave_out(query, CaseOwner.case_id, recused).group_by(CaseOwner.person_id)
    if top is not None:
        query = query.order_by(counts[0].desc(), counts[1].desc(), CaseOwner.person_id).limit(top)
    rows = await _plain_rows(db, query)
    return {r[0]: list(r[1:-1]) for r in rows}, int(rows[0][-1]) if rows else 0


def _listed(counts: dict[int, list[int]], names: dict[int, str], top: int | None) -> list[GroupRow]:
    """The rows of a list, most overdue first; only the `top` most overdue if given (ties
    at the cut by key)."""
    if top is not None and len(counts) > top:
        kept = heapq.nsmallest(top, counts.items(), key=lambda i: (-i[1][0], -i[1][1], i[0]))
        counts = dict(kept)
    return _rows({k: _tally(v) for k, v in counts.items()}, names)


def _rolled_up(counts: dict[int, list[int]], key_of: Callable[[int], int]) -> dict[int, list[int]]:
    """Count vectors added up by a coarser key (a unit's township or county)."""
    out: dict[int, list[int]] = {}
    for key, vector in counts.items():
        into = out.setdefault(key_of(key), [0] * len(vector))
        for i, n in enumerate(vector):
            into[i] += n
    return out


def _town_key(scope: Scope, unit_id: int) -> int:
    town = scope.township_of(unit_id)
    return town.id if town else 0


def _town_names(scope: Scope, towns: dict[int, Any]) -> dict[int, str]:
    return {k: (scope.units[k].name if k in scope.units else "县直部门") for k in towns}


def _tally(vector: Sequence[int]) -> Tally:
    """A `_pivot` row (overdue, soon, overdue per clock) as a tally, its late clocks most
    overdue first; overdue cases of a clock outside BOARD_CLOCKS are counted under ""."""
    overdue, soon, *late = (int(n) for n in vector)
    clocks = [(c, n) for c, n in zip(BOARD_CLOCKS, late, strict=True) if n]
    other = overdue - sum(n for _, n in clocks)
    if other:
        clocks.append(("", other))
    if len(clocks) > 1:
        clocks.sort(key=lambda i: -i[1])
    return Tally(overdue, soon, tuple(clocks))


async def _plain_rows(db: AsyncSession, query: Select[Any]) -> Sequence[Row[Any]]:
    """Rows of an aggregate or column query, run on the session's connection: plain
    tuples, without the ORM's per-row work (tens of thousands of rows for a province)."""
    connection = await db.connection()
    return (await connection.execute(query)).all()


def _rows(tallies: dict[int, Tally], names: dict[int, str]) -> list[GroupRow]:
    rows = [GroupRow(k, names.get(k, str(k)), t) for k, t in tallies.items()]
    return sorted(rows, key=lambda r: (-r.tally.overdue, -r.tally.soon, r.name))


async def _person_names(db: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Person.id, Person.name).where(among_ids(db, Person.id, sorted(ids)))
    rows = await _plain_rows(db, query)
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


@dataclass(frozen=True, slots=True)
class _Period:
    """What one red/black list counts over: the scope's counties, the board, the period,
    and the cases its viewer is recused from (`visibility.recused_case_ids`)."""

    scope: Scope
    board: str
    start: dt.date
    end: dt.date
    recused: list[int]

    def totals(self, first: dt.date, last: dt.date) -> Select[Any]:
        """(key, metric, grade, n) of the monthly totals of months `first`–`last`."""
        t = RankingTotal
        return select(t.key_id, t.metric, t.grade, t.n).where(
            t.county_id.in_(self.scope.county_ids),
            t.board == self.board,
            t.month >= first,
            t.month <= last,
        )

    def facts(self, first: dt.date, last: dt.date, sign: int = 1, *wanted: Any) -> Select[Any]:
        """(key, metric, grade, ±1) of the daily facts of days `first`–`last`."""
        f = RankingFact
        return select(f.key_id, f.metric, f.grade, literal(sign)).where(
            f.county_id.in_(self.scope.county_ids),
            f.board == self.board,
            f.day >= first,
            f.day <= last,
            *wanted,
        )


def _counted_facts(p: _Period) -> Any:
    """(key, metric, grade, n) rows adding up to the period's facts: the totals of its
    whole months, the facts of the days at its ends, less the facts of recused cases."""
    split = ranking.split_period(p.start, p.end)
    parts = [p.totals(*split.months)] if split.months else []
    parts += [p.facts(first, last) for first, last in split.edges]
    if p.recused:
        parts.append(p.facts(p.start, p.end, -1, RankingFact.case_id.in_(p.recused)))
    if not parts:  # an empty period
        parts.append(p.facts(p.start, p.end))
    return union_all(*parts).subquery("counted")


async def _fact_counts(db: AsyncSession, p: _Period, tallies: ranking.Tallies) -> None:
    """Each key's counts, added up per kind and grade into one row per key by the
    database in one pass (a province's quarter is 150,000 monthly totals). A key whose
    counts are all 0 — its totals emptied when its cases moved to another owner — is
    not listed."""
    key, metric, grade, n = _counted_facts(p).c

    def facts(kind: ranking.Fact, wanted: int | None) -> Any:
        match = metric == str(kind)
        if wanted is not None:
            match = and_(match, grade == wanted)
        return func.sum(sql_case((match, n), else_=0))

    fields = list(ranking.FACT_FIELDS)
    pivot = select(key, *[facts(*ranking.FACT_FIELDS[name]) for name in fields]).group_by(key)
    roll = (lambda k: _unit_key(p.scope, k)) if p.board == By.unit else (lambda k: k)
    for k, *numbers in await _plain_rows(db, pivot):
        if any(numbers):
            tallies.add(roll(k), dict(zip(fields, numbers, strict=True)))


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
    period = _Period(scope, str(by), start, end, await recused_case_ids(db, scope.viewer))
    tallies = ranking.Tallies()
    await _fact_counts(db, period, tallies)
    for t in await receptions.reception_tallies(db, scope.county_ids, start, end):
        key = _unit_key(scope, t.unit_id) if by is By.unit else t.person_id
        tallies.add(key, {"receptions": t.total, "on_the_spot": t.on_the_spot})
    counted = tallies.counts()
    names = await _names(db, scope, by, set(counted))
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
