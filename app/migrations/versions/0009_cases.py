"""Cases (信访事项): petitioners, units concerned, accused officials, owners (包案),
statutory clocks, assignments (交办) and the timeline.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("national_no", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("claim_item", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("territorial_unit_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("profile", sa.String(length=24), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reception_id", sa.Integer(), nullable=True),
        sa.Column("first_case_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_body", sa.String(length=64), nullable=True),
        sa.Column("outcome_reason", sa.Text(), nullable=True),
        sa.Column("routed_on", sa.Date(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("replied_on", sa.Date(), nullable=True),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("evaluation", sa.String(length=16), nullable=True),
        sa.Column("evaluated_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("backlog", sa.Boolean(), nullable=False),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("next_clock", sa.String(length=24), nullable=True),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["units.id"], name=op.f("fk_cases_county_id_units")),
        sa.ForeignKeyConstraint(
            ["first_case_id"], ["cases.id"], name=op.f("fk_cases_first_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["reception_id"],
            ["reception_records.id"],
            name=op.f("fk_cases_reception_id_reception_records"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"], ["accounts.id"], name=op.f("fk_cases_registered_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["territorial_unit_id"], ["units.id"], name=op.f("fk_cases_territorial_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("code", name=op.f("uq_cases_code")),
        sa.UniqueConstraint("reception_id", name=op.f("uq_cases_reception_id")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_county_status", ["county_id", "status"], unique=False)
        batch_op.create_index("ix_cases_first", ["first_case_id"], unique=False)
        batch_op.create_index(
            "ix_cases_open_due",
            ["county_id", "next_due"],
            unique=False,
            sqlite_where=sa.text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"),
            postgresql_where=sa.text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"),
        )
        batch_op.create_index(
            "ix_cases_territorial", ["territorial_unit_id", "status"], unique=False
        )

    op.create_table(
        "case_accused",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_accused_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_case_accused_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("case_id", "person_id", name=op.f("pk_case_accused")),
    )
    with op.batch_alter_table("case_accused", schema=None) as batch_op:
        batch_op.create_index("ix_case_accused_person", ["person_id"], unique=False)

    op.create_table(
        "case_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("object_due", sa.Date(), nullable=False),
        sa.Column("objection", sa.Text(), nullable=True),
        sa.Column("reported_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_by"], ["accounts.id"], name=op.f("fk_case_assignments_assigned_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_assignments_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_case_assignments_county_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_case_assignments_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignments")),
    )
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_case_assignments_case", ["case_id"], unique=False)
        batch_op.create_index("ix_case_assignments_unit", ["unit_id", "status"], unique=False)

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_case_events_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index("ix_case_events_case", ["case_id", "id"], unique=False)

    op.create_table(
        "case_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("tenure_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("assumed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assumed_by", sa.Integer(), nullable=True),
        sa.Column("renounced_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("renounce_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["assumed_by"], ["accounts.id"], name=op.f("fk_case_owners_assumed_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_owners_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_case_owners_county_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_case_owners_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["tenure_id"], ["tenures.id"], name=op.f("fk_case_owners_tenure_id_tenures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_owners")),
    )
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.create_index("ix_case_owners_case", ["case_id", "active"], unique=False)
        batch_op.create_index("ix_case_owners_person", ["person_id", "active"], unique=False)
        batch_op.create_index("ix_case_owners_tenure", ["tenure_id", "active"], unique=False)

    op.create_table(
        "case_petitioners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("id_type", sa.String(length=24), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_masked", sa.String(length=32), nullable=False),
        sa.Column("mobile_hash", sa.String(length=64), nullable=True),
        sa.Column("mobile_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_petitioners_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_petitioners")),
    )
    with op.batch_alter_table("case_petitioners", schema=None) as batch_op:
        batch_op.create_index("ix_case_petitioners_case", ["case_id"], unique=False)
        batch_op.create_index("ix_case_petitioners_id_hash", ["id_hash"], unique=False)

    op.create_table(
        "case_units",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_units_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_case_units_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("case_id", "unit_id", "role", name=op.f("pk_case_units")),
    )
    with op.batch_alter_table("case_units", schema=None) as batch_op:
        batch_op.create_index("ix_case_units_unit", ["unit_id", "role"], unique=False)

    op.create_table(
        "case_clocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("paused_days", sa.Integer(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("stopped_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["case_assignments.id"],
            name=op.f("fk_case_clocks_assignment_id_case_assignments"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_clocks_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_case_clocks_county_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_clocks")),
    )
    with op.batch_alter_table("case_clocks", schema=None) as batch_op:
        batch_op.create_index("ix_case_clocks_case", ["case_id", "state"], unique=False)
        batch_op.create_index("ix_case_clocks_running", ["county_id", "state", "due"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_case_clocks_running")
        batch_op.drop_index("ix_case_clocks_case")

    op.drop_table("case_clocks")
    with op.batch_alter_table("case_units", schema=None) as batch_op:
        batch_op.drop_index("ix_case_units_unit")

    op.drop_table("case_units")
    with op.batch_alter_table("case_petitioners", schema=None) as batch_op:
        batch_op.drop_index("ix_case_petitioners_id_hash")
        batch_op.drop_index("ix_case_petitioners_case")

    op.drop_table("case_petitioners")
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.drop_index("ix_case_owners_tenure")
        batch_op.drop_index("ix_case_owners_person")
        batch_op.drop_index("ix_case_owners_case")

    op.drop_table("case_owners")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_case_events_case")

    op.drop_table("case_events")
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_case_assignments_unit")
        batch_op.drop_index("ix_case_assignments_case")

    op.drop_table("case_assignments")
    with op.batch_alter_table("case_accused", schema=None) as batch_op:
        batch_op.drop_index("ix_case_accused_person")

    op.drop_table("case_accused")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_territorial")
        batch_op.drop_index(
            "ix_cases_open_due",
            sqlite_where=sa.text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"),
            postgresql_where=sa.text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')"),
        )
        batch_op.drop_index("ix_cases_first")
        batch_op.drop_index("ix_cases_county_status")

    op.drop_table("cases")
