"""The organisation API's input and output."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import msgspec

from app.org.rules import ReceptionRole, UnitKind

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PersonName = Annotated[str, msgspec.Meta(min_length=2, max_length=32)]
Code = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z-]{1,32}$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class EndReason(StrEnum):
    transfer = "调任"
    rotation = "转任"
    dismissal = "免职"
    retirement = "退休"
    other = "其他"


class UnitIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: UnitKind
    code: Code
    name: Name
    parent_id: int | None = None


class UnitPatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | None = None
    name: Name | None = None


class UnitOut(msgspec.Struct):
    id: int
    kind: UnitKind
    code: str
    name: str
    parent_id: int | None
    county_id: int | None
    path: str


class PersonIn(msgspec.Struct, forbid_unknown_fields=True):
    name: PersonName
    gender: Annotated[str, msgspec.Meta(pattern="^(男|女)$")] | None = None
    county_id: int | None = None


class PersonPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: PersonName | None = None
    gender: Annotated[str, msgspec.Meta(pattern="^(男|女)$")] | None = None


class PersonOut(msgspec.Struct):
    id: int
    name: str
    gender: str | None
    county_id: int | None


class PostIn(msgspec.Struct, forbid_unknown_fields=True):
    unit_id: int
    title: Name
    reception_role: ReceptionRole = ReceptionRole.none
    single_holder: bool = True


class PostOut(msgspec.Struct):
    id: int
    unit_id: int
    title: str
    reception_role: ReceptionRole
    single_holder: bool


class TenureIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    post_id: int
    start_date: dt.date
    portfolio: list[Tag] = msgspec.field(default_factory=list)


class TenurePatch(msgspec.Struct, forbid_unknown_fields=True):
    start_date: dt.date | None = None
    portfolio: list[Tag] | None = None


class TenureEnd(msgspec.Struct, forbid_unknown_fields=True):
    end_date: dt.date
    reason: EndReason


class TenureOut(msgspec.Struct):
    id: int
    person_id: int
    person_name: str
    post_id: int
    post_title: str
    unit_id: int
    unit_name: str
    reception_role: ReceptionRole
    start_date: dt.date
    end_date: dt.date | None
    end_reason: str | None
    portfolio: list[str]


class ImportUnit(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    kind: UnitKind
    parent: str | None = None  # parent unit code


class ImportPerson(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    name: PersonName
    gender: str | None = None
    county: str | None = None  # county unit code


class ImportPost(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    unit: str  # unit code
    title: Name
    reception_role: ReceptionRole = ReceptionRole.none
    single_holder: bool = True


class ImportTenure(msgspec.Struct, forbid_unknown_fields=True):
    person: str
    post: str
    start_date: dt.date
    end_date: dt.date | None = None
    portfolio: list[Tag] = msgspec.field(default_factory=list)


class OrgImport(msgspec.Struct, forbid_unknown_fields=True):
    """`jiefang org import FILE`: units by code, persons by a key local to the file."""

    units: list[ImportUnit] = msgspec.field(default_factory=list)
    persons: list[ImportPerson] = msgspec.field(default_factory=list)
    posts: list[ImportPost] = msgspec.field(default_factory=list)
    tenures: list[ImportTenure] = msgspec.field(default_factory=list)
