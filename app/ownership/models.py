"""Tables of cases (信访事项): petitioners, units concerned, the accused (被反映人), owners
(包案), statutory clocks, assignments (交办), the timeline and written notices.

Texts (summary, reasons, replies, progress notes) live here and never in the ledger; the
ledger carries identifiers, statuses and dates.
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
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from app.core.db import Base, UTCDateTime
from app.org.models import Person, Tenure, Unit

#: The statuses a case ends in (`workflow.FINISHED`), in the order of the predicate below.
FINISHED_STATUSES = ("not_accepted", "not_re_accepted", "closed")
OPEN_CASE = text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')")
REPLIED = text("replied_on IS NOT NULL")
EVALUATED = text("evaluated_at IS NOT NULL")
OWNER_DUE = text("next_due IS NOT NULL")
OWNER_OPEN = text("case_open")
STOPPED = text("state = 'stopped'")


class Case(Base):
    """One petition matter. `next_due`/`next_clock` mirror the earliest running clock, so
    "my cases" and the overdue dashboard sort and filter on the case row alone."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_county_status", "county_id", "status"),
        Index(
            "ix_cases_open_due",
            "county_id",
            "next_due",
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
        # 我的包案: is an owned case open, and its next due date, from the index alone.
        Index(
            "ix_cases_open_id",
            "id",
            "next_due",
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
        # The overdue board across many counties: every open case due by a day.
        Index(
            "ix_cases_open_next_due",
            "next_due",
            "county_id",
            "territorial_unit_id",
            "next_clock",
            "id",
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
        Index("ix_cases_territorial", "territorial_unit_id", "status"),
        Index("ix_cases_first", "first_case_id"),
        # The red/black list: replies and ratings of a county in a period.
        Index(
            "ix_cases_replied",
            "county_id",
            "replied_on",
            sqlite_where=REPLIED,
            postgresql_where=REPLIED,
            postgresql_include=["id", "territorial_unit_id", "evaluation"],
        ),
        Index(
            "ix_cases_evaluated",
            "county_id",
            "evaluated_at",
            sqlite_where=EVALUATED,
            postgresql_where=EVALUATED,
            postgresql_include=["id", "territorial_unit_id", "evaluation"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    code: Mapped[str] = mapped_column(String(16), unique=True)
    national_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    claim_item: Mapped[int | None] = mapped_column(Integer, nullable=True)
    category: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    territorial_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(24))
    profile: Mapped[str] = mapped_column(String(24))
    received_on: Mapped[dt.date] = mapped_column(Date)
    reception_id: Mapped[int | None] = mapped_column(
        ForeignKey("reception_records.id"), nullable=True, unique=True
    )
    first_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome_body: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    routed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    replied_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    delivered_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    evaluation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    backlog: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    next_clock: Mapped[str | None] = mapped_column(String(24), nullable=True)
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    territorial_unit: Mapped[Unit] = relationship(lazy="joined", foreign_keys=[territorial_unit_id])


def is_open() -> ColumnElement[bool]:
    """The open cases, written as the partial indexes' predicate with the statuses inline
    rather than as parameters, so the planner can prove the indexes cover the query and
    read open cases from them alone."""
    return Case.status.not_in([literal_column(f"'{s}'") for s in FINISHED_STATUSES])


class CasePetitioner(Base):
    """A petitioner (a person or an organisation); numbers sealed, matched by keyed hash."""

    __tablename__ = "case_petitioners"
    __table_args__ = (
        Index("ix_case_petitioners_case", "case_id"),
        Index("ix_case_petitioners_id_hash", "id_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(64))
    id_type: Mapped[str] = mapped_column(String(24))
    id_hash: Mapped[str] = mapped_column(String(64))
    id_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_masked: Mapped[str] = mapped_column(String(32))
    mobile_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mobile_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class CaseUnit(Base):
    """A unit concerned: `subject` (属事 department) or `accused` (被反映单位). The territorial
    unit (属地) is on the case row."""

    __tablename__ = "case_units"
    __table_args__ = (Index("ix_case_units_unit", "unit_id", "role"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    unit: Mapped[Unit] = relationship(lazy="joined")


class CaseAccused(Base):
    """An accused official (被反映人): never an owner, never shown the case."""

    __tablename__ = "case_accused"
    __table_args__ = (Index("ix_case_accused_person", "person_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)

    person: Mapped[Person] = relationship(lazy="joined")


class CaseOwner(Base):
    """Ownership as tenure rows: a leader (through one of their tenures) assumed a case as
    `lead` (包案领导, with a target date), `first` (首接负责) or `co` (协同包案); the row ends
    when it is renounced, with the reason."""

    __tablename__ = "case_owners"
    __table_args__ = (
        # Who answers for a case, and a person's cases, from the index alone.
        Index(
            "ix_case_owners_case",
            "case_id",
            "active",
            postgresql_include=["role", "person_id"],
        ),
        Index("ix_case_owners_person", "person_id", "active", "case_id"),
        Index("ix_case_owners_tenure", "tenure_id", "active"),
        # The overdue board by owner, from this index alone: the answering owners of a
        # county's open cases due by a day, without a probe per case.
        Index(
            "ix_case_owners_due",
            "county_id",
            "next_due",
            postgresql_include=["person_id", "role", "active", "next_clock", "case_id"],
            sqlite_where=OWNER_DUE,
            postgresql_where=OWNER_DUE,
        ),
        # 我的包案: a person's open cases in deadline order, from this index alone.
        Index(
            "ix_case_owners_open",
            "person_id",
            "next_due",
            "case_id",
            sqlite_where=OWNER_OPEN,
            postgresql_where=OWNER_OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    tenure_id: Mapped[int] = mapped_column(ForeignKey("tenures.id"))
    role: Mapped[str] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    target_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    assumed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    assumed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    renounced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    renounce_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: While this row is active and its case open: true, and the case's `next_due` and
    #: `next_clock`; else false and NULL (`mirrored`). Written with the case's
    #: (`clock_services.refresh_next`), so 我的包案 and the board by owner read this table.
    case_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    next_due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    next_clock: Mapped[str | None] = mapped_column(String(24), nullable=True)

    tenure: Mapped[Tenure] = relationship(lazy="joined")


def mirrored(case: Case) -> tuple[bool, dt.date | None, str | None]:
    """What an active ownership row mirrors of its case (`case_open`, `next_due`,
    `next_clock`): an open case and its earliest running clock, or a finished one."""
    if case.status in FINISHED_STATUSES:
        return False, None, None
    return True, case.next_due, case.next_clock


class CaseClock(Base):
    """A statutory clock: its start and due date as computed when it started (or was last
    recomputed); `state` running / stopped (met, with `stopped_on`) / superseded."""

    __tablename__ = "case_clocks"
    __table_args__ = (
        Index("ix_case_clocks_case", "case_id", "state"),
        Index("ix_case_clocks_running", "county_id", "state", "due"),
        # The red/black list: a county's clocks stopped in a period, by name.
        Index(
            "ix_case_clocks_stopped",
            "county_id",
            "name",
            "stopped_on",
            sqlite_where=STOPPED,
            postgresql_where=STOPPED,
            postgresql_include=["case_id", "due"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_assignments.id"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(24))
    start: Mapped[dt.date] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(12), default="running")
    stopped_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CaseAssignment(Base):
    """交办: the case handed to a unit (属地 territorial, 属事 subject, 相关 related) with its
    own due date; the unit may object within its window, reports back (部门报到) and replies."""

    __tablename__ = "case_assignments"
    __table_args__ = (
        Index("ix_case_assignments_case", "case_id"),
        Index("ix_case_assignments_unit", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12))
    assigned_on: Mapped[dt.date] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    object_due: Mapped[dt.date] = mapped_column(Date)
    objection: Mapped[str | None] = mapped_column(Text, nullable=True)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined", foreign_keys=[unit_id])


class CaseEvent(Base):
    """The timeline: every step, progress note and notice; `public` ones the petitioner sees
    when tracking the case by its code."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)


class RankingFact(Base):
    """What a case counts for on the red/black list (`ranking.case_facts`): a stopped
    `accept` clock (`accept`), a stopped handling clock (`timed`), the reply (`reply`,
    graded 1 once rated) and the rating (`rating`: 2 满意, 1 基本满意, 0 不满意), each on
    its day — once for the case's territorial unit (board `unit`) and once per active
    answering owner (board `leader`). Derived from the clocks, the case row and its owners
    (`fact_services.refresh`, called wherever one of them changes, in the same
    transaction), and added up by month in `RankingTotal`."""

    __tablename__ = "ranking_facts"
    __table_args__ = (
        Index(
            "ix_ranking_facts_period",
            "county_id",
            "day",
            postgresql_include=["board", "key_id", "metric", "grade", "case_id"],
        ),
        Index("ix_ranking_facts_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    board: Mapped[str] = mapped_column(String(6))
    #: The territorial unit's id on board `unit`, the owner's person id on board `leader`.
    key_id: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(8))
    day: Mapped[dt.date] = mapped_column(Date)
    grade: Mapped[int] = mapped_column(Integer)


class RankingTotal(Base):
    """How many `RankingFact` rows of a county, board, key, metric and grade fall in a
    month (its first day): a province's quarter is 150,000 of these against a million
    facts. Kept by `fact_services.refresh` as the differences of a case's facts."""

    __tablename__ = "ranking_totals"
    __table_args__ = (
        Index(
            "ux_ranking_totals_key",
            "county_id",
            "month",
            "board",
            "key_id",
            "metric",
            "grade",
            unique=True,
            postgresql_include=["n"],
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    month: Mapped[dt.date] = mapped_column(Date)
    board: Mapped[str] = mapped_column(String(6))
    key_id: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(8))
    grade: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
