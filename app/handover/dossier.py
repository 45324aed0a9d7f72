"""The handover dossier (交接清单): what a departing tenure hands over, as plain values.

Built by `services.snapshot` from the live records, frozen into canonical JSON (RFC 8785)
at rendering time; the SHA-256 of those bytes is printed on the PDF, embedded with it as
an attachment and written to the ledger. Values in, values out: no database, no clock.

Cases in which the departing official is accused never enter this structure: they go to
the discipline reviewer's view only (《信访工作条例》第三十条).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec
import rfc8785

FORMAT = "jiefang-handover-dossier/1"


class DossierCase(msgspec.Struct, frozen=True, kw_only=True):
    """One open case the departing tenure owns or co-owns."""

    id: int
    code: str  # 诉求码
    category: str
    kind_label: str  # 建议意见类 / 检举控告类 / 申诉求决类
    status_label: str
    role_label: str  # 包案领导 / 首接领导 / 协同包案
    received_on: str  # ISO date
    target_date: str | None  # 化解时限 of the 包案 lead
    next_due: str | None  # ISO date of the earliest running clock
    next_clock_label: str | None  # which clock: 办理期限 …
    days_overdue: int  # 0 when not overdue
    backlog: bool  # 积案


class DossierSitting(msgspec.Struct, frozen=True, kw_only=True):
    """A future sitting of the departing tenure, with the bookings on it."""

    id: int
    day: str
    rule_name: str
    venue_name: str
    booked: int
    waitlisted: int
    booking_codes: list[str]


class DossierAssignment(msgspec.Struct, frozen=True, kw_only=True):
    """A pending assignment (交办) of one of the listed cases."""

    id: int
    case_code: str
    unit_name: str
    due_on: str | None
    status_label: str


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """The tenure's petition-work figures from its start to the snapshot."""

    received: int  # cases the tenure owned at any time
    resolved: int  # of those, concluded
    replied: int
    replied_on_time: int
    evaluated: int
    satisfied: int  # 满意 or 基本满意

    @property
    def on_time_rate(self) -> str:
        return _rate(self.replied_on_time, self.replied)

    @property
    def satisfaction_rate(self) -> str:
        return _rate(self.satisfied, self.evaluated)


def _rate(part: int, whole: int) -> str:
    """A percentage as text (no floats in the dossier); "—" when there is nothing to rate."""
    if whole == 0:
        return "—"
    return f"{(part * 1000 + whole // 2) // whole / 10:.1f}%"


class Notes(msgspec.Struct, frozen=True, kw_only=True):
    """What the departing official writes: 重点人员、风险隐患、未尽事项."""

    key_people: str = ""
    risks: str = ""
    unfinished: str = ""


class Party(msgspec.Struct, frozen=True, kw_only=True):
    person_id: int
    name: str
    tenure_id: int
    post: str  # e.g. 城关镇党委书记


class Dossier(msgspec.Struct, frozen=True, kw_only=True):
    format: str = FORMAT
    handover_id: int
    county: str
    reason_label: str  # 调任 / 转任 / 免职 / 退休 / 其他
    effective_date: str
    departing: Party
    receiving: Party
    interim: bool  # the receiving side is an interim owner named by the office
    snapshot_at: str  # RFC 3339 UTC
    cases: list[DossierCase]
    backlog: list[DossierCase]  # 积案 under 包案 (also listed in `cases`)
    sittings: list[DossierSitting]
    assignments: list[DossierAssignment]
    figures: Figures
    notes: Notes

    @property
    def case_ids(self) -> list[int]:
        return sorted(c.id for c in self.cases)


def canonical(dossier: Dossier) -> bytes:
    """The dossier's RFC 8785 canonical JSON: the bytes that are hashed and attached."""
    return rfc8785.dumps(msgspec.to_builtins(dossier))


def digest(dossier: Dossier) -> str:
    return hashlib.sha256(canonical(dossier)).hexdigest()


def load(data: bytes) -> Dossier:
    """A dossier back from its JSON (e.g. the PDF's attachment)."""
    return msgspec.json.decode(data, type=Dossier)


def overdue_first(cases: Iterable[DossierCase]) -> list[DossierCase]:
    """Most overdue first, then by next deadline, then by code: the order of the tables."""
    return sorted(cases, key=lambda c: (-c.days_overdue, c.next_due or "9999", c.code))


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    """What the PDF's footer prints: the dossier's hash and the signed ledger checkpoint
    (origin, tree size, root) the `handover.dossier.snapshotted` entry is included in."""

    dossier_sha256: str
    origin: str
    checkpoint_size: int
    checkpoint_root: str  # hex
