"""Statutory clocks (法定期限) of petition work: the rules as data, and the due dates they give.

A *profile* is one jurisdiction's set of clocks: ``national-2022`` (《信访工作条例》, 2022)
and ``zhejiang-2016`` (《浙江省信访条例》, 2016年修订), which sets its own periods for
routing, acceptance and handling and follows the national rules for review (复查) and
re-review (复核) (《浙江省信访条例》第二十四条).  Every rule carries its article and a
quotation of it, so each due date can say where it comes from.

Periods are counted as 《中华人民共和国民法典》 prescribes (see ``app.core.workdays``):
the start day is not counted (第二百零一条) and a period whose last day is a rest day ends
on the next working day (第二百零三条).  Due dates are dates in Asia/Shanghai; a deadline
day ends at 24:00, so a case is overdue from 00:00 of the next day.

Pure: no database, no web, and it never reads the clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from app.core.workdays import COMPENSATORY_SUFFIX, DayInfo, WorkCalendar

__all__ = [
    "COUNTING_LABELS",
    "MAX_PAUSED_DAYS",
    "NATIONAL_2022",
    "PROFILES",
    "ZHEJIANG_2016",
    "ClockName",
    "ClockRule",
    "DayCount",
    "Deadline",
    "DeadlineInputError",
    "Profile",
    "Urgency",
    "day_name",
    "deadline_from_text",
    "describe_days",
    "due_date",
    "explain",
    "is_overdue",
    "profile_for_jurisdiction",
    "urgency",
]

#: A hearing (听证) longer than a year is not a pause but a mistake in the input.
MAX_PAUSED_DAYS: Final = 366
#: Start dates the calculator accepts; far outside them no calendar is meaningful.
FIRST_START: Final = dt.date(1990, 1, 1)
LAST_START: Final = dt.date(2199, 12, 31)

NATIONAL: Final = "《信访工作条例》"
ZHEJIANG: Final = "《浙江省信访条例》"
CIVIL_CODE_START: Final = "民法典第二百零一条"
CIVIL_CODE_END: Final = "民法典第二百零三条"


class ClockName(StrEnum):
    """The named clocks; overdue lists say which one is late."""

    route = "route"
    accept = "accept"
    object = "object"
    handle = "handle"
    extend = "extend"
    review_request = "review_request"
    recheck_request = "recheck_request"
    review_decision = "review_decision"
    recheck_decision = "recheck_decision"


class DayCount(StrEnum):
    calendar = "calendar"
    working = "working"


COUNTING_LABELS: Final[Mapping[DayCount, str]] = MappingProxyType(
    {DayCount.calendar: "自然日", DayCount.working: "工作日"}
)


class Urgency(StrEnum):
    red = "red"
    yellow = "yellow"
    ok = "ok"


class DeadlineInputError(ValueError):
    """A calculation the rules refuse; the message is Chinese and can be shown as it is."""


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True)
class ClockRule:
    """One statutory period: how long, counted how, from what, and under which article.

    ``quote`` is the article's own words (segments joined by "……"); ``note`` says to what
    the period applies or how it is used; ``via`` says why a profile borrows another
    regulation's rule.  ``pausable`` marks the one period a hearing suspends.
    """

    label: str
    days: int
    counting: DayCount
    starts_from: str
    article: str
    quote: str
    note: str = ""
    via: str = ""
    pausable: bool = False

    @property
    def unit(self) -> str:
        return "个工作日" if self.counting is DayCount.working else "日"


@dataclass(frozen=True, slots=True)
class Profile:
    """One jurisdiction's clocks; every :class:`ClockName` has a rule."""

    name: str
    label: str
    clocks: Mapping[ClockName, ClockRule] = field(hash=False)

    def __post_init__(self) -> None:
        missing = [c.value for c in ClockName if c not in self.clocks]
        if missing:
            raise ValueError(f"profile {self.name} lacks clocks: {', '.join(missing)}")
        object.__setattr__(self, "clocks", MappingProxyType(dict(self.clocks)))

    def rule(self, clock: ClockName) -> ClockRule:
        return self.clocks[clock]

    @property
    def extension_max(self) -> int:
        """The longest extension of the handling period this profile allows."""
        return self.clocks[ClockName.extend].days


def _national_clocks() -> dict[ClockName, ClockRule]:
    """The periods of 《信访工作条例》 (2022): 第二十二、二十三、三十四、三十五、三十六条."""
    cal, work = DayCount.calendar, DayCount.working
    return {
        ClockName.route: ClockRule(
            label="登记转送",
            days=15,
            counting=cal,
            starts_from="信访部门收到信访事项之日",
            article=f"{NATIONAL}第二十二条",
            quote="各级党委和政府信访部门收到信访事项，应当予以登记，并区分情况，"
            "在15日内分别按照下列方式处理",
        ),
        ClockName.accept: ClockRule(
            label="受理告知",
            days=15,
            counting=cal,
            starts_from="收到信访事项之日",
            article=f"{NATIONAL}第二十三条",
            quote="不能当场告知的，应当自收到信访事项之日起15日内书面告知信访人",
            note="转送、交办的信访事项同样自收到之日起15日内书面告知（第二十三条第三款）",
        ),
        ClockName.object: ClockRule(
            label="提出异议",
            days=5,
            counting=work,
            starts_from="收到转送、交办的信访事项之日",
            article=f"{NATIONAL}第二十三条",
            quote="不属于本机关、单位或者本系统职权范围的，有关机关、单位应当自收到之日起"
            "5个工作日内提出异议，并详细说明理由",
        ),
        ClockName.handle: ClockRule(
            label="办理期限",
            days=60,
            counting=cal,
            starts_from="受理之日",
            article=f"{NATIONAL}第三十四条",
            quote="对本条例第三十一条第六项规定的信访事项应当自受理之日起60日内办结",
            note="仅适用于第三十一条第六项规定的信访事项",
        ),
        ClockName.extend: ClockRule(
            label="延长办理期限",
            days=30,
            counting=cal,
            starts_from="受理之日",
            article=f"{NATIONAL}第三十四条",
            quote="情况复杂的，经本机关、单位负责人批准，可以适当延长办理期限，"
            "但延长期限不得超过30日，并告知信访人延期理由",
            note="只能延长一次，须经负责人批准并告知信访人延期理由；延长后的期限自受理之日连续计算",
        ),
        ClockName.review_request: ClockRule(
            label="申请复查",
            days=30,
            counting=cal,
            starts_from="书面答复送达之日",
            article=f"{NATIONAL}第三十五条",
            quote="信访人对信访处理意见不服的，可以自收到书面答复之日起30日内请求原办理机关、"
            "单位的上一级机关、单位复查",
        ),
        ClockName.review_decision: ClockRule(
            label="复查意见",
            days=30,
            counting=cal,
            starts_from="收到复查请求之日",
            article=f"{NATIONAL}第三十五条",
            quote="收到复查请求的机关、单位应当自收到复查请求之日起30日内提出复查意见，"
            "并予以书面答复",
        ),
        ClockName.recheck_request: ClockRule(
            label="申请复核",
            days=30,
            counting=cal,
            starts_from="复查意见书面答复送达之日",
            article=f"{NATIONAL}第三十六条",
            quote="信访人对复查意见不服的，可以自收到书面答复之日起30日内向复查机关、"
            "单位的上一级机关、单位请求复核",
        ),
        ClockName.recheck_decision: ClockRule(
            label="复核意见",
            days=30,
            counting=cal,
            starts_from="收到复核请求之日",
            article=f"{NATIONAL}第三十六条",
            quote="收到复核请求的机关、单位应当自收到复核请求之日起30日内提出复核意见……"
            "听证所需时间不计算在前款规定的期限内",
            note="举行听证的，听证所需时间不计入期限",
            pausable=True,
        ),
    }


NATIONAL_2022: Final = Profile("national-2022", f"{NATIONAL}（2022年）", _national_clocks())

_REVIEW_CLOCKS: Final = (
    ClockName.review_request,
    ClockName.review_decision,
    ClockName.recheck_request,
    ClockName.recheck_decision,
)
_ZHEJIANG_REVIEW_VIA: Final = f"{ZHEJIANG}第二十四条：复查、复核，按照国家、省的相关规定执行。"
_ZHEJIANG_OBJECT_VIA: Final = f"{ZHEJIANG}未另行规定，适用{NATIONAL}"


def _zhejiang_own_clocks() -> dict[ClockName, ClockRule]:
    """The periods 《浙江省信访条例》 (2016) sets itself: 第二十条 and 第二十三条."""
    cal, work = DayCount.calendar, DayCount.working
    return {
        ClockName.route: ClockRule(
            label="登记转送",
            days=5,
            counting=work,
            starts_from="收到信访事项之日",
            article=f"{ZHEJIANG}第二十条",
            quote="国家机关收到信访人提出的信访事项，应当登记、录入网络信访平台，"
            "能够当场答复的，应当当场答复；不能当场答复的，在五个工作日内按下列规定作出处理",
        ),
        ClockName.accept: ClockRule(
            label="受理告知",
            days=5,
            counting=work,
            starts_from="收到信访事项或者转送、交办的信访事项之日",
            article=f"{ZHEJIANG}第二十条",
            quote="依法应当由本国家机关处理的，应当受理并书面告知信访人……"
            "有关国家机关应当自收到之日起五个工作日内决定是否受理，并书面告知信访人",
        ),
        ClockName.handle: ClockRule(
            label="办理期限",
            days=30,
            counting=cal,
            starts_from="受理之日",
            article=f"{ZHEJIANG}第二十三条",
            quote="对需要调查、取证、协调的事项，一般应当自受理之日起三十日内办结",
        ),
        ClockName.extend: ClockRule(
            label="延长办理期限",
            days=60,
            counting=cal,
            starts_from="受理之日",
            article=f"{ZHEJIANG}第二十三条",
            quote="对情况复杂或者取证困难、依据不明确的事项，经本国家机关负责人批准，"
            "可以适当延长办理期限，但延长期限不得超过六十日",
            note="只能延长一次，须经负责人批准；延长后的期限自受理之日连续计算",
        ),
    }


def _zhejiang_clocks() -> dict[ClockName, ClockRule]:
    """The national clocks, overridden where Zhejiang sets its own; review and re-review
    follow the national rules (《浙江省信访条例》第二十四条)."""
    national = NATIONAL_2022.clocks
    inherited = {c: replace(national[c], via=_ZHEJIANG_REVIEW_VIA) for c in _REVIEW_CLOCKS}
    inherited[ClockName.object] = replace(national[ClockName.object], via=_ZHEJIANG_OBJECT_VIA)
    return {**national, **inherited, **_zhejiang_own_clocks()}


ZHEJIANG_2016: Final = Profile("zhejiang-2016", f"{ZHEJIANG}（2016年修订）", _zhejiang_clocks())

PROFILES: Final[Mapping[str, Profile]] = MappingProxyType(
    {p.name: p for p in (NATIONAL_2022, ZHEJIANG_2016)}
)

_JURISDICTION_PROFILES: Final[Mapping[str, str]] = MappingProxyType(
    {"national": NATIONAL_2022.name, "zhejiang": ZHEJIANG_2016.name}
)


def profile_for_jurisdiction(jurisdiction: str) -> str:
    """The profile name of a deployment's jurisdiction (``JIEFANG_JURISDICTION``)."""
    try:
        return _JURISDICTION_PROFILES[jurisdiction]
    except KeyError:
        raise DeadlineInputError(f"未知的辖区“{jurisdiction}”。") from None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed due date with everything needed to explain it.

    ``days`` is the rule's own period (for ``extend``, the handling period it extends);
    ``extension_days`` and ``paused_days`` are added to it.  ``rest_days_skipped`` are the
    rest days the count passed over (working-day clocks) or the roll moved past (calendar
    clocks); ``adjusted_workdays`` the 调休 weekends a working-day count counted.
    """

    profile: Profile
    clock: ClockName
    start: dt.date
    due: dt.date
    days: int
    extension_days: int
    paused_days: int
    rest_days_skipped: tuple[DayInfo, ...]
    adjusted_workdays: tuple[DayInfo, ...]
    provisional_years: tuple[int, ...]

    @property
    def rule(self) -> ClockRule:
        return self.profile.rule(self.clock)

    @property
    def counting(self) -> DayCount:
        return self.rule.counting

    @property
    def article(self) -> str:
        return self.rule.article

    @property
    def quote(self) -> str:
        return self.rule.quote

    @property
    def period_days(self) -> int:
        """The whole period counted: the rule's days, the extension and the hearing."""
        return self.days + self.extension_days + self.paused_days

    @property
    def nominal_end(self) -> dt.date:
        """The period's last day before 第二百零三条 moves it (calendar clocks)."""
        if self.counting is DayCount.working:
            return self.due
        return self.start + dt.timedelta(days=self.period_days)

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)

    @property
    def provisional_warning(self) -> str:
        if not self.provisional_years:
            return ""
        years = "、".join(str(y) for y in self.provisional_years)
        return f"{years} 年节假日安排尚未公布，本期限按暂定日历计算。"

    @property
    def explanation(self) -> str:
        """One Chinese paragraph: start, counting, the roll, the article."""
        return explain(self)


def is_overdue(due: dt.date, today: dt.date) -> bool:
    """A deadline day ends at 24:00 (民法典第二百零三条), so overdue from the next day."""
    return today > due


def urgency(due: dt.date, today: dt.date, warn_days: int) -> Urgency:
    """Red once overdue, yellow while at most ``warn_days`` days remain (the due day
    itself included), ok before."""
    if warn_days < 0:
        raise DeadlineInputError("提醒天数不能为负数。")
    if is_overdue(due, today):
        return Urgency.red
    return Urgency.yellow if (due - today).days <= warn_days else Urgency.ok


# --------------------------------------------------------------------------- computing


def _profile(profile: Profile | str) -> Profile:
    if isinstance(profile, Profile):
        return profile
    found = PROFILES.get(profile)
    if found is None:
        raise DeadlineInputError(f"未知的期限规则“{profile}”，可选：{'、'.join(PROFILES)}。")
    return found


def _clock(clock: ClockName | str) -> ClockName:
    try:
        return ClockName(clock)
    except ValueError:
        names = "、".join(c.value for c in ClockName)
        raise DeadlineInputError(f"未知的期限“{clock}”，可选：{names}。") from None


def _extension(profile: Profile, clock: ClockName, wanted: int | None) -> int:
    """《信访工作条例》第三十四条 (≤30 日) / 《浙江省信访条例》第二十三条 (≤60 日):
    only the handling period is extended, once, by at most the profile's maximum."""
    if clock not in (ClockName.handle, ClockName.extend):
        if wanted:
            raise DeadlineInputError("只有办理期限可以延长，其他期限不能加延长天数。")
        return 0
    if wanted is None:
        return profile.extension_max if clock is ClockName.extend else 0
    if not 0 <= wanted <= profile.extension_max:
        raise DeadlineInputError(
            f"依据{profile.rule(ClockName.extend).article}，延长期限为 0 至 "
            f"{profile.extension_max} 日，不能是 {wanted} 日。"
        )
    return wanted


def _pause(rule: ClockRule, paused: int) -> int:
    """《信访工作条例》第三十六条第二款: hearing time is excluded for 复核 only."""
    if paused < 0:
        raise DeadlineInputError("听证天数不能为负数。")
    if paused and not rule.pausable:
        raise DeadlineInputError(
            "只有复核意见期限可以扣除听证所需时间（《信访工作条例》第三十六条）。"
        )
    if paused > MAX_PAUSED_DAYS:
        raise DeadlineInputError(f"听证天数不能超过 {MAX_PAUSED_DAYS} 日。")
    return paused


def _base_days(profile: Profile, clock: ClockName) -> int:
    """An extension lengthens the handling period from the same start (第三十四条)."""
    if clock is ClockName.extend:
        return profile.rule(ClockName.handle).days
    return profile.rule(clock).days


def _adjusted_workdays(calendar: WorkCalendar, start: dt.date, due: dt.date) -> list[DayInfo]:
    span = (start + dt.timedelta(days=k) for k in range(1, (due - start).days + 1))
    return [calendar.describe(d) for d in span if d.weekday() >= 5 and calendar.is_workday(d)]


def _count(
    calendar: WorkCalendar, counting: DayCount, start: dt.date, period: int
) -> tuple[dt.date, list[DayInfo], list[DayInfo], list[int]]:
    """Due date, rest days skipped, 调休 workdays counted, provisional years involved.

    Working days: every day after the start matters.  Calendar days: only the last day and
    the rest days the roll passes over (民法典第二百零三条) depend on the calendar.
    """
    if counting is DayCount.working:
        due = calendar.add_working_days(start, period)
        return (
            due,
            calendar.rest_days_between(start, due),
            _adjusted_workdays(calendar, start, due),
            calendar.provisional_years(start, due),
        )
    due = calendar.add_days(start, period)
    before_end = start + dt.timedelta(days=period - 1)
    return (
        due,
        calendar.rest_days_between(before_end, due),
        [],
        calendar.provisional_years(before_end, due),
    )


def due_date(
    calendar: WorkCalendar,
    profile: Profile | str,
    clock: ClockName | str,
    start: dt.date,
    *,
    extension_days: int | None = None,
    paused_days: int = 0,
) -> Deadline:
    """The due date of ``clock`` started on ``start`` under ``profile``.

    Counting per 民法典第二百零一条 (the start day is not counted) and 第二百零三条 (a last
    day on a rest day moves to the next working day); the period of each clock and its
    article are in the profile.  ``extend`` is the handling period extended by
    ``extension_days`` (the maximum when not given, 《信访工作条例》第三十四条 /
    《浙江省信访条例》第二十三条), counted as one period from the acceptance and rolled
    once at its end.  ``paused_days`` (hearing, 听证) lengthen ``recheck_decision`` only
    (《信访工作条例》第三十六条).  Refusals raise :class:`DeadlineInputError`.
    """
    chosen, name = _profile(profile), _clock(clock)
    rule = chosen.rule(name)
    extension = _extension(chosen, name, extension_days)
    paused = _pause(rule, paused_days)
    base = _base_days(chosen, name)
    due, skipped, adjusted, provisional = _count(
        calendar, rule.counting, start, base + extension + paused
    )
    return Deadline(
        profile=chosen,
        clock=name,
        start=start,
        due=due,
        days=base,
        extension_days=extension,
        paused_days=paused,
        rest_days_skipped=tuple(skipped),
        adjusted_workdays=tuple(adjusted),
        provisional_years=tuple(provisional),
    )


# --------------------------------------------------------------------------- text input

_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAYS: Final = re.compile(r"[0-9]{1,4}")


def _start(text: str | None) -> dt.date:
    wanted = (text or "").strip()
    if not wanted:
        raise DeadlineInputError("请填写起算日期。")
    try:
        if not _DATE.fullmatch(wanted):
            raise ValueError(wanted)
        start = dt.date.fromisoformat(wanted)
    except ValueError:
        raise DeadlineInputError(
            f"起算日期“{wanted}”不是有效日期，请按 YYYY-MM-DD 填写。"
        ) from None
    if not FIRST_START <= start <= LAST_START:
        raise DeadlineInputError(
            f"起算日期应在 {FIRST_START.isoformat()} 至 {LAST_START.isoformat()} 之间。"
        )
    return start


def _days(text: str | None, what: str) -> int | None:
    wanted = (text or "").strip()
    if not wanted:
        return None
    if not _DAYS.fullmatch(wanted):
        raise DeadlineInputError(f"{what}应填写 0 至 9999 之间的整数天数，不能是“{wanted}”。")
    return int(wanted)


def deadline_from_text(
    calendar: WorkCalendar,
    profile: str,
    clock: str | None,
    start: str | None,
    extension: str | None = None,
    paused: str | None = None,
) -> Deadline:
    """:func:`due_date` from what a form or a query string gives; empty means not given."""
    if not (clock or "").strip():
        raise DeadlineInputError("请选择要计算的期限。")
    return due_date(
        calendar,
        profile.strip(),
        (clock or "").strip(),
        _start(start),
        extension_days=_days(extension, "延长天数"),
        paused_days=_days(paused, "听证天数") or 0,
    )


# --------------------------------------------------------------------------- explaining


def day_name(info: DayInfo) -> str:
    """The calendar's name of a rest day, without nested brackets: 春节补假."""
    name = info.name or "休息日"
    return name.replace(COMPENSATORY_SUFFIX, COMPENSATORY_SUFFIX.strip("（）"))


def _runs(days: Iterable[DayInfo]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days of the same name as (first, last, name)."""
    runs: list[tuple[dt.date, dt.date, str]] = []
    for info in days:
        name = day_name(info)
        if runs and runs[-1][2] == name and runs[-1][1] + dt.timedelta(days=1) == info.day:
            runs[-1] = (runs[-1][0], info.day, name)
        else:
            runs.append((info.day, info.day, name))
    return runs


def describe_days(days: Iterable[DayInfo]) -> str:
    """“2026-10-01至2026-10-07（国庆节）、2026-10-10（周末）”."""
    return "、".join(
        f"{first.isoformat()}（{name}）"
        if first == last
        else f"{first.isoformat()}至{last.isoformat()}（{name}）"
        for first, last, name in _runs(days)
    )


def _period_phrase(d: Deadline) -> str:
    if d.extension_days:
        return f"办理期限 {d.days} 日经批准延长 {d.extension_days} 日，共 {d.period_days} 日，"
    if d.paused_days:
        return f"{d.days} 日另加听证所需 {d.paused_days} 日（不计入期限），共 {d.period_days} 日，"
    return f"{d.days} {d.rule.unit}"


def _calendar_sentence(d: Deadline) -> str:
    end = d.nominal_end.isoformat()
    if d.due == d.nominal_end:
        return f"{_period_phrase(d)}届满于 {end}，该日为工作日。"
    first = day_name(d.rest_days_skipped[0])
    return (
        f"{_period_phrase(d)}届满于 {end}，该日为{first}休息日；"
        f"跳过 {describe_days(d.rest_days_skipped)}，"
        f"顺延至 {d.due.isoformat()}（{CIVIL_CODE_END}）。"
    )


def _working_sentence(d: Deadline) -> str:
    counted = ""
    if d.adjusted_workdays:
        dates = "、".join(i.day.isoformat() for i in d.adjusted_workdays)
        counted = f"，其中 {dates} 为调休上班日，计为工作日"
    skipped = (
        f"，跳过休息日 {describe_days(d.rest_days_skipped)}"
        if d.rest_days_skipped
        else "，其间没有休息日"
    )
    return f"按工作日计算 {_period_phrase(d).rstrip('，')}{counted}{skipped}，届满于 {d.due.isoformat()}。"


def _basis(d: Deadline) -> str:
    rule = d.rule
    text = f"依据{rule.article}：“{rule.quote}”。"
    if rule.via:
        text += f"（{rule.via.rstrip('。')}。）"
    if rule.note:
        text += f"{rule.note}。"
    return text


def explain(d: Deadline) -> str:
    """How the due date was computed, in one paragraph, naming 民法典第二百零一条、
    第二百零三条 and the article of the clock."""
    opening = (
        f"{d.rule.label}：自 {d.start.isoformat()}（{d.rule.starts_from}）起算，"
        f"当日不计入（{CIVIL_CODE_START}），"
    )
    counting = _working_sentence(d) if d.counting is DayCount.working else _calendar_sentence(d)
    return opening + counting + _basis(d) + d.provisional_warning
