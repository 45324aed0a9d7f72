"""A case's life as one transition table: which status may follow which, and which
statutory clocks each step stops and starts.

registered → accepted | not_accepted | routed | not_re_accepted; routed → accepted (the
competent body accepts) or closed (it left our hands); accepted → in_progress → replied
(处理意见书, delivered on a date) → [review_requested → reviewed] → [recheck_requested →
rechecked] → closed (终结/息访). A reply or review opinion nobody contests in time closes by
job (《浙江省信访条例》第二十五条(二)). Anything not in the table is refused.

Pure: statuses and clock names in, the step out; no database, no clock reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class CaseStatus(StrEnum):
    registered = "registered"
    accepted = "accepted"
    not_accepted = "not_accepted"
    routed = "routed"
    not_re_accepted = "not_re_accepted"
    in_progress = "in_progress"
    replied = "replied"
    review_requested = "review_requested"
    reviewed = "reviewed"
    recheck_requested = "recheck_requested"
    rechecked = "rechecked"
    closed = "closed"


STATUS_LABELS: Final[Mapping[CaseStatus, str]] = {
    CaseStatus.registered: "已登记",
    CaseStatus.accepted: "已受理",
    CaseStatus.not_accepted: "不予受理",
    CaseStatus.routed: "已转送/交办",
    CaseStatus.not_re_accepted: "不再受理",
    CaseStatus.in_progress: "办理中",
    CaseStatus.replied: "已答复",
    CaseStatus.review_requested: "复查中",
    CaseStatus.reviewed: "已复查",
    CaseStatus.recheck_requested: "复核中",
    CaseStatus.rechecked: "已复核",
    CaseStatus.closed: "已办结",
}

#: Statuses in which nothing runs any more: the case needs no owner.
FINISHED: Final = frozenset(
    {CaseStatus.not_accepted, CaseStatus.not_re_accepted, CaseStatus.closed}
)
OPEN: Final = frozenset(CaseStatus) - FINISHED


class Kind(StrEnum):
    """《信访工作条例》第二十九至三十一条."""

    suggestion = "suggestion"
    accusation = "accusation"
    claim = "claim"


KIND_LABELS: Final[Mapping[Kind, str]] = {
    Kind.suggestion: "建议意见类",
    Kind.accusation: "检举控告类",
    Kind.claim: "申诉求决类",
}

#: 《信访工作条例》第三十一条: how a 申诉求决类 item is handled, by its item number.
CLAIM_ROUTES: Final[Mapping[int, str]] = {
    1: "诉讼、复议、检察、公安等法定程序",
    2: "仲裁",
    3: "党员申诉、申请复审",
    4: "行政复议、裁决、确认、许可、处罚等行政程序",
    5: "申请查处违法行为、履行保护合法权益职责",
    6: "其他：听取陈述、调查核实，出具信访处理意见书",
}
#: The item whose handling runs on the 60-day clock (《信访工作条例》第三十四条).
CLAIM_HANDLED_BY_OPINION: Final = 6


class Channel(StrEnum):
    """How the petition came in (《浙江省信访条例》第二条: 书信、电子邮件、传真、电话、走访 …)."""

    visit = "visit"
    letter = "letter"
    phone = "phone"
    fax = "fax"
    email = "email"
    online = "online"


CHANNEL_LABELS: Final[Mapping[Channel, str]] = {
    Channel.visit: "走访",
    Channel.letter: "书信",
    Channel.phone: "电话",
    Channel.fax: "传真",
    Channel.email: "电子邮件",
    Channel.online: "信息网络",
}


class Outcome(StrEnum):
    """Routing outcomes, each a written notice to the petitioner."""

    accept = "accept"
    not_accept = "not_accept"
    transfer = "transfer"
    assign = "assign"
    redirect = "redirect"
    not_re_accept = "not_re_accept"


OUTCOME_LABELS: Final[Mapping[Outcome, str]] = {
    Outcome.accept: "受理",
    Outcome.not_accept: "不予受理",
    Outcome.transfer: "转送",
    Outcome.assign: "交办",
    Outcome.redirect: "告知向有权处理的机关提出",
    Outcome.not_re_accept: "不再受理",
}

OUTCOME_STATUS: Final[Mapping[Outcome, CaseStatus]] = {
    Outcome.accept: CaseStatus.accepted,
    Outcome.not_accept: CaseStatus.not_accepted,
    Outcome.transfer: CaseStatus.routed,
    Outcome.assign: CaseStatus.routed,
    Outcome.redirect: CaseStatus.not_accepted,
    Outcome.not_re_accept: CaseStatus.not_re_accepted,
}

#: Outcomes whose notice must name the competent body.
NAMES_A_BODY: Final = frozenset({Outcome.transfer, Outcome.assign, Outcome.redirect})
#: Outcomes whose notice must give the reason.
NEEDS_REASON: Final = frozenset({Outcome.not_accept, Outcome.not_re_accept, Outcome.redirect})


class Evaluation(StrEnum):
    satisfied = "satisfied"
    basically = "basically"
    unsatisfied = "unsatisfied"


EVALUATION_LABELS: Final[Mapping[Evaluation, str]] = {
    Evaluation.satisfied: "满意",
    Evaluation.basically: "基本满意",
    Evaluation.unsatisfied: "不满意",
}

#: Every clock; a step that stops ALL_CLOCKS stops whatever runs.
ALL_CLOCKS: Final = frozenset(
    {
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
)
_HANDLING: Final = frozenset({"handle", "extend"})


@dataclass(frozen=True, slots=True)
class Step:
    """One allowed transition: its name, the clocks it stops and those it starts (from the
    step's date)."""

    label: str
    stops: frozenset[str] = frozenset()
    starts: tuple[str, ...] = ()


S = CaseStatus
_TABLE: Final[Mapping[tuple[CaseStatus, CaseStatus], Step]] = {
    (S.registered, S.accepted): Step("受理", frozenset({"route", "accept"}), ("handle",)),
    (S.registered, S.not_accepted): Step("不予受理", frozenset({"route", "accept"})),
    (S.registered, S.routed): Step("转送/交办", frozenset({"route", "accept"}), ("accept",)),
    (S.registered, S.not_re_accepted): Step("不再受理", frozenset({"route", "accept"})),
    (S.routed, S.accepted): Step("有权机关受理", frozenset({"accept"}), ("handle",)),
    (S.routed, S.closed): Step("转出办结", frozenset({"accept"})),
    (S.accepted, S.in_progress): Step("开始办理"),
    (S.accepted, S.replied): Step("出具处理意见书", _HANDLING, ("review_request",)),
    (S.in_progress, S.replied): Step("出具处理意见书", _HANDLING, ("review_request",)),
    (S.accepted, S.closed): Step("息访办结", ALL_CLOCKS),
    (S.in_progress, S.closed): Step("息访办结", ALL_CLOCKS),
    (S.replied, S.review_requested): Step(
        "请求复查", frozenset({"review_request"}), ("review_decision",)
    ),
    (S.replied, S.closed): Step("答复后办结", ALL_CLOCKS),
    (S.review_requested, S.reviewed): Step(
        "出具复查意见", frozenset({"review_decision"}), ("recheck_request",)
    ),
    (S.reviewed, S.recheck_requested): Step(
        "请求复核", frozenset({"recheck_request"}), ("recheck_decision",)
    ),
    (S.reviewed, S.closed): Step("复查后办结", ALL_CLOCKS),
    (S.recheck_requested, S.rechecked): Step("出具复核意见", frozenset({"recheck_decision"})),
    (S.rechecked, S.closed): Step("复核终结", ALL_CLOCKS),
}

#: Where a reply nobody contests in time closes by job, and which clock decides it.
CLOSES_WHEN_LAPSED: Final[Mapping[CaseStatus, str]] = {
    S.replied: "review_request",
    S.reviewed: "recheck_request",
}


class IllegalTransition(ValueError):
    """A step the table does not allow; the message is Chinese and says what is allowed."""


def step(current: CaseStatus, target: CaseStatus) -> Step:
    """The step from `current` to `target`, or IllegalTransition."""
    found = _TABLE.get((current, target))
    if found is None:
        allowed = "、".join(STATUS_LABELS[t] for t in next_statuses(current)) or "无"
        raise IllegalTransition(
            f"信访事项当前为“{STATUS_LABELS[current]}”，不能改为“{STATUS_LABELS[target]}”"
            f"（可以改为：{allowed}）。"
        )
    return found


def next_statuses(current: CaseStatus) -> list[CaseStatus]:
    return [t for (f, t) in _TABLE if f == current]


def all_steps() -> Mapping[tuple[CaseStatus, CaseStatus], Step]:
    return _TABLE
