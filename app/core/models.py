"""Tables owned by the core: background jobs, the holiday calendar entered by admins, and
the counters of rate limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JsonType, UTCDateTime


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    #: A queued job with the same key is not queued twice (e.g. one checkpoint job).
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    progress: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HolidayYear(Base):
    """A year's holidays and 调休 working days as published by the State Council."""

    __tablename__ = "holiday_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rest_days: Mapped[list[str]] = mapped_column(JsonType)
    working_days: Mapped[list[str]] = mapped_column(JsonType)
    names: Mapped[dict[str, str]] = mapped_column(JsonType, default=dict)
    source: Mapped[str] = mapped_column(String(255))
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LocalRestDay(Base):
    """A county's own rest day (《全国年节及纪念日放假办法》第四条)."""

    __tablename__ = "local_rest_days"
    __table_args__ = (UniqueConstraint("county_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(64))


class RateCounter(Base):
    """Requests of one key (an IP, a mobile number's hash) in one fixed window; moved by a
    conditional UPDATE, so every server process sees the same count."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
