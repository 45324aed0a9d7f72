"""Supervision pages (督查): the overdue board with drill-down, the red/black list (红黑榜)
as tables and server-rendered SVG charts with CSV and PDF exports, and the daily summary
(每日汇总) with its early warnings. Read-only; scope and recusal are the services'."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.clock import Clock
from app.core.errors import DomainError
from app.core.pdf import font_family, render_pdf
from app.core.web import nav_item, page, runtime_of
from app.org.models import Person
from app.ownership import charts, deadlines, ranking
from app.ownership import supervision_services as sv
from app.ownership import workflow as wf
from app.ownership.read_services import WARN_DAYS
from app.ownership.services import today_of
from app.ownership.supervision_routes import period, ranking_csv

URL = "/supervision"
PAGE = allow(*sv.SUPERVISORS)
County = Annotated[int | None, QueryParameter(name="county", required=False)]
Day = Annotated[str, QueryParameter(name="day", required=False)]
From = Annotated[str, QueryParameter(name="from", required=False)]
To = Annotated[str, QueryParameter(name="to", required=False)]
TONES = {
    ranking.Standing.red: "red",
    ranking.Standing.black: "black",
    ranking.Standing.middle: "middle",
    ranking.Standing.unranked: "none",
}

nav_item("督查", URL, sv.SUPERVISORS, order=60)


def clock_labels() -> dict[str, str]:
    return {str(c): deadlines.NATIONAL_2022.rule(c).label for c in deadlines.ClockName}


def _date(raw: str, what: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise DomainError(f"{what}应为 YYYY-MM-DD 格式的日期。", slug="invalid-dates") from None


def chart_svgs(rows: list[ranking.Row]) -> list[str]:
    """One chart for the index and one per rate, ranked rows only (at most 20)."""
    shown = [r for r in rows if r.rank is not None][:20]
    index = charts.bars("综合指数", [charts.Bar(r.name, r.score, TONES[r.standing]) for r in shown])
    per_metric = [
        charts.bars(
            ranking.METRIC_LABELS[m],
            [charts.Bar(r.name, r.rates[m].value, TONES[r.standing]) for r in shown],
        )
        for m in ranking.Metric
    ]
    return [index, *per_metric]


async def _ranking_context(
    db: AsyncSession,
    actor: Principal,
    clock: Clock,
    county: int | None,
    by: str,
    start: str,
    end: str,
    rules: ranking.Rules,
) -> dict[str, Any]:
    kind = sv.By(by) if by in set(sv.By) else sv.By.unit
    first, last = period(_date(start, "起始日期"), _date(end, "截止日期"), today_of(clock.now()))
    scope = await sv.scope_of(db, actor, county)
    rows = await sv.red_black(db, scope, kind, first, last, rules)
    return {
        "rows": rows,
        "by": str(kind),
        "start": first,
        "end": last,
        "county": county,
        "rules": rules,
        "metrics": list(ranking.Metric),
        "metric_labels": ranking.METRIC_LABELS,
        "formulas": ranking.METRIC_FORMULAS,
        "standing_labels": ranking.STANDING_LABELS,
        "percent": ranking.percent,
        "charts": chart_svgs(rows),
    }


async def _drill_title(
    db: AsyncSession, scope: sv.Scope, owner: int | None, unit: int | None, township: int | None
) -> str:
    """Whose cases the drill-down lists, in its heading."""
    if owner is not None:
        person = await db.get(Person, owner)
        return f"{person.name if person else ''}包案的超期与临期事项"
    place = unit if unit is not None else township
    if place is not None:
        found = scope.units.get(place)
        return f"{found.name if found else '县直部门'}的超期与临期事项"
    return "超期与临期的信访事项"


class SupervisionPages(Controller):
    path = URL
    include_in_schema = False

    @get("/", opt=PAGE)
    async def board(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
    ) -> Template:
        scope = await sv.scope_of(db, actor, county)
        board = await sv.overdue_board(db, scope, today_of(clock.now()), WARN_DAYS)
        return page(
            request,
            "supervision/board.html",
            board=board,
            clock_labels=clock_labels(),
            county=county,
        )

    @get("/cases", opt=PAGE)
    async def cases(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        owner: int | None = None,
        unit: int | None = None,
        township: int | None = None,
    ) -> Template:
        scope = await sv.scope_of(db, actor, county)
        today = today_of(clock.now())
        found = await sv.drill_down(
            db, scope, today, WARN_DAYS, owner=owner, unit=unit, township=township
        )
        return page(
            request,
            "supervision/cases.html",
            title=await _drill_title(db, scope, owner, unit, township),
            cases=found,
            today=today,
            clock_labels=clock_labels(),
            status_labels=wf.STATUS_LABELS,
        )

    @get("/ranking", opt=PAGE)
    async def ranking_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        by: str = "unit",
        start: From = "",
        end: To = "",
    ) -> Template:
        context = await _ranking_context(
            db, actor, clock, county, by, start, end, sv.rules_of(runtime_of(request).settings)
        )
        return page(request, "supervision/ranking.html", **context)

    @get("/ranking.csv", opt=PAGE)
    async def ranking_export(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        by: str = "unit",
        start: From = "",
        end: To = "",
    ) -> Response[bytes]:
        context = await _ranking_context(
            db, actor, clock, county, by, start, end, sv.rules_of(runtime_of(request).settings)
        )
        name = f"hongheibang-{context['by']}-{context['start']}-{context['end']}.csv"
        return Response(
            ranking_csv(context["rows"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get("/ranking.pdf", opt=PAGE)
    async def ranking_pdf(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        by: str = "unit",
        start: From = "",
        end: To = "",
    ) -> Response[bytes]:
        context = await _ranking_context(
            db, actor, clock, county, by, start, end, sv.rules_of(runtime_of(request).settings)
        )
        engine = request.app.template_engine
        assert engine is not None
        html = engine.get_template("supervision/ranking_print.html").render(
            font_family=font_family(), printed_at=clock.now(), **context
        )
        name = f"hongheibang-{context['by']}-{context['start']}-{context['end']}.pdf"
        return Response(
            await render_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get("/daily", opt=PAGE)
    async def daily(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        county: County = None,
        day: Day = "",
    ) -> Template:
        scope = await sv.scope_of(db, actor, county)
        rule = sv.warning_rule_of(runtime_of(request).settings)
        chosen = _date(day, "日期") or today_of(clock.now())
        summary = await sv.daily_summary(db, scope, chosen, rule)
        return page(
            request,
            "supervision/daily.html",
            summary=summary,
            rule=rule,
            channel_labels={str(k): v for k, v in wf.CHANNEL_LABELS.items()},
        )


ROUTES = [SupervisionPages]
