"""PostgreSQL: take a seat in one server-side call.

A booking used to send a dozen statements between its sitting and its ledger entry: the
"already booked?" SELECT, two monthly limits and the seat as conditional UPDATEs (each
creating its row first when missing), the booking INSERT, the confirmation SMS's outbox
SELECT and INSERT and its job. On two cores the Python work around each statement, not
PostgreSQL, was what a booking cost. `booking_take` does the same steps in one call, in
the same order and with the same conditions as the portable path in
`app/scheduling/booking_services.py` (which SQLite keeps using):

1. refuse a citizen (mobile or identity hash) who holds an active booking of the sitting;
2. count one more booking of the month for each hash, under the limit
   (`INSERT … ON CONFLICT DO UPDATE … WHERE used < limit`: the condition decides under any
   concurrency, as the portable path's conditional UPDATE does);
3. take a seat of the slot the same way (`taken < seats`), or, when full and asked for,
   make the booking a waitlist entry;
4. insert the booking, and the confirmation SMS with its `outbox.send` job when a text is
   given.

A refusal is answered, not raised: the steps run in a block whose exception handler rolls
back what the block did (a subtransaction inside the call, no extra round trip), and the
call returns the refusal's name — `duplicate`, `limit` or `full` — with no booking id. The
caller's transaction stays usable. The ledger entry is appended afterwards by the caller
(`ledger_append`, migration 0003), so the county ledger's head is locked for that call and
the commit only.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "integer, text, integer, boolean, text[], text, integer, text, integer, text, text, "
    "text, bytea, text, text, bytea, text, text, text, integer, jsonb, integer, "
    "timestamptz, text, text, text, text, text, integer"
)

TAKE_FUNCTION = r"""
CREATE FUNCTION booking_take(
    p_sitting integer, p_slot text, p_seats integer, p_waitlist boolean,
    p_active text[], p_month text, p_per_month integer,
    p_code text, p_county integer, p_channel text, p_name text,
    p_mobile_hash text, p_mobile_enc bytea, p_id_type text, p_id_hash text, p_id_enc bytea,
    p_id_masked text, p_topic text, p_summary text, p_party_size integer,
    p_representatives jsonb, p_created_by integer, p_at timestamptz,
    p_sms_key text, p_sms_kind text, p_sms_masked text, p_sms_body text,
    p_job_kind text, p_job_attempts integer
) RETURNS TABLE (out_refusal text, out_status text, out_booking integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text := 'booked';
    v_id integer;
    v_message integer;
BEGIN
    IF EXISTS (SELECT 1 FROM bookings
                WHERE sitting_id = p_sitting AND status = ANY (p_active)
                  AND (mobile_hash = p_mobile_hash OR id_hash = p_id_hash)) THEN
        RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::integer;
        RETURN;
    END IF;
    BEGIN
        INSERT INTO booking_quotas AS q (subject, month, used)
        SELECT s, p_month, 1 FROM unnest(ARRAY[p_mobile_hash, p_id_hash]) AS s
         WHERE p_per_month > 0
        ON CONFLICT (subject, month) DO UPDATE SET used = q.used + 1
         WHERE q.used < p_per_month;
        GET DIAGNOSTICS v_id = ROW_COUNT;
        IF v_id < 2 THEN
            RAISE EXCEPTION 'monthly limit' USING ERRCODE = 'JBLIM';
        END IF;
        INSERT INTO slot_seats AS t (sitting_id, slot_start, seats, taken)
        SELECT p_sitting, p_slot, p_seats, 1 WHERE p_seats > 0
        ON CONFLICT (sitting_id, slot_start) DO UPDATE SET taken = t.taken + 1
         WHERE t.taken < t.seats;
        IF NOT FOUND THEN
            IF NOT p_waitlist THEN
                RAISE EXCEPTION 'slot full' USING ERRCODE = 'JBFUL';
            END IF;
            v_status := 'waitlisted';
        END IF;
        INSERT INTO bookings (code, county_id, sitting_id, slot_start, channel, status,
                              name, mobile_hash, mobile_enc, id_type, id_hash, id_enc,
                              id_masked, topic, summary, party_size, representatives,
                              sequence, created_by, created_at, updated_at)
        VALUES (p_code, p_county, p_sitting, p_slot, p_channel, v_status,
                p_name, p_mobile_hash, p_mobile_enc, p_id_type, p_id_hash, p_id_enc,
                p_id_masked, p_topic, p_summary, p_party_size, p_representatives,
                0, p_created_by, p_at, p_at)
        RETURNING id INTO v_id;
        IF p_sms_body IS NOT NULL THEN
            INSERT INTO outbox_messages (key, county_id, kind, to_hash, to_enc, to_masked,
                                         body, status, attempts, created_at)
            VALUES (format(p_sms_key, v_id), p_county, p_sms_kind, p_mobile_hash,
                    p_mobile_enc, p_sms_masked, p_sms_body, 'queued', 0, p_at)
            RETURNING id INTO v_message;
            INSERT INTO jobs (kind, payload, status, dedupe_key, run_at, attempts,
                              max_attempts, progress, result, created_at, updated_at)
            VALUES (p_job_kind, jsonb_build_object('message', v_message), 'queued',
                    'outbox:' || v_message, p_at, 0, p_job_attempts, '{}'::jsonb,
                    '{}'::jsonb, p_at, p_at);
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'JBLIM' THEN
            RETURN QUERY SELECT 'limit'::text, NULL::text, NULL::integer;
            RETURN;
        WHEN SQLSTATE 'JBFUL' THEN
            RETURN QUERY SELECT 'full'::text, NULL::text, NULL::integer;
            RETURN;
        WHEN unique_violation THEN
            -- Two requests of one citizen for one sitting at the same moment: one wins.
            IF SQLERRM LIKE '%uq_bookings_active%' THEN
                RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::integer;
                RETURN;
            END IF;
            RAISE;
    END;
    RETURN QUERY SELECT NULL::text, v_status, v_id;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAKE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS booking_take({SIGNATURE})")
