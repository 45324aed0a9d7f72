"""The overdue board by owner from one index: every active ownership row of an open case
carries the case's `next_due`/`next_clock`, written with the case's, so the board counts a
province's owners without probing `case_owners` once per due case.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
    UPDATE case_owners SET next_due = c.next_due, next_clock = c.next_clock
    FROM cases c
    WHERE c.id = case_owners.case_id AND case_owners.active
      AND c.next_due IS NOT NULL
      AND c.status NOT IN ('not_accepted', 'not_re_accepted', 'closed')
"""


def upgrade() -> None:
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("next_clock", sa.String(length=24), nullable=True))
    op.execute(FILL)
    # Indexed once filled.
    op.create_index(
        "ix_case_owners_due",
        "case_owners",
        ["county_id", "next_due"],
        postgresql_include=["person_id", "role", "active", "next_clock", "case_id"],
        sqlite_where=sa.text("next_due IS NOT NULL"),
        postgresql_where=sa.text("next_due IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_owners_due", table_name="case_owners")
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.drop_column("next_clock")
        batch_op.drop_column("next_due")
