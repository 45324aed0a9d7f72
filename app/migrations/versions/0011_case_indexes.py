"""Indexes for the case read paths at province size (1,000,000 cases, 90 counties):

- 我的包案: `case_owners (person_id, active, case_id)` finds a leader's cases from the index
  alone, and the partial `cases (id, next_due) WHERE open` says which are open and when
  they are next due without reading the case rows, so a page reads only its own rows;
- the overdue board across many counties: the partial `cases (next_due, county_id,
  territorial_unit_id, next_clock, id) WHERE open` holds every open case due by a day
  with all the board reads of it;
  `case_owners (case_id, active)` also carries `role` and `person_id` (PostgreSQL
  INCLUDE), so the answering owners are found without reading the ownership rows;
- the red/black list: a county's clocks stopped in a period by name (`case_clocks
  (county_id, name, stopped_on) WHERE state = 'stopped'`), its replies and its ratings
  in a period (`cases (county_id, replied_on)`, `cases (county_id, evaluated_at)`).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_CASE = sa.text("status NOT IN ('not_accepted', 'not_re_accepted', 'closed')")
REPLIED = sa.text("replied_on IS NOT NULL")
EVALUATED = sa.text("evaluated_at IS NOT NULL")
STOPPED = sa.text("state = 'stopped'")


def upgrade() -> None:
    op.create_index(
        "ix_cases_open_id",
        "cases",
        ["id", "next_due"],
        sqlite_where=OPEN_CASE,
        postgresql_where=OPEN_CASE,
    )
    op.create_index(
        "ix_cases_open_next_due",
        "cases",
        ["next_due", "county_id", "territorial_unit_id", "next_clock", "id"],
        sqlite_where=OPEN_CASE,
        postgresql_where=OPEN_CASE,
    )
    op.create_index(
        "ix_cases_replied",
        "cases",
        ["county_id", "replied_on"],
        postgresql_include=["id", "territorial_unit_id", "evaluation"],
        sqlite_where=REPLIED,
        postgresql_where=REPLIED,
    )
    op.create_index(
        "ix_cases_evaluated",
        "cases",
        ["county_id", "evaluated_at"],
        postgresql_include=["id", "territorial_unit_id", "evaluation"],
        sqlite_where=EVALUATED,
        postgresql_where=EVALUATED,
    )
    op.create_index(
        "ix_case_clocks_stopped",
        "case_clocks",
        ["county_id", "name", "stopped_on"],
        postgresql_include=["case_id", "due"],
        sqlite_where=STOPPED,
        postgresql_where=STOPPED,
    )
    op.drop_index("ix_case_owners_case", table_name="case_owners")
    op.create_index(
        "ix_case_owners_case",
        "case_owners",
        ["case_id", "active"],
        postgresql_include=["role", "person_id"],
    )
    op.drop_index("ix_case_owners_person", table_name="case_owners")
    op.create_index("ix_case_owners_person", "case_owners", ["person_id", "active", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_owners_person", table_name="case_owners")
    op.create_index("ix_case_owners_person", "case_owners", ["person_id", "active"])
    op.drop_index("ix_case_owners_case", table_name="case_owners")
    op.create_index("ix_case_owners_case", "case_owners", ["case_id", "active"])
    op.drop_index("ix_case_clocks_stopped", table_name="case_clocks")
    op.drop_index("ix_cases_evaluated", table_name="cases")
    op.drop_index("ix_cases_replied", table_name="cases")
    op.drop_index("ix_cases_open_next_due", table_name="cases")
    op.drop_index("ix_cases_open_id", table_name="cases")
