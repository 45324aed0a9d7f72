from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.workdays import OfficialYear, WorkCalendar
from app.ownership.deadlines import (
    NATIONAL_2022,
    PROFILES,
    ZHEJIANG_2016,
    ClockName,
    DayCount,
    DeadlineInputError,
    Profile,
    Urgency,
    deadline_from_text,
    due_date,
    is_overdue,
    profile_for_jurisdiction,
    urgency,
)

CAL = WorkCalendar.china()
NATIONAL = "national-2022"
ZHEJIANG = "zhejiang-2016"
REFERENCE = Path(os.environ.get("JIEFANG_REFERENCE_DIR", "/work/shared/reference"))
REFERENCE_FILES = {
    "《信访工作条例》": "xinfang-gongzuo-tiaoli-2022.md",
    "《浙江省信访条例》": "zhejiang-xinfang-tiaoli-2016.md",
}


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> set[date]:
    start, end = d(first), d(last)
    return {start + timedelta(days=k) for k in range((end - start).days + 1)}


def plausible_notice_2027() -> OfficialYear:
    """Made up for the tests, in the shape of a State Council notice; not the real 2027 one.

    春节 2月5日（除夕）至13日放假调休、共9天，2月20日（星期六）上班: unlike the provisional
    year (2月5日至10日, no 调休), 2月11日至13日 are rest days.
    """
    rest = {
        **dict.fromkeys(days("2027-01-01", "2027-01-03"), "元旦"),
        **dict.fromkeys(days("2027-02-05", "2027-02-13"), "春节"),
        **dict.fromkeys(days("2027-04-03", "2027-04-05"), "清明节"),
        **dict.fromkeys(days("2027-05-01", "2027-05-05"), "劳动节"),
        **dict.fromkeys(days("2027-06-09", "2027-06-09"), "端午节"),
        **dict.fromkeys(days("2027-09-15", "2027-09-15"), "中秋节"),
        **dict.fromkeys(days("2027-10-01", "2027-10-07"), "国庆节"),
    }
    working = {d(x) for x in ("2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09")}
    return OfficialYear(
        year=2027,
        rest_days=frozenset(rest),
        working_days=frozenset(working),
        source="国办发明电〔2026〕X号（测试用）",
        names=rest,
    )


# --------------------------------------------------------------------------- known answers


def test_it_rolls_handle_past_national_day() -> None:
    deadline = due_date(CAL, NATIONAL, ClockName.handle, d("2026-08-02"))
    assert deadline.due == d("2026-10-08")
    assert deadline.nominal_end == d("2026-10-01")
    assert [i.day for i in deadline.rest_days_skipped] == sorted(days("2026-10-01", "2026-10-07"))
    assert {i.name for i in deadline.rest_days_skipped} == {"国庆节"}
    assert not deadline.provisional


def test_it_keeps_a_handle_deadline_that_lands_on_a_working_day() -> None:
    deadline = due_date(CAL, NATIONAL, "handle", d("2026-01-10"))
    assert deadline.due == d("2026-03-11")
    assert deadline.rest_days_skipped == ()


def test_zhejiang_accepts_within_five_working_days_across_the_spring_festival() -> None:
    # 2-13 (Fri) 1, 2-14 (调休 Saturday) 2, 2-15..2-23 春节, 2-24 3, 2-25 4, 2-26 5.
    deadline = due_date(CAL, ZHEJIANG, ClockName.accept, d("2026-02-12"))
    assert deadline.due == d("2026-02-26")
    assert deadline.counting is DayCount.working
    assert [i.day for i in deadline.adjusted_workdays] == [d("2026-02-14")]
    assert {i.day for i in deadline.rest_days_skipped} == days("2026-02-15", "2026-02-23")


def test_zhejiang_counts_the_adjusted_saturday_after_the_spring_festival() -> None:
    # 2-25, 2-26, 2-27, 2-28 (调休 Saturday), then Sunday 3-01 is skipped: 3-02.
    deadline = due_date(CAL, ZHEJIANG, ClockName.accept, d("2026-02-24"))
    assert deadline.due == d("2026-03-02")
    assert [i.day for i in deadline.adjusted_workdays] == [d("2026-02-28")]
    assert [i.day for i in deadline.rest_days_skipped] == [d("2026-03-01")]


def test_an_extension_lengthens_the_handling_period_from_the_same_start() -> None:
    # 60 + 30 = 90 days from 8-02 is Saturday 10-31: rolled once, to Monday 11-02.
    deadline = due_date(CAL, NATIONAL, ClockName.extend, d("2026-08-02"), extension_days=30)
    assert deadline.due == d("2026-11-02")
    assert (deadline.days, deadline.extension_days, deadline.period_days) == (60, 30, 90)
    assert deadline.nominal_end == d("2026-10-31")


def test_an_extension_is_rolled_once_at_its_end_not_after_the_original_period() -> None:
    # Rolling the 60-day end first (10-08) and adding 30 would give 11-07 → 11-09.
    deadline = due_date(CAL, NATIONAL, ClockName.extend, d("2026-08-02"))
    assert deadline.due == d("2026-11-02")


def test_extend_defaults_to_the_profiles_maximum() -> None:
    national = due_date(CAL, NATIONAL, ClockName.extend, d("2026-03-02"))
    zhejiang = due_date(CAL, ZHEJIANG, ClockName.extend, d("2026-03-02"))
    assert national.extension_days == NATIONAL_2022.extension_max == 30
    assert zhejiang.extension_days == ZHEJIANG_2016.extension_max == 60
    assert zhejiang.period_days == 90  # 30 + 60
    assert zhejiang.due == d("2026-06-01")  # 5-31 is a Sunday


def test_an_extension_may_be_shorter_than_the_maximum() -> None:
    deadline = due_date(CAL, ZHEJIANG, ClockName.extend, d("2026-03-02"), extension_days=15)
    assert deadline.period_days == 45
    assert deadline.due == d("2026-04-16")


def test_handle_can_carry_an_approved_extension_too() -> None:
    plain = due_date(CAL, NATIONAL, ClockName.handle, d("2026-08-02"), extension_days=30)
    assert plain.due == due_date(CAL, NATIONAL, ClockName.extend, d("2026-08-02")).due


def test_a_2027_deadline_is_provisional_until_the_notice_is_entered() -> None:
    provisional = due_date(CAL, NATIONAL, ClockName.handle, d("2026-12-10"))
    assert provisional.nominal_end == d("2027-02-08")
    # Provisional 2027: 春节 2-05..2-08, 补假 2-09 and 2-10, back to work on 2-11.
    assert provisional.due == d("2027-02-11")
    assert provisional.provisional_years == (2027,)
    assert "2027 年节假日安排尚未公布，本期限按暂定日历计算" in provisional.explanation

    official = CAL.with_official([plausible_notice_2027()])
    final = due_date(official, NATIONAL, ClockName.handle, d("2026-12-10"))
    # The notice rests through 2-13 (Saturday); Sunday 2-14 is no 调休 day: Monday 2-15.
    assert final.due == d("2027-02-15")
    assert not final.provisional
    assert final.provisional_warning == ""
    assert "暂定" not in final.explanation


def test_a_working_day_clock_moves_when_the_2027_notice_is_entered() -> None:
    provisional = due_date(CAL, ZHEJIANG, ClockName.accept, d("2027-02-03"))
    assert provisional.due == d("2027-02-16")
    assert provisional.provisional
    final = due_date(
        CAL.with_official([plausible_notice_2027()]), ZHEJIANG, ClockName.accept, d("2027-02-03")
    )
    assert final.due == d("2027-02-18")
    assert not final.provisional


def test_a_calendar_period_is_provisional_only_where_its_end_touches_2027() -> None:
    # 12-01 + 30 = 12-31 (Thursday, a working day): nothing of 2027 decides this date.
    deadline = due_date(CAL, NATIONAL, ClockName.review_request, d("2026-12-01"))
    assert deadline.due == d("2026-12-31")
    assert not deadline.provisional


# --------------------------------------------------------------------------- every clock

NATIONAL_ANSWERS = [
    # clock, start, due, days, counting
    ("route", "2026-03-02", "2026-03-17", 15, DayCount.calendar),
    ("accept", "2026-09-16", "2026-10-08", 15, DayCount.calendar),  # 10-01 rolled
    # 9-29, 9-30, (国庆节 10-01..10-07), 10-08, 10-09 and the 调休 Saturday 10-10.
    ("object", "2026-09-28", "2026-10-10", 5, DayCount.working),
    ("handle", "2026-08-02", "2026-10-08", 60, DayCount.calendar),
    ("extend", "2026-08-02", "2026-11-02", 60, DayCount.calendar),
    ("review_request", "2026-09-01", "2026-10-08", 30, DayCount.calendar),
    ("recheck_request", "2026-04-01", "2026-05-06", 30, DayCount.calendar),  # 5-01 劳动节
    ("review_decision", "2026-03-02", "2026-04-01", 30, DayCount.calendar),
    ("recheck_decision", "2026-06-01", "2026-07-01", 30, DayCount.calendar),
]

ZHEJIANG_ANSWERS = [
    ("route", "2026-09-28", "2026-10-10", 5, DayCount.working),  # 10-10: a 调休 Saturday
    ("accept", "2026-02-12", "2026-02-26", 5, DayCount.working),
    ("object", "2026-03-02", "2026-03-09", 5, DayCount.working),
    ("handle", "2026-09-01", "2026-10-08", 30, DayCount.calendar),
    ("extend", "2026-03-02", "2026-06-01", 30, DayCount.calendar),
    ("review_request", "2026-03-02", "2026-04-01", 30, DayCount.calendar),
    ("recheck_request", "2026-09-01", "2026-10-08", 30, DayCount.calendar),
    ("review_decision", "2026-04-01", "2026-05-06", 30, DayCount.calendar),
    ("recheck_decision", "2026-03-02", "2026-04-01", 30, DayCount.calendar),
]


@pytest.mark.parametrize(("clock", "start", "due", "n", "counting"), NATIONAL_ANSWERS)
def test_every_national_clock_gives_its_known_answer(
    clock: str, start: str, due: str, n: int, counting: DayCount
) -> None:
    deadline = due_date(CAL, NATIONAL, clock, d(start))
    assert (deadline.due, deadline.days, deadline.counting) == (d(due), n, counting)
    assert deadline.article.startswith("《信访工作条例》")


@pytest.mark.parametrize(("clock", "start", "due", "n", "counting"), ZHEJIANG_ANSWERS)
def test_every_zhejiang_clock_gives_its_known_answer(
    clock: str, start: str, due: str, n: int, counting: DayCount
) -> None:
    deadline = due_date(CAL, ZHEJIANG, clock, d(start))
    assert (deadline.due, deadline.days, deadline.counting) == (d(due), n, counting)


def test_the_zhejiang_route_count_takes_the_adjusted_saturday_after_national_day() -> None:
    deadline = due_date(CAL, ZHEJIANG, ClockName.route, d("2026-09-28"))
    assert [i.day for i in deadline.adjusted_workdays] == [d("2026-10-10")]


def test_both_profiles_have_exactly_the_named_clocks() -> None:
    names = {c.value for c in ClockName}
    assert names == {
        "route",
        "accept",
        "object",
        "handle",
        "extend",
        "review_request",
        "recheck_request",
        "review_decision",
        "recheck_decision",
    }
    for profile in PROFILES.values():
        assert set(profile.clocks) == set(ClockName)


def test_zhejiang_sets_its_own_routing_acceptance_and_handling_periods() -> None:
    zj = ZHEJIANG_2016.clocks
    assert (zj[ClockName.route].days, zj[ClockName.route].counting) == (5, DayCount.working)
    assert (zj[ClockName.accept].days, zj[ClockName.accept].counting) == (5, DayCount.working)
    assert zj[ClockName.handle].days == 30
    assert zj[ClockName.extend].days == 60
    assert zj[ClockName.route].article == "《浙江省信访条例》第二十条"
    assert zj[ClockName.handle].article == "《浙江省信访条例》第二十三条"


def test_zhejiang_inherits_the_national_review_clocks_through_its_article_24() -> None:
    for clock in ("review_request", "review_decision", "recheck_request", "recheck_decision"):
        rule = ZHEJIANG_2016.rule(ClockName(clock))
        national = NATIONAL_2022.rule(ClockName(clock))
        assert (rule.days, rule.article, rule.quote) == (
            national.days,
            national.article,
            national.quote,
        )
        assert rule.via.startswith("《浙江省信访条例》第二十四条")


def test_national_handle_names_the_items_it_applies_to() -> None:
    rule = NATIONAL_2022.rule(ClockName.handle)
    assert rule.article == "《信访工作条例》第三十四条"
    assert "第三十一条第六项" in rule.note
    assert "第三十一条第六项" in rule.quote


def test_a_profile_without_every_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks clocks"):
        Profile("partial", "不完整", {ClockName.route: NATIONAL_2022.rule(ClockName.route)})


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the regulation texts are not available")
@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
def test_every_quotation_is_taken_word_for_word_from_its_regulation(profile: Profile) -> None:
    for clock, rule in profile.clocks.items():
        regulation = next(r for r in REFERENCE_FILES if rule.article.startswith(r))
        text = (REFERENCE / REFERENCE_FILES[regulation]).read_text(encoding="utf-8")
        article = rule.article.removeprefix(regulation)
        paragraph = text[text.index(article) :]
        for segment in rule.quote.split("……"):
            assert segment in paragraph, (profile.name, clock, segment)
    via = ZHEJIANG_2016.rule(ClockName.review_request).via
    zhejiang = (REFERENCE / REFERENCE_FILES["《浙江省信访条例》"]).read_text(encoding="utf-8")
    assert via.split("：", 1)[1] in zhejiang


# --------------------------------------------------------------------------- refusals


def test_an_extension_above_the_maximum_is_refused() -> None:
    with pytest.raises(DeadlineInputError, match="0 至 30 日"):
        due_date(CAL, NATIONAL, ClockName.extend, d("2026-03-02"), extension_days=31)
    with pytest.raises(DeadlineInputError, match="0 至 60 日"):
        due_date(CAL, ZHEJIANG, ClockName.extend, d("2026-03-02"), extension_days=61)
    assert due_date(CAL, ZHEJIANG, ClockName.extend, d("2026-03-02"), extension_days=60)


def test_a_negative_extension_is_refused() -> None:
    with pytest.raises(DeadlineInputError):
        due_date(CAL, NATIONAL, ClockName.extend, d("2026-03-02"), extension_days=-1)


def test_only_the_handling_period_can_be_extended() -> None:
    with pytest.raises(DeadlineInputError, match="只有办理期限"):
        due_date(CAL, NATIONAL, ClockName.review_decision, d("2026-03-02"), extension_days=10)
    assert due_date(CAL, NATIONAL, ClockName.route, d("2026-03-02"), extension_days=0)


def test_hearing_time_lengthens_the_recheck_decision() -> None:
    deadline = due_date(CAL, NATIONAL, ClockName.recheck_decision, d("2026-03-02"), paused_days=10)
    assert deadline.period_days == 40
    assert deadline.due == d("2026-04-13")  # 4-11 Saturday
    assert "听证所需 10 日" in deadline.explanation


@pytest.mark.parametrize("clock", [c for c in ClockName if c is not ClockName.recheck_decision])
def test_hearing_time_is_excluded_for_the_recheck_decision_only(clock: ClockName) -> None:
    with pytest.raises(DeadlineInputError, match="第三十六条"):
        due_date(CAL, NATIONAL, clock, d("2026-03-02"), paused_days=3)


def test_a_negative_or_endless_hearing_is_refused() -> None:
    with pytest.raises(DeadlineInputError):
        due_date(CAL, NATIONAL, ClockName.recheck_decision, d("2026-03-02"), paused_days=-1)
    with pytest.raises(DeadlineInputError):
        due_date(CAL, NATIONAL, ClockName.recheck_decision, d("2026-03-02"), paused_days=400)


def test_unknown_profiles_and_clocks_are_refused_in_chinese() -> None:
    with pytest.raises(DeadlineInputError, match="未知的期限规则"):
        due_date(CAL, "guangdong-2014", ClockName.handle, d("2026-03-02"))
    with pytest.raises(DeadlineInputError, match="未知的期限“finish”"):
        due_date(CAL, NATIONAL, "finish", d("2026-03-02"))


def test_a_deadline_input_error_is_a_value_error() -> None:
    assert issubclass(DeadlineInputError, ValueError)


# --------------------------------------------------------------------------- text input


def test_it_reads_a_query_as_the_calculator_sends_it() -> None:
    deadline = deadline_from_text(CAL, NATIONAL, "extend", "2026-08-02", extension="", paused="")
    assert deadline.extension_days == 30
    assert deadline.due == d("2026-11-02")
    short = deadline_from_text(CAL, ZHEJIANG, " extend ", "2026-03-02", extension="15")
    assert short.period_days == 45


@pytest.mark.parametrize(
    ("clock", "start", "extension", "paused", "message"),
    [
        ("", "2026-03-02", None, None, "请选择要计算的期限"),
        ("handle", "", None, None, "请填写起算日期"),
        ("handle", "2026-02-30", None, None, "不是有效日期"),
        ("handle", "20260302", None, None, "不是有效日期"),
        ("handle", "1989-12-31", None, None, "之间"),
        ("handle", "2300-01-01", None, None, "之间"),
        ("extend", "2026-03-02", "abc", None, "延长天数"),
        ("extend", "2026-03-02", "-5", None, "延长天数"),
        ("extend", "2026-03-02", "99999", None, "延长天数"),
        ("recheck_decision", "2026-03-02", None, "1.5", "听证天数"),
    ],
)
def test_it_refuses_text_it_cannot_read(
    clock: str, start: str, extension: str | None, paused: str | None, message: str
) -> None:
    with pytest.raises(DeadlineInputError, match=message):
        deadline_from_text(CAL, NATIONAL, clock, start, extension, paused)


def test_the_jurisdictions_map_to_their_profiles() -> None:
    assert profile_for_jurisdiction("national") == "national-2022"
    assert profile_for_jurisdiction("zhejiang") == "zhejiang-2016"
    with pytest.raises(DeadlineInputError):
        profile_for_jurisdiction("mars")


# --------------------------------------------------------------------------- overdue


def test_a_case_is_not_overdue_on_its_due_day() -> None:
    assert not is_overdue(d("2026-10-08"), d("2026-10-08"))
    assert not is_overdue(d("2026-10-08"), d("2026-10-07"))


def test_a_case_is_overdue_from_the_day_after_its_due_date() -> None:
    assert is_overdue(d("2026-10-08"), d("2026-10-09"))


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        ("2026-10-01", Urgency.ok),
        ("2026-10-04", Urgency.ok),
        ("2026-10-05", Urgency.yellow),  # exactly warn_days left
        ("2026-10-08", Urgency.yellow),  # the due day itself
        ("2026-10-09", Urgency.red),
    ],
)
def test_urgency_turns_yellow_within_the_warning_days_and_red_when_overdue(
    today: str, expected: Urgency
) -> None:
    assert urgency(d("2026-10-08"), d(today), warn_days=3) == expected


def test_urgency_values_are_the_plain_colour_names() -> None:
    assert urgency(d("2026-10-08"), d("2026-10-09"), 3) == "red"
    assert urgency(d("2026-10-08"), d("2026-10-08"), 0) == "yellow"
    assert urgency(d("2026-10-08"), d("2026-10-07"), 0) == "ok"
    with pytest.raises(DeadlineInputError):
        urgency(d("2026-10-08"), d("2026-10-07"), -1)


# --------------------------------------------------------------------------- explanation


def test_the_explanation_names_the_start_the_civil_code_the_roll_and_the_article() -> None:
    text = due_date(CAL, NATIONAL, ClockName.handle, d("2026-08-02")).explanation
    assert "自 2026-08-02（受理之日）起算，当日不计入（民法典第二百零一条）" in text
    assert "60 日届满于 2026-10-01，该日为国庆节休息日" in text
    assert "2026-10-01至2026-10-07（国庆节）" in text
    assert "顺延至 2026-10-08（民法典第二百零三条）" in text
    assert "《信访工作条例》第三十四条" in text
    assert "第三十一条第六项" in text


def test_the_explanation_of_a_working_day_clock_lists_the_skipped_and_adjusted_days() -> None:
    text = due_date(CAL, ZHEJIANG, ClockName.accept, d("2026-02-12")).explanation
    assert "按工作日计算 5 个工作日" in text
    assert "2026-02-14 为调休上班日" in text
    assert "跳过休息日 2026-02-15至2026-02-23（春节）" in text
    assert "届满于 2026-02-26" in text
    assert "《浙江省信访条例》第二十条" in text


def test_the_explanation_of_an_inherited_clock_says_why() -> None:
    text = due_date(CAL, ZHEJIANG, ClockName.recheck_request, d("2026-03-02")).explanation
    assert "《信访工作条例》第三十六条" in text
    assert "《浙江省信访条例》第二十四条" in text


def test_the_explanation_of_an_extension_gives_both_periods() -> None:
    text = due_date(CAL, NATIONAL, ClockName.extend, d("2026-08-02")).explanation
    assert "办理期限 60 日经批准延长 30 日，共 90 日" in text
    assert "跳过 2026-10-31至2026-11-01（周末）" in text


def test_the_explanation_names_compensatory_rest_days_plainly() -> None:
    text = due_date(CAL, NATIONAL, ClockName.handle, d("2026-12-10")).explanation
    assert "2027-02-09至2027-02-10（春节补假）" in text


# --------------------------------------------------------------------------- properties

starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
profiles = st.sampled_from(list(PROFILES.values()))
clocks = st.sampled_from(list(ClockName))


@given(start=starts, profile=profiles, clock=clocks)
def test_a_calendar_clock_never_ends_before_its_period(
    start: date, profile: Profile, clock: ClockName
) -> None:
    deadline = due_date(CAL, profile, clock, start)
    if deadline.counting is DayCount.calendar:
        assert deadline.due >= start + timedelta(days=deadline.period_days)
    assert CAL.is_workday(deadline.due)
    assert all(not info.workday for info in deadline.rest_days_skipped)


@given(start=starts, profile=profiles, extension=st.integers(0, 60), paused=st.integers(0, 90))
def test_an_extended_or_paused_period_lands_on_a_working_day(
    start: date, profile: Profile, extension: int, paused: int
) -> None:
    extended = due_date(
        CAL, profile, ClockName.extend, start, extension_days=min(extension, profile.extension_max)
    )
    paused_deadline = due_date(CAL, profile, ClockName.recheck_decision, start, paused_days=paused)
    for deadline in (extended, paused_deadline):
        assert CAL.is_workday(deadline.due)
        assert deadline.due >= start + timedelta(days=deadline.period_days)
    assert extended.due >= due_date(CAL, profile, ClockName.handle, start).due
