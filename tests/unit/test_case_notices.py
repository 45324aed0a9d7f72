"""The written notices: each routing outcome says what was decided, why and where to turn."""

from __future__ import annotations

import datetime as dt

from app.ownership.notices import Facts, compose
from app.ownership.workflow import Outcome

TODAY = dt.date(2026, 3, 6)


def facts(outcome: Outcome | None, **more: str) -> Facts:
    return Facts(
        petitioner="赵丽华",
        code="23456789AB",
        received_on=dt.date(2026, 3, 2),
        channel="书信",
        issuer="青溪县信访局",
        outcome=outcome,
        on=dt.date(2026, 3, 4),
        **more,
    )


def test_before_a_decision_the_petitioner_gets_a_receipt() -> None:
    notice = compose(facts(None), TODAY)
    assert notice.title == "信访事项登记回执"
    assert "2026年3月2日以书信形式" in notice.paragraphs[0] and "23456789AB" in notice.paragraphs[0]


def test_an_acceptance_states_the_date_and_the_time_limit() -> None:
    limit = "依照《浙江省信访条例》第二十三条，本事项应于2026年4月3日前办结并书面答复您。"
    notice = compose(facts(Outcome.accept, limit=limit), TODAY)
    assert notice.title == "信访事项受理告知书"
    assert "已于2026年3月4日受理" in notice.paragraphs[1] and limit in notice.paragraphs[1]


def test_a_refusal_gives_its_reason_and_a_redirect_names_the_body() -> None:
    refused = compose(facts(Outcome.not_accept, reason="属于诉讼程序"), TODAY)
    redirected = compose(facts(Outcome.redirect, body="县人民法院", reason="涉诉"), TODAY)
    assert "理由：属于诉讼程序" in refused.paragraphs[1]
    assert "请您向县人民法院提出" in redirected.paragraphs[1]


def test_a_repeat_names_the_first_case_and_the_article() -> None:
    notice = compose(facts(Outcome.not_re_accept, first_code="3456789ABC"), TODAY)
    assert "3456789ABC" in notice.paragraphs[1] and "第十九条" in notice.paragraphs[1]


def test_every_notice_says_how_to_track_the_case() -> None:
    for outcome in [None, *Outcome]:
        notice = compose(facts(outcome, body="县人社局", reason="理由"), TODAY)
        assert "凭诉求码 23456789AB" in notice.paragraphs[-1]
        assert notice.issuer == "青溪县信访局"
