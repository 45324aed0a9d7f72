"""The cases API's input and output (msgspec Structs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=2000)]
Short = Annotated[str, msgspec.Meta(max_length=64)]
Ids = Annotated[list[int], msgspec.Meta(max_length=20)]


class PetitionerIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Short
    id_type: str
    id_number: Annotated[str, msgspec.Meta(max_length=32)]
    mobile: Annotated[str, msgspec.Meta(max_length=20)] = ""


class CaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """A petition registered by a clerk (letter, phone, fax, e-mail, online form, visit)."""

    channel: str
    kind: str
    category: Annotated[str, msgspec.Meta(max_length=32)]
    summary: Text
    territorial_unit_id: int
    received_on: dt.date
    petitioners: Annotated[list[PetitionerIn], msgspec.Meta(min_length=1, max_length=10)]
    owner_tenure_id: int
    claim_item: int | None = None
    subject_unit_ids: Ids = msgspec.field(default_factory=list)
    accused_person_ids: Ids = msgspec.field(default_factory=list)
    accused_unit_ids: Ids = msgspec.field(default_factory=list)
    national_no: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class FromReceptionIn(msgspec.Struct, forbid_unknown_fields=True):
    reception_id: int
    kind: str
    claim_item: int | None = None
    territorial_unit_id: int | None = None
    category: Annotated[str, msgspec.Meta(max_length=32)] = ""
    subject_unit_ids: Ids = msgspec.field(default_factory=list)
    accused_person_ids: Ids = msgspec.field(default_factory=list)
    accused_unit_ids: Ids = msgspec.field(default_factory=list)
    owner_tenure_id: int | None = None


class RoutingIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: str
    on: dt.date
    body: Short = ""
    reason: Text = ""
    first_case_code: Annotated[str, msgspec.Meta(max_length=20)] = ""


class StepIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    on: dt.date
    text: Text = ""
    delivered_on: dt.date | None = None


class ExtensionIn(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=366)]
    reason: Text


class HearingIn(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=366)]


class OwnersIn(msgspec.Struct, forbid_unknown_fields=True):
    tenure_id: int
    target_date: dt.date
    co_tenure_ids: Ids = msgspec.field(default_factory=list)


class ProgressIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Text
    public: bool = False


class AssignmentIn(msgspec.Struct, forbid_unknown_fields=True):
    unit_id: int
    role: str
    due: dt.date


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    text: Text = ""


class EvaluationIn(msgspec.Struct, forbid_unknown_fields=True):
    evaluation: str


class SkippedDayOut(msgspec.Struct):
    date: dt.date
    name: str


class ClockOut(msgspec.Struct):
    clock: str
    label: str
    state: str
    start: dt.date
    due: dt.date
    overdue: bool
    provisional: bool
    extension_days: int
    paused_days: int
    article: str
    explanation: str
    rest_days_skipped: list[SkippedDayOut]
    stopped_on: dt.date | None = None
    assignment_id: int | None = None


class OwnerOut(msgspec.Struct):
    person_id: int
    name: str
    tenure_id: int
    post: str
    role: str
    role_label: str
    target_date: dt.date | None


class AssignmentOut(msgspec.Struct):
    id: int
    case_id: int
    unit_id: int
    unit: str
    role: str
    status: str
    status_label: str
    assigned_on: dt.date
    due: dt.date
    object_due: dt.date
    objection: str | None
    reply: str | None


class EventOut(msgspec.Struct):
    on: dt.date
    at: dt.datetime
    kind: str
    title: str
    text: str | None = None


class PetitionerOut(msgspec.Struct):
    name: str
    id_type: str
    id_masked: str


class CaseOut(msgspec.Struct):
    id: int
    code: str
    status: str
    status_label: str
    channel: str
    kind: str
    claim_item: int | None
    category: str
    summary: str
    territorial_unit_id: int
    territorial_unit: str
    received_on: dt.date
    profile: str
    next_due: dt.date | None
    next_clock: str | None
    backlog: bool
    flagged: bool
    evaluation: str | None
    national_no: str | None
    first_case_id: int | None
    outcome: str | None
    petitioners: list[PetitionerOut]
    owners: list[OwnerOut]
    clocks: list[ClockOut]
    assignments: list[AssignmentOut]
    events: list[EventOut]
    allowed_next: list[str]


class CaseBrief(msgspec.Struct):
    """A line of a list (我的包案, the overdue dashboard)."""

    id: int
    code: str
    status: str
    status_label: str
    category: str
    territorial_unit: str
    next_due: dt.date | None
    next_clock: str | None
    urgency: str
    backlog: bool
    target_date: dt.date | None = None
    role: str | None = None


class MyCasesOut(msgspec.Struct):
    """我的包案, one page: `total` open owned cases, of them `overdue` (red) and `due_soon`
    (yellow, due within 5 days, the due day included); `cases` is page `page` of `pages`,
    `size` a page, soonest deadline first."""

    total: int
    overdue: int
    due_soon: int
    page: int
    pages: int
    size: int
    cases: list[CaseBrief]


class TrackOut(msgspec.Struct):
    """What the petitioner sees with the code and the mobile number's last four digits."""

    code: str
    status: str
    status_label: str
    received_on: dt.date
    next_due: dt.date | None
    next_clock: str | None
    next_clock_label: str | None
    timeline: list[EventOut]
    can_evaluate: bool
    evaluation: str | None
    how_to_evaluate: str


class TallyOut(msgspec.Struct):
    overdue: int
    soon: int
    #: Which clocks are late, with how many overdue cases each.
    late_clocks: dict[str, int]


class GroupOut(msgspec.Struct):
    id: int
    name: str
    overdue: int
    soon: int
    late_clocks: dict[str, int]


class BoardOut(msgspec.Struct):
    today: dt.date
    warn_days: int
    total: TallyOut
    by_owner: list[GroupOut]
    by_unit: list[GroupOut]
    by_township: list[GroupOut]
    #: Over several counties: a row per county, and the owner, unit and township lists
    #: cut to the `top` most overdue (null: every row is listed).
    by_county: list[GroupOut]
    top: int | None
    owners_in_all: int
    units_in_all: int
    townships_in_all: int


class RateOut(msgspec.Struct):
    metric: str
    label: str
    numerator: int
    denominator: int
    #: Per mille (‰), an integer: the API carries no floats.
    per_mille: int | None


class RankingRowOut(msgspec.Struct):
    id: int
    name: str
    rank: int | None
    standing: str
    standing_label: str
    score_per_mille: int | None
    rates: list[RateOut]


class RankingOut(msgspec.Struct):
    by: str
    start: dt.date
    end: dt.date
    red_at_per_mille: int
    black_below_per_mille: int
    red_top: int
    black_bottom: int
    min_items: int
    formulas: dict[str, str]
    rows: list[RankingRowOut]


class WarningOut(msgspec.Struct):
    category: str
    unit_id: int
    unit: str
    cases: int


class DailyOut(msgspec.Struct):
    day: dt.date
    receptions: int
    on_the_spot: int
    registered: dict[str, int]
    channels: dict[str, int]
    replies: int
    overdue: int
    warning_rule: str
    warnings: list[WarningOut]


class PetitionIn(msgspec.Struct, forbid_unknown_fields=True):
    """An online petition (网上信访), sent with the header X-Citizen-Token."""

    name: Short
    mobile: Annotated[str, msgspec.Meta(max_length=20)]
    id_type: str
    id_number: Annotated[str, msgspec.Meta(max_length=32)]
    kind: str
    category: Annotated[str, msgspec.Meta(max_length=32)]
    summary: Text
    territorial_unit_id: int
    claim_item: int | None = None


class PetitionOut(msgspec.Struct):
    code: str
    status: str
    status_label: str
    received_on: dt.date
    how_to_track: str


class ReassignIn(msgspec.Struct, forbid_unknown_fields=True):
    from_tenure_id: int
    to_tenure_id: int


class ReassignOut(msgspec.Struct):
    moved: int
