"""我的包案 from one index: every ownership row says whether it is active on an open case
(`case_open`, written with the case's status), so a leader's open cases in deadline order
are read from `case_owners` alone instead of probing every case the leader ever owned.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
    UPDATE case_owners SET case_open = true
    FROM cases c
    WHERE c.id = case_owners.case_id AND case_owners.active
      AND c.status NOT IN ('not_accepted', 'not_re_accepted', 'closed')
"""


def upgrade() -> None:
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("case_open", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(FILL)
    # Indexed once filled.
    op.create_index(
        "ix_case_owners_open",
        "case_owners",
        ["person_id", "next_due", "case_id"],
        sqlite_where=sa.text("case_open"),
        postgresql_where=sa.text("case_open"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_owners_open", table_name="case_owners")
    with op.batch_alter_table("case_owners", schema=None) as batch_op:
        batch_op.drop_column("case_open")
