"""China working-day calendar for statutory deadlines (法定期限).

Where each year's rest days come from, first match wins:

1. ``official`` — the State Council notice (国务院办公厅关于部分节假日安排的通知) for that
   year, entered by an admin as an :class:`OfficialYear`;
2. ``chinesecalendar`` — the ``chinesecalendar`` package, for the years it has data for
   (its range is read from the package, not assumed);
3. ``provisional`` — every other year, computed from the rules of
   《全国年节及纪念日放假办法》(2024年修订): weekends, the holidays of 第二条 and the
   补假 of 第六条.  Such a year is only an estimate until its notice is entered.

On top of all of them come local rest days (《全国年节及纪念日放假办法》第四条), such as an
autonomous county's ethnic festival.

Periods are counted as 《中华人民共和国民法典》 prescribes:

- 第二百零一条：按照年、月、日计算期间的，开始的当日不计入，自下一日开始计算。
- 第二百零三条：期间的最后一日是法定休假日的，以法定休假日结束的次日为期间的最后一日。

A "rest day" below is any day this calendar marks as not working: a weekend that is not a
调休 working day, a holiday with its 补假 and 调休 rest days, or a local rest day.

The module is pure: no database, no web, and it never reads the clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

import chinese_calendar
from lunar_python import Lunar

__all__ = [
    "SOURCE_CHINESECALENDAR",
    "SOURCE_LOCAL",
    "SOURCE_OFFICIAL",
    "SOURCE_PROVISIONAL",
    "DayInfo",
    "OfficialYear",
    "WorkCalendar",
]

SOURCE_OFFICIAL: Final = "official"
SOURCE_CHINESECALENDAR: Final = "chinesecalendar"
SOURCE_PROVISIONAL: Final = "provisional"
SOURCE_LOCAL: Final = "local"

NEW_YEAR: Final = "元旦"
SPRING_FESTIVAL: Final = "春节"
QINGMING: Final = "清明节"
LABOUR_DAY: Final = "劳动节"
DRAGON_BOAT: Final = "端午节"
MID_AUTUMN: Final = "中秋节"
NATIONAL_DAY: Final = "国庆节"

WEEKEND: Final = "周末"
ADJUSTED_WORKDAY: Final = "调休上班"
UNNAMED_REST_DAY: Final = "节假日"
UNNAMED_LOCAL_REST_DAY: Final = "地方假日"
COMPENSATORY_SUFFIX: Final = "（补假）"

_ONE_DAY: Final = timedelta(days=1)
_SATURDAY: Final = 5


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class OfficialYear:
    """One year as published by the State Council notice, entered by an admin.

    ``rest_days`` holds every day off the notice announces, weekdays included;
    ``working_days`` the weekends turned into working days (调休上班, 第七条).  Every date
    must lie in ``year``: a notice's day in a neighbouring year (the 2019 notice made
    2018-12-31 a rest day) belongs to the entry for the year it falls in.  ``names`` may
    name rest days and 调休 working days.
    """

    year: int
    rest_days: frozenset[date]
    working_days: frozenset[date]
    source: str = ""
    names: Mapping[date, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Callers often pass plain sets or a dict they keep mutating; freezing copies keeps
        # the calendar built from this entry stable.
        object.__setattr__(self, "rest_days", frozenset(self.rest_days))
        object.__setattr__(self, "working_days", frozenset(self.working_days))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        self._validate()

    def _validate(self) -> None:
        if not date.min.year <= self.year <= date.max.year:
            raise ValueError(f"year {self.year} is outside {date.min.year}..{date.max.year}")
        stray = sorted(
            d for d in (*self.rest_days, *self.working_days, *self.names) if d.year != self.year
        )
        if stray:
            raise ValueError(f"dates outside {self.year}: {', '.join(map(str, stray))}")
        both = sorted(self.rest_days & self.working_days)
        if both:
            raise ValueError(f"dates both rest and working: {', '.join(map(str, both))}")


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What the calendar says about one day, and why."""

    day: date
    workday: bool
    name: str | None
    source: str
    provisional: bool


# --------------------------------------------------------------------------- year tables


@dataclass(frozen=True, slots=True)
class _YearTable:
    source: str
    rest: frozenset[date]
    names: Mapping[date, str]
    # Sorted ordinals let add_working_days jump with bisect instead of walking day by day.
    workdays: tuple[int, ...]


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    return [date.fromordinal(o) for o in range(first, last + 1)]


def _is_weekend(d: date) -> bool:
    return d.weekday() >= _SATURDAY


def _weekends(year: int) -> set[date]:
    return {d for d in _days_of(year) if _is_weekend(d)}


def _make_table(
    year: int, source: str, rest: Iterable[date], names: Mapping[date, str]
) -> _YearTable:
    frozen_rest = frozenset(rest)
    workdays = tuple(d.toordinal() for d in _days_of(year) if d not in frozen_rest)
    return _YearTable(source, frozen_rest, MappingProxyType(dict(names)), workdays)


def _with_local(table: _YearTable, year: int, local: Iterable[date]) -> _YearTable:
    return _make_table(year, table.source, table.rest | frozenset(local), table.names)


def _official_table(entry: OfficialYear) -> _YearTable:
    rest = (_weekends(entry.year) - entry.working_days) | entry.rest_days
    names: dict[date, str] = {d: ADJUSTED_WORKDAY for d in entry.working_days}
    for d in entry.rest_days:
        names[d] = WEEKEND if _is_weekend(d) else UNNAMED_REST_DAY
    names.update(entry.names)
    return _make_table(entry.year, SOURCE_OFFICIAL, rest, names)


# --------------------------------------------------------------------------- chinesecalendar


def _chinesecalendar_years() -> range:
    """The years ``chinesecalendar`` answers for, read the way the package checks them."""
    years = [d.year for d in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


_CHINESECALENDAR_YEARS: Final = _chinesecalendar_years()

# The package names three holidays without the 节 that 第二条 uses.
_CHINESECALENDAR_NAMES: Final[Mapping[str, str]] = {
    h.value: {"清明": QINGMING, "端午": DRAGON_BOAT, "中秋": MID_AUTUMN}.get(h.chinese, h.chinese)
    for h in chinese_calendar.Holiday
}


def _chinesecalendar_table(year: int) -> _YearTable:
    rest: set[date] = set()
    names: dict[date, str] = {}
    for d in _days_of(year):
        on_holiday, raw = chinese_calendar.get_holiday_detail(d)
        if not on_holiday:
            if _is_weekend(d):
                names[d] = ADJUSTED_WORKDAY
            continue
        rest.add(d)
        if raw:
            names[d] = _CHINESECALENDAR_NAMES.get(str(raw), str(raw))
    return _make_table(year, SOURCE_CHINESECALENDAR, rest, names)


# --------------------------------------------------------------------------- provisional


def _from_solar(solar: Any) -> date:
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _lunar_to_solar(year: int, month: int, day: int) -> date:
    """Gregorian date of a day of the (non-leap) lunar month ``month`` of lunar year ``year``."""
    return _from_solar(Lunar.fromYmd(year, month, day).getSolar())


def _qingming(year: int) -> date:
    """The day of the 清明 solar term; lunar year ``year`` always has it in April."""
    return _from_solar(Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"])


def _statutory_holidays(year: int) -> list[tuple[date, str]]:
    """Every statutory holiday day of ``year``, in date order.

    《全国年节及纪念日放假办法》第二条 全体公民放假的节日：（一）元旦，放假1天（1月1日）；
    （二）春节，放假4天（农历除夕、正月初一至初三）；（三）清明节，放假1天（农历清明当日）；
    （四）劳动节，放假2天（5月1日、2日）；（五）端午节，放假1天（农历端午当日）；
    （六）中秋节，放假1天（农历中秋当日）；（七）国庆节，放假3天（10月1日至3日）。

    除夕 is taken as the day before 正月初一, so a 12th month of 29 days is handled.  A day
    can appear twice (中秋节 on 10月1日 in 2031); fixed-date holidays are listed first so
    the lunar one is the holiday that is displaced.
    """
    new_year = _lunar_to_solar(year, 1, 1)
    fixed = [
        (date(year, 1, 1), NEW_YEAR),
        (date(year, 5, 1), LABOUR_DAY),
        (date(year, 5, 2), LABOUR_DAY),
        *((date(year, 10, day), NATIONAL_DAY) for day in (1, 2, 3)),
    ]
    moving = [
        *((new_year + timedelta(days=k), SPRING_FESTIVAL) for k in (-1, 0, 1, 2)),
        (_qingming(year), QINGMING),
        (_lunar_to_solar(year, 5, 5), DRAGON_BOAT),
        (_lunar_to_solar(year, 8, 15), MID_AUTUMN),
    ]
    # sorted() is stable, so on a shared date the fixed holiday keeps its place first.
    return sorted([*fixed, *moving], key=lambda pair: pair[0])


def _next_free_weekday(after: date, rest: set[date]) -> date:
    d = after + _ONE_DAY
    while d in rest:
        d += _ONE_DAY
    return d


def _provisional_table(year: int) -> _YearTable:
    """Rest days of a year without a notice, from the 2024 rules.

    Saturdays and Sundays are rest days, plus the holidays of 第二条 (see
    :func:`_statutory_holidays`).  《全国年节及纪念日放假办法》第六条：全体公民放假的假日，
    如果适逢周六、周日，应当在工作日补假。  Each such holiday day gets one 补假 on the
    first following working day not already taken, processed in date order.  A holiday
    day that coincides with another holiday day gets one too, which matches the 2020
    notice (中秋节 on 10月1日: four weekdays off net of 调休 for the two holidays).

    No weekend is ever a working day here: 第七条 lets each year's notice arrange 调休
    (可合理安排统一放假调休…), and those arrangements cannot be predicted.
    """
    names: dict[date, str] = {}
    owed: list[tuple[date, str]] = []
    for d, name in _statutory_holidays(year):
        if d in names:
            names[d] = f"{names[d]}、{name}"
            owed.append((d, name))
            continue
        names[d] = name
        if _is_weekend(d):
            owed.append((d, name))
    rest = _weekends(year) | names.keys()
    for d, name in owed:
        lieu = _next_free_weekday(d, rest)
        rest.add(lieu)
        names[lieu] = f"{name}{COMPENSATORY_SUFFIX}"
    return _make_table(year, SOURCE_PROVISIONAL, rest, names)


# Bounded because callers may probe arbitrary years; a table is about 20 kB.
@lru_cache(maxsize=512)
def _national_table(year: int) -> _YearTable:
    """A year without an admin entry; cached because both sources are costly per year."""
    if year in _CHINESECALENDAR_YEARS:
        return _chinesecalendar_table(year)
    return _provisional_table(year)


# --------------------------------------------------------------------------- calendar


def _require_date(d: date) -> None:
    # A datetime compares unequal to the date it falls on, so it would never match a rest
    # day; and which date an aware datetime falls on depends on the time zone.
    if isinstance(d, datetime):
        raise TypeError("pass a date in Asia/Shanghai, not a datetime")


def _require_non_negative(n: int) -> None:
    if n < 0:
        raise ValueError(f"a period cannot be negative: {n}")


def _official_by_year(
    official_years: Mapping[int, OfficialYear] | Iterable[OfficialYear] | None,
) -> dict[int, OfficialYear]:
    if official_years is None:
        return {}
    if isinstance(official_years, Mapping):
        for key, entry in official_years.items():
            if key != entry.year:
                raise ValueError(f"official year {entry.year} filed under {key}")
        return dict(official_years)
    result: dict[int, OfficialYear] = {}
    for entry in official_years:
        if entry.year in result:
            raise ValueError(f"official year {entry.year} given twice")
        result[entry.year] = entry
    return result


def _local_names(
    local_rest_days: Mapping[date, str] | Iterable[date] | None,
) -> dict[date, str]:
    if local_rest_days is None:
        return {}
    if isinstance(local_rest_days, Mapping):
        return dict(local_rest_days)
    return dict.fromkeys(local_rest_days, UNNAMED_LOCAL_REST_DAY)


class WorkCalendar:
    """Working days in China, with 调休, provisional years and local rest days.

    Build it with :meth:`china`.  Year data is computed once and kept: national years in
    a module-wide cache, years with official or local overlays on the instance.
    """

    __slots__ = ("_local", "_local_by_year", "_official", "_tables")

    def __init__(self, official: Mapping[int, OfficialYear], local: Mapping[date, str]) -> None:
        self._official = dict(official)
        self._local = dict(local)
        self._local_by_year: dict[int, set[date]] = {}
        for d in self._local:
            _require_date(d)
            self._local_by_year.setdefault(d.year, set()).add(d)
        self._tables: dict[int, _YearTable] = {}

    @classmethod
    def china(
        cls,
        official_years: Mapping[int, OfficialYear] | Iterable[OfficialYear] | None = None,
        local_rest_days: Mapping[date, str] | Iterable[date] | None = None,
    ) -> WorkCalendar:
        """The national calendar, with admin-entered notices and local rest days.

        Local rest days follow 《全国年节及纪念日放假办法》第四条：少数民族习惯的节日，
        由各少数民族聚居地区的地方人民政府，按照各该民族习惯，规定放假日期。  They are
        rest days whatever the national calendar says, 调休 working days included.  Give a
        mapping to name them; plain dates are named 地方假日.
        """
        return cls(_official_by_year(official_years), _local_names(local_rest_days))

    def with_official(self, years: Iterable[OfficialYear]) -> WorkCalendar:
        """This calendar with more (or corrected) official years; local rest days stay."""
        merged = {**self._official, **{y.year: y for y in years}}
        return WorkCalendar(merged, self._local)

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is not None:
            return table
        if not date.min.year <= year <= date.max.year:
            raise OverflowError(f"year {year} is out of the date range")
        if year not in self._official and year not in self._local_by_year:
            return _national_table(year)
        # Only overlaid years are kept here, so the instance holds no more than its input.
        table = self._overlaid_table(year)
        self._tables[year] = table
        return table

    def _overlaid_table(self, year: int) -> _YearTable:
        entry = self._official.get(year)
        table = _official_table(entry) if entry is not None else _national_table(year)
        local = self._local_by_year.get(year)
        return _with_local(table, year, local) if local else table

    def is_workday(self, d: date) -> bool:
        _require_date(d)
        return d not in self._table(d.year).rest

    def is_rest_day(self, d: date) -> bool:
        return not self.is_workday(d)

    def is_provisional(self, year: int) -> bool:
        """True exactly for years computed from the 2024 rules rather than published data."""
        return year not in self._official and year not in _CHINESECALENDAR_YEARS

    def describe(self, d: date) -> DayInfo:
        """The day's status with the name that explains it.

        A local rest day is reported as such even on a national holiday, with
        ``provisional`` False: the local government's decision does not wait for the
        State Council notice.
        """
        _require_date(d)
        local_name = self._local.get(d)
        if local_name is not None:
            return DayInfo(d, False, local_name, SOURCE_LOCAL, False)
        table = self._table(d.year)
        workday = d not in table.rest
        name = table.names.get(d)
        if name is None and not workday:
            name = WEEKEND
        return DayInfo(d, workday, name, table.source, table.source == SOURCE_PROVISIONAL)

    def roll_forward(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        _require_date(d)
        ordinal = d.toordinal()
        year = d.year
        while True:
            workdays = self._table(year).workdays
            i = bisect.bisect_left(workdays, ordinal)
            if i < len(workdays):
                return date.fromordinal(workdays[i])
            year += 1

    def add_days(self, start: date, n: int) -> date:
        """The last day of a period of ``n`` days starting on ``start``.

        《中华人民共和国民法典》第二百零一条：按照年、月、日计算期间的，开始的当日不计入，
        自下一日开始计算。  So the period ends on ``start + n``.  第二百零三条：期间的最后
        一日是法定休假日的，以法定休假日结束的次日为期间的最后一日。  So a last day that is a
        rest day moves to the first working day after the run of rest days.

        ``n == 0`` returns ``start`` unchanged, even on a rest day: no period runs, so
        there is no last day for 第二百零三条 to move.  ``n < 0`` raises ValueError.
        """
        _require_date(start)
        _require_non_negative(n)
        if n == 0:
            return start
        return self.roll_forward(start + timedelta(days=n))

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (第二百零一条: the start day is not counted).

        调休 working Saturdays and Sundays count.  ``n == 0`` returns ``start`` unchanged;
        ``n < 0`` raises ValueError.
        """
        _require_date(start)
        _require_non_negative(n)
        if n == 0:
            return start
        ordinal = start.toordinal()
        year = start.year
        while True:
            workdays = self._table(year).workdays
            i = bisect.bisect_right(workdays, ordinal)
            if n <= len(workdays) - i:
                return date.fromordinal(workdays[i + n - 1])
            n -= len(workdays) - i
            year += 1

    def rest_days_between(self, start: date, end: date) -> list[DayInfo]:
        """Rest days in (start, end], to explain why a deadline falls where it does."""
        _require_date(start)
        _require_date(end)
        return [
            self.describe(date.fromordinal(o))
            for o in range(start.toordinal() + 1, end.toordinal() + 1)
            if self.is_rest_day(date.fromordinal(o))
        ]

    def provisional_years(self, start: date, end: date) -> list[int]:
        """Years touched by (start, end] whose days are only provisional, for a warning."""
        _require_date(start)
        _require_date(end)
        if end <= start:
            return []
        first = (start + _ONE_DAY).year
        return [y for y in range(first, end.year + 1) if self.is_provisional(y)]
