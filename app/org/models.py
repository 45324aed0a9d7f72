from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, JsonType, UTCDateTime


class Unit(Base):
    """A node of the organisation tree. `path` is the materialised path of ids
    ("/1/7/42/") so "inside this scope" is a prefix test; `county_id` scopes every record
    below county level to its county."""

    __tablename__ = "units"
    __table_args__ = (Index("ix_units_path", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    county_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The county the person is registered in (None: registered deployment-wide).
    county_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(32))
    gender: Mapped[str | None] = mapped_column(String(4), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Post(Base):
    """A position at a unit (职务). Most posts have one holder at a time; shared titles
    such as 副县长 may have several."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("unit_id", "title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    title: Mapped[str] = mapped_column(String(64))
    reception_role: Mapped[str] = mapped_column(String(32))
    single_holder: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")


class Tenure(Base):
    """A person in a post from `start_date` until `end_date` — the day the tenure ends,
    i.e. the first day no longer in post (None while in post)."""

    __tablename__ = "tenures"
    __table_args__ = (
        Index("ix_tenures_post_id", "post_id"),
        Index("ix_tenures_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The announced last-day-plus-one while a departure handover is under way: the post
    #: counts as free from it, so the successor can be appointed before the tenure ends.
    planned_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    portfolio: Mapped[list[str]] = mapped_column(JsonType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(lazy="joined")
    post: Mapped[Post] = relationship(lazy="joined")
