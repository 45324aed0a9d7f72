"""Tables of the reception rosters: venues, rules, unavailability, pins, roster versions,
the published sittings, meetings and calendar-feed tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, JsonType, UTCDateTime
from app.org.models import Person, Unit


class Venue(Base):
    """Where sittings are held. `sessions` are the booking sessions of a day:
    [{"key": "am", "label": "上午", "start": "08:30", "end": "11:30"}, …]."""

    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(255))
    rooms: Mapped[list[str]] = mapped_column(JsonType, default=list)
    sessions: Mapped[list[dict[str, str]]] = mapped_column(JsonType, default=list)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)
    seats_per_slot: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined", foreign_keys=[unit_id])


class ReceptionRule(Base):
    """A reception rule of a unit. Its officials are the holders of `pool_posts` (and of
    `fallback_posts` when the pool cannot cover a month); `options` holds the kind's
    settings in the roster contract's names (per_day, min_gap_days, days_of_month,
    on_rest_day, once_per_member_per_month, rotation, weekday, sessions)."""

    __tablename__ = "reception_rules"
    __table_args__ = (UniqueConstraint("county_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    pool_posts: Mapped[list[int]] = mapped_column(JsonType, default=list)
    fallback_posts: Mapped[list[int]] = mapped_column(JsonType, default=list)
    primary_post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined", foreign_keys=[unit_id])
    venue: Mapped[Venue] = relationship(lazy="joined")


class Unavailability(Base):
    """A person away (leave, trip, meeting) from `start_date` to `end_date`, inclusive."""

    __tablename__ = "unavailability"
    __table_args__ = (Index("ix_unavailability_person", "person_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="page")
    #: The UID of the imported .ics event, so importing the same file twice adds nothing.
    source_uid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(lazy="joined")


class Pin(Base):
    """An assignment the solver must keep."""

    __tablename__ = "roster_pins"
    __table_args__ = (UniqueConstraint("rule_id", "day", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("reception_rules.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Roster(Base):
    """A roster version of a county for a period: draft → published (→ superseded when a
    later version is published). `result` is the solver's result without assignments,
    which are rows of `roster_assignments`."""

    __tablename__ = "rosters"
    __table_args__ = (Index("ix_rosters_county_status", "county_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("rosters.id"), nullable=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RosterAssignment(Base):
    __tablename__ = "roster_assignments"
    __table_args__ = (Index("ix_roster_assignments_roster", "roster_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("reception_rules.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    tenure_id: Mapped[int | None] = mapped_column(ForeignKey("tenures.id"), nullable=True)


class Sitting(Base):
    """A published sitting of one official: the row calendars, bookings and handovers use.
    Re-publishing keeps a row whose official stays, cancels one whose official changes
    (`status` cancelled, `sequence` + 1, so calendar clients remove it) and adds the new."""

    __tablename__ = "sittings"
    __table_args__ = (
        Index("ix_sittings_county_day", "county_id", "day"),
        Index("ix_sittings_person_day", "person_id", "day"),
        Index("ix_sittings_rule_day", "rule_id", "day"),
        # The public listing reads sittings in (day, id) order, a page at a time.
        Index("ix_sittings_day_id", "day", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("reception_rules.id"))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    tenure_id: Mapped[int | None] = mapped_column(ForeignKey("tenures.id"), nullable=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("rosters.id"))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    rule: Mapped[ReceptionRule] = relationship(lazy="joined")
    venue: Mapped[Venue] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")


class Meeting(Base):
    """A meeting entered by an office. `required` names attendees by person, post or unit
    level: {"persons": [ids], "posts": [ids], "unit_kinds": ["village", …]}."""

    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_county_day", "county_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    title: Mapped[str] = mapped_column(String(128))
    day: Mapped[dt.date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    required: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CalendarToken(Base):
    """A private calendar-feed address of one person; only its hash is stored."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SlotSeats(Base):
    """The seats of one booking slot of a sitting. `taken` changes only through one
    conditional UPDATE (`taken < seats`), so two processes can never both take the last
    seat; a row is created the first time the slot is booked."""

    __tablename__ = "slot_seats"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), primary_key=True)
    slot_start: Mapped[str] = mapped_column(String(5), primary_key=True)
    seats: Mapped[int] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, default=0)


class BookingQuota(Base):
    """Active bookings of one citizen (by keyed hash of identity or mobile) in one month;
    moved by conditional UPDATEs like the seats, so a limit holds under concurrency."""

    __tablename__ = "booking_quotas"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class QueueCounter(Base):
    """The last queue number given out at a sitting (预约叫号)."""

    __tablename__ = "queue_counters"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


#: The statuses in which a booking holds its place (see booking_services.ACTIVE).
ACTIVE_BOOKING = text("status IN ('booked', 'waitlisted', 'checked_in', 'called')")


class Booking(Base):
    """One batch of visitors (一批次) at a sitting: one seat whatever its party size.
    Identity and mobile numbers are stored encrypted, with a keyed hash for matching."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_sitting_status", "sitting_id", "status"),
        Index("ix_bookings_mobile_hash", "mobile_hash"),
        # One active booking per citizen per sitting, held by the database itself.
        Index(
            "uq_bookings_active_identity",
            "sitting_id",
            "id_hash",
            unique=True,
            sqlite_where=ACTIVE_BOOKING,
            postgresql_where=ACTIVE_BOOKING,
        ),
        Index(
            "uq_bookings_active_mobile",
            "sitting_id",
            "mobile_hash",
            unique=True,
            sqlite_where=ACTIVE_BOOKING,
            postgresql_where=ACTIVE_BOOKING,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"))
    slot_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    queue_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name: Mapped[str] = mapped_column(String(32))
    mobile_hash: Mapped[str] = mapped_column(String(64))
    mobile_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_type: Mapped[str] = mapped_column(String(24))
    id_hash: Mapped[str] = mapped_column(String(64))
    id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_masked: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(300))
    party_size: Mapped[int] = mapped_column(Integer, default=1)
    representatives: Mapped[list[str]] = mapped_column(JsonType, default=list)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    sitting: Mapped[Sitting] = relationship(lazy="joined")


class OneTimeCode(Base):
    """A one-time code sent to a mobile number; only its keyed hash is kept."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_mobile", "mobile_hash", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mobile_hash: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxMessage(Base):
    """A message to a citizen (SMS), sent by a job at most once: `key` is its idempotency
    key. The built-in sender delivers into this table, which the outbox page shows."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    county_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    to_hash: Mapped[str] = mapped_column(String(64))
    to_enc: Mapped[bytes] = mapped_column(LargeBinary)
    to_masked: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReceptionRecord(Base):
    """接访记录: what a received citizen raised, what the official answered, and whether it
    was answered and settled on the spot (当场答复办结) or needs a case (需立案办理, which the
    cases capability opens with the channel 走访). One per booking; `person_id` is the
    sitting's official, who received the citizen. The texts stay here, never in the ledger."""

    __tablename__ = "reception_records"
    __table_args__ = (Index("ix_reception_records_sitting", "sitting_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("sittings.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    raised: Mapped[str] = mapped_column(Text)
    answered: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    booking: Mapped[Booking] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")
