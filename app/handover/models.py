"""Tables of departure handovers (信访工作离任交接): the handover and its frozen dossier and
PDF, the signatures in order, signers' PIN-sealed keys, reviewers' marks, and the posts
marked as requiring a handover.

An archived handover is never updated or deleted by the code; on PostgreSQL a trigger
(migration 0010) refuses to change an archived row or its signatures.
"""

from __future__ import annotations

import datetime as dt

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

from app.core.db import Base, UTCDateTime
from app.org.models import Person, Tenure

UNDER_WAY = text("status IN ('open', 'rendered', 'signed_departing', 'signed_receiving')")


class Handover(Base):
    __tablename__ = "handovers"
    __table_args__ = (
        # One handover under way per departing tenure; the database is the last word.
        Index(
            "ux_handovers_under_way",
            "tenure_id",
            unique=True,
            sqlite_where=UNDER_WAY,
            postgresql_where=UNDER_WAY,
        ),
        Index("ix_handovers_county_status", "county_id", "status"),
        Index("ix_handovers_receiver", "receiver_person_id"),
        Index("ix_handovers_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    tenure_id: Mapped[int] = mapped_column(ForeignKey("tenures.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    receiver_tenure_id: Mapped[int] = mapped_column(ForeignKey("tenures.id"))
    receiver_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    interim: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A handover from an interim owner to the successor: the archived handover that gave
    #: the interim owner the cases. Only those cases move; the interim tenure goes on.
    from_handover_id: Mapped[int | None] = mapped_column(ForeignKey("handovers.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(8))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    notes_key_people: Mapped[str] = mapped_column(Text, default="")
    notes_risks: Mapped[str] = mapped_column(Text, default="")
    notes_unfinished: Mapped[str] = mapped_column(Text, default="")
    dossier: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    dossier_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dossier_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checkpoint_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checkpoint_root: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unsigned_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Who held the cases between the effective date and a late archive (named by the office).
    between_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True)
    moved_cases: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    tenure: Mapped[Tenure] = relationship(lazy="joined", foreign_keys=[tenure_id])
    receiver_tenure: Mapped[Tenure] = relationship(lazy="joined", foreign_keys=[receiver_tenure_id])


class HandoverSignature(Base):
    __tablename__ = "handover_signatures"
    __table_args__ = (UniqueConstraint("handover_id", "step", name="uq_handover_signature_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("handovers.id"))
    step: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    before_sha256: Mapped[str] = mapped_column(String(64))
    after_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(lazy="joined")


class SigningKey(Base):
    """A person's signing certificate and private key sealed under their signing PIN (never
    stored). A new enrolment retires the previous key; old signatures stay valid."""

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_person", "person_id", "retired_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    cert_pem: Mapped[bytes] = mapped_column(LargeBinary)
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    serial: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HandoverReview(Base):
    """A reviewer's "已审阅" with a remark (the remark stays here, never in the ledger)."""

    __tablename__ = "handover_reviews"
    __table_args__ = (
        UniqueConstraint("handover_id", "account_id", "role", name="uq_handover_review"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("handovers.id"))
    role: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    reviewer_name: Mapped[str] = mapped_column(String(64))
    remark: Mapped[str] = mapped_column(Text, default="")
    verified_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HandoverPost(Base):
    """An explicit mark on a post: requires a handover (or not), overriding the titles."""

    __tablename__ = "handover_posts"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), primary_key=True)
    required: Mapped[bool] = mapped_column(Boolean)
    marked_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    marked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
