"""Deadline calculator API: `GET /api/v1/deadlines/calculate`, public.

Thin: read the query, load the calendar admins maintain (official years count), call
`deadlines.deadline_from_text`, serialise the due date with how it was computed. A refused
input is a 422 `invalid-input` problem with the rule's Chinese message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.errors import InvalidInput
from app.core.holidays import calendar_for
from app.core.web import runtime_of
from app.core.workdays import DayInfo
from app.ownership.deadlines import (
    COUNTING_LABELS,
    Deadline,
    DeadlineInputError,
    day_name,
    deadline_from_text,
    profile_for_jurisdiction,
)

Text = Annotated[str | None, QueryParameter(max_length=32)]
#: `clock` in the query; the handler's own name differs, since `clock` is the injected Clock.
ClockParam = Annotated[str | None, QueryParameter(name="clock", max_length=32)]


class DayOut(msgspec.Struct):
    date: dt.date
    name: str


class DeadlineOut(msgspec.Struct):
    """A due date and how it was computed; `explanation` says it in one Chinese paragraph."""

    due: dt.date
    profile: str
    profile_label: str
    clock: str
    clock_label: str
    start: dt.date
    starts_from: str
    days: int
    counting: str
    counting_label: str
    extension_days: int
    paused_days: int
    period_days: int
    article: str
    quote: str
    note: str
    via: str
    rest_days_skipped: list[DayOut]
    adjusted_workdays: list[DayOut]
    provisional: bool
    provisional_years: list[int]
    explanation: str


@dataclass(frozen=True, slots=True)
class DeadlineQuery:
    """What the calculator was asked, as typed; empty fields are not given."""

    profile: str | None = None
    clock: str | None = None
    start: str | None = None
    extension: str | None = None
    paused: str | None = None

    @property
    def asked(self) -> bool:
        return any(v is not None for v in (self.clock, self.start, self.extension, self.paused))


def default_profile(request: Request[Any, Any, Any]) -> str:
    """The deployment's jurisdiction decides the profile when none is asked for."""
    return profile_for_jurisdiction(runtime_of(request).settings.jurisdiction)


async def compute_deadline(
    db: AsyncSession, query: DeadlineQuery, fallback_profile: str
) -> Deadline:
    """The deadline on the calendar admins maintain; refusals become `InvalidInput`."""
    calendar = await calendar_for(db)
    try:
        return deadline_from_text(
            calendar,
            (query.profile or "").strip() or fallback_profile,
            query.clock,
            query.start,
            query.extension,
            query.paused,
        )
    except DeadlineInputError as refused:
        raise InvalidInput(str(refused)) from refused


def _days_out(days: tuple[DayInfo, ...]) -> list[DayOut]:
    return [DayOut(i.day, day_name(i)) for i in days]


def deadline_out(d: Deadline) -> DeadlineOut:
    rule = d.rule
    return DeadlineOut(
        due=d.due,
        profile=d.profile.name,
        profile_label=d.profile.label,
        clock=d.clock.value,
        clock_label=rule.label,
        start=d.start,
        starts_from=rule.starts_from,
        days=d.days,
        counting=d.counting.value,
        counting_label=COUNTING_LABELS[d.counting],
        extension_days=d.extension_days,
        paused_days=d.paused_days,
        period_days=d.period_days,
        article=rule.article,
        quote=rule.quote,
        note=rule.note,
        via=rule.via,
        rest_days_skipped=_days_out(d.rest_days_skipped),
        adjusted_workdays=_days_out(d.adjusted_workdays),
        provisional=d.provisional,
        provisional_years=list(d.provisional_years),
        explanation=d.explanation,
    )


class DeadlineApi(Controller):
    path = "/api/v1/deadlines"
    tags = ("deadlines",)

    @get("/calculate", opt=public())
    async def calculate(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        profile: Text = None,
        clock_name: ClockParam = None,
        start: Text = None,
        extension: Text = None,
        paused: Text = None,
    ) -> DeadlineOut:
        """The due date of a statutory clock: `profile` (`national-2022`, `zhejiang-2016`;
        the deployment's jurisdiction by default), `clock` (route, accept, object, handle,
        extend, review_request, recheck_request, review_decision, recheck_decision),
        `start` (YYYY-MM-DD), `extension` (days, for extend; the maximum by default) and
        `paused` (hearing days, for recheck_decision)."""
        query = DeadlineQuery(profile, clock_name, start, extension, paused)
        found = await compute_deadline(db, query, default_profile(request))
        return deadline_out(found)


ROUTES = [DeadlineApi]
