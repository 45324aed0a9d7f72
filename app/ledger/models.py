"""Ledger tables. Entries, nodes and checkpoints are insert-only: the code has no update or
delete path for them, and on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE.

`ledgers` is the one mutable row per ledger: its `size` (the next `seq`) and `frontier`
(the hashes of the complete subtrees the tree currently decomposes into). Appends lock
that row, so each ledger's sequence is gap-free under any number of writers; the
frontier spares them re-reading the log. `jiefang ledger verify` recomputes both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JsonType, UTCDateTime


class Ledger(Base):
    __tablename__ = "ledgers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: `<deployment>/<county code>`, or `<deployment>/admin` for deployment-wide work.
    origin: Mapped[str] = mapped_column(String(128), unique=True)
    #: The county this ledger records (None: the deployment-wide administration ledger).
    county_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id"), nullable=True, unique=True
    )
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_subject", "subject_type", "subject_id"),)

    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[dict[str, Any]] = mapped_column(JsonType)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    #: The exact RFC 8785 bytes that were hashed; the columns above must re-encode to them.
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNode(Base):
    """A complete subtree of level >= 1: leaves [idx << level, (idx + 1) << level)."""

    __tablename__ = "ledger_nodes"

    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpoint(Base):
    """A signed C2SP checkpoint note of the tree at `size`."""

    __tablename__ = "ledger_checkpoints"

    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LedgerPending(Base):
    """An entry waiting for its transaction's commit to be sequenced (PostgreSQL).

    `append` inserts here; a deferred trigger (migration 0015) takes the ledger's lock at
    COMMIT, splices the ledger's origin and next `seq` into the leaf, writes the entry and
    its nodes and deletes this row. Rows never outlive their transaction, so the table is
    UNLOGGED on PostgreSQL. SQLite sequences at once and leaves it empty.
    """

    __tablename__ = "ledger_pending"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    head: Mapped[bytes] = mapped_column(LargeBinary)
    middle: Mapped[bytes] = mapped_column(LargeBinary)
    tail: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[dict[str, Any]] = mapped_column(JsonType)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)


#: Tables whose rows are never updated or deleted.
APPEND_ONLY_TABLES = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")
