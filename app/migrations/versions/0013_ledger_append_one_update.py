"""PostgreSQL: `ledger_append` writes the ledger's head row once per entry, not twice.

Migration 0003's function took the head's lock with `UPDATE ledgers SET size = size + 1`
and wrote the new frontier with a second UPDATE of the same row: two new row versions (and
their WAL) under the lock for every entry. Now the lock is taken with `SELECT … FOR
UPDATE` (which reads the row's latest committed version once it holds the lock) and size
and frontier are written together at the end. Same arguments, same answers.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_append(
    p_county integer, p_origin text, p_prefix bytea, p_suffix bytea,
    p_recorded_at timestamptz, p_actor jsonb, p_action text,
    p_subject_type text, p_subject_id text, p_payload jsonb
) RETURNS TABLE (out_ledger integer, out_seq bigint, out_origin text, out_leaf_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
    v_seq bigint;
    v_frontier bytea;
    v_leaf bytea;
    v_hash bytea;
    v_n bigint;
    v_level integer := 0;
    v_len integer;
BEGIN
    SELECT id, size, frontier INTO v_id, v_seq, v_frontier
      FROM ledgers
     WHERE origin = p_origin
       AND (county_id = p_county OR (p_county IS NULL AND county_id IS NULL))
       FOR UPDATE;
    IF v_id IS NULL THEN
        -- Unknown ledger, or the caller's origin is stale: say which origin is current.
        RETURN QUERY SELECT NULL::integer, NULL::bigint, l.origin::text, NULL::bytea
            FROM ledgers l
            WHERE l.county_id = p_county OR (p_county IS NULL AND l.county_id IS NULL)
            ORDER BY l.id LIMIT 1;
        RETURN;
    END IF;
    v_leaf := p_prefix || convert_to(v_seq::text, 'UTF8') || p_suffix;
    v_hash := sha256('\x00'::bytea || v_leaf);
    INSERT INTO ledger_entries (ledger_id, seq, recorded_at, actor, action, subject_type,
                                subject_id, payload, leaf, leaf_hash)
    VALUES (v_id, v_seq, p_recorded_at, p_actor, p_action, p_subject_type, p_subject_id,
            p_payload, v_leaf, v_hash);
    out_leaf_hash := v_hash;
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
    RETURN QUERY SELECT v_id, v_seq, p_origin, out_leaf_hash;
END
$$
"""


def _function_of_0003() -> str:
    path = Path(__file__).with_name("0003_ledger_append_function.py")
    spec = importlib.util.spec_from_file_location("ledger_append_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.APPEND_FUNCTION).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function_of_0003())
