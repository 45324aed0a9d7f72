"""The departure handover's rules (信访工作离任交接): which posts require one, who may be
named to receive, and the order of the three signatures. Values in, values out.

Seed 002 (开化): "各乡镇党委书记、县级机关党委书记因调任、转任、免职等原因离任时，必须办理
信访工作离任交接手续……交接资料分别由离任领导、接任领导、纪委、组织、信访局分别存档备查".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class HandoverStatus(StrEnum):
    open = "open"  # dossier refreshable, notes editable
    rendered = "rendered"  # the 交接书 exists; nobody has signed yet
    signed_departing = "signed_departing"
    signed_receiving = "signed_receiving"
    archived = "archived"  # signed by the office; ownership moved; immutable
    withdrawn = "withdrawn"  # withdrawn by the office before any signature


STATUS_LABELS: Final[Mapping[HandoverStatus, str]] = {
    HandoverStatus.open: "准备中",
    HandoverStatus.rendered: "待离任领导签字",
    HandoverStatus.signed_departing: "待接任方签字",
    HandoverStatus.signed_receiving: "待组织/办公室签字",
    HandoverStatus.archived: "已归档",
    HandoverStatus.withdrawn: "已撤回",
}

#: A handover in one of these is still under way: one per departing tenure at a time.
UNDER_WAY: Final = frozenset(
    {
        HandoverStatus.open,
        HandoverStatus.rendered,
        HandoverStatus.signed_departing,
        HandoverStatus.signed_receiving,
    }
)
#: Before the first signature the dossier may be refreshed and the handover withdrawn.
UNSIGNED: Final = frozenset({HandoverStatus.open, HandoverStatus.rendered})


class Step(StrEnum):
    departing = "departing"
    receiving = "receiving"
    office = "office"


STEP_LABELS: Final[Mapping[Step, str]] = {
    Step.departing: "离任领导",
    Step.receiving: "接任领导",
    Step.office: "组织/办公室",
}
INTERIM_LABEL: Final = "临时接收人"


def signer_label(step: Step, interim: bool) -> str:
    """Who signs a step: the receiving side is the 临时接收人 when no successor is appointed."""
    return INTERIM_LABEL if step == Step.receiving and interim else STEP_LABELS[step]


#: Which signature each status waits for, and the status after it.
_NEXT: Final[Mapping[HandoverStatus, tuple[Step, HandoverStatus]]] = {
    HandoverStatus.rendered: (Step.departing, HandoverStatus.signed_departing),
    HandoverStatus.signed_departing: (Step.receiving, HandoverStatus.signed_receiving),
    HandoverStatus.signed_receiving: (Step.office, HandoverStatus.archived),
}


def awaited_step(status: HandoverStatus) -> Step | None:
    """The signature this status waits for, or None when no signature is due."""
    found = _NEXT.get(status)
    return found[0] if found else None


def status_after(step: Step) -> HandoverStatus:
    return next(after for wanted, after in _NEXT.values() if wanted == step)


def field_name(step: Step) -> str:
    """The PDF signature field of a step: the order is in the names, too."""
    return f"Sig{list(Step).index(step) + 1}_{step.value}"


class Reason(StrEnum):
    transfer = "调任"
    rotation = "转任"
    dismissal = "免职"
    retirement = "退休"
    other = "其他"


DEFAULT_REQUIRED_TITLES: Final = ("党委书记", "党工委书记", "机关党委书记")


def requires_handover(title: str, required_titles: Iterable[str], marked: bool | None) -> bool:
    """Whether ending a tenure of this post needs an archived handover: an explicit mark on
    the post wins; otherwise the post's title ends with one of the configured titles
    (乡镇党委书记、街道党工委书记、县级机关党委书记 by default)."""
    if marked is not None:
        return marked
    return any(title.endswith(wanted) for wanted in required_titles)


@dataclass(frozen=True, slots=True)
class Opening:
    """The facts an office's request to open a handover is judged on."""

    departing_person: int
    departing_post: int
    departing_ended: bool
    already_open: bool
    receiver_person: int
    receiver_post: int
    receiver_start: dt.date
    receiver_end: dt.date | None
    interim: bool
    effective_date: dt.date
    today: dt.date


def opening_problem(o: Opening) -> str | None:
    """Why the handover cannot be opened, in Chinese, or None."""
    if o.departing_ended:
        return "该任职已经结束，无需再办理离任交接"
    if o.already_open:
        return "该任职已有一份正在办理的离任交接，请先办完或撤回"
    if o.effective_date < o.today:
        return "离任日期不能早于发起交接的日期"
    if o.receiver_person == o.departing_person:
        return "接任人不能是离任领导本人"
    return _receiver_problem(o)


def _receiver_problem(o: Opening) -> str | None:
    if o.receiver_end is not None and o.receiver_end <= o.effective_date:
        return "接收人的任职在离任日期前已经结束"
    if o.interim:
        return None
    if o.receiver_post != o.departing_post:
        return "接任人未被任命到离任领导的同一职务；尚未任命时，请指定临时接收人"
    if o.receiver_start > o.effective_date:
        return "接任人的任职须从离任日期（或更早）开始"
    return None
