"""PostgreSQL: ledger entries are sequenced at COMMIT, so a ledger's lock is held for the
commit only — not across the rest of the business transaction and its client round trips.

`append` inserts the entry's parts into the UNLOGGED table `ledger_pending`; the deferred
constraint trigger `ledger_pending_sequence` fires at COMMIT, in the order the entries
were appended. For each entry it takes the ledger head's lock, splices the ledger's origin
and the next `seq` into the RFC 8785 leaf, hashes the leaf and the subtrees it completes,
writes entry, nodes and head, and deletes the pending row. A caller that needs the receipt
inside its transaction calls `ledger_append_now`, which queues the entry the same way and
then sequences everything the transaction has queued (`SET CONSTRAINTS … IMMEDIATE`), so
the ledger keeps the order of the calls. `jiefang ledger verify` recomputes all of it.

Replaces migration 0013's `ledger_append`, which locked the head at the call.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from app.core.db import JsonType, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE_FUNCTION = r"""
CREATE FUNCTION ledger_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
    v_origin text;
    v_seq bigint;
    v_frontier bytea;
    v_leaf bytea;
    v_leaf_hash bytea;
    v_hash bytea;
    v_n bigint;
    v_level integer := 0;
    v_len integer;
BEGIN
    IF NEW.county_id IS NULL THEN
        SELECT id, origin, size, frontier INTO v_id, v_origin, v_seq, v_frontier
          FROM ledgers WHERE county_id IS NULL ORDER BY id LIMIT 1 FOR UPDATE;
    ELSE
        SELECT id, origin, size, frontier INTO v_id, v_origin, v_seq, v_frontier
          FROM ledgers WHERE county_id = NEW.county_id FOR UPDATE;
    END IF;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no ledger for county %: run `jiefang db upgrade` first', NEW.county_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    v_leaf := NEW.head || convert_to(to_json(v_origin)::text, 'UTF8') || NEW.middle
              || convert_to(v_seq::text, 'UTF8') || NEW.tail;
    v_leaf_hash := sha256('\x00'::bytea || v_leaf);
    INSERT INTO ledger_entries (ledger_id, seq, recorded_at, actor, action, subject_type,
                                subject_id, payload, leaf, leaf_hash)
    VALUES (v_id, v_seq, NEW.recorded_at, NEW.actor, NEW.action, NEW.subject_type,
            NEW.subject_id, NEW.payload, v_leaf, v_leaf_hash);
    v_hash := v_leaf_hash;
    v_n := v_seq;
    WHILE v_n & 1 = 1 LOOP
        v_len := length(v_frontier);
        v_hash := sha256('\x01'::bytea || substring(v_frontier FROM v_len - 31 FOR 32) || v_hash);
        v_frontier := substring(v_frontier FROM 1 FOR v_len - 32);
        v_n := v_n >> 1;
        v_level := v_level + 1;
        INSERT INTO ledger_nodes (ledger_id, level, idx, hash) VALUES (v_id, v_level, v_n, v_hash);
    END LOOP;
    UPDATE ledgers SET size = v_seq + 1, frontier = v_frontier || v_hash WHERE id = v_id;
    DELETE FROM ledger_pending WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""

SEQUENCE_TRIGGER = """
CREATE CONSTRAINT TRIGGER ledger_pending_sequence AFTER INSERT ON ledger_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_sequence()
"""

APPEND_NOW_FUNCTION = r"""
CREATE FUNCTION ledger_append_now(
    p_county integer, p_head bytea, p_middle bytea, p_tail bytea,
    p_recorded_at timestamptz, p_actor jsonb, p_action text,
    p_subject_type text, p_subject_id text, p_payload jsonb
) RETURNS TABLE (out_ledger integer, out_seq bigint, out_origin text, out_leaf_hash bytea)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_pending (county_id, head, middle, tail, recorded_at, actor, action,
                                subject_type, subject_id, payload)
    VALUES (p_county, p_head, p_middle, p_tail, p_recorded_at, p_actor, p_action,
            p_subject_type, p_subject_id, p_payload);
    SET CONSTRAINTS ledger_pending_sequence IMMEDIATE;
    SET CONSTRAINTS ledger_pending_sequence DEFERRED;
    -- This transaction now holds the ledger's lock: its last entry is the one just made.
    RETURN QUERY
        SELECT l.id, e.seq, l.origin::text, e.leaf_hash
          FROM ledgers l JOIN ledger_entries e ON e.ledger_id = l.id AND e.seq = l.size - 1
         WHERE l.county_id = p_county OR (p_county IS NULL AND l.id = (
               SELECT min(id) FROM ledgers WHERE county_id IS NULL));
END
$$
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "ledger_pending",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=True),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("middle", sa.LargeBinary(), nullable=False),
        sa.Column("tail", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("actor", JsonType, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending")),
        prefixes=["UNLOGGED"] if postgres else [],
    )
    if postgres:
        op.execute(SEQUENCE_FUNCTION)
        op.execute(SEQUENCE_TRIGGER)
        op.execute(APPEND_NOW_FUNCTION)
        op.execute(
            "DROP FUNCTION ledger_append(integer, text, bytea, bytea, timestamptz, "
            "jsonb, text, text, text, jsonb)"
        )


def _function_of_0013() -> str:
    path = Path(__file__).with_name("0013_ledger_append_one_update.py")
    spec = importlib.util.spec_from_file_location("ledger_append_0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function_of_0013())
        op.execute(
            "DROP FUNCTION ledger_append_now(integer, bytea, bytea, bytea, timestamptz, "
            "jsonb, text, text, text, jsonb)"
        )
        op.execute("DROP TABLE ledger_pending")
        op.execute("DROP FUNCTION ledger_sequence()")
    else:
        op.drop_table("ledger_pending")
