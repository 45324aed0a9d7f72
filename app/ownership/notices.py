"""The written notices a petitioner receives (告知书): the registration receipt, and one
for each routing outcome — 受理, 不予受理, 转送, 交办, 告知向有权机关提出, 不再受理.

《浙江省信访条例》第二十条: 不能当场答复的，在五个工作日内 … 受理并书面告知信访人 / 不予受理，
并书面告知信访人 …; 《信访工作条例》第二十二条: 在15日内分别按照下列方式处理. The notice says
what was decided, why, where to turn, the time limit that now runs, and how to follow the
case by its 诉求码.

Pure: the decided facts in, the notice's title and paragraphs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from app.ownership.workflow import Outcome

TITLES: Final[Mapping[Outcome | None, str]] = {
    None: "信访事项登记回执",
    Outcome.accept: "信访事项受理告知书",
    Outcome.not_accept: "信访事项不予受理告知书",
    Outcome.transfer: "信访事项转送告知书",
    Outcome.assign: "信访事项交办告知书",
    Outcome.redirect: "信访事项告知书",
    Outcome.not_re_accept: "信访事项不再受理告知书",
}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the notice states, all decided already."""

    petitioner: str
    code: str
    received_on: dt.date
    channel: str
    issuer: str
    outcome: Outcome | None
    on: dt.date | None = None
    body: str = ""
    reason: str = ""
    first_code: str = ""
    #: The limit that runs from the decision (handling after acceptance), if any.
    limit: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    salutation: str
    paragraphs: list[str]
    issuer: str
    dated: dt.date


def _day(day: dt.date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def _decision(f: Facts) -> str:
    on = _day(f.on)
    decisions: dict[Outcome, str] = {
        Outcome.accept: f"经审查，该事项依法属于本机关处理，本机关已于{on}受理。{f.limit}",
        Outcome.not_accept: f"经审查，本机关于{on}决定不予受理。理由：{f.reason}",
        Outcome.transfer: f"经审查，该事项依法应由{f.body}处理，本机关已于{on}转送该机关，"
        "由其依法受理并告知您办理情况。",
        Outcome.assign: f"经审查，该事项依法应由{f.body}处理，本机关已于{on}交办该单位，"
        "由其依法办理并向本机关报告结果。",
        Outcome.redirect: f"经审查，该事项不属于本机关职权范围，请您向{f.body}提出。理由：{f.reason}",
        Outcome.not_re_accept: f"经审查，该事项与诉求码为 {f.first_code} 的信访事项属同一事项，"
        f"该事项已经受理、正在办理或者已经办结，依据《信访工作条例》第十九条，本机关于{on}"
        f"决定不再受理。{f.reason}",
    }
    return (
        decisions[f.outcome]
        if f.outcome
        else ("本机关已登记您的信访事项，将依照规定期限作出受理、转送交办等处理，并书面告知您。")
    )


def compose(f: Facts, today: dt.date) -> Notice:
    """The notice of the case's current decision (or the receipt before one)."""
    opening = f"您于{_day(f.received_on)}以{f.channel}形式提出的信访事项（诉求码 {f.code}）收悉。"
    tracking = (
        f"您可凭诉求码 {f.code} 和登记的手机号码后四位，在本系统“凭诉求码查询办理进度”页面"
        "或扫描下方二维码，查询办理情况；收到书面答复后可对处理结果作出评价。"
    )
    return Notice(
        title=TITLES[f.outcome],
        salutation=f"{f.petitioner}：",
        paragraphs=[opening, _decision(f), tracking],
        issuer=f.issuer,
        dated=f.on or today,
    )
