"""Booking use cases: a citizen's seat at a sitting, taken online, by phone or in person.

No check-then-insert anywhere: a seat is taken by one conditional UPDATE of its slot's
counter (`taken < seats`), a citizen's monthly limit likewise, and one active booking per
citizen per sitting is a partial unique index — so the answers hold with any number of
server processes on SQLite (immediate transactions) and PostgreSQL (row locks). Everything
runs in the caller's transaction; a refusal raises before the caller commits, so it books
nothing.

On PostgreSQL a booking of a slot takes its limits, seat, row and confirmation SMS in one
server-side call (`booking_take`, migration 0012) with the same conditions as the
statement-by-statement path SQLite uses (`_take_here`); the Python work around each
statement, not the database, was what a booking cost.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defaultload, make_transient_to_detached
from sqlalchemy.sql import Executable

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.codes import code_is_valid, make_code, normalise_code
from app.core.db import dialect_insert
from app.core.errors import Conflict, NotAuthenticated, NotFound, RuleViolation
from app.core.identity import IdType, identity_problem, mask, normalise
from app.core.jobs import enqueue
from app.core.personal_data import Secrets
from app.core.settings import Settings
from app.ledger import services as ledger
from app.ledger.rules import citizen_actor, ledger_action, system_actor
from app.org import services as org
from app.org.models import Unit
from app.scheduling.models import (
    Booking,
    BookingQuota,
    QueueCounter,
    ReceptionRule,
    Sitting,
    SlotSeats,
    Venue,
)
from app.scheduling.representatives import Jurisdiction, representatives_problem
from app.scheduling.schemas import DAY_SESSION
from app.scheduling.slots import (
    MAX_SHIFT_DAYS,
    Slot,
    booking_closes,
    in_window,
    nearest_slots,
    replacement,
    slots_of,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERKS = frozenset({Role.clerk, Role.admin, Role.office})
MOBILE_DIGITS = 11


class Channel(StrEnum):
    online = "online"
    phone = "phone"
    in_person = "in_person"


CHANNEL_LABELS = {Channel.online: "网上", Channel.phone: "电话", Channel.in_person: "现场"}


class BookingStatus(StrEnum):
    booked = "booked"
    waitlisted = "waitlisted"
    checked_in = "checked_in"
    called = "called"
    cancelled = "cancelled"
    received = "received"
    no_show = "no_show"


BOOKING_STATUS_LABELS: Mapping[str, str] = {
    BookingStatus.booked: "待签到",
    BookingStatus.waitlisted: "候补",
    BookingStatus.checked_in: "已签到",
    BookingStatus.called: "已叫号",
    BookingStatus.cancelled: "已取消",
    BookingStatus.received: "已接待",
    BookingStatus.no_show: "未到",
}


ACTIVE = (
    BookingStatus.booked,
    BookingStatus.waitlisted,
    BookingStatus.checked_in,
    BookingStatus.called,
)

BOOKING_CREATED = ledger_action(
    "booking.created",
    "booking",
    "预约（或现场登记）一次接访",
    sitting="接访安排编号",
    slot="时段开始时间（HH:MM；现场登记为 null）",
    channel="渠道（online/phone/in_person）",
    status="结果（booked/waitlisted）",
    queue_number="现场登记的排队号（预约为 null）",
)
BOOKING_CANCELLED = ledger_action(
    "booking.cancelled", "booking", "取消预约", sitting="接访安排编号", slot="时段开始时间"
)
BOOKING_PROMOTED = ledger_action(
    "booking.promoted",
    "booking",
    "候补转为预约（有人取消后自动递补）",
    sitting="接访安排编号",
    slot="时段开始时间",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The county's booking limits (all configurable)."""

    jurisdiction: Jurisdiction = Jurisdiction.zhejiang
    window_days: int = 30
    notice_days: int = 1
    closes_at: dt.time = dt.time(17, 0)
    per_month: int = 3

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The deployment's limits (JIEFANG_BOOKING_* and JIEFANG_JURISDICTION)."""
        return cls(
            jurisdiction=Jurisdiction(settings.jurisdiction),
            window_days=settings.booking_window_days,
            notice_days=settings.booking_notice_days,
            closes_at=dt.time.fromisoformat(settings.booking_closes_at),
            per_month=settings.booking_per_month,
        )


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class BookingRequest:
    sitting_id: int
    channel: Channel
    name: str
    mobile: str
    id_type: IdType
    id_number: str
    topic: str
    summary: str
    slot_start: str | None = None
    party_size: int = 1
    representatives: Sequence[str] = ()
    waitlist: bool = False


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The SMS that confirms a new booking: its text, and how the portable path queues it
    through the outbox (on PostgreSQL `booking_take` writes the same outbox row and job)."""

    text: Callable[[Booking], str]
    queue: Callable[[Booking, str], Awaitable[object]]


#: The kind of a booking's confirmation SMS, and the last part of its idempotency key.
CONFIRMATION = "confirmation"
#: The job that sends an outbox message, and how many times it tries.
SEND_JOB, SEND_ATTEMPTS = "outbox.send", 6
SECOND_BOOKING = "您已预约该场接访，不能重复预约；如需改时间请改约。"


def message_key(booking_id: int | str, key: str) -> str:
    """The idempotency key of an SMS about a booking: one message per booking and key."""
    return f"booking:{booking_id}:{key}"


@dataclass(frozen=True, slots=True)
class Booked:
    booking: Booking
    #: Where the booking's ledger entry stands: shown to the citizen on the confirmation.
    receipt: ledger.Receipt


# --------------------------------------------------------------------------- slots


def booking_sessions(sitting: Sitting) -> list[tuple[str, str]]:
    """The venue sessions a sitting receives in: those its rule names, or all for "day"."""
    names = set(sitting.rule.options.get("sessions") or [DAY_SESSION])
    sessions: list[Mapping[str, str]] = list(sitting.venue.sessions)
    chosen = [s for s in sessions if DAY_SESSION in names or s["key"] in names]
    return [(s["start"], s["end"]) for s in chosen]


def sitting_slots(sitting: Sitting) -> list[Slot]:
    venue = sitting.venue
    return slots_of(booking_sessions(sitting), venue.slot_minutes, venue.seats_per_slot)


async def seats_taken(db: AsyncSession, sitting_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    query = select(SlotSeats.sitting_id, SlotSeats.slot_start, SlotSeats.taken).where(
        SlotSeats.sitting_id.in_(list(sitting_ids))
    )
    return {(s, t): n for s, t, n in (await db.execute(query)).all()}


async def bump(db: AsyncSession, row: Executable, step: Executable) -> Any:
    """A counter moved by one conditional `UPDATE … RETURNING` (`step`); only when that
    finds nothing is the row created (`row`, an INSERT that ignores a conflict) and the
    step tried again. The row exists after its first use, so the common case is one
    statement, and the condition alone decides under any concurrency."""
    found = await db.scalar(step)
    if found is None:
        await db.execute(row)
        found = await db.scalar(step)
    return found


async def _take_seat(db: AsyncSession, sitting: Sitting, slot: Slot) -> bool:
    start = slot.start.strftime("%H:%M")
    row = (
        dialect_insert(db)(SlotSeats)
        .values(sitting_id=sitting.id, slot_start=start, seats=slot.seats, taken=0)
        .on_conflict_do_nothing()
    )
    taken = await bump(
        db,
        row,
        update(SlotSeats)
        .where(
            SlotSeats.sitting_id == sitting.id,
            SlotSeats.slot_start == start,
            SlotSeats.taken < SlotSeats.seats,
        )
        .values(taken=SlotSeats.taken + 1)
        .returning(SlotSeats.taken),
    )
    return taken is not None


async def _release_seat(db: AsyncSession, sitting_id: int, start: str) -> None:
    await db.execute(
        update(SlotSeats)
        .where(SlotSeats.sitting_id == sitting_id, SlotSeats.slot_start == start)
        .values(taken=SlotSeats.taken - 1)
    )


async def _take_quota(db: AsyncSession, subject: str, month: str, limit: int | None) -> bool:
    """Count one more active booking of a citizen in a month, if under `limit` (None:
    whatever the limit, for a move the citizen did not choose)."""
    row = (
        dialect_insert(db)(BookingQuota)
        .values(subject=subject, month=month, used=0)
        .on_conflict_do_nothing()
    )
    under = true() if limit is None else BookingQuota.used < limit
    used = await bump(
        db,
        row,
        update(BookingQuota)
        .where(BookingQuota.subject == subject, BookingQuota.month == month, under)
        .values(used=BookingQuota.used + 1)
        .returning(BookingQuota.used),
    )
    return used is not None


async def _release_quota(db: AsyncSession, subject: str, month: str) -> None:
    await db.execute(
        update(BookingQuota)
        .where(BookingQuota.subject == subject, BookingQuota.month == month, BookingQuota.used > 0)
        .values(used=BookingQuota.used - 1)
    )


async def next_queue_number(db: AsyncSession, sitting_id: int) -> int:
    number = await bump(
        db,
        dialect_insert(db)(QueueCounter)
        .values(sitting_id=sitting_id, last=0)
        .on_conflict_do_nothing(),
        update(QueueCounter)
        .where(QueueCounter.sitting_id == sitting_id)
        .values(last=QueueCounter.last + 1)
        .returning(QueueCounter.last),
    )
    assert number is not None
    return int(number)


# --------------------------------------------------------------------------- checks


def wall_clock(now: dt.datetime) -> dt.datetime:
    """Naive Asia/Shanghai time: what every booking date and deadline is read in."""
    return now.astimezone(SHANGHAI).replace(tzinfo=None)


def normalise_mobile(raw: str) -> str:
    """An 11-digit mainland mobile number, spaces and dashes removed; refused otherwise."""
    mobile = normalise(IdType.passport, raw.replace("-", ""))
    if len(mobile) != MOBILE_DIGITS or not mobile.isdigit() or mobile[0] != "1":
        raise RuleViolation("手机号码应为11位数字，以1开头。")
    return mobile


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:]


def _mobile_of(request: BookingRequest) -> str:
    """The booking's mobile number; a walk-in without one is registered all the same
    (无差别受理) and gets "" — nothing is sent to it."""
    if request.channel is Channel.in_person and not request.mobile.strip():
        return ""
    return normalise_mobile(request.mobile)


def _check_person(request: BookingRequest, policy: Policy, today: dt.date) -> None:
    if not 2 <= len(request.name.strip()) <= 32:
        raise RuleViolation("姓名应为2至32个字。")
    _mobile_of(request)
    problem = identity_problem(request.id_type, request.id_number, today=today)
    if problem:
        raise RuleViolation(problem + "。" if not problem.endswith("。") else problem)
    problem = representatives_problem(
        policy.jurisdiction, request.party_size, list(request.representatives)
    )
    if problem:
        raise RuleViolation(problem + "。" if not problem.endswith("。") else problem)
    if not request.topic.strip() or not 1 <= len(request.summary.strip()) <= 300:
        raise RuleViolation("请选择反映事项的类别，并用300字以内简要说明。")


def _check_timing(
    sitting: Sitting, channel: Channel, slot_start: str | None, policy: Policy, now: dt.datetime
) -> Slot | None:
    """Walk-ins are never turned away for window or notice (无差别受理) but come on the
    day; a booking falls inside the window, before the notice closes, in a real slot."""
    local = wall_clock(now)
    if channel is Channel.in_person:
        if sitting.day != local.date():
            raise RuleViolation("现场登记只能在接访当天办理。")
        return None
    if not in_window(sitting.day, local.date(), policy.window_days):
        raise RuleViolation(f"只能预约今天起{policy.window_days}天内的接访。")
    closes = booking_closes(sitting.day, notice_days=policy.notice_days, closes_at=policy.closes_at)
    if local >= closes:
        raise RuleViolation(f"该场接访的预约已于{closes:%m月%d日%H:%M}截止，可当天到现场登记。")
    slot = next(
        (s for s in sitting_slots(sitting) if s.start.strftime("%H:%M") == slot_start), None
    )
    if slot is None:
        raise RuleViolation("请选择该场接访的一个预约时段。")
    return slot


async def _scheduled_sitting(db: AsyncSession, sitting_id: int) -> Sitting:
    """The sitting, share-locked: a publication cancelling it at this moment waits for
    this booking (and then moves it), or this booking waits and sees it cancelled."""
    sitting = await db.scalar(
        select(Sitting)
        .where(Sitting.id == sitting_id)
        .with_for_update(read=True, of=Sitting)
        .execution_options(populate_existing=True)
    )
    return _still_scheduled(sitting)


def _still_scheduled(sitting: Sitting | None) -> Sitting:
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    if sitting.status != "scheduled":
        raise RuleViolation("该接访安排已取消，请另选时间。")
    return sitting


#: Built once: the statement and its options are the same for every booking.
_SITTING_TO_BOOK = (
    select(Sitting, Unit.path)
    .join(Unit, Unit.id == Sitting.county_id)
    .where(Sitting.id == bindparam("sitting_id"))
    .options(defaultload(Sitting.rule).raiseload("*"))
    .options(defaultload(Sitting.venue).raiseload("*"))
    .with_for_update(read=True, of=Sitting)
    .execution_options(populate_existing=True)
)


async def _sitting_to_book(db: AsyncSession, sitting_id: int) -> tuple[Sitting, str]:
    """The sitting share-locked as `_scheduled_sitting` does, with its county's path, and
    only what a new booking reads of it: the rule's options, the venue's sessions and
    address, the official — not the units of the rule and the venue (4 tables, not 8)."""
    row = (await db.execute(_SITTING_TO_BOOK, {"sitting_id": sitting_id})).one_or_none()
    return _still_scheduled(row[0] if row else None), row[1] if row else ""


def _check_staff(actor: Principal | None, county_path: str, request: BookingRequest) -> None:
    if request.channel is Channel.online:
        return
    if actor is None:
        raise RuleViolation("电话预约和现场登记由窗口工作人员办理。")
    require_scope(actor, CLERKS, county_path, "代群众预约")


# --------------------------------------------------------------------------- booking


async def book(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    request: BookingRequest,
    secrets: Secrets,
    policy: Policy = DEFAULT_POLICY,
    citizen: str | None = None,
    confirm: Confirmation | None = None,
) -> Booked:
    """Take a seat (or a queue number, or a waitlist place) at a published sitting.
    Online, `citizen` is the mobile hash a one-time code verified: it must be the
    booking's own number. `confirm` is the SMS queued with the booking."""
    sitting, county_path = await _sitting_to_book(db, request.sitting_id)
    _check_staff(actor, county_path, request)
    _check_person(request, policy, wall_clock(now).date())
    slot = _check_timing(sitting, request.channel, request.slot_start, policy, now)
    mobile, code = _mobile_of(request), make_code(os.urandom(16))
    number = normalise(request.id_type, request.id_number)
    # No number: a hash of its own, so two walk-ins without phones never clash.
    who = secrets.ref("mobile", mobile) if mobile else secrets.ref("no-mobile", code)
    refs = (who, secrets.ref(request.id_type, number))
    if request.channel is Channel.online and citizen != refs[0]:
        raise NotAuthenticated("网上预约须先用短信验证码验证该手机号。")
    booking = _new_booking(request, sitting, slot, code, refs, secrets, actor, now)
    booking.sitting = sitting  # loaded already: the confirmation reads it
    sms = confirm.text(booking) if confirm is not None and mobile else None
    if slot is not None and db.get_bind().dialect.name == "postgresql":
        await _take_on_server(db, booking, slot, policy, request.waitlist, sms, mobile)
    else:
        await _take_here(db, booking, sitting, slot, policy, request.waitlist)
        if sms is not None and confirm is not None:
            await confirm.queue(booking, sms)
    # Last: the county ledger's head stays locked from here to the commit, and every
    # booking of the county queues on it.
    entry = _entry(
        actor,
        refs[0],
        now,
        BOOKING_CREATED,
        booking,
        status=booking.status,
        channel=str(request.channel),
        queue_number=booking.queue_number,
    )
    receipt = await ledger.append_now(db, **entry)
    return Booked(booking, receipt)


def _new_booking(
    request: BookingRequest,
    sitting: Sitting,
    slot: Slot | None,
    code: str,
    refs: tuple[str, str],
    secrets: Secrets,
    actor: Principal | None,
    now: dt.datetime,
) -> Booking:
    """The booking row as asked for; its status and queue number come with the seat."""
    mobile, number = _mobile_of(request), normalise(request.id_type, request.id_number)
    return Booking(
        code=code,
        county_id=sitting.county_id,
        sitting_id=sitting.id,
        slot_start=slot.start.strftime("%H:%M") if slot else None,
        channel=str(request.channel),
        queue_number=None,
        name=request.name.strip(),
        mobile_hash=refs[0],
        mobile_enc=secrets.seal(mobile),
        id_type=str(request.id_type),
        id_hash=refs[1],
        id_enc=secrets.seal(number),
        id_masked=mask(request.id_type, number),
        topic=request.topic.strip(),
        summary=request.summary.strip(),
        party_size=request.party_size,
        representatives=list(request.representatives),
        sequence=0,
        created_by=actor.account_id if actor and actor.account_id else None,
        created_at=now,
        updated_at=now,
    )


async def _take_here(
    db: AsyncSession,
    booking: Booking,
    sitting: Sitting,
    slot: Slot | None,
    policy: Policy,
    waitlist: bool,
) -> None:
    """The portable path: the limits, the seat (or queue number) and the row, statement
    by statement in the caller's transaction."""
    refs = (booking.mobile_hash, booking.id_hash)
    await _refuse_second_booking(db, sitting.id, refs)
    if slot is not None:
        await _take_limits(db, refs, sitting.day, policy)
    status, booking.queue_number = await _place(db, sitting, slot, waitlist=waitlist)
    booking.status = str(status)
    db.add(booking)
    await _flush_once(db)


_TAKE = text(
    "SELECT out_refusal, out_status, out_booking FROM booking_take(:sitting, :slot, :seats, "
    ":waitlist, :active, :month, :per_month, :code, :county, :channel, :name, :mobile_hash, "
    ":mobile_enc, :id_type, :id_hash, :id_enc, :id_masked, :topic, :summary, :party_size, "
    "CAST(:representatives AS jsonb), :created_by, :at, :sms_key, :sms_kind, :sms_masked, "
    ":sms_body, :job_kind, :job_attempts)"
)


async def _take_on_server(
    db: AsyncSession,
    booking: Booking,
    slot: Slot,
    policy: Policy,
    waitlist: bool,
    sms: str | None,
    mobile: str,
) -> None:
    """PostgreSQL: the same steps as `_take_here` (and the confirmation SMS with its job)
    in one call to `booking_take` (migration 0012); the booking becomes a persistent
    object without being read back."""
    row = (
        await db.execute(
            _TAKE,
            {
                **_take_fields(booking),
                "seats": slot.seats,
                "waitlist": waitlist,
                "active": [str(s) for s in ACTIVE],
                "month": booking.sitting.day.strftime("%Y-%m"),
                "per_month": policy.per_month,
                "sms_key": message_key("%s", CONFIRMATION),
                "sms_kind": CONFIRMATION,
                "sms_masked": mask_mobile(mobile),
                "sms_body": sms,
                "job_kind": SEND_JOB,
                "job_attempts": SEND_ATTEMPTS,
            },
        )
    ).one()
    if row.out_refusal == "duplicate":
        raise RuleViolation(SECOND_BOOKING)
    if row.out_refusal == "limit":
        raise _over_limit(policy)
    if row.out_refusal == "full":
        raise _slot_full(slot)
    booking.id, booking.status = int(row.out_booking), str(row.out_status)
    make_transient_to_detached(booking)
    db.add(booking)


def _take_fields(booking: Booking) -> dict[str, object]:
    """The booking's columns as `booking_take` takes them."""
    return {
        "sitting": booking.sitting_id,
        "slot": booking.slot_start,
        "code": booking.code,
        "county": booking.county_id,
        "channel": booking.channel,
        "name": booking.name,
        "mobile_hash": booking.mobile_hash,
        "mobile_enc": booking.mobile_enc,
        "id_type": booking.id_type,
        "id_hash": booking.id_hash,
        "id_enc": booking.id_enc,
        "id_masked": booking.id_masked,
        "topic": booking.topic,
        "summary": booking.summary,
        "party_size": booking.party_size,
        "representatives": json.dumps(booking.representatives, ensure_ascii=False),
        "created_by": booking.created_by,
        "at": booking.created_at,
    }


async def _holds_active(
    db: AsyncSession, sitting_id: int, refs: tuple[str, str], but: int | None = None
) -> bool:
    """Whether the citizen (mobile or identity hash) holds an active booking of the
    sitting, other than booking `but`."""
    found = await db.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.sitting_id == sitting_id,
            Booking.status.in_([str(s) for s in ACTIVE]),
            (Booking.mobile_hash == refs[0]) | (Booking.id_hash == refs[1]),
            Booking.id != (but or 0),
        )
    )
    return bool(found)


async def _refuse_second_booking(
    db: AsyncSession, sitting_id: int, refs: tuple[str, str], but: int | None = None
) -> None:
    """The friendly answer; the partial unique indexes are what hold under concurrency."""
    if await _holds_active(db, sitting_id, refs, but):
        raise RuleViolation(SECOND_BOOKING)


async def _take_limits(
    db: AsyncSession, refs: tuple[str, str], day: dt.date, policy: Policy
) -> None:
    month = day.strftime("%Y-%m")
    for subject in refs:
        if not await _take_quota(db, subject, month, policy.per_month):
            raise _over_limit(policy)


def _over_limit(policy: Policy) -> RuleViolation:
    return RuleViolation(f"每人每月最多预约{policy.per_month}次接访，本月已达上限。")


def _slot_full(slot: Slot) -> Conflict:
    return Conflict(f"{slot.start:%H:%M}时段已约满，可选择其他时段或登记候补。")


async def _place(
    db: AsyncSession, sitting: Sitting, slot: Slot | None, *, waitlist: bool
) -> tuple[BookingStatus, int | None]:
    if slot is None:
        return BookingStatus.booked, await next_queue_number(db, sitting.id)
    if await _take_seat(db, sitting, slot):
        return BookingStatus.booked, None
    if waitlist:
        return BookingStatus.waitlisted, None
    raise _slot_full(slot)


async def _flush_once(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as clash:
        # Two requests of one citizen for one sitting at the same moment: one wins.
        message = str(clash.orig)
        if "uq_bookings_active" in message or "bookings.sitting_id" in message:
            raise RuleViolation(SECOND_BOOKING) from clash
        raise


def _entry(
    actor: Principal | None,
    mobile_ref: str,
    now: dt.datetime,
    action: str,
    booking: Booking,
    **payload: object,
) -> dict[str, Any]:
    """The ledger entry of a booking's change, as `ledger.append`'s keywords."""
    who: Principal | dict[str, object] = actor if actor is not None else citizen_actor(mobile_ref)
    role = Role.clerk.value if actor is not None and Role.clerk in actor.roles else None
    return {
        "county": booking.county_id,
        "actor": who,
        "action": action,
        "subject": ("booking", booking.id),
        "payload": {"sitting": booking.sitting_id, "slot": booking.slot_start, **payload},
        "at": now,
        "role": role,
    }


# --------------------------------------------------------------------------- lookup, cancel


async def find(db: AsyncSession, code: str, mobile: str, secrets: Secrets) -> Booking:
    """The booking of this code and mobile number. The same answer whether the code does
    not exist or the number does not match, so a lookup reveals nothing."""
    wanted = normalise_code(code)
    if not code_is_valid(wanted):
        raise RuleViolation("预约码有误，请核对后重新输入（预约码为9位字母和数字）。")
    booking = await db.scalar(select(Booking).where(Booking.code == wanted))
    ref = secrets.ref("mobile", normalise(IdType.passport, mobile.replace("-", "")))
    if booking is None or not hmac.compare_digest(booking.mobile_hash, ref):
        raise NotFound("没有找到与该预约码和手机号码相符的预约。")
    return booking


async def _relock(db: AsyncSession, booking: Booking) -> None:
    """Lock the booking's row and re-read it: two requests changing one booking at once
    (a double-clicked cancel) take turns, and the second sees what the first did."""
    await db.execute(
        select(Booking)
        .where(Booking.id == booking.id)
        .with_for_update(of=Booking)
        .execution_options(populate_existing=True)
    )


async def cancel(
    db: AsyncSession, actor: Principal | None, now: dt.datetime, booking: Booking
) -> Booking | None:
    """Cancel; the seat goes to the first citizen waiting for the slot, in the same
    transaction. Returns the promoted booking, if any."""
    await _relock(db, booking)
    if booking.status not in (BookingStatus.booked, BookingStatus.waitlisted):
        raise RuleViolation("该预约已结束或已取消，不能再取消。")
    slot, held_seat = booking.slot_start, booking.status == BookingStatus.booked
    booking.status, booking.updated_at = str(BookingStatus.cancelled), now
    booking.sequence += 1
    promoted = None
    if slot is not None:
        await _release_quotas(db, booking, booking.sitting.day)
        if held_seat:
            promoted = await _hand_on_seat(db, now, booking.sitting_id, slot)
    await db.flush()
    await ledger.append(db, **_entry(actor, booking.mobile_hash, now, BOOKING_CANCELLED, booking))
    await _promotion_ledger(db, now, promoted)
    return promoted


async def _release_quotas(db: AsyncSession, booking: Booking, day: dt.date) -> None:
    for subject in (booking.mobile_hash, booking.id_hash):
        await _release_quota(db, subject, day.strftime("%Y-%m"))


async def _hand_on_seat(
    db: AsyncSession, now: dt.datetime, sitting_id: int, slot_start: str
) -> Booking | None:
    """A seat of this slot was given up: the citizen waiting longest for it takes it, or
    it is free again. SKIP LOCKED: two cancellations at once promote two different
    waiting citizens instead of both finding the first one (and one seat staying empty).
    A waiting booking changes only when it joins a waitlist, so `updated_at` is when it
    started waiting for this slot."""
    waiting = await db.scalar(
        select(Booking)
        .where(
            Booking.sitting_id == sitting_id,
            Booking.slot_start == slot_start,
            Booking.status == BookingStatus.waitlisted,
        )
        .order_by(Booking.updated_at, Booking.id)
        .limit(1)
        .with_for_update(of=Booking, skip_locked=True)
    )
    if waiting is None:
        await _release_seat(db, sitting_id, slot_start)
        return None
    waiting.status, waiting.updated_at = str(BookingStatus.booked), now
    waiting.sequence += 1
    await db.flush()
    return waiting


async def _promotion_ledger(db: AsyncSession, now: dt.datetime, promoted: Booking | None) -> None:
    """The promotion's entry: written after every row lock the change takes, as all
    ledger appends are (the ledger head is the last lock, never one held while waiting)."""
    if promoted is None:
        return
    await ledger.append(
        db,
        county=promoted.county_id,
        actor=system_actor("booking.waitlist"),
        action=BOOKING_PROMOTED,
        subject=("booking", promoted.id),
        payload={"sitting": promoted.sitting_id, "slot": promoted.slot_start},
        at=now,
    )


# --------------------------------------------------------------------------- reschedule

BOOKING_RESCHEDULED = ledger_action(
    "booking.rescheduled",
    "booking",
    "改约：换到另一场接访或同一场的另一时段（预约码不变）",
    sitting="改约后的接访安排编号",
    slot="改约后的时段开始时间",
    from_sitting="改约前的接访安排编号",
    from_slot="改约前的时段开始时间",
    status="改约后的状态（booked/waitlisted）",
)


@dataclass(frozen=True, slots=True)
class NewTime:
    """Where a booking moves: a sitting and one of its slots; `waitlist` joins the slot's
    waitlist when it is full instead of refusing."""

    sitting_id: int
    slot_start: str
    waitlist: bool = False


@dataclass(frozen=True, slots=True)
class Rescheduled:
    booking: Booking
    receipt: ledger.Receipt
    #: The waiting citizen who took the seat the booking gave up, if any.
    promoted: Booking | None


#: A booking can be moved while it holds a seat or waits for one, and not a walk-in's
#: queue number.
RESCHEDULABLE = (BookingStatus.booked, BookingStatus.waitlisted)


def can_reschedule(booking: Booking) -> bool:
    return booking.status in RESCHEDULABLE and booking.slot_start is not None


def _check_reschedulable(booking: Booking, to: NewTime, now: dt.datetime) -> None:
    if booking.status not in RESCHEDULABLE:
        raise RuleViolation("该预约已签到、结束或已取消，不能改约。")
    if booking.slot_start is None:
        raise RuleViolation("现场登记的排队号不能改约，请到窗口办理。")
    if booking.sitting.day < wall_clock(now).date():
        raise RuleViolation("该预约的接访日期已过，不能改约。")
    if (booking.sitting_id, booking.slot_start) == (to.sitting_id, to.slot_start):
        raise RuleViolation("新选的时段与原预约相同。")


async def reschedule(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    booking: Booking,
    to: NewTime,
    policy: Policy = DEFAULT_POLICY,
) -> Rescheduled:
    """Move a booking to another slot or sitting of its county, keeping its code (the
    invitation's SEQUENCE goes up). The new seat is taken by the same conditional UPDATE
    as a booking, under the same window, notice and monthly limits; the old seat goes to
    the first citizen waiting for it. Both seat rows are touched in key order, so two
    citizens swapping slots at the same moment cannot deadlock."""
    await _relock(db, booking)
    _check_reschedulable(booking, to, now)
    target = await _scheduled_sitting(db, to.sitting_id)
    if target.county_id != booking.county_id:
        raise RuleViolation("只能改约到本县（市、区）的接访安排。")
    slot = _check_timing(target, Channel(booking.channel), to.slot_start, policy, now)
    assert slot is not None and booking.slot_start is not None
    refs = (booking.mobile_hash, booking.id_hash)
    await _refuse_second_booking(db, target.id, refs, but=booking.id)
    old, old_slot = booking.sitting, booking.slot_start
    if old.day.strftime("%Y-%m") != target.day.strftime("%Y-%m"):
        await _release_quotas(db, booking, old.day)
        await _take_limits(db, refs, target.day, policy)
    held = booking.status == BookingStatus.booked
    status, promoted = await _swap_seats(db, now, (old.id, old_slot, held), target, slot, to)
    booking.sitting_id, booking.sitting, booking.slot_start = target.id, target, to.slot_start
    booking.status, booking.updated_at = str(status), now
    booking.sequence += 1
    await _flush_once(db)
    entry = _entry(
        actor,
        booking.mobile_hash,
        now,
        BOOKING_RESCHEDULED,
        booking,
        from_sitting=old.id,
        from_slot=old_slot,
        status=str(status),
    )
    receipt = await ledger.append_now(db, **entry)
    await _promotion_ledger(db, now, promoted)
    return Rescheduled(booking, receipt, promoted)


async def _swap_seats(
    db: AsyncSession,
    now: dt.datetime,
    old: tuple[int, str, bool],
    target: Sitting,
    slot: Slot,
    to: NewTime,
) -> tuple[BookingStatus, Booking | None]:
    """Take the new seat (or waitlist place) and give up the old one, lower key first."""
    sitting_id, start, held = old
    promoted: Booking | None = None
    release_first = (sitting_id, start) < (target.id, to.slot_start)
    if held and release_first:
        promoted = await _hand_on_seat(db, now, sitting_id, start)
    status, _ = await _place(db, target, slot, waitlist=to.waitlist)
    if held and not release_first:
        promoted = await _hand_on_seat(db, now, sitting_id, start)
    return status, promoted


# --------------------------------------------------------------------------- re-plan
#
# A published roster that drops a sitting (its leader fell ill, the date moved) leaves
# citizens booked on it. In the same transaction as the publication each of them follows
# to the sitting of the same rule that replaces it (slots.replacement: same day with the
# leader who now receives, else the nearest day within a week), keeping the code and as
# near the same slot as seats allow; with no replacement, or when the citizen holds a
# booking there already, the booking is cancelled. A job then tells each citizen what
# changed — keeping needs nothing, cancelling or rescheduling is one click.

BOOKING_MOVED = ledger_action(
    "booking.moved",
    "booking",
    "排班调整：原接访安排取消，预约随之改到接替的接访安排（预约码不变）",
    sitting="新的接访安排编号",
    slot="新的时段开始时间",
    from_sitting="原接访安排编号",
    from_slot="原时段开始时间",
    status="改后的状态（booked/waitlisted）",
)
#: The job that tells a citizen how a re-plan changed their booking.
CHANGE_NOTICE_JOB = "booking.change_notice"
_REPLAN = "roster.publish"


@dataclass(frozen=True, slots=True)
class Followed:
    booking: Booking
    from_sitting: int
    from_slot: str | None
    #: Where it went; None when the booking was cancelled.
    to_sitting: int | None


async def follow_roster(
    db: AsyncSession, now: dt.datetime, cancelled: Sequence[Sitting]
) -> list[Followed]:
    """Move (or cancel) the bookings of sittings a publication cancelled. Seats are taken
    for every booking first and the ledger written after, so this transaction never waits
    for a seat while holding the ledger."""
    if not cancelled:
        return []
    waiting = await db.scalars(
        select(Booking)
        .where(
            Booking.sitting_id.in_([s.id for s in cancelled]),
            Booking.status.in_([BookingStatus.booked, BookingStatus.waitlisted]),
        )
        .order_by(Booking.status, Booking.created_at, Booking.id)
        .with_for_update(of=Booking)
    )
    targets: dict[int, Sitting | None] = {}
    done = []
    for booking in list(waiting):
        if booking.sitting_id not in targets:
            targets[booking.sitting_id] = await _replacement_of(db, booking.sitting, now)
        done.append(await _follow(db, now, booking, targets[booking.sitting_id]))
    for followed in done:
        await _followed_ledger(db, now, followed)
    return done


async def _replacement_of(db: AsyncSession, gone: Sitting, now: dt.datetime) -> Sitting | None:
    near = dt.timedelta(days=MAX_SHIFT_DAYS)
    found = list(
        await db.scalars(
            select(Sitting).where(
                Sitting.rule_id == gone.rule_id,
                Sitting.status == "scheduled",
                Sitting.day.between(gone.day - near, gone.day + near),
            )
        )
    )
    chosen = replacement(gone.day, [(s.day, s.id) for s in found], wall_clock(now).date())
    return next((s for s in found if s.id == chosen), None)


async def _follow(
    db: AsyncSession, now: dt.datetime, booking: Booking, target: Sitting | None
) -> Followed:
    old, old_slot = booking.sitting, booking.slot_start
    if old_slot is not None and booking.status == BookingStatus.booked:
        await _release_seat(db, old.id, old_slot)
    if target is not None and old_slot is not None:
        refs = (booking.mobile_hash, booking.id_hash)
        if not await _holds_active(db, target.id, refs, but=booking.id):
            await _shift_quota(db, booking, old.day, target.day)
            await _seat_on(db, booking, target, old_slot)
            booking.sitting_id, booking.sitting = target.id, target
            return _changed(booking, now, Followed(booking, old.id, old_slot, target.id))
    if old_slot is not None:
        await _release_quotas(db, booking, old.day)
    booking.status = str(BookingStatus.cancelled)
    return _changed(booking, now, Followed(booking, old.id, old_slot, None))


def _changed(booking: Booking, now: dt.datetime, followed: Followed) -> Followed:
    booking.updated_at = now
    booking.sequence += 1
    return followed


async def _shift_quota(db: AsyncSession, booking: Booking, old: dt.date, new: dt.date) -> None:
    """A moved booking counts in its new month whatever the limit: the move was not the
    citizen's choice."""
    if old.strftime("%Y-%m") == new.strftime("%Y-%m"):
        return
    await _release_quotas(db, booking, old)
    for subject in (booking.mobile_hash, booking.id_hash):
        await _take_quota(db, subject, new.strftime("%Y-%m"), limit=None)


async def _seat_on(db: AsyncSession, booking: Booking, target: Sitting, wanted: str) -> None:
    """The nearest slot with a free seat; none free (or already waiting): the waitlist of
    the nearest slot, in the order of the moment of the move."""
    slots = {f"{x.start:%H:%M}": x for x in sitting_slots(target)}
    order = nearest_slots(wanted, slots)
    booking.slot_start = order[0] if order else wanted
    if booking.status != BookingStatus.booked:
        return
    for start in order:
        if await _take_seat(db, target, slots[start]):
            booking.slot_start = start
            return
    booking.status = str(BookingStatus.waitlisted)


async def _followed_ledger(db: AsyncSession, now: dt.datetime, followed: Followed) -> None:
    booking = followed.booking
    if followed.to_sitting is None:
        action, payload = BOOKING_CANCELLED, {}
    else:
        action = BOOKING_MOVED
        payload = {
            "from_sitting": followed.from_sitting,
            "from_slot": followed.from_slot,
            "status": booking.status,
        }
    await db.flush()
    await ledger.append(
        db,
        county=booking.county_id,
        actor=system_actor(_REPLAN),
        action=action,
        subject=("booking", booking.id),
        payload={"sitting": booking.sitting_id, "slot": booking.slot_start, **payload},
        at=now,
    )
    await enqueue(
        db,
        CHANGE_NOTICE_JOB,
        {
            "booking": booking.id,
            "from_sitting": followed.from_sitting,
            "from_slot": followed.from_slot,
        },
        now=now,
        dedupe_key=f"change:{booking.id}:{booking.sequence}",
    )


#: A listed sitting shows its rule's name and sessions, its venue and its official; the
#: units of the rule and the venue, and the rule's own venue, are not joined in (eight
#: tables instead of four cost more to plan and to load than the rest of a page).
_LISTED = (
    defaultload(Sitting.rule).raiseload(ReceptionRule.unit, sql_only=True),
    defaultload(Sitting.rule).raiseload(ReceptionRule.venue, sql_only=True),
    defaultload(Sitting.venue).raiseload(Venue.unit, sql_only=True),
)


async def published_sittings(
    db: AsyncSession,
    first: dt.date,
    last: dt.date,
    *,
    unit: int | None = None,
    person: int | None = None,
    topic: str | None = None,
    after: tuple[dt.date, int] | None = None,
    limit: int = 100,
) -> list[Sitting]:
    """Scheduled sittings between two dates in (day, id) order, from after a cursor;
    `topic` keeps those whose official's tenure has it in its 分管领域."""
    query = (
        select(Sitting)
        .options(*_LISTED)
        .where(Sitting.status == "scheduled", Sitting.day >= first, Sitting.day <= last)
    )
    if after is not None:
        query = query.where(
            (Sitting.day > after[0]) | ((Sitting.day == after[0]) & (Sitting.id > after[1]))
        )
    if person is not None:
        query = query.where(Sitting.person_id == person)
    if topic:
        query = query.where(Sitting.tenure_id.in_(await org.tenures_in_charge_of(db, topic)))
    if unit is not None:
        place = await db.get(Unit, unit)
        if place is None:
            raise NotFound("找不到该单位。")
        inside = select(Unit.id).where(Unit.path.startswith(place.path))
        query = query.where(
            Sitting.rule_id.in_(select(ReceptionRule.id).where(ReceptionRule.unit_id.in_(inside)))
        )
    return list(await db.scalars(query.order_by(Sitting.day, Sitting.id).limit(limit)))


async def bookings_of_sittings(
    db: AsyncSession, sitting_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """(code, status) of the live bookings (booked or waitlisted) of each sitting, in
    booking order: what a departing official's handover dossier lists."""
    rows = await db.execute(
        select(Booking.sitting_id, Booking.code, Booking.status)
        .where(
            Booking.sitting_id.in_(list(sitting_ids)),
            Booking.status.in_([BookingStatus.booked, BookingStatus.waitlisted]),
        )
        .order_by(Booking.sitting_id, Booking.created_at, Booking.id)
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for sitting_id, code, status in rows.tuples():
        found.setdefault(sitting_id, []).append((code, str(status)))
    return found
