"""The roster contract: the JSON that `jiefang roster solve` reads and writes.

`docs/roster-contract.md` documents it field by field. Fields may be added; the ones the
contract names never change meaning.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Count = Annotated[int, msgspec.Meta(ge=1, le=20)]
DAY_SESSION = "day"


class RuleKind(StrEnum):
    daily = "daily"
    monthly = "monthly"
    weekly = "weekly"


class OnRestDay(StrEnum):
    next_workday = "next_workday"
    keep = "keep"
    skip = "skip"


class Rotation(StrEnum):
    rotate = "rotate"
    fixed = "fixed"


class Status(StrEnum):
    optimal = "OPTIMAL"
    feasible = "FEASIBLE"
    infeasible = "INFEASIBLE"
    unknown = "UNKNOWN"


class Period(msgspec.Struct, forbid_unknown_fields=True):
    start: dt.date
    end: dt.date


class Interval(msgspec.Struct, forbid_unknown_fields=True):
    """Inclusive at both ends."""

    start: dt.date = msgspec.field(name="from")
    end: dt.date = msgspec.field(name="to")
    reason: str = ""


class TenureSpan(msgspec.Struct, forbid_unknown_fields=True):
    """`to` is the day the tenure ends: the official leaves the pool from that date."""

    start: dt.date | None = msgspec.field(default=None, name="from")
    end: dt.date | None = msgspec.field(default=None, name="to")


class CalendarIn(msgspec.Struct, forbid_unknown_fields=True):
    """A year with a date listed here counts as official (the State Council notice)."""

    rest_days: list[dt.date] = []
    working_days: list[dt.date] = []


class Official(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    name: str = ""
    unavailable: list[Interval] = []
    tenure: TenureSpan | None = None
    desired: list[dt.date] = []
    undesired: list[dt.date] = []


class Term(msgspec.Struct, forbid_unknown_fields=True):
    """An official's membership of one rule's pool, narrower than their tenure: a township
    head promoted to county leader leaves the township's pool on the day `to`."""

    official: Id
    start: dt.date | None = msgspec.field(default=None, name="from")
    end: dt.date | None = msgspec.field(default=None, name="to")


class Rule(msgspec.Struct, forbid_unknown_fields=True):
    id: Id
    kind: RuleKind
    pool: list[Id]
    venue: str = ""
    name: str = ""
    sessions: list[str] = msgspec.field(default_factory=lambda: [DAY_SESSION])
    per_day: Count = 1
    fallback: list[Id] = []
    min_gap_days: Annotated[int, msgspec.Meta(ge=0, le=366)] = 0
    days_of_month: list[Annotated[int, msgspec.Meta(ge=1, le=31)]] = msgspec.field(
        default_factory=lambda: [1, 11, 21]
    )
    on_rest_day: OnRestDay | None = None
    once_per_member_per_month: bool = True
    rotation: Rotation = Rotation.rotate
    weekday: Annotated[int, msgspec.Meta(ge=1, le=7)] = 2
    primary: Id | None = None
    terms: list[Term] = []

    @property
    def rest_day_policy(self) -> OnRestDay:
        """Monthly days move to the next working day unless told otherwise; a weekly
        sitting on a rest day is skipped; a daily rule sits every day."""
        if self.on_rest_day is not None:
            return self.on_rest_day
        if self.kind is RuleKind.monthly:
            return OnRestDay.next_workday
        return OnRestDay.skip if self.kind is RuleKind.weekly else OnRestDay.keep


class Assignment(msgspec.Struct, forbid_unknown_fields=True, frozen=True, order=True):
    rule: Id
    date: dt.date
    official: Id
    session: str = DAY_SESSION


class Weights(msgspec.Struct, forbid_unknown_fields=True):
    """The price of each soft rule, per unit of violation."""

    load: int = 10
    rest_load: int = 6
    once_per_month: int = 20
    rotation: int = 2
    primary: int = 50
    desired: int = 3
    undesired: int = 3
    fallback: int = 4


class Instance(msgspec.Struct, forbid_unknown_fields=True):
    period: Period
    officials: list[Official]
    rules: list[Rule]
    calendar: CalendarIn | None = None
    pinned: list[Assignment] = []
    previous: list[Assignment] = []
    weights: Weights = msgspec.field(default_factory=Weights)


class Violation(msgspec.Struct, omit_defaults=False):
    rule: str
    kind: str
    official: str | None
    date: dt.date | None
    penalty: int
    detail: str = ""


class Conflict(msgspec.Struct):
    rules: list[str]
    officials: list[str]
    dates: list[dt.date]
    message: str


class Result(msgspec.Struct):
    status: Status
    assignments: list[Assignment] = []
    objective: int | None = None
    bound: int | None = None
    wall_time_s: float = 0.0
    changes: int = 0
    load: dict[str, int] = {}
    violations: list[Violation] = []
    conflicts: list[Conflict] = []
    warnings: list[str] = []
    first_solution_s: float | None = None
    min_changes: int | None = None
    parts: int = 0


# --------------------------------------------------------------------------- staff input

Time = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Text64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class UnavailableReason(StrEnum):
    leave = "请假"
    trip = "出差"
    meeting = "会议"
    training = "培训"
    other = "其他"


class BookingSession(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,16}$")]
    label: Text64
    start: Time
    end: Time


class VenueIn(msgspec.Struct, forbid_unknown_fields=True):
    unit_id: int
    name: Text64
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    sessions: list[BookingSession]
    rooms: list[Text64] = []
    slot_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 30
    seats_per_slot: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """A reception rule as staff enter it: the pool is posts, whose holders sit."""

    unit_id: int
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z_-]{1,32}$")]
    name: Text64
    kind: RuleKind
    venue_id: int
    pool_posts: list[int]
    fallback_posts: list[int] = []
    primary_post_id: int | None = None
    per_day: Count = 1
    min_gap_days: Annotated[int, msgspec.Meta(ge=0, le=60)] = 0
    days_of_month: list[Annotated[int, msgspec.Meta(ge=1, le=31)]] = msgspec.field(
        default_factory=lambda: [1, 11, 21]
    )
    on_rest_day: OnRestDay | None = None
    once_per_member_per_month: bool = True
    rotation: Rotation = Rotation.rotate
    weekday: Annotated[int, msgspec.Meta(ge=1, le=7)] = 2
    sessions: list[str] = msgspec.field(default_factory=lambda: [DAY_SESSION])


class UnavailabilityIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: int
    start: dt.date
    end: dt.date
    reason: UnavailableReason = UnavailableReason.leave


class PinIn(msgspec.Struct, forbid_unknown_fields=True):
    rule_id: int
    day: dt.date
    person_id: int


class RosterIn(msgspec.Struct, forbid_unknown_fields=True):
    county_id: int
    start: dt.date
    end: dt.date
    note: Annotated[str, msgspec.Meta(max_length=255)] = ""
    time_limit: Annotated[float, msgspec.Meta(ge=1, le=600)] = 60.0


class MeetingIn(msgspec.Struct, forbid_unknown_fields=True):
    county_id: int
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    day: dt.date
    start_time: Time
    end_time: Time
    persons: list[int] = []
    posts: list[int] = []
    unit_kinds: list[str] = []
    override_reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# --------------------------------------------------------------------------- bookings


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    sitting_id: int
    channel: Annotated[str, msgspec.Meta(pattern="^(online|phone|in_person)$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    mobile: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    id_type: str
    id_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    slot_start: str | None = None
    party_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 1
    representatives: list[str] = []
    waitlist: bool = False


class RescheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    """Where a booking moves: another slot of its sitting, or a slot of another sitting."""

    sitting_id: int
    slot_start: Annotated[str, msgspec.Meta(pattern="^[0-2][0-9]:[0-5][0-9]$")]
    waitlist: bool = False


class ReceiptOut(msgspec.Struct):
    ledger: str
    seq: int
    leaf_hash: str


class BookingOut(msgspec.Struct):
    code: str
    status: str
    channel: str
    sitting_id: int
    date: dt.date
    slot_start: str | None
    queue_number: int | None
    official: str
    venue: str
    address: str
    id_masked: str
    party_size: int
    receipt: ReceiptOut | None = None


class SlotOut(msgspec.Struct):
    start: str
    end: str
    seats_left: int


class SittingOut(msgspec.Struct):
    id: int
    date: dt.date
    rule: str
    official: str
    venue: str
    address: str
    seats_left: int
    slots: list[SlotOut]


class SittingPage(msgspec.Struct):
    sittings: list[SittingOut]
    next_cursor: str | None = None


class MobileIn(msgspec.Struct, forbid_unknown_fields=True):
    mobile: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    mobile: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=10)]


# ---------------------------------------------------------------- reception records

RECORD_TEXT_MAX = 2000


class ReceptionOutcome(StrEnum):
    """How a reception ended: answered and settled on the spot (当场答复办结), or a case to
    open (需立案办理; its channel is 走访 whatever way the meeting was booked)."""

    resolved = "resolved"
    case = "case"


class ReceptionIn(msgspec.Struct, forbid_unknown_fields=True):
    raised: Annotated[str, msgspec.Meta(min_length=1, max_length=RECORD_TEXT_MAX)]
    answered: Annotated[str, msgspec.Meta(min_length=1, max_length=RECORD_TEXT_MAX)]
    outcome: ReceptionOutcome


class ReceptionOut(msgspec.Struct):
    id: int
    booking_code: str
    booking_status: str
    sitting_id: int
    date: dt.date
    official_id: int
    official: str
    raised: str
    answered: str
    outcome: str
    outcome_label: str
    recorded_by: int | None
    recorded_at: dt.datetime
