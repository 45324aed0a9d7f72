"""What must hold of the loaded data set, checked in SQL over all of it; `generate` stops
(exit 1) if any check fails. These are the invariants the case services keep."""

from __future__ import annotations

from typing import Any

from app.ownership.services import CASE_REGISTERED
from app.ownership.workflow import FINISHED

FINISHED_SQL = ", ".join(f"'{s}'" for s in sorted(FINISHED))

#: name -> SQL counting the rows that break the rule (must be 0).
CHECKS = {
    "next_due/next_clock mirror the earliest running clock of the case itself": """
        SELECT count(*) FROM cases c
        LEFT JOIN LATERAL (
            SELECT k.due, k.name FROM case_clocks k
            WHERE k.case_id = c.id AND k.state = 'running' AND k.assignment_id IS NULL
            ORDER BY k.due, k.id LIMIT 1
        ) k ON true
        WHERE c.next_due IS DISTINCT FROM k.due OR c.next_clock IS DISTINCT FROM k.name""",
    "every open case has an active answering owner (lead or first)": f"""
        SELECT count(*) FROM cases c
        WHERE c.status NOT IN ({FINISHED_SQL}) AND NOT EXISTS (
            SELECT 1 FROM case_owners o
            WHERE o.case_id = c.id AND o.active AND o.role IN ('lead', 'first'))""",
    "no clock runs on a finished case": f"""
        SELECT count(*) FROM case_clocks k JOIN cases c ON c.id = k.case_id
        WHERE k.state = 'running' AND c.status IN ({FINISHED_SQL})""",
    "no owner is accused in the case, personally or through the post's unit": """
        SELECT count(*) FROM case_owners o
        JOIN tenures t ON t.id = o.tenure_id JOIN posts p ON p.id = t.post_id
        WHERE EXISTS (SELECT 1 FROM case_accused a
                      WHERE a.case_id = o.case_id AND a.person_id = o.person_id)
           OR EXISTS (SELECT 1 FROM case_units u WHERE u.case_id = o.case_id
                      AND u.role = 'accused' AND u.unit_id = p.unit_id)""",
    "an active ownership of an open case is marked open with its next_due/next_clock": f"""
        SELECT count(*) FROM case_owners o JOIN cases c ON c.id = o.case_id
        WHERE CASE WHEN o.active AND c.status NOT IN ({FINISHED_SQL})
                   THEN NOT o.case_open OR o.next_due IS DISTINCT FROM c.next_due
                        OR o.next_clock IS DISTINCT FROM c.next_clock
                   ELSE o.case_open OR o.next_due IS NOT NULL OR o.next_clock IS NOT NULL
              END""",
    "a case's clocks, owners, events and county agree": """
        SELECT (SELECT count(*) FROM case_clocks k JOIN cases c ON c.id = k.case_id
                WHERE k.county_id <> c.county_id)
             + (SELECT count(*) FROM case_owners o JOIN cases c ON c.id = o.case_id
                WHERE o.county_id <> c.county_id)""",
    "every case has its case.registered entry in its county's ledger": f"""
        SELECT count(*) FROM cases c JOIN ledgers l ON l.county_id = c.county_id
        WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e
                          WHERE e.subject_type = 'case' AND e.subject_id = c.id::text
                          AND e.action = '{CASE_REGISTERED}' AND e.ledger_id = l.id)""",
    "every ledger head's size is its entry count": """
        SELECT count(*) FROM ledgers l
        WHERE l.size <> (SELECT count(*) FROM ledger_entries e WHERE e.ledger_id = l.id)""",
}


async def run(conn: Any) -> dict[str, int]:
    """Each check's count of offending rows (`conn`: asyncpg)."""
    return {name: int(await conn.fetchval(sql)) for name, sql in CHECKS.items()}
