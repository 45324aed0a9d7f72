"""Citizens without accounts: one-time codes to a mobile number, the short-lived citizen
token they earn, rate limits every server process shares, and the outbox of messages.

Counters live in the database or in Redis (`app.core.rates`), never in process memory, so
two processes and two hundred citizens see the same limits. Messages are queued in
`outbox_messages` in the caller's transaction — none is sent for a change that rolls
back — and sent by the `outbox.send` job at most once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets as random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import rates
from app.core.auth.access import Principal
from app.core.errors import NotAuthenticated, NotFound, RuleViolation, TooManyAttempts
from app.core.jobs import enqueue
from app.core.personal_data import Secrets
from app.core.rates import Limit
from app.ledger import services as ledger
from app.org import services as org
from app.org.models import Person, Unit
from app.scheduling import booking_services as bookings
from app.scheduling.booking_services import (
    CONFIRMATION,
    SEND_ATTEMPTS,
    SEND_JOB,
    Booked,
    BookingRequest,
    Channel,
    Confirmation,
    Policy,
    mask_mobile,
    message_key,
    normalise_mobile,
)
from app.scheduling.models import (
    Booking,
    OneTimeCode,
    OutboxMessage,
    ReceptionRule,
    Sitting,
)

CODE_DIGITS = 6
CODE_MINUTES = 5
MAX_CODE_ATTEMPTS = 5
TOKEN_MINUTES = 30


CODE_PER_MOBILE = Limit(5, 3600)
CODE_PER_IP = Limit(30, 3600)
LOOKUP_PER_IP = Limit(60, 600)
#: Bookings and reschedulings a citizen makes (staff are not limited).
BOOK_PER_IP = Limit(20, 3600)
BOOK_PER_MOBILE = Limit(10, 3600)


# --------------------------------------------------------------------------- rate limits


async def require(db: AsyncSession, key: str, limit: Limit, now: dt.datetime, what: str) -> None:
    if not await rates.take(db, key, limit, now):
        minutes = max(1, limit.seconds // 60)
        raise TooManyAttempts(f"{what}过于频繁，请{minutes}分钟后再试。")


async def count_booking(db: AsyncSession, now: dt.datetime, ip: str, mobile_ref: str) -> None:
    """Count a citizen's booking or rescheduling against the address and the number; the
    caller keeps the count even when the booking itself is refused."""
    await require(db, f"book:ip:{ip}", BOOK_PER_IP, now, "预约")
    await require(db, f"book:mobile:{mobile_ref}", BOOK_PER_MOBILE, now, "该手机号预约")


# --------------------------------------------------------------------------- outbox


async def queue_message(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    *,
    key: str,
    kind: str,
    mobile: str,
    body: str,
    county_id: int | None = None,
) -> OutboxMessage | None:
    """Queue one SMS unless a message with this idempotency key exists already."""
    if await db.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return None
    message = OutboxMessage(
        key=key,
        county_id=county_id,
        kind=kind,
        to_hash=secrets.ref("mobile", mobile),
        to_enc=secrets.seal(mobile),
        to_masked=mask_mobile(mobile),
        body=body,
        status="queued",
        attempts=0,
        created_at=now,
    )
    db.add(message)
    await db.flush()
    await enqueue(
        db,
        SEND_JOB,
        {"message": message.id},
        now=now,
        dedupe_key=f"outbox:{message.id}",
        max_attempts=SEND_ATTEMPTS,
    )
    return message


class Sender(Protocol):
    """Where a message goes: the built-in one keeps it in the outbox; an SMS gateway
    plugs in behind the same call."""

    name: str

    def send(self, mobile: str, body: str) -> Awaitable[None]: ...


class OutboxSender:
    """Delivers into the outbox table itself (the outbox page is the phone)."""

    name = "outbox"

    async def send(self, mobile: str, body: str) -> None:
        return None


SENDERS: dict[str, Callable[[], Sender]] = {"outbox": OutboxSender}


def sender_named(name: str) -> Sender:
    """The registered sender `JIEFANG_SMS_SENDER` names (settings.sms_sender)."""
    if name not in SENDERS:
        raise RuntimeError(f"unknown SMS sender {name!r}; registered: {', '.join(SENDERS)}")
    return SENDERS[name]()


async def deliver(
    db: AsyncSession, secrets: Secrets, now: dt.datetime, message_id: int, sender: Sender
) -> bool:
    """Send a queued message once: a sent message is never sent again (the job may run
    twice after a crash; the status row decides)."""
    message = await db.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.status == "sent":
        return False
    message.attempts += 1
    await sender.send(secrets.open(message.to_enc), message.body)
    message.status, message.sent_at, message.provider = "sent", now, sender.name
    return True


# --------------------------------------------------------------------------- one-time codes


async def send_code(
    db: AsyncSession, secrets: Secrets, now: dt.datetime, mobile: str, ip: str
) -> None:
    """A six-digit code for 5 minutes, limited per number and per address."""
    number = normalise_mobile(mobile)
    ref = secrets.ref("mobile", number)
    await require(db, f"otp:ip:{ip}", CODE_PER_IP, now, "获取验证码")
    await require(db, f"otp:mobile:{ref}", CODE_PER_MOBILE, now, "该手机号获取验证码")
    code = f"{random.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = OneTimeCode(
        mobile_hash=ref,
        code_hash=secrets.ref("otp", f"{ref}:{code}"),
        attempts=0,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
    )
    db.add(row)
    await db.flush()
    body = f"【接访预约】验证码{code}，{CODE_MINUTES}分钟内有效。请勿告诉他人。"
    await queue_message(db, secrets, now, key=f"otp:{row.id}", kind="otp", mobile=number, body=body)


async def verify_code(
    db: AsyncSession, secrets: Secrets, now: dt.datetime, mobile: str, code: str
) -> str:
    """The citizen token for a right code; each code is tried at most five times."""
    ref = secrets.ref("mobile", normalise_mobile(mobile))
    row = await db.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.mobile_hash == ref,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.expires_at > now,
        )
        .order_by(OneTimeCode.created_at.desc(), OneTimeCode.id.desc())
        .limit(1)
    )
    if row is None or row.attempts >= MAX_CODE_ATTEMPTS:
        raise RuleViolation("验证码已失效，请重新获取。")
    row.attempts += 1
    expected = secrets.ref("otp", f"{ref}:{code.strip()}")
    if not hmac.compare_digest(row.code_hash, expected):
        await db.flush()
        raise RuleViolation("验证码不正确。")
    row.used_at = now
    return citizen_token(secrets, ref, now)


# --------------------------------------------------------------------------- citizen token


def citizen_token(secrets: Secrets, mobile_ref: str, now: dt.datetime) -> str:
    """A signed, short-lived proof that the holder controls the mobile number."""
    expires = int((now + dt.timedelta(minutes=TOKEN_MINUTES)).timestamp())
    payload = base64.urlsafe_b64encode(json.dumps({"m": mobile_ref, "e": expires}).encode())
    return payload.decode() + "." + _sign(secrets, payload)


def _sign(secrets: Secrets, payload: bytes) -> str:
    return hmac.new(secrets.token_key, payload, hashlib.sha256).hexdigest()


def token_mobile(secrets: Secrets, token: str, now: dt.datetime) -> str:
    """The mobile hash a valid token vouches for; NotAuthenticated otherwise."""
    payload, _, signature = token.partition(".")
    if not signature or not hmac.compare_digest(_sign(secrets, payload.encode()), signature):
        raise NotAuthenticated("请先用短信验证码验证手机号。")
    claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    if int(claims["e"]) < now.timestamp():
        raise NotAuthenticated("手机号验证已过期，请重新获取验证码。")
    return str(claims["m"])


# --------------------------------------------------------------------------- confirmations


def confirmation_text(booked: Booking, mobile_tail: str) -> str:
    s = booked.sitting
    when = f"{s.day.month}月{s.day.day}日{booked.slot_start or ''}"
    return (
        f"【接访预约】{booked.name}：您已预约{when}在{s.venue.name}（{s.venue.address}）"
        f"向{s.person.name}当面反映问题，预约码{booked.code}。请携带本人有效身份证件按时到达；"
        f"查看、改约或取消请凭预约码和尾号{mobile_tail}的手机号办理。"
    )


async def book_and_confirm(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    request: BookingRequest,
    secrets: Secrets,
    citizen: str | None = None,
    policy: Policy = bookings.DEFAULT_POLICY,
) -> Booked:
    """Book, and queue the confirmation SMS in the same transaction (walk-ins get their
    queue number on the spot instead)."""

    async def queue(booking: Booking, body: str) -> None:
        await tell(db, secrets, now, booking, CONFIRMATION, CONFIRMATION, body)

    confirm = None
    if request.channel is not Channel.in_person:
        tail = normalise_mobile(request.mobile)[-4:]
        confirm = Confirmation(lambda booking: confirmation_text(booking, tail), queue)
    return await bookings.book(
        db, actor, now, request, secrets, policy, citizen=citizen, confirm=confirm
    )


async def tell(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    booking: Booking,
    kind: str,
    key: str,
    body: str,
) -> OutboxMessage | None:
    """Queue an SMS to the booking's own number, once per `key` (none to a walk-in who
    left no number)."""
    mobile = secrets.open(booking.mobile_enc)
    if not mobile:
        return None
    return await queue_message(
        db,
        secrets,
        now,
        key=message_key(booking.id, key),
        kind=kind,
        mobile=mobile,
        county_id=booking.county_id,
        body=body,
    )


# ---- pages

_VILLAGE_KINDS = frozenset({"village", "community"})


async def public_sitting(db: AsyncSession, sitting_id: int) -> Sitting:
    """A sitting as the public sees it, scheduled or cancelled (re-read after a rollback)."""
    sitting = await db.get(Sitting, sitting_id, populate_existing=True)
    if sitting is None:
        raise NotFound("找不到该接访安排。")
    return sitting


@dataclass(frozen=True, slots=True)
class Choices:
    units: list[Unit]
    persons: list[Person]
    #: The 分管领域 tags of the officials who sit.
    topics: list[str]


async def sitting_choices(db: AsyncSession, first: dt.date, last: dt.date) -> Choices:
    """What the public list can be narrowed to: the units whose rules hold scheduled
    sittings between two dates (with the township of each village or community), in tree
    order, the officials who sit and the topics of their portfolios."""
    held = (Sitting.status == "scheduled", Sitting.day >= first, Sitting.day <= last)
    rule_units = select(ReceptionRule.unit_id).join(Sitting, Sitting.rule_id == ReceptionRule.id)
    units = list(await db.scalars(select(Unit).where(Unit.id.in_(rule_units.where(*held)))))
    known = {u.id for u in units}
    parents = {u.parent_id for u in units if u.kind in _VILLAGE_KINDS and u.parent_id} - known
    if parents:
        units += list(await db.scalars(select(Unit).where(Unit.id.in_(parents))))
    sitters = select(Sitting.person_id).where(*held)
    persons = await db.scalars(
        select(Person).where(Person.id.in_(sitters)).order_by(Person.name, Person.id)
    )
    tenures = set(await db.scalars(select(Sitting.tenure_id).where(*held).distinct()))
    topics = await org.portfolio_tags(db, [t for t in tenures if t is not None])
    return Choices(sorted(units, key=lambda u: u.path), list(persons), topics)


async def booking_receipt(db: AsyncSession, booking: Booking) -> ledger.Receipt | None:
    """Where the booking's `booking.created` entry stands in its county's ledger: the
    receipt the confirmation page shows (None for a booking made before the ledger)."""
    entries = await ledger.entries_of_subject(db, "booking", booking.id)
    created = next((e for e in entries if e.action == bookings.BOOKING_CREATED), None)
    if created is None:
        return None
    book = await ledger.get_ledger(db, created.ledger_id)
    return ledger.Receipt(book.id, book.origin, created.seq, created.leaf_hash)


# ---- cancellations


def promotion_text(promoted: Booking) -> str:
    s = promoted.sitting
    return (
        f"【接访预约】{promoted.name}：有群众取消了预约，您候补的{s.day.month}月{s.day.day}日"
        f"{promoted.slot_start or ''}在{s.venue.name}向{s.person.name}反映问题的预约已转为正式预约，"
        f"预约码{promoted.code}。如不能前来，请凭预约码和手机号取消，把名额让给他人。"
    )


async def cancel_and_notify(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    booking: Booking,
    secrets: Secrets,
) -> Booking | None:
    """Cancel, and confirm it by SMS; when the seat goes to the first waiting citizen,
    tell them too — in the same transaction (no message for a change that rolls back)."""
    promoted = await bookings.cancel(db, actor, now, booking)
    await tell(db, secrets, now, booking, "cancellation", "cancelled", cancellation_text(booking))
    await _tell_promoted(db, secrets, now, promoted)
    return promoted


def cancellation_text(booking: Booking) -> str:
    s = booking.sitting
    return (
        f"【接访预约】{booking.name}：您{s.day.month}月{s.day.day}日{booking.slot_start or ''}"
        f"向{s.person.name}反映问题的预约（预约码{booking.code}）已取消。"
        "如仍需当面反映，可在“预约接访”页另约，或在接访当天到现场登记。"
    )


async def _tell_promoted(
    db: AsyncSession, secrets: Secrets, now: dt.datetime, promoted: Booking | None
) -> None:
    if promoted is None:
        return
    await tell(
        db,
        secrets,
        now,
        promoted,
        "promotion",
        f"promoted:{promoted.sequence}",
        promotion_text(promoted),
    )


def rescheduled_text(booking: Booking) -> str:
    s = booking.sitting
    waiting = booking.status == bookings.BookingStatus.waitlisted
    return (
        f"【接访预约】{booking.name}：您的预约（预约码{booking.code}）已改到"
        f"{s.day.month}月{s.day.day}日{booking.slot_start or ''}，在{s.venue.name}"
        f"（{s.venue.address}）向{s.person.name}反映问题"
        + ("，目前为候补，有人取消后按先后递补。" if waiting else "。")
        + "原时段已释放。请携带本人有效身份证件按时到达。"
    )


async def reschedule_and_notify(
    db: AsyncSession,
    actor: Principal | None,
    now: dt.datetime,
    booking: Booking,
    to: bookings.NewTime,
    secrets: Secrets,
    policy: Policy = bookings.DEFAULT_POLICY,
) -> bookings.Rescheduled:
    """Reschedule; the citizen gets the new time by SMS, and whoever was waiting for the
    old seat learns it is theirs, all in the same transaction."""
    moved = await bookings.reschedule(db, actor, now, booking, to, policy)
    await tell(
        db,
        secrets,
        now,
        booking,
        "rescheduled",
        f"rescheduled:{booking.sequence}",
        rescheduled_text(booking),
    )
    await _tell_promoted(db, secrets, now, moved.promoted)
    return moved


# ---- re-plan changes


def _md(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def _what_changed(booking: Booking, was: Sitting, was_slot: str | None) -> list[str]:
    now = booking.sitting
    changes = []
    if now.person_id != was.person_id:
        changes.append(f"接访领导由{was.person.name}改为{now.person.name}")
    if now.day != was.day:
        changes.append(f"日期由{_md(was.day)}改为{_md(now.day)}")
    if booking.slot_start != was_slot:
        changes.append(f"时段由{was_slot}改为{booking.slot_start}")
    if now.venue_id != was.venue_id:
        changes.append(f"地点改为{now.venue.name}（{now.venue.address}）")
    return changes


def change_text(booking: Booking, was: Sitting, was_slot: str | None) -> str:
    head = f"【接访预约】{booking.name}：因领导接访排班调整，"
    if booking.status == bookings.BookingStatus.cancelled:
        return head + (
            f"您预约的{_md(was.day)}在{was.venue.name}向{was.person.name}反映问题的接访已取消，"
            f"预约（预约码{booking.code}）随之取消。请在“预约接访”页另选时间，"
            "接访当天也可直接到现场登记。"
        )
    waiting = booking.status == bookings.BookingStatus.waitlisted
    return head + (
        f"您的预约（预约码{booking.code}）{'，'.join(_what_changed(booking, was, was_slot))}"
        + ("，目前为候补，有人取消后按先后递补" if waiting else "")
        + "。如保留预约无需操作；如不便前来，可凭预约码和手机号在“预约接访”页改约或取消。"
    )


async def tell_change(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    booking_id: int,
    was: tuple[int, str | None],
) -> OutboxMessage | None:
    """Queue the SMS telling a citizen how a re-plan changed their booking (once per
    change: the key carries the booking's sequence)."""
    booking = await db.get(Booking, booking_id)
    old = await db.get(Sitting, was[0])
    if booking is None or old is None:
        raise NotFound("找不到该预约或原接访安排。")
    return await tell(
        db,
        secrets,
        now,
        booking,
        "change",
        f"change:{booking.sequence}",
        change_text(booking, old, was[1]),
    )


# ---- reminders

#: Reminders go out the day before, from this hour on (no SMS in the night).
REMIND_FROM = dt.time(9, 0)


def reminder_text(booking: Booking) -> str:
    s = booking.sitting
    return (
        f"【接访预约】{booking.name}：提醒您明天（{_md(s.day)}）{booking.slot_start or ''}"
        f"在{s.venue.name}（{s.venue.address}）向{s.person.name}当面反映问题，预约码{booking.code}。"
        "请携带本人有效身份证件按时到达；如不能前来，请凭预约码和手机号取消，把名额让给他人。"
    )


async def queue_reminders(db: AsyncSession, secrets: Secrets, now: dt.datetime) -> int:
    """Queue a reminder for every booking held for tomorrow that has none yet; returns
    how many were queued. Waiting citizens are not reminded: they have no seat."""
    local = now.astimezone(bookings.SHANGHAI)
    if local.time() < REMIND_FROM:
        return 0
    tomorrow = local.date() + dt.timedelta(days=1)
    held = await db.scalars(
        select(Booking)
        .join(Sitting, Sitting.id == Booking.sitting_id)
        .where(
            Sitting.day == tomorrow,
            Sitting.status == "scheduled",
            Booking.status == bookings.BookingStatus.booked,
            Booking.slot_start.is_not(None),
        )
        .order_by(Booking.id)
    )
    queued = 0
    for booking in list(held):
        message = await tell(
            db,
            secrets,
            now,
            booking,
            "reminder",
            f"reminder:{tomorrow.isoformat()}",
            reminder_text(booking),
        )
        queued += message is not None
    return queued
