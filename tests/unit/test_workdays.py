from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.workdays import DayInfo, OfficialYear, WorkCalendar

CAL = WorkCalendar.china()


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def weekday_rest_days(cal: WorkCalendar, year: int) -> list[date]:
    return [
        x for x in days(f"{year}-01-01", f"{year}-12-31") if x.weekday() < 5 and cal.is_rest_day(x)
    ]


# --------------------------------------------------------------------------- 2026, published


def test_it_rests_through_national_day_2026() -> None:
    for x in days("2026-10-01", "2026-10-07"):
        info = CAL.describe(x)
        assert not info.workday
        assert info.name == "国庆节"
        assert info.source == "chinesecalendar"
        assert not info.provisional
    assert CAL.is_workday(d("2026-10-08"))


def test_it_rests_through_the_spring_festival_2026() -> None:
    for x in days("2026-02-15", "2026-02-23"):
        assert CAL.is_rest_day(x)
        assert CAL.describe(x).name == "春节"
    assert CAL.is_workday(d("2026-02-24"))


@pytest.mark.parametrize("adjusted", ["2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"])
def test_it_works_on_the_2026_adjusted_weekends(adjusted: str) -> None:
    info = CAL.describe(d(adjusted))
    assert d(adjusted).weekday() >= 5
    assert info.workday
    assert info.name == "调休上班"


def test_it_counts_sixteen_working_days_in_february_2026() -> None:
    # 20 weekdays, less the weekday rest days 2-16..2-20 and 2-23, plus 调休 2-14 and 2-28.
    workdays = [x for x in days("2026-02-01", "2026-02-28") if CAL.is_workday(x)]
    assert len(workdays) == 16
    assert d("2026-02-14") in workdays
    assert d("2026-02-28") in workdays


def test_it_rolls_a_deadline_past_national_day() -> None:
    assert CAL.add_days(d("2026-08-02"), 60) == d("2026-10-08")


def test_it_keeps_a_deadline_that_lands_on_a_working_day() -> None:
    assert CAL.add_days(d("2026-01-10"), 60) == d("2026-03-11")


def test_it_counts_the_adjusted_saturdays_of_the_spring_festival_as_working_days() -> None:
    start = d("2026-02-13")
    assert CAL.add_working_days(start, 1) == d("2026-02-14")
    assert CAL.add_working_days(start, 2) == d("2026-02-24")
    assert CAL.add_working_days(start, 6) == d("2026-02-28")
    assert CAL.add_working_days(start, 7) == d("2026-03-02")


def test_it_counts_five_working_days_across_the_spring_festival() -> None:
    assert CAL.add_working_days(d("2026-02-12"), 5) == d("2026-02-26")


def test_it_explains_a_deadline_with_the_rest_days_it_crossed() -> None:
    crossed = CAL.rest_days_between(d("2026-09-30"), d("2026-10-08"))
    assert [info.day for info in crossed] == days("2026-10-01", "2026-10-07")
    assert {info.name for info in crossed} == {"国庆节"}


def test_it_leaves_the_start_day_out_of_the_rest_days_between() -> None:
    assert CAL.rest_days_between(d("2026-10-01"), d("2026-10-01")) == []
    assert CAL.rest_days_between(d("2026-10-01"), d("2026-10-02"))[0].day == d("2026-10-02")


def test_it_takes_published_years_from_chinesecalendar_exactly_where_the_package_has_data() -> None:
    for year in range(1990, 2041):
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            assert CAL.is_provisional(year), year
        else:
            assert not CAL.is_provisional(year), year


# --------------------------------------------------------------------------- provisional years


def test_it_marks_2027_provisional_and_2026_not() -> None:
    assert CAL.is_provisional(2027)
    assert not CAL.is_provisional(2026)


def test_it_rests_on_the_2027_spring_festival_with_two_compensatory_days() -> None:
    for x in days("2027-02-05", "2027-02-08"):
        assert CAL.describe(x).name == "春节"
    assert CAL.describe(d("2027-02-09")).name == "春节（补假）"
    assert CAL.describe(d("2027-02-10")).name == "春节（补假）"
    assert CAL.is_workday(d("2027-02-11"))


def test_it_compensates_labour_day_and_national_day_2027_on_the_following_weekdays() -> None:
    for x in [*days("2027-05-01", "2027-05-04"), *days("2027-10-01", "2027-10-05")]:
        assert CAL.is_rest_day(x)
    assert CAL.describe(d("2027-05-03")).name == "劳动节（补假）"
    assert CAL.describe(d("2027-10-05")).name == "国庆节（补假）"
    assert CAL.is_workday(d("2027-05-05"))
    assert CAL.is_workday(d("2027-10-06"))


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2027-01-01", "元旦"),
        ("2027-04-05", "清明节"),
        ("2027-06-09", "端午节"),
        ("2027-09-15", "中秋节"),
    ],
)
def test_it_rests_on_the_single_day_holidays_of_2027(day: str, name: str) -> None:
    info = CAL.describe(d(day))
    assert info == DayInfo(d(day), False, name, "provisional", True)


def test_it_gives_2027_exactly_the_weekday_rest_days_the_2024_rules_imply() -> None:
    expected = [
        "2027-01-01",
        "2027-02-05",
        "2027-02-08",
        "2027-02-09",
        "2027-02-10",
        "2027-04-05",
        "2027-05-03",
        "2027-05-04",
        "2027-06-09",
        "2027-09-15",
        "2027-10-01",
        "2027-10-04",
        "2027-10-05",
    ]
    assert weekday_rest_days(CAL, 2027) == [d(x) for x in expected]


def test_it_compensates_mid_autumn_falling_on_national_day() -> None:
    # 2031: 中秋 is 10-01 (Wednesday), so the two holidays share a day.
    assert CAL.describe(d("2031-10-01")).name == "国庆节、中秋节"
    assert CAL.describe(d("2031-10-06")).name == "中秋节（补假）"
    assert CAL.is_workday(d("2031-10-07"))


def test_it_takes_the_new_year_compensation_after_a_weekend_new_years_day() -> None:
    # 2028-01-01 is a Saturday.
    assert CAL.describe(d("2028-01-03")).name == "元旦（补假）"


@pytest.mark.parametrize("year", [1900, 1949, 2003, 2030, 2099, 2100, 2200])
def test_it_answers_for_years_far_outside_chinesecalendar(year: int) -> None:
    assert CAL.is_provisional(year)
    CAL.describe(date(year, 10, 1))
    CAL.add_working_days(date(year, 1, 1), 300)
    assert len(weekday_rest_days(CAL, year)) == 13


def test_it_crosses_into_a_provisional_year() -> None:
    assert CAL.add_working_days(d("2026-12-30"), 3) == d("2027-01-05")
    assert CAL.add_days(d("2026-12-02"), 60) == d("2027-02-01")
    assert CAL.provisional_years(d("2026-12-02"), d("2027-02-01")) == [2027]


def test_it_reports_no_provisional_year_for_an_empty_or_published_range() -> None:
    assert CAL.provisional_years(d("2026-12-31"), d("2026-12-31")) == []
    assert CAL.provisional_years(d("2026-01-01"), d("2026-12-31")) == []
    assert CAL.provisional_years(d("2026-12-31"), d("2029-01-01")) == [2027, 2028, 2029]


# --------------------------------------------------------------------------- official years


def hypothetical_notice_2027() -> OfficialYear:
    # Made up for the test; not the real 2027 notice.
    return OfficialYear(
        year=2027,
        rest_days=frozenset(days("2027-02-05", "2027-02-13")),
        working_days=frozenset({d("2027-02-20")}),
        source="国办发明电〔2026〕X号",
        names={x: "春节" for x in days("2027-02-05", "2027-02-13")},
    )


def test_an_official_year_overrides_the_provisional_one() -> None:
    cal = WorkCalendar.china(official_years=[hypothetical_notice_2027()])
    assert not cal.is_provisional(2027)
    assert cal.describe(d("2027-02-11")) == DayInfo(
        d("2027-02-11"), False, "春节", "official", False
    )
    assert cal.describe(d("2027-02-20")).name == "调休上班"
    assert cal.is_workday(d("2027-02-20"))
    # 清明 is a rest day only because the provisional rules said so.
    assert cal.is_workday(d("2027-04-05"))
    assert cal.describe(d("2027-02-27")).name == "周末"
    assert CAL.is_provisional(2027)


def test_an_official_year_can_be_given_as_a_mapping() -> None:
    cal = WorkCalendar.china(official_years={2027: hypothetical_notice_2027()})
    assert cal.add_working_days(d("2027-02-04"), 1) == d("2027-02-15")


def test_an_official_year_rejects_dates_of_another_year() -> None:
    with pytest.raises(ValueError, match="outside 2019"):
        OfficialYear(2019, frozenset({d("2018-12-31")}), frozenset())


def test_an_official_year_rejects_a_day_both_rest_and_working() -> None:
    with pytest.raises(ValueError, match="both"):
        OfficialYear(2027, frozenset({d("2027-02-20")}), frozenset({d("2027-02-20")}))


def test_it_rejects_the_same_official_year_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        WorkCalendar.china(official_years=[hypothetical_notice_2027(), hypothetical_notice_2027()])


def test_it_rejects_an_official_year_filed_under_the_wrong_key() -> None:
    with pytest.raises(ValueError, match="filed under 2028"):
        WorkCalendar.china(official_years={2028: hypothetical_notice_2027()})


# --------------------------------------------------------------------------- local rest days


def test_local_rest_days_make_a_weekday_a_rest_day() -> None:
    cal = WorkCalendar.china(local_rest_days={d("2026-07-15"): "那达慕"})
    assert CAL.is_workday(d("2026-07-15"))
    assert cal.is_rest_day(d("2026-07-15"))
    assert cal.describe(d("2026-07-15")) == DayInfo(
        d("2026-07-15"), False, "那达慕", "local", False
    )
    assert cal.add_days(d("2026-07-14"), 1) == d("2026-07-16")
    assert cal.add_working_days(d("2026-07-14"), 1) == d("2026-07-16")


def test_local_rest_days_given_as_plain_dates_get_a_generic_name() -> None:
    cal = WorkCalendar.china(local_rest_days=[d("2027-03-03")])
    assert cal.describe(d("2027-03-03")).name == "地方假日"
    assert cal.is_rest_day(d("2027-03-03"))


def test_a_local_rest_day_wins_over_an_adjusted_working_saturday() -> None:
    cal = WorkCalendar.china(local_rest_days={d("2026-02-14"): "地方节日"})
    assert cal.is_rest_day(d("2026-02-14"))


# --------------------------------------------------------------------------- describe, edges


@pytest.mark.parametrize(
    ("day", "workday", "name"),
    [
        ("2026-01-01", False, "元旦"),
        ("2026-04-05", False, "清明节"),
        ("2026-06-19", False, "端午节"),
        ("2026-09-25", False, "中秋节"),
        ("2026-03-07", False, "周末"),
        ("2026-03-09", True, None),
        ("2027-03-06", False, "周末"),
        ("2027-03-08", True, None),
    ],
)
def test_describe_gives_the_holiday_names(day: str, workday: bool, name: str | None) -> None:
    info = CAL.describe(d(day))
    assert (info.workday, info.name) == (workday, name)
    assert info.provisional == (d(day).year == 2027)


def test_a_zero_day_period_returns_the_start_day_unchanged() -> None:
    assert CAL.add_days(d("2026-10-01"), 0) == d("2026-10-01")
    assert CAL.add_working_days(d("2026-10-01"), 0) == d("2026-10-01")


def test_it_rejects_negative_periods() -> None:
    with pytest.raises(ValueError):
        CAL.add_days(d("2026-10-01"), -1)
    with pytest.raises(ValueError):
        CAL.add_working_days(d("2026-10-01"), -1)


def test_it_rejects_a_datetime_whose_date_depends_on_the_time_zone() -> None:
    with pytest.raises(TypeError):
        CAL.is_workday(datetime(2026, 10, 1, 12, 0))


def test_roll_forward_keeps_a_working_day_and_moves_a_rest_day() -> None:
    assert CAL.roll_forward(d("2026-10-09")) == d("2026-10-09")
    assert CAL.roll_forward(d("2026-10-01")) == d("2026-10-08")


# --------------------------------------------------------------------------- properties

starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(start=starts, n=st.integers(min_value=1, max_value=400))
def test_add_days_lands_on_the_first_working_day_from_start_plus_n(start: date, n: int) -> None:
    due = CAL.add_days(start, n)
    nominal = start + timedelta(days=n)
    assert CAL.is_workday(due)
    assert due >= nominal
    assert all(CAL.is_rest_day(nominal + timedelta(days=k)) for k in range((due - nominal).days))


@given(start=starts, n=st.integers(min_value=0, max_value=300))
def test_add_working_days_has_exactly_n_workdays_after_start(start: date, n: int) -> None:
    due = CAL.add_working_days(start, n)
    span = [start + timedelta(days=k) for k in range(1, (due - start).days + 1)]
    assert sum(CAL.is_workday(x) for x in span) == n
    assert n == 0 or CAL.is_workday(due)


@given(day=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31)))
def test_it_agrees_with_chinesecalendar_where_the_package_has_data(day: date) -> None:
    assert CAL.is_workday(day) == chinese_calendar.is_workday(day)


@settings(max_examples=40)
@given(year=st.integers(min_value=2027, max_value=2200))
def test_a_provisional_year_has_thirteen_weekday_rest_days_and_no_adjusted_weekends(
    year: int,
) -> None:
    # 第二条 grants 13 days; 第六条 moves each one that falls on a weekend to a weekday.
    assert len(weekday_rest_days(CAL, year)) == 13
    weekends = [x for x in days(f"{year}-01-01", f"{year}-12-31") if x.weekday() >= 5]
    assert all(CAL.is_rest_day(x) for x in weekends)
