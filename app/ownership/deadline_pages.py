"""期限计算器: the public deadline calculator page, `/deadlines`.

A GET form (profile, clock, start date, extension days, hearing days) that works without
JavaScript; the answer shows the due date, how it was computed, the rest days skipped and
the provisional-year warning. A refused input re-renders the form with the reason, 422.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.auth.roles import Role
from app.core.errors import DomainError
from app.core.web import nav_item, page
from app.ownership.deadline_routes import (
    ClockParam,
    DeadlineQuery,
    Text,
    compute_deadline,
    default_profile,
)
from app.ownership.deadlines import (
    COUNTING_LABELS,
    MAX_PAUSED_DAYS,
    PROFILES,
    ClockName,
    Deadline,
    Profile,
    day_name,
    describe_days,
)

DEADLINES_URL = "/deadlines"

nav_item("期限计算器", DEADLINES_URL, frozenset(Role), order=65)


def _profile_shown(query: DeadlineQuery, fallback: str) -> Profile:
    """The profile whose rules the page lists: the one asked for if it exists."""
    return PROFILES.get((query.profile or "").strip(), PROFILES[fallback])


def render(
    request: Request[Any, Any, Any],
    query: DeadlineQuery,
    fallback: str,
    *,
    result: Deadline | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    shown = _profile_shown(query, fallback)
    return page(
        request,
        "ownership/deadlines.html",
        status_code=status_code,
        query=query,
        values={
            "profile": (query.profile or "").strip() or fallback,
            "clock": query.clock or "",
            "start": query.start or "",
            "extension": query.extension or "",
            "paused": query.paused or "",
        },
        profile_choices=[(p.name, p.label) for p in PROFILES.values()],
        clock_choices=[(c.value, f"{shown.rule(c).label}（{c.value}）") for c in ClockName],
        shown=shown,
        extension_limits="；".join(
            f"{p.label}最多 {p.extension_max} 日" for p in PROFILES.values()
        ),
        max_paused=MAX_PAUSED_DAYS,
        result=result,
        error=error,
        counting_labels=COUNTING_LABELS,
        day_name=day_name,
        describe_days=describe_days,
    )


class DeadlinePages(Controller):
    path = DEADLINES_URL
    include_in_schema = False

    @get("/", opt=public())
    async def calculator(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        profile: Text = None,
        clock_name: ClockParam = None,
        start: Text = None,
        extension: Text = None,
        paused: Text = None,
    ) -> Template:
        """The form; with a query, also the due date and how it was computed."""
        query = DeadlineQuery(profile, clock_name, start, extension, paused)
        fallback = default_profile(request)
        if not query.asked:
            return render(request, query, fallback)
        try:
            found = await compute_deadline(db, query, fallback)
        except DomainError as refused:
            return render(request, query, fallback, error=refused.detail, status_code=422)
        return render(request, query, fallback, result=found)


ROUTES = [DeadlinePages]
