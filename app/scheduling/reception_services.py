"""接访记录: after the meeting the official who sat, or a clerk, records what the citizen
raised, what was answered, and whether it was answered and settled on the spot
(当场答复办结) or needs a case (需立案办理).

《浙江省信访条例》第二十条: 国家机关收到信访人提出的信访事项，应当登记……能够当场答复的，
应当当场答复; 《信访工作条例》第二十三条: 收到信访人直接提出的信访事项，应当予以登记.

A booking still checked in or being called is first ended as received through
`booking_services.finish`, in the same transaction, so its own ledger entry is written too.
One record per booking: the booking row stays locked while its record is checked and
written, and a unique constraint holds the rule under any number of processes. The texts
stay in the table; the ledger entry carries identifiers and the outcome only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.scheduling import queue_services as queue
from app.scheduling.booking_services import BOOKING_STATUS_LABELS, CLERKS, BookingStatus
from app.scheduling.models import Booking, ReceptionRecord, Sitting, Venue
from app.scheduling.schemas import RECORD_TEXT_MAX, ReceptionOutcome

#: Who may record: the official of the sitting (a leader) and clerks in scope.
RECORDERS = CLERKS | {Role.leader}
#: Which of a clerk's roles a ledger entry names, when several reach the county.
OUTCOME_LABELS: Mapping[str, str] = {
    ReceptionOutcome.resolved: "当场答复办结",
    ReceptionOutcome.case: "需立案办理",
}
#: The bookings whose citizen is being or has been received: the ones a record may follow.
RECORDABLE = frozenset({BookingStatus.checked_in, BookingStatus.called, BookingStatus.received})
#: Form field -> what it holds, for the refusals.
TEXT_LABELS: Mapping[str, str] = {"raised": "群众反映的问题", "answered": "答复情况"}
WHAT = "填写接访记录"

RECEPTION_RECORDED = ledger_action(
    "reception.recorded",
    "reception",
    "填写接访记录（反映的问题和答复内容只存于记录，不入台账）",
    booking="预约编号",
    sitting="接访安排编号",
    official="接待领导的人员编号",
    outcome="结果（resolved 当场答复办结 / case 需立案办理）",
)


@dataclass(frozen=True, slots=True)
class RecordSheet:
    """A booking as its record page shows it, with its record once written."""

    booking: Booking
    record: ReceptionRecord | None

    @property
    def can_record(self) -> bool:
        return self.record is None and self.booking.status in RECORDABLE


# --------------------------------------------------------------------------- checks


def _require_day_reached(sitting: Sitting, now: dt.datetime) -> None:
    if now.astimezone(SHANGHAI).date() < sitting.day:
        raise RuleViolation(f"该接访安排在{queue.day_words(sitting.day)}，当天起才能{WHAT}。")


def _require_received(booking: Booking) -> None:
    if booking.status not in RECORDABLE:
        label = BOOKING_STATUS_LABELS.get(booking.status, booking.status)
        raise RuleViolation(f"该预约当前为“{label}”，群众未经接待，不能{WHAT}。")


async def _existing(db: AsyncSession, booking_id: int) -> ReceptionRecord | None:
    found: ReceptionRecord | None = await db.scalar(
        select(ReceptionRecord).where(ReceptionRecord.booking_id == booking_id)
    )
    return found


def _duplicate() -> Conflict:
    return Conflict("该预约已有接访记录，不能重复填写。", slug="duplicate")


def checked_texts(raised: str, answered: str) -> tuple[str, str]:
    """Both texts trimmed, each required and at most RECORD_TEXT_MAX characters."""
    texts = {"raised": raised.strip(), "answered": answered.strip()}
    for name, value in texts.items():
        label = TEXT_LABELS[name]
        if not value:
            message = f"请填写{label}。"
        elif len(value) > RECORD_TEXT_MAX:
            message = f"{label}最多{RECORD_TEXT_MAX}字，现有{len(value)}字。"
        else:
            continue
        raise InvalidInput(message, errors=[{"key": name, "message": message}])
    return texts["raised"], texts["answered"]


# --------------------------------------------------------------------------- recording


async def record(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    code: str,
    raised: str,
    answered: str,
    outcome: ReceptionOutcome,
) -> ReceptionRecord:
    """Record a reception from the sitting's day on; a booking still checked in or being
    called is ended as received first. A second record of a booking is refused (409)."""
    booking = await queue.booking_by_code(db, code, lock=True)
    sitting = booking.sitting
    role = await queue.runner_role(db, actor, sitting, WHAT)
    _require_day_reached(sitting, now)
    if await _existing(db, booking.id) is not None:
        raise _duplicate()
    _require_received(booking)
    texts = checked_texts(raised, answered)
    if booking.status != BookingStatus.received:
        await queue.finish(db, actor, now, booking.code, BookingStatus.received)
    row = _new_record(booking, actor, now, texts, outcome)
    await _add(db, row)
    await _ledger(db, actor, role, now, row)
    return row


def _new_record(
    booking: Booking,
    actor: Principal,
    now: dt.datetime,
    texts: tuple[str, str],
    outcome: ReceptionOutcome,
) -> ReceptionRecord:
    sitting = booking.sitting
    row = ReceptionRecord(
        county_id=booking.county_id,
        booking_id=booking.id,
        sitting_id=sitting.id,
        person_id=sitting.person_id,
        raised=texts[0],
        answered=texts[1],
        outcome=str(ReceptionOutcome(outcome)),
        recorded_by=actor.account_id or None,  # 0: command-line work, no account
        recorded_at=now,
    )
    row.booking, row.person = booking, sitting.person  # loaded already: callers read them
    return row


async def _add(db: AsyncSession, row: ReceptionRecord) -> None:
    db.add(row)
    try:
        await db.flush()
    except IntegrityError as clash:
        # Held by the unique constraint when two records of one booking race.
        message = str(clash.orig)
        if (
            "uq_reception_records_booking_id" in message
            or "reception_records.booking_id" in message
        ):
            raise _duplicate() from clash
        raise


async def _ledger(
    db: AsyncSession, actor: Principal, role: Role, now: dt.datetime, row: ReceptionRecord
) -> None:
    await ledger.append(
        db,
        county=row.county_id,
        actor=actor,
        action=RECEPTION_RECORDED,
        subject=("reception", row.id),
        payload={
            "booking": row.booking_id,
            "sitting": row.sitting_id,
            "official": row.person_id,
            "outcome": row.outcome,
        },
        at=now,
        role=str(role),
    )


# --------------------------------------------------------------------------- reading


async def record_sheet(db: AsyncSession, actor: Principal, code: str) -> RecordSheet:
    """A booking and its record, for those who may record it. Reads only."""
    booking = await queue.booking_by_code(db, code, lock=False)
    await queue.runner_role(db, actor, booking.sitting, "查看接访记录")
    return RecordSheet(booking, await _existing(db, booking.id))


async def record_of(db: AsyncSession, actor: Principal, code: str) -> ReceptionRecord:
    """The record of a booking; 404 while there is none."""
    sheet = await record_sheet(db, actor, code)
    if sheet.record is None:
        raise NotFound("该预约还没有接访记录。")
    return sheet.record


async def sitting_records(db: AsyncSession, sitting_ids: Sequence[int]) -> list[ReceptionRecord]:
    """The records of these sittings in the order they were written. Reads only: the caller
    has chosen sittings the actor may see (the leader's own, today)."""
    if not sitting_ids:
        return []
    return list(
        await db.scalars(
            select(ReceptionRecord)
            .where(ReceptionRecord.sitting_id.in_(list(sitting_ids)))
            .order_by(ReceptionRecord.recorded_at, ReceptionRecord.id)
        )
    )


@dataclass(frozen=True, slots=True)
class ReceptionFacts:
    """What a case opened from a reception takes over (channel 走访): who received the
    citizen and through which tenure (首接负责), where and when, what was raised, and the
    citizen's numbers still sealed as the booking holds them."""

    reception_id: int
    county_id: int
    received_on: dt.date
    official_person_id: int
    official_tenure_id: int | None
    venue_unit_id: int
    raised: str
    topic: str
    outcome: str
    name: str
    id_type: str
    id_hash: str
    id_enc: bytes
    id_masked: str
    mobile_hash: str
    mobile_enc: bytes


async def case_facts(db: AsyncSession, reception_id: int) -> ReceptionFacts:
    """The reception a case is opened from; 404 when there is none. Reads only: the
    cases capability decides who may open a case."""
    row = await db.get(ReceptionRecord, reception_id)
    if row is None:
        raise NotFound("找不到该接访记录。")
    booking, sitting = row.booking, row.booking.sitting
    return ReceptionFacts(
        reception_id=row.id,
        county_id=row.county_id,
        received_on=sitting.day,
        official_person_id=row.person_id,
        official_tenure_id=sitting.tenure_id,
        venue_unit_id=sitting.venue.unit_id,
        raised=row.raised,
        topic=booking.topic,
        outcome=row.outcome,
        name=booking.name,
        id_type=booking.id_type,
        id_hash=booking.id_hash,
        id_enc=booking.id_enc,
        id_masked=booking.id_masked,
        mobile_hash=booking.mobile_hash,
        mobile_enc=booking.mobile_enc,
    )


@dataclass(frozen=True, slots=True)
class ReceptionTally:
    """Receptions recorded in a period for one official at one venue's unit."""

    person_id: int
    unit_id: int
    total: int
    on_the_spot: int


async def reception_tallies(
    db: AsyncSession, county_ids: Sequence[int], start: dt.date, end: dt.date
) -> list[ReceptionTally]:
    """How many receptions each official recorded at each unit's venue between `start` and
    `end` (sitting days, inclusive), and how many were settled on the spot (当场答复办结):
    the red/black list's 当场答复办结率."""
    resolved = func.sum(case((ReceptionRecord.outcome == ReceptionOutcome.resolved, 1), else_=0))
    rows = await db.execute(
        select(ReceptionRecord.person_id, Venue.unit_id, func.count(), resolved)
        .join(Sitting, Sitting.id == ReceptionRecord.sitting_id)
        .join(Venue, Venue.id == Sitting.venue_id)
        .where(
            ReceptionRecord.county_id.in_(list(county_ids)),
            Sitting.day >= start,
            Sitting.day <= end,
        )
        .group_by(ReceptionRecord.person_id, Venue.unit_id)
    )
    return [ReceptionTally(p, u, int(t), int(r or 0)) for p, u, t, r in rows.tuples()]
