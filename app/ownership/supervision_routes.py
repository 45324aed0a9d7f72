"""Supervision JSON API: the overdue board with drill-down, the red/black list (JSON or
CSV) and the daily summary. Supervisors, the office and admins, within their scope."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.clock import Clock
from app.core.errors import RuleViolation
from app.core.web import runtime_of
from app.ownership import ranking
from app.ownership import supervision_services as sv
from app.ownership.read_services import WARN_DAYS
from app.ownership.schemas import (
    BoardOut,
    CaseBrief,
    DailyOut,
    GroupOut,
    RankingOut,
    RankingRowOut,
    RateOut,
    TallyOut,
    WarningOut,
)
from app.ownership.serialise import case_brief
from app.ownership.services import today_of

SUPERVISE = allow(*sv.SUPERVISORS)
County = Annotated[int | None, QueryParameter(name="county", required=False)]
Warn = Annotated[int, QueryParameter(name="warn_days", ge=0, le=60)]
MAX_PERIOD_DAYS = 400


def _tally(t: sv.Tally) -> TallyOut:
    return TallyOut(t.overdue, t.soon, dict(t.late_clocks))


def _groups(rows: list[sv.GroupRow]) -> list[GroupOut]:
    return [
        GroupOut(r.key, r.name, r.tally.overdue, r.tally.soon, dict(r.tally.late_clocks))
        for r in rows
    ]


def _per_mille(value: float | None) -> int | None:
    return None if value is None else round(value * 1000)


def ranking_row(row: ranking.Row) -> RankingRowOut:
    return RankingRowOut(
        id=row.key,
        name=row.name,
        rank=row.rank,
        standing=str(row.standing),
        standing_label=ranking.STANDING_LABELS[row.standing],
        score_per_mille=_per_mille(row.score),
        rates=[
            RateOut(
                str(m), ranking.METRIC_LABELS[m], r.numerator, r.denominator, _per_mille(r.value)
            )
            for m, r in row.rates.items()
        ],
    )


def period(start: dt.date | None, end: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The chosen period, by default the current quarter up to today."""
    first = start or dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last = end or today
    if last < first or (last - first).days > MAX_PERIOD_DAYS:
        raise RuleViolation(
            f"统计期间须为起止有序、不超过 {MAX_PERIOD_DAYS} 天的日期。", slug="invalid-dates"
        )
    return first, last


def ranking_csv(rows: list[ranking.Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = list(ranking.Metric)
    writer.writerow(
        ["名次", "名称", "榜单", "综合指数", *(ranking.METRIC_LABELS[m] for m in metrics)]
    )
    for row in rows:
        score = "—" if row.score is None else f"{row.score * 100:.1f}"
        writer.writerow(
            [
                row.rank or "",
                row.name,
                ranking.STANDING_LABELS[row.standing],
                score,
                *(ranking.percent(row.rates[m]) for m in metrics),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class SupervisionApi(Controller):
    path = "/api/v1/supervision"
    tags = ("supervision",)

    @get("/overdue", opt=SUPERVISE)
    async def overdue(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        warn_days: Warn = WARN_DAYS,
    ) -> BoardOut:
        """Overdue and soon-due open cases by answering owner, territorial unit and township,
        with the late clocks named."""
        scope = await sv.scope_of(db, actor, county)
        board = await sv.overdue_board(db, scope, today_of(clock.now()), warn_days)
        return BoardOut(
            board.today,
            board.warn_days,
            _tally(board.total),
            _groups(board.by_owner),
            _groups(board.by_unit),
            _groups(board.by_township),
            _groups(board.by_county),
            board.top,
            board.owners_in_all,
            board.units_in_all,
            board.townships_in_all,
        )

    @get("/overdue/cases", opt=SUPERVISE)
    async def overdue_cases(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        warn_days: Warn = WARN_DAYS,
        owner: int | None = None,
        unit: int | None = None,
        township: int | None = None,
    ) -> list[CaseBrief]:
        """The cases behind one row of the board."""
        scope = await sv.scope_of(db, actor, county)
        today = today_of(clock.now())
        cases = await sv.drill_down(
            db, scope, today, warn_days, owner=owner, unit=unit, township=township
        )
        return [case_brief(c, today) for c in cases]

    @get("/ranking", opt=SUPERVISE)
    async def ranking(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        by: str = "unit",
        start: Annotated[dt.date | None, QueryParameter(name="from")] = None,
        end: Annotated[dt.date | None, QueryParameter(name="to")] = None,
    ) -> RankingOut:
        """红黑榜 for a period (default: this quarter), `by` unit or leader."""
        rules = sv.rules_of(runtime_of(request).settings)
        rows, first, last, kind = await _ranked(db, actor, clock, county, by, start, end, rules)
        return RankingOut(
            str(kind),
            first,
            last,
            round(rules.red_at * 1000),
            round(rules.black_below * 1000),
            rules.red_top,
            rules.black_bottom,
            rules.min_items,
            {str(m): ranking.METRIC_FORMULAS[m] for m in ranking.Metric},
            [ranking_row(r) for r in rows],
        )

    @get("/ranking.csv", opt=SUPERVISE)
    async def ranking_export(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        by: str = "unit",
        start: Annotated[dt.date | None, QueryParameter(name="from")] = None,
        end: Annotated[dt.date | None, QueryParameter(name="to")] = None,
    ) -> Response[bytes]:
        rules = sv.rules_of(runtime_of(request).settings)
        rows, first, last, kind = await _ranked(db, actor, clock, county, by, start, end, rules)
        name = f"hongheibang-{kind}-{first}-{last}.csv"
        return Response(
            ranking_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get("/daily", opt=SUPERVISE)
    async def daily(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        day: dt.date | None = None,
    ) -> DailyOut:
        """每日汇总 of a day (default today) with the early warnings."""
        scope = await sv.scope_of(db, actor, county)
        rule = sv.warning_rule_of(runtime_of(request).settings)
        summary = await sv.daily_summary(db, scope, day or today_of(clock.now()), rule)
        return DailyOut(
            summary.day,
            summary.receptions,
            summary.on_the_spot,
            dict(summary.registered),
            dict(summary.channels),
            summary.replies,
            summary.overdue,
            f"同一地方同类问题 {rule.days} 日内达到 {rule.cases} 件",
            [WarningOut(w.category, w.unit_id, w.unit, w.cases) for w in summary.warnings],
        )


async def _ranked(
    db: AsyncSession,
    actor: Principal,
    clock: Clock,
    county: int | None,
    by: str,
    start: dt.date | None,
    end: dt.date | None,
    rules: ranking.Rules,
) -> tuple[list[ranking.Row], dt.date, dt.date, sv.By]:
    try:
        kind = sv.By(by)
    except ValueError:
        raise RuleViolation(
            "by 须为 unit（单位）或 leader（领导）。", slug="invalid-input"
        ) from None
    first, last = period(start, end, today_of(clock.now()))
    scope = await sv.scope_of(db, actor, county)
    return await sv.red_black(db, scope, kind, first, last, rules), first, last, kind


ROUTES = [SupervisionApi]
