"""The red/black list for a province without joining a quarter's facts to every case:

- by unit: every statutory clock carries its case's territorial unit (属地, never changed
  after intake), filled from the cases and held by the partial index of stopped clocks
  (PostgreSQL INCLUDE), so a period's stopped clocks are counted from that index alone;
- by leader: `ranking_facts`, what each case counts for (a stopped accept or handling
  clock, the reply, the rating, each on its day and graded) once per active answering
  owner, filled here from the clocks, cases and owners as they stand.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOPPED = sa.text("state = 'stopped'")
FILL_POSTGRESQL = """
UPDATE case_clocks k SET territorial_unit_id = c.territorial_unit_id
FROM cases c WHERE c.id = k.case_id
"""
FACTS = """
INSERT INTO ranking_facts (county_id, case_id, person_id, metric, day, grade)
SELECT f.county_id, f.case_id, o.person_id, f.metric, f.day, f.grade
FROM (
    SELECT county_id, case_id,
           CASE WHEN name = 'accept' THEN 'accept' ELSE 'timed' END AS metric,
           stopped_on AS day, CASE WHEN stopped_on <= due THEN 1 ELSE 0 END AS grade
    FROM case_clocks WHERE state = 'stopped' AND name IN ('accept', 'handle', 'extend')
    UNION ALL
    SELECT county_id, id, 'reply', replied_on,
           CASE WHEN evaluation IS NULL THEN 0 ELSE 1 END
    FROM cases WHERE replied_on IS NOT NULL
    UNION ALL
    SELECT county_id, id, 'rating', {rated_day},
           CASE evaluation WHEN 'satisfied' THEN 2 WHEN 'basically' THEN 1 ELSE 0 END
    FROM cases WHERE evaluated_at IS NOT NULL AND evaluation IS NOT NULL
) f
JOIN (
    SELECT DISTINCT case_id, person_id FROM case_owners
    WHERE active AND role IN ('lead', 'first')
) o ON o.case_id = f.case_id
"""
RATED_DAY_POSTGRESQL = "(evaluated_at AT TIME ZONE 'Asia/Shanghai')::date"
RATED_DAY_SQLITE = "date(evaluated_at, '+8 hours')"
FILL_SQLITE = """
UPDATE case_clocks SET territorial_unit_id =
    (SELECT c.territorial_unit_id FROM cases c WHERE c.id = case_clocks.case_id)
"""


def _stopped_index(include: list[str]) -> None:
    op.create_index(
        "ix_case_clocks_stopped",
        "case_clocks",
        ["county_id", "name", "stopped_on"],
        postgresql_include=include,
        sqlite_where=STOPPED,
        postgresql_where=STOPPED,
    )


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # Dropped first: SQLite rebuilds the table below and would lose the index's WHERE.
    op.drop_index("ix_case_clocks_stopped", table_name="case_clocks")
    op.add_column("case_clocks", sa.Column("territorial_unit_id", sa.Integer(), nullable=True))
    op.execute(FILL_POSTGRESQL if postgresql else FILL_SQLITE)
    with op.batch_alter_table("case_clocks", schema=None) as batch_op:
        batch_op.alter_column("territorial_unit_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            "fk_case_clocks_territorial_unit_id_units", "units", ["territorial_unit_id"], ["id"]
        )
    _stopped_index(["case_id", "due", "territorial_unit_id"])
    _facts_table()
    day = RATED_DAY_POSTGRESQL if postgresql else RATED_DAY_SQLITE
    op.execute(FACTS.format(rated_day=day))
    # Indexed once filled: faster than keeping the indexes up row by row.
    op.create_index("ix_ranking_facts_case", "ranking_facts", ["case_id"])
    op.create_index(
        "ix_ranking_facts_period",
        "ranking_facts",
        ["county_id", "day"],
        postgresql_include=["person_id", "metric", "grade", "case_id"],
    )


def _facts_table() -> None:
    op.create_table(
        "ranking_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_ranking_facts_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_ranking_facts_county_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_ranking_facts_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_facts")),
    )


def downgrade() -> None:
    op.drop_index("ix_ranking_facts_period", table_name="ranking_facts")
    op.drop_index("ix_ranking_facts_case", table_name="ranking_facts")
    op.drop_table("ranking_facts")
    op.drop_index("ix_case_clocks_stopped", table_name="case_clocks")
    with op.batch_alter_table("case_clocks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_case_clocks_territorial_unit_id_units", type_="foreignkey")
        batch_op.drop_column("territorial_unit_id")
    _stopped_index(["case_id", "due"])
