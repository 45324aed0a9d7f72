"""The departure handover's pure rules: which posts need one, who may receive, the order of
signatures, and the dossier's canonical form."""

from __future__ import annotations

import dataclasses
import datetime as dt

import msgspec
import pytest

from app.handover import dossier as d
from app.handover.workflow import (
    DEFAULT_REQUIRED_TITLES,
    HandoverStatus,
    Opening,
    Step,
    awaited_step,
    field_name,
    opening_problem,
    requires_handover,
    status_after,
)

TODAY = dt.date(2026, 3, 2)
EFFECTIVE = dt.date(2026, 3, 16)
FINE = Opening(
    departing_person=1,
    departing_post=10,
    departing_ended=False,
    already_open=False,
    receiver_person=2,
    receiver_post=10,
    receiver_start=EFFECTIVE,
    receiver_end=None,
    interim=False,
    effective_date=EFFECTIVE,
    today=TODAY,
)


def test_a_successor_appointed_to_the_same_post_from_the_effective_date_is_accepted() -> None:
    assert opening_problem(FINE) is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"receiver_person": 1}, "不能是离任领导本人"),
        ({"receiver_post": 11}, "未被任命到离任领导的同一职务"),
        ({"receiver_start": EFFECTIVE + dt.timedelta(days=1)}, "须从离任日期"),
        ({"effective_date": TODAY - dt.timedelta(days=1)}, "不能早于发起交接的日期"),
        ({"already_open": True}, "已有一份正在办理的离任交接"),
        ({"departing_ended": True}, "已经结束"),
        ({"receiver_end": EFFECTIVE}, "接收人的任职在离任日期前已经结束"),
    ],
)
def test_it_refuses_each_rule_with_a_chinese_reason(changes: dict[str, object], words: str) -> None:
    problem = opening_problem(dataclasses.replace(FINE, **changes))  # type: ignore[arg-type]
    assert problem is not None and words in problem


def test_an_interim_owner_may_hold_another_post() -> None:
    assert opening_problem(dataclasses.replace(FINE, interim=True, receiver_post=99)) is None


@pytest.mark.parametrize(
    ("title", "required"),
    [
        ("党委书记", True),
        ("东山镇党委书记", True),
        ("街道党工委书记", True),
        ("县人社局机关党委书记", True),
        ("镇长", False),
        ("副县长", False),
    ],
)
def test_secretaries_need_a_handover_by_title(title: str, required: bool) -> None:
    assert requires_handover(title, DEFAULT_REQUIRED_TITLES, None) is required


def test_an_explicit_mark_on_the_post_wins_over_the_title() -> None:
    assert requires_handover("镇长", DEFAULT_REQUIRED_TITLES, True)
    assert not requires_handover("党委书记", DEFAULT_REQUIRED_TITLES, False)


def test_signatures_come_departing_then_receiving_then_office() -> None:
    status, order = HandoverStatus.rendered, []
    while (step := awaited_step(status)) is not None:
        order.append(step)
        status = status_after(step)
    assert order == [Step.departing, Step.receiving, Step.office]
    assert status == HandoverStatus.archived
    assert awaited_step(HandoverStatus.open) is None
    assert [field_name(s) for s in order] == ["Sig1_departing", "Sig2_receiving", "Sig3_office"]


def _dossier(**changes: object) -> d.Dossier:
    party = d.Party(person_id=1, name="张建华", tenure_id=3, post="东山镇党委书记")
    base = d.Dossier(
        handover_id=1,
        county="测试县",
        reason_label="调任",
        effective_date="2026-03-16",
        departing=party,
        receiving=msgspec.structs.replace(party, person_id=2, name="周新", tenure_id=9),
        interim=False,
        snapshot_at="2026-03-02T01:00:00Z",
        cases=[],
        backlog=[],
        sittings=[],
        assignments=[],
        figures=d.Figures(
            received=7, resolved=3, replied=4, replied_on_time=3, evaluated=2, satisfied=1
        ),
        notes=d.Notes(risks="上塘村征地补偿款问题仍有群体访风险"),
    )
    return msgspec.structs.replace(base, **changes)


def test_the_dossier_round_trips_through_its_canonical_json_and_its_hash_is_stable() -> None:
    dossier = _dossier()
    assert d.load(d.canonical(dossier)) == dossier
    assert d.digest(dossier) == d.digest(d.load(d.canonical(dossier)))
    assert d.digest(_dossier(notes=d.Notes())) != d.digest(dossier)


def test_figures_show_rates_as_text_and_a_dash_when_nothing_to_rate() -> None:
    figures = _dossier().figures
    assert figures.on_time_rate == "75.0%"
    assert figures.satisfaction_rate == "50.0%"
    assert (
        d.Figures(
            received=0, resolved=0, replied=0, replied_on_time=0, evaluated=0, satisfied=0
        ).on_time_rate
        == "—"
    )
