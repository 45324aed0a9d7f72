"""Pure rules of the organisation tree: which unit may sit under which, what a post is
for in the reception rules, and when two tenures of one post collide.

No database, no web: values in, values out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class UnitKind(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    street = "street"
    village = "village"
    community = "community"
    department = "department"


UNIT_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.province: "省",
    UnitKind.city: "市",
    UnitKind.county: "县（区、市）",
    UnitKind.township: "乡镇",
    UnitKind.street: "街道",
    UnitKind.village: "村",
    UnitKind.community: "社区",
    UnitKind.department: "部门",
}

#: Which kinds of unit may stand directly above a unit of each kind (None = a root).
ALLOWED_PARENTS: dict[UnitKind, frozenset[UnitKind | None]] = {
    UnitKind.province: frozenset({None}),
    UnitKind.city: frozenset({None, UnitKind.province}),
    UnitKind.county: frozenset({None, UnitKind.province, UnitKind.city}),
    UnitKind.township: frozenset({UnitKind.county}),
    UnitKind.street: frozenset({UnitKind.county}),
    UnitKind.village: frozenset({UnitKind.township}),
    UnitKind.community: frozenset({UnitKind.township, UnitKind.street}),
    UnitKind.department: frozenset({UnitKind.county, UnitKind.city, UnitKind.province}),
}


class ReceptionRole(StrEnum):
    """What a post does in the reception rules (接访制度)."""

    county_leader = "county_leader"  # 县领导365坐班接访
    township_secretary = "township_secretary"  # 党委书记 / 党工委书记 (三个一)
    township_head = "township_head"  # 乡镇长 / 办事处主任 (三个一)
    township_congress = "township_congress"  # 人大主席 / 人大工委主任 (三个一)
    village_secretary = "village_secretary"  # 村（社区）党组织书记 (周二无会日)
    village_deputy = "village_deputy"
    none = "none"


RECEPTION_ROLE_LABELS: dict[ReceptionRole, str] = {
    ReceptionRole.county_leader: "县领导",
    ReceptionRole.township_secretary: "乡镇（街道）党（工）委书记",
    ReceptionRole.township_head: "乡镇长（街道办事处主任）",
    ReceptionRole.township_congress: "人大主席（人大工委主任）",
    ReceptionRole.village_secretary: "村（社区）书记",
    ReceptionRole.village_deputy: "村（社区）副职",
    ReceptionRole.none: "无",
}

#: The unit kinds at which a post of each reception role can exist.
ROLE_UNIT_KINDS: dict[ReceptionRole, frozenset[UnitKind]] = {
    ReceptionRole.county_leader: frozenset({UnitKind.county}),
    ReceptionRole.township_secretary: frozenset({UnitKind.township, UnitKind.street}),
    ReceptionRole.township_head: frozenset({UnitKind.township, UnitKind.street}),
    ReceptionRole.township_congress: frozenset({UnitKind.township, UnitKind.street}),
    ReceptionRole.village_secretary: frozenset({UnitKind.village, UnitKind.community}),
    ReceptionRole.village_deputy: frozenset({UnitKind.village, UnitKind.community}),
    ReceptionRole.none: frozenset(UnitKind),
}

#: The usual titles of the three main posts: townships and streets name them differently.
MAIN_POST_TITLES: dict[UnitKind, dict[ReceptionRole, str]] = {
    UnitKind.township: {
        ReceptionRole.township_secretary: "党委书记",
        ReceptionRole.township_head: "乡镇长",
        ReceptionRole.township_congress: "人大主席",
    },
    UnitKind.street: {
        ReceptionRole.township_secretary: "党工委书记",
        ReceptionRole.township_head: "办事处主任",
        ReceptionRole.township_congress: "人大工委主任",
    },
}


def parent_problem(kind: UnitKind, parent_kind: UnitKind | None) -> str | None:
    """Why a unit of `kind` may not sit under a unit of `parent_kind`, or None when it may."""
    if parent_kind in ALLOWED_PARENTS[kind]:
        return None
    label = UNIT_KIND_LABELS[kind]
    if parent_kind is None:
        return f"{label}必须有上级单位"
    return f"{label}不能设在{UNIT_KIND_LABELS[parent_kind]}之下"


def role_problem(role: ReceptionRole, unit_kind: UnitKind) -> str | None:
    """Why a post with this reception role cannot exist at a unit of this kind."""
    if unit_kind in ROLE_UNIT_KINDS[role]:
        return None
    return f"{UNIT_KIND_LABELS[unit_kind]}不能设置“{RECEPTION_ROLE_LABELS[role]}”职务"


@dataclass(frozen=True, slots=True)
class Span:
    """A tenure's dates: `start` is the first day in post; `end` is the day the tenure ends
    (the first day no longer in post, so a successor starts on it), None while open."""

    start: dt.date
    end: dt.date | None = None

    def overlaps(self, other: Span) -> bool:
        self_before = self.end is not None and self.end <= other.start
        other_before = other.end is not None and other.end <= self.start
        return not (self_before or other_before)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


def span_problem(span: Span) -> str | None:
    if span.end is not None and span.end <= span.start:
        return "任职结束日期必须晚于开始日期"
    return None


def first_overlap(new: Span, existing: Iterable[Span]) -> Span | None:
    """The first existing tenure of a single-holder post that the new one would overlap."""
    return next((span for span in existing if span.overlaps(new)), None)
