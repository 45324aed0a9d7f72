"""Pure rules of cases: the transition table, recusal, the red/black list and its chart."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ownership import charts, ranking, recusal, workflow
from app.ownership.models import FINISHED_STATUSES, OPEN_CASE
from app.ownership.ranking import Counts, Metric, Standing
from app.ownership.workflow import CaseStatus as S


def test_every_status_but_the_finished_ones_has_a_way_forward() -> None:
    for status in workflow.OPEN:
        assert workflow.next_statuses(status), status
    for status in workflow.FINISHED:
        assert workflow.next_statuses(status) == []


def test_the_open_case_indexes_leave_out_exactly_the_finished_statuses() -> None:
    assert set(FINISHED_STATUSES) == {str(s) for s in workflow.FINISHED}
    for status in FINISHED_STATUSES:
        assert f"'{status}'" in OPEN_CASE.text


def test_every_open_status_can_reach_an_end() -> None:
    reachable = {S.registered}
    frontier = [S.registered]
    while frontier:
        for nxt in workflow.next_statuses(frontier.pop()):
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(S)


def test_it_refuses_a_reply_before_acceptance_and_says_what_is_allowed() -> None:
    with pytest.raises(workflow.IllegalTransition) as refused:
        workflow.step(S.registered, S.replied)
    assert "已登记" in str(refused.value) and "已受理" in str(refused.value)


def test_a_closed_case_cannot_be_reopened() -> None:
    with pytest.raises(workflow.IllegalTransition, match="可以改为：无"):
        workflow.step(S.closed, S.in_progress)


def test_acceptance_stops_the_routing_clocks_and_starts_handling() -> None:
    step = workflow.step(S.registered, S.accepted)
    assert step.stops == {"route", "accept"} and step.starts == ("handle",)


def test_a_reply_starts_the_review_window() -> None:
    assert workflow.step(S.in_progress, S.replied).starts == ("review_request",)
    assert workflow.step(S.reviewed, S.recheck_requested).starts == ("recheck_decision",)


def test_closing_stops_every_clock() -> None:
    assert workflow.step(S.replied, S.closed).stops == workflow.ALL_CLOCKS


def test_only_uncontested_replies_close_by_job() -> None:
    assert dict(workflow.CLOSES_WHEN_LAPSED) == {
        S.replied: "review_request",
        S.reviewed: "recheck_request",
    }


def test_each_routing_outcome_leads_to_its_status() -> None:
    assert workflow.OUTCOME_STATUS[workflow.Outcome.assign] is S.routed
    assert workflow.OUTCOME_STATUS[workflow.Outcome.redirect] is S.not_accepted
    assert workflow.OUTCOME_STATUS[workflow.Outcome.not_re_accept] is S.not_re_accepted


# --------------------------------------------------------------------------- recusal

ACCUSED = recusal.Accused.of(persons=[7], units=[30])


def test_the_accused_official_is_recused() -> None:
    assert recusal.recused(recusal.Viewer(7, frozenset()), ACCUSED)


def test_someone_holding_a_post_at_the_accused_unit_is_recused() -> None:
    assert recusal.recused(recusal.Viewer(8, frozenset({30, 1})), ACCUSED)


def test_an_uninvolved_official_is_not_recused() -> None:
    assert not recusal.recused(recusal.Viewer(8, frozenset({1, 2})), ACCUSED)
    assert not recusal.recused(recusal.Viewer(None, frozenset()), ACCUSED)


def test_an_accused_official_or_unit_cannot_own_or_be_assigned() -> None:
    assert not recusal.may_own(7, 1, ACCUSED)
    assert not recusal.may_own(8, 30, ACCUSED)
    assert recusal.may_own(8, 1, ACCUSED)
    assert not recusal.may_be_assigned(30, ACCUSED)
    assert recusal.may_be_assigned(31, ACCUSED)


# --------------------------------------------------------------------------- red/black list

GOOD = Counts(
    decisions=10,
    timely_decisions=10,
    replies=10,
    rated_replies=10,
    timed_replies=10,
    on_time_replies=10,
    rated=10,
    satisfied=9,
    basically=1,
    receptions=10,
    on_the_spot=9,
)
POOR = Counts(
    decisions=10,
    timely_decisions=4,
    replies=10,
    rated_replies=2,
    timed_replies=10,
    on_time_replies=3,
    rated=2,
    satisfied=0,
    basically=1,
    receptions=10,
    on_the_spot=5,
)


def test_rates_are_the_documented_ratios() -> None:
    rates = ranking.rates(POOR)
    assert rates[Metric.timely_acceptance].value == 0.4
    assert rates[Metric.on_time_reply].value == 0.3
    assert rates[Metric.participation].value == 0.2
    assert rates[Metric.satisfaction].value == 0.5
    assert rates[Metric.on_the_spot].value == 0.5


def test_basically_satisfied_counts_as_satisfied_unless_configured_otherwise() -> None:
    strict = ranking.Rules(basically_is_satisfied=False)
    assert ranking.rates(POOR)[Metric.satisfaction].value == 0.5
    assert ranking.rates(POOR, strict)[Metric.satisfaction].value == 0.0


def test_a_rate_without_cases_is_left_out_of_the_index() -> None:
    only_receptions = Counts(receptions=4, on_the_spot=3)
    assert ranking.index(ranking.rates(only_receptions)) == 0.75


def test_the_best_is_on_the_red_list_and_the_worst_on_the_black_list() -> None:
    rows = ranking.rank([(1, "乙镇", POOR), (2, "甲镇", GOOD), (3, "丙镇", Counts(decisions=1))])
    assert [(r.name, r.rank, r.standing) for r in rows] == [
        ("甲镇", 1, Standing.red),
        ("乙镇", 2, Standing.black),
        ("丙镇", None, Standing.unranked),
    ]


def test_counts_add_up_field_by_field() -> None:
    assert (GOOD + POOR).decisions == 20 and (GOOD + POOR).on_the_spot == 14


def test_percentages_read_as_people_expect() -> None:
    assert ranking.percent(ranking.Rate(1, 3)) == "33.3%"
    assert ranking.percent(ranking.Rate(0, 0)) == "—"


def test_the_chart_is_self_contained_svg_with_every_label() -> None:
    svg = charts.bars("按期办结率", [charts.Bar("东山镇", 0.5, "red"), charts.Bar("<西山>", None)])
    assert (
        svg.startswith("<svg")
        and "<script" not in svg
        and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert "东山镇" in svg and "50.0%" in svg and "&lt;西山&gt;" in svg and "—" in svg


def test_a_countys_file_changes_weights_and_cut_offs_on_top_of_the_defaults() -> None:
    rules = ranking.rules_from_json(
        b'{"weights": {"satisfaction": 40, "on_the_spot": 0}, "red_at": 95, "black_below": 50}'
    )
    assert rules.weights[Metric.satisfaction] == 40 and rules.weights[Metric.on_the_spot] == 0
    assert rules.weights[Metric.on_time_reply] == 30
    assert (rules.red_at, rules.black_below) == (0.95, 0.5)
    assert rules.min_items == ranking.DEFAULT_RULES.min_items


@pytest.mark.parametrize(
    "bad",
    [
        b'{"weights": {"speed": 10}}',
        b'{"weights": {"satisfaction": -1}}',
        b'{"red_at": 50, "black_below": 60}',
        b'{"colour": "red"}',
        b"not json",
    ],
)
def test_a_bad_rules_file_is_refused_with_a_reason(bad: bytes) -> None:
    with pytest.raises(ValueError, match="红黑榜"):
        ranking.rules_from_json(bad)


def test_the_best_and_the_worst_three_are_listed_whatever_their_index() -> None:
    middling = Counts(decisions=10, timely_decisions=8)
    named = [(i, f"{i:02d}镇", Counts(decisions=10, timely_decisions=6 + i % 3)) for i in range(12)]
    rows = ranking.rank([*named, (99, "甲镇", middling)])
    standings = [r.standing for r in rows]
    assert standings[:3] == [Standing.red] * 3 and standings[-3:] == [Standing.black] * 3
    assert set(standings[3:-3]) == {Standing.middle}


def test_a_short_list_is_drawn_by_the_cut_offs_alone() -> None:
    middling = Counts(decisions=10, timely_decisions=8)
    rows = ranking.rank([(1, "甲镇", middling), (2, "乙镇", middling)])
    assert [r.standing for r in rows] == [Standing.middle, Standing.middle]


def test_a_case_counts_its_stopped_clocks_reply_and_rating_as_graded_facts() -> None:
    march = [dt.date(2026, 3, d) for d in range(1, 32)]
    stopped = [
        ("route", march[2], march[16]),  # not on the list
        ("accept", march[3], march[16]),  # in time
        ("handle", march[19], march[18]),  # a day late
        ("extend", march[19], march[29]),
    ]
    facts = ranking.case_facts(stopped, march[19], "basically", march[20])
    F = ranking.Fact
    assert [(f.fact, f.day, f.grade) for f in facts] == [
        (F.accept, march[3], 1),
        (F.timed, march[19], 0),
        (F.timed, march[19], 1),
        (F.reply, march[19], 1),
        (F.rating, march[20], 1),
    ]
    unrated = ranking.case_facts([], march[19], None, None)
    assert [(f.fact, f.grade) for f in unrated] == [(F.reply, 0)]


def test_facts_add_up_to_the_counts_the_rates_are_made_of() -> None:
    F = ranking.Fact
    facts = [(F.accept, 1)] * 3 + [(F.accept, 0), (F.timed, 1), (F.timed, 1), (F.reply, 0)]
    facts += [(F.reply, 0), (F.reply, 1), (F.rating, 2), (F.rating, 0)]
    counted = {
        field: sum(1 for fact, g in facts if fact == kind and grade in (None, g))
        for field, (kind, grade) in ranking.FACT_FIELDS.items()
    }
    tallies = ranking.Tallies()
    tallies.add(7, counted)
    tallies.add(7, {"receptions": 2, "on_the_spot": 1})
    assert tallies.counts() == {
        7: Counts(
            decisions=4,
            timely_decisions=3,
            timed_replies=2,
            on_time_replies=2,
            replies=3,
            rated_replies=1,
            rated=2,
            satisfied=1,
            receptions=2,
            on_the_spot=1,
        )
    }


def test_a_case_counts_once_for_its_unit_and_once_per_answering_owner() -> None:
    day = dt.date(2026, 3, 4)
    facts = [ranking.CaseFact(ranking.Fact.accept, day, 1)]
    keyed = ranking.keyed_facts(facts, unit=40, persons=[9, 5, 9])
    assert [(k.board, k.key) for k in keyed] == [("unit", 40), ("leader", 5), ("leader", 9)]
    assert ranking.keyed_facts(facts, unit=40, persons=[]) == [
        ranking.Keyed("unit", 40, "accept", day, 1)
    ]


def test_rewriting_a_cases_facts_changes_only_the_monthly_totals_that_differ() -> None:
    K = ranking.Keyed
    march, april = dt.date(2026, 3, 31), dt.date(2026, 4, 1)
    old = [K("unit", 40, "accept", march, 1), K("leader", 5, "accept", march, 1)]
    # The accept clock recomputed (its day moves into April), the owner 5 replaced by 6.
    new = [
        K("unit", 40, "accept", april, 1),
        K("leader", 6, "accept", april, 1),
        K("leader", 6, "reply", april, 0),
    ]
    assert ranking.total_changes(old, new) == [
        ((dt.date(2026, 3, 1), "leader", 5, "accept", 1), -1),
        ((dt.date(2026, 3, 1), "unit", 40, "accept", 1), -1),
        ((april, "leader", 6, "accept", 1), 1),
        ((april, "leader", 6, "reply", 0), 1),
        ((april, "unit", 40, "accept", 1), 1),
    ]
    moved = [K("leader", 5, "reply", march, 0)], [K("leader", 5, "reply", dt.date(2026, 3, 2), 0)]
    assert ranking.total_changes(*moved) == []


def test_a_quarter_is_its_three_months_and_a_ragged_period_has_edges() -> None:
    d = dt.date
    assert ranking.split_period(d(2026, 7, 1), d(2026, 9, 30)) == (
        (d(2026, 7, 1), d(2026, 9, 1)),
        [],
    )
    assert ranking.split_period(d(2026, 7, 15), d(2026, 9, 10)) == (
        (d(2026, 8, 1), d(2026, 8, 1)),
        [(d(2026, 7, 15), d(2026, 7, 31)), (d(2026, 9, 1), d(2026, 9, 10))],
    )
    assert ranking.split_period(d(2026, 2, 3), d(2026, 2, 28)) == (
        None,
        [(d(2026, 2, 3), d(2026, 2, 28))],
    )
    assert ranking.split_period(d(2026, 12, 1), d(2027, 1, 31)) == (
        (d(2026, 12, 1), d(2027, 1, 1)),
        [],
    )


@given(st.dates(dt.date(2024, 1, 1), dt.date(2028, 12, 31)), st.integers(0, 400))
def test_months_and_edges_cover_every_day_of_a_period_once(start: dt.date, length: int) -> None:
    end = start + dt.timedelta(days=length)
    split = ranking.split_period(start, end)
    days = [a + dt.timedelta(days=i) for a, b in split.edges for i in range((b - a).days + 1)]
    if split.months:
        first, last = split.months
        month = first
        while month <= last:
            days += [
                month + dt.timedelta(days=i)
                for i in range(31)
                if (month + dt.timedelta(days=i)).month == month.month
            ]
            month = ranking.month_of(month + dt.timedelta(days=32))
    assert sorted(days) == [start + dt.timedelta(days=i) for i in range(length + 1)]
