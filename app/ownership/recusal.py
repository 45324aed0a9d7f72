"""Recusal (回避) and confidentiality of a case's accused.

《信访工作条例》第三十条：不得将信访人的检举、揭发材料以及有关情况透露或者转给被检举、
揭发的人员或者单位。《浙江省信访条例》第二十七条 says the same of 检举、揭发材料. So an
official accused in a case (被反映人), and anyone speaking for an accused unit — a person
holding a post there, an account scoped to it — never owns, sees, is assigned or is listed
with the case.

Pure: who is looking and who is accused, in; the answer out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Accused:
    """The accused of one case: officials (person ids) and units (unit ids)."""

    persons: frozenset[int] = field(default_factory=frozenset)
    units: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, persons: Iterable[int], units: Iterable[int]) -> Accused:
        return cls(frozenset(persons), frozenset(units))


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: their person (if the account has one) and every unit they speak
    for — the units of their current posts and the scope units of their accounts."""

    person_id: int | None
    unit_ids: frozenset[int] = field(default_factory=frozenset)


def recused(viewer: Viewer, accused: Accused) -> bool:
    """True when the viewer is, or speaks for, someone accused in the case."""
    if viewer.person_id is not None and viewer.person_id in accused.persons:
        return True
    return not viewer.unit_ids.isdisjoint(accused.units)


def may_own(person_id: int, post_unit_id: int, accused: Accused) -> bool:
    """An official may own (包案) a case unless accused in it, personally or through the
    unit of the post they would own it by."""
    return person_id not in accused.persons and post_unit_id not in accused.units


def may_be_assigned(unit_id: int, accused: Accused) -> bool:
    """An accused unit is never assigned (交办) the case against it."""
    return unit_id not in accused.units
