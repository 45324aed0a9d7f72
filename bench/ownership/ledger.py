"""A county ledger written in bulk, with the project's own pure functions: every draft is
checked against its declared action (`rules.check_entry`), becomes an `Entry` whose leaf is
`Entry.leaf()` (RFC 8785 via `rfc8785`), and the tree is built by `audit.Rebuild` — its
leaf hashes, every complete node of level >= 1 and the head's frontier are stored as
`ledger.append` stores them. COPY is an insert, which the append-only triggers allow.

The county's org entries come first (the county unit is entry 0, as `create_unit` makes
it), then the case entries in the order they were recorded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.ledger.audit import Rebuild
from app.ledger.rules import Entry, check_entry
from bench.ownership.org import Draft

BATCH = 50_000
ENTRY_COLUMNS = (
    "ledger_id",
    "seq",
    "recorded_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "payload",
    "leaf",
    "leaf_hash",
)
NODE_COLUMNS = ("ledger_id", "level", "idx", "hash")


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    frontier: bytes
    root: bytes


def ordered(
    org: Sequence[Draft], cases: Sequence[tuple[dt.datetime, int, int, Draft]]
) -> list[Draft]:
    """The org drafts, then the case drafts by (recorded at, case id, n-th of the case)."""
    return [*org, *(d for *_, d in sorted(cases, key=lambda t: t[:3]))]


async def write(conn: Any, ledger_id: int, origin: str, drafts: Sequence[Draft]) -> Head:
    """Write the entries, their nodes and the head; `conn` is an asyncpg connection."""
    rebuild = Rebuild()
    for first in range(0, len(drafts), BATCH):
        batch = drafts[first : first + BATCH]
        entries = []
        for seq, d in enumerate(batch, first):
            check_entry(d.action, d.subject_type, d.payload)
            entries.append(
                Entry(origin, seq, d.at, d.actor, d.action, d.subject_type, d.subject_id, d.payload)
            )
        leaves = [e.leaf() for e in entries]
        hashes, nodes = rebuild.add(leaves)
        await conn.copy_records_to_table(
            "ledger_entries",
            records=[
                (
                    ledger_id,
                    e.seq,
                    e.recorded_at,
                    json.dumps(e.actor),
                    e.action,
                    e.subject_type,
                    e.subject_id,
                    json.dumps(e.payload),
                    leaf,
                    h,
                )
                for e, leaf, h in zip(entries, leaves, hashes, strict=True)
            ],
            columns=list(ENTRY_COLUMNS),
        )
        await conn.copy_records_to_table(
            "ledger_nodes",
            records=[(ledger_id, lv, ix, h) for (lv, ix), h in nodes.items()],
            columns=list(NODE_COLUMNS),
        )
    await conn.execute(
        "UPDATE ledgers SET size = $1, frontier = $2 WHERE id = $3",
        rebuild.size,
        rebuild.frontier(),
        ledger_id,
    )
    return Head(rebuild.size, rebuild.frontier(), rebuild.root())
