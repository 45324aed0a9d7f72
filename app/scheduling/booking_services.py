"""Booking use cases: a citizen's seat at a sitting, taken online, by phone or in person.

No check-then-insert anywhere: a seat is taken by one conditional UPDATE of its slot's
counter (`taken < seats`), a citizen's monthly limit likewise, and one active booking per
citizen per sitting is a partial unique index — so the answers hold with any number of
server processes on SQLite (immediate transactions) and PostgreSQL (row locks). Everything
runs in the caller's transaction; a refusal raises before the caller commits, so it books
nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.errors import Conflict, Forbidden, NotAuthenticated, NotFound, RuleViolation
from app.core.keys import KeyRing
from app.ledger import services as ledger
from app.ledger.rules import citizen_actor, ledger_action, system_actor
from app.org.models import Unit
from app.scheduling.codes import code_is_valid, make_code, normalise_code
from app.scheduling.identity import IdType, identity_problem, mask, normalise
from app.scheduling.models import (
    Booking,
    BookingQuota,
    QueueCounter,
    ReceptionRule,
    Sitting,
    SlotSeats,
)
from app.scheduling.representatives import Jurisdiction, representatives_problem
from app.scheduling.schemas import DAY_SESSION
from app.scheduling.slots import Slot, booking_closes, in_window, slots_of

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
class Booked:
    booking: Booking
    #: Where the booking's ledger entry stands: shown to the citizen on the confirmation.
    receipt: ledger.Receipt


class Secrets:
    """Encryption and keyed hashes for personal numbers, from the `data` key."""

    def __init__(self, keys: KeyRing) -> None:
        self._aead = AESGCM(keys.derive("data", "personal-numbers"))
        self._hash_key = keys.derive("data", "personal-number-hash")
        #: Signs citizen tokens (proof of a verified mobile number).
        self.token_key = keys.derive("session", "citizen-token")

    def seal(self, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, value.encode(), None)

    def open(self, sealed: bytes) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], None).decode()

    def ref(self, kind: str, value: str) -> str:
        """A keyed hash: matches the same number again, reveals nothing without the key."""
        return hmac.new(self._hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


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


def insert_ignoring(db: AsyncSession):  # type: ignore[no-untyped-def]
    """The dialect's INSERT, for `.on_conflict_do_nothing()` (both dialects have it)."""
    return pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert


async def _take_seat(db: AsyncSession, sitting: Sitting, slot: Slot) -> bool:
    start = slot.start.strftime("%H:%M")
    await db.execute(
        insert_ignoring(db)(SlotSeats)
        .values(sitting_id=sitting.id, slot_start=start, seats=slot.seats, taken=0)
        .on_conflict_do_nothing()
    )
    taken = await db.scalar(
        update(SlotSeats)
        .where(
            SlotSeats.sitting_id == sitting.id,
            SlotSeats.slot_start == start,
            SlotSeats.taken < SlotSeats.seats,
        )
        .values(taken=SlotSeats.taken + 1)
        .returning(SlotSeats.taken)
    )
    return taken is not None


async def _release_seat(db: AsyncSession, sitting_id: int, start: str) -> None:
    await db.execute(
        update(SlotSeats)
        .where(SlotSeats.sitting_id == sitting_id, SlotSeats.slot_start == start)
        .values(taken=SlotSeats.taken - 1)
    )


async def _take_quota(db: AsyncSession, subject: str, month: str, limit: int) -> bool:
    await db.execute(
        insert_ignoring(db)(BookingQuota)
        .values(subject=subject, month=month, used=0)
        .on_conflict_do_nothing()
    )
    used = await db.scalar(
        update(BookingQuota)
        .where(
            BookingQuota.subject == subject, BookingQuota.month == month, BookingQuota.used < limit
        )
        .values(used=BookingQuota.used + 1)
        .returning(BookingQuota.used)
    )
    return used is not None


async def _release_quota(db: AsyncSession, subject: str, month: str) -> None:
    await db.execute(
        update(BookingQuota)
        .where(BookingQuota.subject == subject, BookingQuota.month == month, BookingQuota.used > 0)
        .values(used=BookingQuota.used - 1)
    )


async def _next_queue_number(db: AsyncSession, sitting_id: int) -> int:
    await db.execute(
        insert_ignoring(db)(QueueCounter)
        .values(sitting_id=sitting_id, last=0)
        .on_conflict_do_nothing()
    )
    number = await db.scalar(
        update(QueueCounter)
        .where(QueueCounter.sitting_id == sitting_id)
        .values(last=QueueCounter.last + 1)
        .returning(QueueCounter.last)
    )
    assert number is not None
    return int(number)


# --------------------------------------------------------------------------- checks


def _local(now: dt.datetime) -> dt.datetime:
    return now.astimezone(SHANGHAI).replace(tzinfo=None)


def normalise_mobile(raw: str) -> str:
    """An 11-digit mainland mobile number, spaces and dashes removed; refused otherwise."""
    mobile = normalise(IdType.passport, raw.replace("-", ""))
    if len(mobile) != MOBILE_DIGITS or not mobile.isdigit() or mobile[0] != "1":
        raise RuleViolation("手机号码应为11位数字，以1开头。")
    return mobile


def _check_person(request: BookingRequest, policy: Policy, today: dt.date) -> None:
    if not 2 <= len(request.name.strip()) <= 32:
        raise RuleViolation("姓名应为2至32个字。")
    normalise_mobile(request.mobile)
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
    sitting: Sitting, request: BookingRequest, policy: Policy, now: dt.datetime
) -> Slot | None:
    """Walk-ins are never turned away for window or notice (无差别受理) but come on the
    day; a booking falls inside the window, before the notice closes, in a real slot."""
    local = _local(now)
    if request.channel is Channel.in_person:
        if sitting.day != local.date():
            raise RuleViolation("现场登记只能在接访当天办理。")
        return None
    if not in_window(sitting.day, local.date(), policy.window_days):
        raise RuleViolation(f"只能预约今天起{policy.window_days}天内的接访。")
    closes = booking_closes(sitting.day, notice_days=policy.notice_days, closes_at=policy.closes_at)
    if local >= closes:
        raise RuleViolation(f"该场接访的预约已于{closes:%m月%d日%H:%M}截止，可当天到现场登记。")
    slot = next(
        (s for s in sitting_slots(sitting) if s.start.strftime("%H:%M") == request.slot_start), None
    )
    if slot is None:
        raise RuleViolation("请选择该场接访的一个预约时段。")
    return slot


async def _scheduled_sitting(db: AsyncSession, sitting_id: int) -> Sitting:
    sitting = await db.get(Sitting, sitting_id)
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    if sitting.status != "scheduled":
        raise RuleViolation("该接访安排已取消，请另选时间。")
    return sitting


async def _check_staff(
    db: AsyncSession, actor: Principal | None, sitting: Sitting, request: BookingRequest
) -> None:
    if request.channel is Channel.online:
        return
    if actor is None:
        raise RuleViolation("电话预约和现场登记由窗口工作人员办理。")
    county = await db.get(Unit, sitting.county_id)
    assert county is not None
    require_scope(actor, CLERKS, county.path, "代群众预约")


# --------------------------------------------------------------------------- booking


async def book(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    request: BookingRequest,
    secrets: Secrets,
    policy: Policy = Policy(),
    citizen: str | None = None,
) -> Booked:
    """Take a seat (or a queue number, or a waitlist place) at a published sitting.
    Online, `citizen` is the mobile hash a one-time code verified: it must be the
    booking's own number."""
    sitting = await _scheduled_sitting(db, request.sitting_id)
    await _check_staff(db, actor, sitting, request)
    _check_person(request, policy, _local(now).date())
    slot = _check_timing(sitting, request, policy, now)
    mobile = normalise_mobile(request.mobile)
    number = normalise(request.id_type, request.id_number)
    refs = (secrets.ref("mobile", mobile), secrets.ref(request.id_type, number))
    if request.channel is Channel.online and citizen != refs[0]:
        raise NotAuthenticated("网上预约须先用短信验证码验证该手机号。")
    await _refuse_second_booking(db, sitting.id, refs)
    if slot is not None:
        await _take_limits(db, refs, sitting.day, policy)
    status, queue = await _place(db, sitting, slot, request)
    booking = Booking(
        code=make_code(os.urandom(16)),
        county_id=sitting.county_id,
        sitting_id=sitting.id,
        slot_start=slot.start.strftime("%H:%M") if slot else None,
        channel=str(request.channel),
        status=str(status),
        queue_number=queue,
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
        created_by=actor.account_id if actor and actor.account_id else None,
        created_at=now,
        updated_at=now,
    )
    booking.sitting = sitting  # loaded already: the confirmation reads it
    db.add(booking)
    await _flush_once(db)
    receipt = await _ledger(
        db,
        actor,
        refs[0],
        now,
        BOOKING_CREATED,
        booking,
        status=str(status),
        channel=str(request.channel),
        queue_number=queue,
    )
    return Booked(booking, receipt)


async def _refuse_second_booking(db: AsyncSession, sitting_id: int, refs: tuple[str, str]) -> None:
    """The friendly answer; the partial unique indexes are what hold under concurrency."""
    found = await db.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.sitting_id == sitting_id,
            Booking.status.in_([str(s) for s in ACTIVE]),
            (Booking.mobile_hash == refs[0]) | (Booking.id_hash == refs[1]),
        )
    )
    if found:
        raise RuleViolation("您已预约该场接访，不能重复预约；如需改时间请改约。")


async def _take_limits(
    db: AsyncSession, refs: tuple[str, str], day: dt.date, policy: Policy
) -> None:
    month = day.strftime("%Y-%m")
    for subject in refs:
        if not await _take_quota(db, subject, month, policy.per_month):
            raise RuleViolation(f"每人每月最多预约{policy.per_month}次接访，本月已达上限。")


async def _place(
    db: AsyncSession, sitting: Sitting, slot: Slot | None, request: BookingRequest
) -> tuple[BookingStatus, int | None]:
    if slot is None:
        return BookingStatus.booked, await _next_queue_number(db, sitting.id)
    if await _take_seat(db, sitting, slot):
        return BookingStatus.booked, None
    if request.waitlist:
        return BookingStatus.waitlisted, None
    raise Conflict(f"{slot.start:%H:%M}时段已约满，可选择其他时段或登记候补。")


async def _flush_once(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as clash:
        # Two requests of one citizen for one sitting at the same moment: one wins.
        message = str(clash.orig)
        if "uq_bookings_active" in message or "bookings.sitting_id" in message:
            raise RuleViolation("您已预约该场接访，不能重复预约。") from clash
        raise


async def _ledger(
    db: AsyncSession,
    actor: Principal | None,
    mobile_ref: str,
    now: dt.datetime,
    action: str,
    booking: Booking,
    **payload: object,
) -> ledger.Receipt:
    who: Principal | dict[str, object] = actor if actor is not None else citizen_actor(mobile_ref)
    role = Role.clerk.value if actor is not None and Role.clerk in actor.roles else None
    return await ledger.append(
        db,
        county=booking.county_id,
        actor=who,
        action=action,
        subject=("booking", booking.id),
        payload={"sitting": booking.sitting_id, "slot": booking.slot_start, **payload},
        at=now,
        role=role,
    )


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


async def cancel(
    db: AsyncSession, actor: Principal | None, now: dt.datetime, booking: Booking
) -> Booking | None:
    """Cancel; the seat goes to the first citizen waiting for the slot, in the same
    transaction. Returns the promoted booking, if any."""
    if booking.status not in (BookingStatus.booked, BookingStatus.waitlisted):
        raise RuleViolation("该预约已结束或已取消，不能再取消。")
    held_seat = booking.status == BookingStatus.booked and booking.slot_start is not None
    booking.status, booking.updated_at = str(BookingStatus.cancelled), now
    booking.sequence += 1
    if booking.slot_start is not None:
        month = booking.sitting.day.strftime("%Y-%m")
        for subject in (booking.mobile_hash, booking.id_hash):
            await _release_quota(db, subject, month)
    await db.flush()
    await _ledger(db, actor, booking.mobile_hash, now, BOOKING_CANCELLED, booking)
    if not held_seat:
        return None
    return await _promote_or_release(db, now, booking)


async def _promote_or_release(db: AsyncSession, now: dt.datetime, freed: Booking) -> Booking | None:
    # SKIP LOCKED: two cancellations at once promote two different waiting citizens
    # instead of both finding the first one (and one seat staying empty).
    assert freed.slot_start is not None
    waiting = await db.scalar(
        select(Booking)
        .where(
            Booking.sitting_id == freed.sitting_id,
            Booking.slot_start == freed.slot_start,
            Booking.status == BookingStatus.waitlisted,
        )
        .order_by(Booking.created_at, Booking.id)
        .limit(1)
        .with_for_update(of=Booking, skip_locked=True)
    )
    if waiting is None:
        await _release_seat(db, freed.sitting_id, freed.slot_start)
        return None
    waiting.status, waiting.updated_at = str(BookingStatus.booked), now
    waiting.sequence += 1
    await db.flush()
    await ledger.append(
        db,
        county=waiting.county_id,
        actor=system_actor("booking.waitlist"),
        action=BOOKING_PROMOTED,
        subject=("booking", waiting.id),
        payload={"sitting": waiting.sitting_id, "slot": waiting.slot_start},
        at=now,
    )
    return waiting


async def published_sittings(
    db: AsyncSession,
    first: dt.date,
    last: dt.date,
    *,
    unit: int | None = None,
    person: int | None = None,
    after: tuple[dt.date, int] | None = None,
    limit: int = 100,
) -> list[Sitting]:
    """Scheduled sittings between two dates in (day, id) order, from after a cursor."""
    query = select(Sitting).where(
        Sitting.status == "scheduled", Sitting.day >= first, Sitting.day <= last
    )
    if after is not None:
        query = query.where(
            (Sitting.day > after[0]) | ((Sitting.day == after[0]) & (Sitting.id > after[1]))
        )
    if person is not None:
        query = query.where(Sitting.person_id == person)
    if unit is not None:
        place = await db.get(Unit, unit)
        if place is None:
            raise NotFound("找不到该单位。")
        inside = select(Unit.id).where(Unit.path.startswith(place.path))
        query = query.where(
            Sitting.rule_id.in_(select(ReceptionRule.id).where(ReceptionRule.unit_id.in_(inside)))
        )
    return list(await db.scalars(query.order_by(Sitting.day, Sitting.id).limit(limit)))


# ---- check-in and queue
#
# 预约叫号: a clerk checks a citizen in by booking code (a QR scanner types the code into
# the field), the booking takes the sitting's next queue number (a walk-in keeps the one it
# was registered with), numbers are called in order, and each booking ends received or
# no-show. Every move is one change of `status` along QUEUE_MOVES on the locked row, with
# its ledger entry; the public board gets queue numbers and masked names, nothing else.


BOOKING_CHECKED_IN = ledger_action(
    "booking.checked_in",
    "booking",
    "到场签到，取得排队号（现场登记的沿用登记时的排队号）",
    sitting="接访安排编号",
    queue_number="排队号",
)
BOOKING_CALLED = ledger_action(
    "booking.called", "booking", "叫号", sitting="接访安排编号", queue_number="排队号"
)
BOOKING_RECEIVED = ledger_action(
    "booking.received",
    "booking",
    "已接待",
    sitting="接访安排编号",
    queue_number="排队号",
    was="此前的状态（checked_in/called）",
)
BOOKING_NO_SHOW = ledger_action(
    "booking.no_show",
    "booking",
    "未到（预约后未到场，或叫号未应）",
    sitting="接访安排编号",
    queue_number="排队号（未取得排队号的为 null）",
    was="此前的状态（booked/checked_in/called）",
)

#: The queue's legal moves; anything else is refused with the booking's current state.
QUEUE_MOVES: Mapping[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.booked: frozenset({BookingStatus.checked_in, BookingStatus.no_show}),
    BookingStatus.checked_in: frozenset(
        {BookingStatus.called, BookingStatus.received, BookingStatus.no_show}
    ),
    BookingStatus.called: frozenset({BookingStatus.received, BookingStatus.no_show}),
}
OUTCOMES = frozenset({BookingStatus.received, BookingStatus.no_show})
#: The bookings a day's queue lists: everyone holding a seat or a number.
QUEUE_STATUSES = (
    BookingStatus.booked,
    BookingStatus.checked_in,
    BookingStatus.called,
    BookingStatus.received,
    BookingStatus.no_show,
)
BOOKING_STATUS_LABELS: Mapping[str, str] = {
    BookingStatus.booked: "待签到",
    BookingStatus.waitlisted: "候补",
    BookingStatus.checked_in: "已签到",
    BookingStatus.called: "已叫号",
    BookingStatus.cancelled: "已取消",
    BookingStatus.received: "已接待",
    BookingStatus.no_show: "未到",
}
#: Which of a clerk's roles a ledger entry names, when several reach the county.
_RUNNER_ROLES = (Role.clerk, Role.office, Role.admin)
BOARD_NEXT = 5


def mask_name(name: str) -> str:
    """A name for the public board: 陈小明 → 陈*明, 陈明 → 陈*, 欧阳小明 → 欧**明."""
    text = name.strip()
    if len(text) <= 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def _day_words(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def _locked_booking(db: AsyncSession, code: str) -> Booking:
    wanted = normalise_code(code)
    if not code_is_valid(wanted):
        raise RuleViolation("预约码有误，请核对后重新输入（预约码为9位字母和数字）。")
    booking = await db.scalar(
        select(Booking)
        .where(Booking.code == wanted)
        .with_for_update(of=Booking)
        .execution_options(populate_existing=True)
    )
    if booking is None:
        raise NotFound("没有找到该预约码对应的预约。")
    return booking


async def _clerk_role(db: AsyncSession, actor: Principal, sitting: Sitting, what: str) -> Role:
    county = await db.get(Unit, sitting.county_id)
    assert county is not None
    require_scope(actor, CLERKS, county.path, what)
    return next(
        r for r in _RUNNER_ROLES if any(g.reaches(county.path) for g in actor.grants_for({r}))
    )


async def _runner_role(db: AsyncSession, actor: Principal, sitting: Sitting, what: str) -> Role:
    """The leader who sits runs their own queue; clerks (admins, the office) whose scope
    reaches the county run any of its queues."""
    own = actor.person_id is not None and actor.person_id == sitting.person_id
    if own and Role.leader in actor.roles:
        return Role.leader
    if Role.leader in actor.roles and not actor.has_any(CLERKS):
        raise Forbidden(f"这不是您本人的接访，不能{what}。")
    return await _clerk_role(db, actor, sitting, what)


def _require_on_the_day(sitting: Sitting, now: dt.datetime, what: str) -> None:
    if sitting.status != "scheduled":
        raise RuleViolation("该接访安排已取消。")
    if _local(now).date() != sitting.day:
        raise RuleViolation(f"该接访安排在{_day_words(sitting.day)}，只能在接访当天{what}。")


def _move(booking: Booking, to: BookingStatus, now: dt.datetime, what: str) -> str:
    """Move along QUEUE_MOVES (the row is locked); returns the status it left."""
    was = booking.status
    if to not in QUEUE_MOVES.get(BookingStatus(was), frozenset()):
        number = f"，排队号{booking.queue_number}号" if booking.queue_number else ""
        label = BOOKING_STATUS_LABELS.get(was, was)
        raise RuleViolation(f"该预约当前为“{label}”{number}，不能{what}。")
    booking.status, booking.updated_at = str(to), now
    booking.sequence += 1
    return was


async def _queue_ledger(
    db: AsyncSession,
    actor: Principal,
    role: Role,
    now: dt.datetime,
    action: str,
    booking: Booking,
    **payload: object,
) -> None:
    await db.flush()
    await ledger.append(
        db,
        county=booking.county_id,
        actor=actor,
        action=action,
        subject=("booking", booking.id),
        payload={"sitting": booking.sitting_id, "queue_number": booking.queue_number, **payload},
        at=now,
        role=str(role),
    )


async def check_in(db: AsyncSession, actor: Principal, now: dt.datetime, code: str) -> Booking:
    """Check a citizen in on the sitting's day by booking code; the booking takes the
    sitting's next queue number unless it has one (a walk-in's, given at registration)."""
    booking = await _locked_booking(db, code)
    sitting = booking.sitting
    role = await _clerk_role(db, actor, sitting, "办理签到")
    _require_on_the_day(sitting, now, "签到")
    _move(booking, BookingStatus.checked_in, now, "签到")
    if booking.queue_number is None:
        booking.queue_number = await _next_queue_number(db, sitting.id)
    await _queue_ledger(db, actor, role, now, BOOKING_CHECKED_IN, booking)
    return booking


async def call_next(
    db: AsyncSession, actor: Principal, now: dt.datetime, sitting_id: int
) -> Booking | None:
    """Call the lowest waiting number of a sitting; None when nobody is waiting."""
    sitting = await db.get(Sitting, sitting_id)
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    role = await _runner_role(db, actor, sitting, "叫号")
    _require_on_the_day(sitting, now, "叫号")
    # SKIP LOCKED: two calls at once take two different citizens, never the same one twice.
    booking = await db.scalar(
        select(Booking)
        .where(Booking.sitting_id == sitting.id, Booking.status == BookingStatus.checked_in)
        .order_by(Booking.queue_number, Booking.id)
        .limit(1)
        .with_for_update(of=Booking, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if booking is None:
        return None
    _move(booking, BookingStatus.called, now, "叫号")
    await _queue_ledger(db, actor, role, now, BOOKING_CALLED, booking)
    return booking


async def finish(
    db: AsyncSession, actor: Principal, now: dt.datetime, code: str, outcome: BookingStatus
) -> Booking:
    """End a booking as received (接待完毕) or no_show (预约未到场，或叫号未应), from the
    sitting's day on."""
    if outcome not in OUTCOMES:
        raise RuleViolation("接待结果只能是“已接待”或“未到”。")
    booking = await _locked_booking(db, code)
    sitting = booking.sitting
    label = BOOKING_STATUS_LABELS[outcome]
    role = await _runner_role(db, actor, sitting, f"登记为“{label}”")
    if _local(now).date() < sitting.day:
        raise RuleViolation(f"该接访安排在{_day_words(sitting.day)}，当天起才能登记接待结果。")
    was = _move(booking, outcome, now, f"登记为“{label}”")
    action = BOOKING_RECEIVED if outcome is BookingStatus.received else BOOKING_NO_SHOW
    await _queue_ledger(db, actor, role, now, action, booking, was=was)
    return booking


@dataclass(frozen=True, slots=True)
class SittingQueue:
    """One sitting's queue on its day: bookings in queue order (numbers first, then those
    not yet arrived by slot)."""

    sitting: Sitting
    bookings: list[Booking]

    def having(self, status: BookingStatus) -> list[Booking]:
        return [b for b in self.bookings if b.status == status]

    @property
    def current(self) -> Booking | None:
        """The number called last that is still being received."""
        called = self.having(BookingStatus.called)
        return max(called, key=lambda b: b.queue_number or 0) if called else None


def _queue_order(booking: Booking) -> tuple[bool, int, str, int]:
    number = booking.queue_number
    return number is None, number or 0, booking.slot_start or "", booking.id


async def today_queue(
    db: AsyncSession, sitting_ids: Sequence[int], day: dt.date
) -> list[SittingQueue]:
    """The queues of those of these sittings held on `day` (others are left out). Reads only."""
    sittings = list(
        await db.scalars(
            select(Sitting)
            .where(Sitting.id.in_(list(sitting_ids)), Sitting.day == day)
            .order_by(Sitting.id)
        )
    )
    rows = await db.scalars(
        select(Booking).where(
            Booking.sitting_id.in_([s.id for s in sittings]),
            Booking.status.in_([str(s) for s in QUEUE_STATUSES]),
        )
    )
    by_sitting: dict[int, list[Booking]] = {}
    for booking in rows:
        by_sitting.setdefault(booking.sitting_id, []).append(booking)
    return [SittingQueue(s, sorted(by_sitting.get(s.id, []), key=_queue_order)) for s in sittings]


async def queue_sittings(
    db: AsyncSession,
    day: dt.date,
    *,
    venue: int | None = None,
    person: int | None = None,
    within: Sequence[str] | None = None,
) -> list[Sitting]:
    """Scheduled sittings on a day, at a venue, of a person, in counties whose path starts
    with one of `within` (None: anywhere)."""
    query = select(Sitting).where(Sitting.day == day, Sitting.status == "scheduled")
    if venue is not None:
        query = query.where(Sitting.venue_id == venue)
    if person is not None:
        query = query.where(Sitting.person_id == person)
    if within is not None:
        counties = select(Unit.id).where(or_(false(), *(Unit.path.startswith(p) for p in within)))
        query = query.where(Sitting.county_id.in_(counties))
    return list(await db.scalars(query.order_by(Sitting.id)))


@dataclass(frozen=True, slots=True)
class BoardLine:
    number: int
    name: str  # masked


@dataclass(frozen=True, slots=True)
class BoardSitting:
    """What a venue's public screen shows of a sitting: numbers and masked names only."""

    official: str
    rule: str
    calling: list[BoardLine]
    next_up: list[BoardLine]
    waiting: int


def _board_line(booking: Booking) -> BoardLine:
    return BoardLine(booking.queue_number or 0, mask_name(booking.name))


async def public_board(db: AsyncSession, venue_id: int, day: dt.date) -> list[BoardSitting]:
    """A venue's board on a day: per sitting, the numbers being called (last first) and the
    next ones waiting."""
    sittings = await queue_sittings(db, day, venue=venue_id)
    board = []
    for q in await today_queue(db, [s.id for s in sittings], day):
        called = sorted(q.having(BookingStatus.called), key=_queue_order, reverse=True)
        waiting = q.having(BookingStatus.checked_in)
        board.append(
            BoardSitting(
                official=q.sitting.person.name,
                rule=q.sitting.rule.name,
                calling=[_board_line(b) for b in called],
                next_up=[_board_line(b) for b in waiting[:BOARD_NEXT]],
                waiting=len(waiting),
            )
        )
    return board
