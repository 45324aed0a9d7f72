"""The holiday calendar as entered by admins: official years from the State Council notice
and counties' own rest days, turned into a `WorkCalendar` for the rules."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.errors import DomainError
from app.core.models import HolidayYear, LocalRestDay
from app.core.workdays import OfficialYear, WorkCalendar
from app.ledger import services as ledger
from app.ledger.rules import ledger_action

YEAR_ENTERED = ledger_action(
    "core.calendar.year_entered",
    "holiday_year",
    "录入（或更正）某年国务院节假日安排",
    rest_days="放假日期列表",
    working_days="调休上班日期列表",
    source="通知文号",
    replaced="是否替换了此前录入的安排",
)
LOCAL_REST_DAY_ADDED = ledger_action(
    "core.calendar.local_rest_day_added",
    "local_rest_day",
    "设置本县地方假日",
    day="日期",
)


class CalendarInvalid(DomainError):
    slug = "calendar-invalid"


DayOrRange = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}(/\d{4}-\d{2}-\d{2})?$")]


class YearFile(msgspec.Struct, forbid_unknown_fields=True):
    """The simple file an admin types from the notice: dates or `from/to` ranges.

    {"year": 2027, "source": "国办发明电〔2026〕…号",
     "rest_days": ["2027-01-01", "2027-02-05/2027-02-11"], "working_days": ["2027-02-14"],
     "names": {"2027-02-05": "春节"}}
    """

    year: Annotated[int, msgspec.Meta(ge=2000, le=2200)]
    source: Annotated[str, msgspec.Meta(min_length=2, max_length=255)]
    rest_days: list[DayOrRange]
    working_days: list[DayOrRange] = msgspec.field(default_factory=list)
    names: dict[str, str] = msgspec.field(default_factory=dict)


def _expand(items: list[str]) -> list[dt.date]:
    days: list[dt.date] = []
    for item in items:
        first, _, last = item.partition("/")
        start = dt.date.fromisoformat(first)
        end = dt.date.fromisoformat(last) if last else start
        if end < start:
            raise CalendarInvalid(f"日期区间 {item} 的结束早于开始。")
        days.extend(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return days


def official_year_from(data: YearFile) -> OfficialYear:
    try:
        return OfficialYear(
            year=data.year,
            rest_days=frozenset(_expand(data.rest_days)),
            working_days=frozenset(_expand(data.working_days)),
            source=data.source,
            names={dt.date.fromisoformat(k): v for k, v in data.names.items()},
        )
    except ValueError as bad:
        raise CalendarInvalid(f"节假日安排有误：{bad}") from bad


def _to_row(year: OfficialYear, actor: Principal, now: dt.datetime) -> HolidayYear:
    return HolidayYear(
        year=year.year,
        rest_days=sorted(d.isoformat() for d in year.rest_days),
        working_days=sorted(d.isoformat() for d in year.working_days),
        names={d.isoformat(): n for d, n in year.names.items()},
        source=year.source,
        entered_by=actor.account_id or None,
        entered_at=now,
    )


def _from_row(row: HolidayYear) -> OfficialYear:
    return OfficialYear(
        year=row.year,
        rest_days=frozenset(dt.date.fromisoformat(d) for d in row.rest_days),
        working_days=frozenset(dt.date.fromisoformat(d) for d in row.working_days),
        source=row.source,
        names={dt.date.fromisoformat(k): v for k, v in row.names.items()},
    )


async def enter_official_year(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: YearFile
) -> HolidayYear:
    """Record (or correct) a year's official arrangement; deployment-wide admins only,
    since the State Council notice holds for the whole country."""
    if not actor.has_any({Role.admin}) or actor.scope_paths({Role.admin}) is not None:
        raise DomainError("全国节假日安排只能由全局管理员录入。", slug="out-of-scope")
    year = official_year_from(data)
    existing = await db.get(HolidayYear, year.year)
    if existing is not None:
        await db.delete(existing)
        await db.flush()
    row = _to_row(year, actor, now)
    db.add(row)
    await db.flush()
    await ledger.append(
        db,
        county=None,
        actor=actor,
        action=YEAR_ENTERED,
        subject=("holiday_year", year.year),
        at=now,
        role=Role.admin.value,
        payload={
            "rest_days": list(row.rest_days),
            "working_days": list(row.working_days),
            "source": row.source,
            "replaced": existing is not None,
        },
    )
    return row


async def official_years(db: AsyncSession) -> list[OfficialYear]:
    return [_from_row(r) for r in await db.scalars(select(HolidayYear).order_by(HolidayYear.year))]


async def calendar_for(db: AsyncSession, county_id: int | None = None) -> WorkCalendar:
    """The calendar a county's deadlines and rosters run on."""
    local: dict[dt.date, str] = {}
    if county_id is not None:
        rows = await db.scalars(select(LocalRestDay).where(LocalRestDay.county_id == county_id))
        local = {r.day: r.name for r in rows}
    return WorkCalendar.china(official_years=await official_years(db), local_rest_days=local)


async def add_local_rest_day(
    db: AsyncSession,
    actor: Principal,
    county_id: int,
    county_path: str,
    day: dt.date,
    name: str,
    *,
    now: dt.datetime,
) -> LocalRestDay:
    """A county's own rest day (《全国年节及纪念日放假办法》第四条)."""
    require_scope(actor, {Role.admin}, county_path, "设置本县的地方假日")
    if not name.strip():
        raise CalendarInvalid("请填写地方假日的名称。")
    taken = await db.scalar(
        select(LocalRestDay.id).where(LocalRestDay.county_id == county_id, LocalRestDay.day == day)
    )
    if taken is not None:
        raise DomainError(f"{day.isoformat()} 已是本县的地方假日。", slug="duplicate")
    row = LocalRestDay(county_id=county_id, day=day, name=name.strip())
    db.add(row)
    await db.flush()
    await ledger.append(
        db,
        county=county_id,
        actor=actor,
        action=LOCAL_REST_DAY_ADDED,
        subject=("local_rest_day", row.id),
        at=now,
        role=Role.admin.value,
        payload={"day": day.isoformat()},
    )
    return row
