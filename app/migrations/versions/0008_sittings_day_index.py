"""An index on sittings (day, id): the public listing (GET /api/v1/sittings, the citizen
pages) reads scheduled sittings of a date range in (day, id) order, a page at a time;
without it every page sorts the whole range.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sittings", schema=None) as batch_op:
        batch_op.create_index("ix_sittings_day_id", ["day", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sittings", schema=None) as batch_op:
        batch_op.drop_index("ix_sittings_day_id")
