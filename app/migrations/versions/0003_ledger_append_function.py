"""PostgreSQL: append a ledger entry in one server-side call, so the head row is locked for
one statement and the commit — not for client round trips.

The client sends the entry's RFC 8785 bytes split around `seq` (sorted keys put `seq`
between `recorded_at` and `subject`); the function takes the lock, splices the decimal
`seq` in, hashes the leaf and the subtrees it completes with `sha256()`, and writes the
entry, the nodes and the new frontier. `jiefang ledger verify` recomputes all of it
independently in Python.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_FUNCTION = r"""
CREATE FUNCTION ledger_append(
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
    UPDATE ledgers SET size = size + 1
     WHERE origin = p_origin
       AND (county_id = p_county OR (p_county IS NULL AND county_id IS NULL))
    RETURNING id, size - 1, frontier INTO v_id, v_seq, v_frontier;
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
    UPDATE ledgers SET frontier = v_frontier || v_hash WHERE id = v_id;
    RETURN QUERY SELECT v_id, v_seq, p_origin, out_leaf_hash;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS ledger_append(integer, text, bytea, bytea, timestamptz, "
            "jsonb, text, text, text, jsonb)"
        )
