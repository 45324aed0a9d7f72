"""The red/black list for a province without joining a quarter's facts to every case:
`ranking_facts`, what each case counts for (a stopped accept or handling clock, the reply,
the rating, each on its day and graded) once for its territorial unit and once per active
answering owner, and `ranking_totals`, those facts counted by month; both filled here from
the clocks, cases and owners as they stand.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_FACTS = """
    SELECT k.county_id, k.case_id, c.territorial_unit_id AS unit_id,
           CASE WHEN k.name = 'accept' THEN 'accept' ELSE 'timed' END AS metric,
           k.stopped_on AS day, CASE WHEN k.stopped_on <= k.due THEN 1 ELSE 0 END AS grade
    FROM case_clocks k JOIN cases c ON c.id = k.case_id
    WHERE k.state = 'stopped' AND k.name IN ('accept', 'handle', 'extend')
    UNION ALL
    SELECT county_id, id, territorial_unit_id, 'reply', replied_on,
           CASE WHEN evaluation IS NULL THEN 0 ELSE 1 END
    FROM cases WHERE replied_on IS NOT NULL
    UNION ALL
    SELECT county_id, id, territorial_unit_id, 'rating', {rated_day},
           CASE evaluation WHEN 'satisfied' THEN 2 WHEN 'basically' THEN 1 ELSE 0 END
    FROM cases WHERE evaluated_at IS NOT NULL AND evaluation IS NOT NULL
"""
FACTS_COLUMNS = "INSERT INTO ranking_facts (county_id, case_id, board, key_id, metric, day, grade)"
UNIT_FACTS = f"""{FACTS_COLUMNS}
SELECT county_id, case_id, 'unit', unit_id, metric, day, grade FROM ({CASE_FACTS}) f
"""
LEADER_FACTS = f"""{FACTS_COLUMNS}
SELECT f.county_id, f.case_id, 'leader', o.person_id, f.metric, f.day, f.grade
FROM ({CASE_FACTS}) f
JOIN (
    SELECT DISTINCT case_id, person_id FROM case_owners
    WHERE active AND role IN ('lead', 'first')
) o ON o.case_id = f.case_id
"""
TOTALS = """
INSERT INTO ranking_totals (county_id, month, board, key_id, metric, grade, n)
SELECT county_id, {month}, board, key_id, metric, grade, count(*)
FROM ranking_facts GROUP BY county_id, {month}, board, key_id, metric, grade
"""
RATED_DAY = {
    "postgresql": "(evaluated_at AT TIME ZONE 'Asia/Shanghai')::date",
    "sqlite": "date(evaluated_at, '+8 hours')",
}
MONTH = {"postgresql": "date_trunc('month', day)::date", "sqlite": "date(day, 'start of month')"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _tables()
    for facts in (UNIT_FACTS, LEADER_FACTS):
        op.execute(facts.format(rated_day=RATED_DAY[dialect]))
    op.execute(TOTALS.format(month=MONTH[dialect]))
    # Indexed once filled: faster than keeping the indexes up row by row.
    op.create_index("ix_ranking_facts_case", "ranking_facts", ["case_id"])
    op.create_index(
        "ix_ranking_facts_period",
        "ranking_facts",
        ["county_id", "day"],
        postgresql_include=["board", "key_id", "metric", "grade", "case_id"],
    )
    op.create_index(
        "ux_ranking_totals_key",
        "ranking_totals",
        ["county_id", "month", "board", "key_id", "metric", "grade"],
        unique=True,
        postgresql_include=["n"],
    )


def _tables() -> None:
    op.create_table(
        "ranking_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        *_key_columns(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_ranking_facts_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_ranking_facts_county_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_facts")),
    )
    op.create_table(
        "ranking_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *_key_columns(),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["county_id"], ["units.id"], name=op.f("fk_ranking_totals_county_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_totals")),
    )


def _key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("board", sa.String(length=6), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
    ]


def downgrade() -> None:
    op.drop_index("ux_ranking_totals_key", table_name="ranking_totals")
    op.drop_table("ranking_totals")
    op.drop_index("ix_ranking_facts_period", table_name="ranking_facts")
    op.drop_index("ix_ranking_facts_case", table_name="ranking_facts")
    op.drop_table("ranking_facts")
