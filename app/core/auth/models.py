from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Tokens and sessions issued before this moment are refused (logout everywhere).
    sessions_valid_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(Base):
    """A role an account holds, acting inside one scope unit (None: the whole deployment)."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("account_id", "role", "scope_unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)

    account: Mapped[Account] = relationship(back_populates="grants")


class LoginAttempt(Base):
    """Login counters live in the database so every server process sees the same count."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
