"""What a year of receptions adds to the red/black list (its 当场答复办结率 reads them),
estimated without changing the data set: inside ONE transaction that is rolled back at the
end, the red/black list paths are timed, then a year of receptions is COPYed in — per
county a venue and a rule for the county centre and for each township, a published roster,
a sitting at the centre every day (a county leader in turn) and at each township on the
1st, 11th and 21st (its three main leaders), and per day as many reception records (with
their bookings) as the day's 走访 cases, plus as many settled on the spot — `ANALYZE`d,
and the same paths timed again in the same transaction. Nothing is committed, so the data
set and its ledger stay as generated (no reception was ever ledgered).

    .venv/bin/python -m bench.ownership.receptions --requests 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.clock import SHANGHAI
from app.core.db import create_engine, session_factory
from app.models import import_all_models
from bench.booking.load import percentile
from bench.booking.machine import describe, load
from bench.ownership import dataset, measure
from bench.ownership.dataset import Manifest

TABLES = ("venues", "reception_rules", "rosters", "sittings", "bookings", "reception_records")
COLUMNS = {
    "venues": "id county_id unit_id name address rooms sessions slot_minutes seats_per_slot "
    "created_at updated_at",
    "reception_rules": "id county_id unit_id code name kind venue_id pool_posts fallback_posts "
    "primary_post_id options active created_at updated_at",
    "rosters": "id county_id period_start period_end status based_on_id job_id result note "
    "created_at published_at",
    "sittings": "id county_id rule_id venue_id day person_id tenure_id roster_id status sequence "
    "created_at updated_at",
    "bookings": "id code county_id sitting_id slot_start channel status queue_number name "
    "mobile_hash mobile_enc id_type id_hash id_enc id_masked topic summary party_size "
    "representatives sequence created_by created_at updated_at",
    "reception_records": "id county_id booking_id sitting_id person_id raised answered outcome "
    "recorded_by recorded_at",
}
SESSIONS = json.dumps([{"start": "08:30", "end": "11:30"}, {"start": "14:30", "end": "17:30"}])
DAYS_OF_MONTH = (1, 11, 21)


async def _org(raw: Any) -> dict[int, dict[str, Any]]:
    """Per county: its county leaders' and each township's main leaders' (person, tenure)."""
    rows = await raw.fetch(
        """SELECT u.id AS unit, u.kind, u.county_id, p.reception_role, t.person_id, t.id AS tenure
           FROM tenures t JOIN posts p ON p.id = t.post_id JOIN units u ON u.id = p.unit_id
           WHERE p.reception_role IN ('county_leader', 'township_secretary', 'township_head',
                                      'township_congress') AND t.end_date IS NULL
           ORDER BY u.id, p.id, t.id"""
    )
    counties: dict[int, dict[str, Any]] = defaultdict(lambda: {"leaders": [], "towns": {}})
    for r in rows:
        county = counties[r["county_id"]]
        if r["reception_role"] == "county_leader":
            county["leaders"].append((r["person_id"], r["tenure"]))
        else:
            county["towns"].setdefault(r["unit"], []).append((r["person_id"], r["tenure"]))
    return counties


async def insert(raw: Any, manifest: Manifest) -> dict[str, int]:
    """A year of receptions, in the caller's transaction (asyncpg connection)."""
    today = dt.date.fromisoformat(manifest.today)
    now = dt.datetime.fromisoformat(manifest.horizon)
    first = today - dt.timedelta(days=364)
    visits = defaultdict(int)
    for r in await raw.fetch(
        "SELECT county_id, received_on, count(*) AS n FROM cases WHERE channel = 'visit' "
        "GROUP BY county_id, received_on"
    ):
        visits[(r["county_id"], r["received_on"])] = int(r["n"])
    ids: dict[str, int] = defaultdict(lambda: 10**8)
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}

    def new(table: str) -> int:
        ids[table] += 1
        return ids[table]

    for county_id, org in (await _org(raw)).items():
        roster = new("rosters")
        rows["rosters"].append(
            (roster, county_id, first, today, "published", None, None, "{}", "", now, now)
        )
        places = [(county_id, org["leaders"], None)] + [
            (town, leaders, DAYS_OF_MONTH) for town, leaders in org["towns"].items()
        ]
        sittings: dict[dt.date, list[tuple[int, int]]] = defaultdict(
            list
        )  # day -> (sitting, person)
        for n, (unit, leaders, days) in enumerate(places):
            venue, rule = new("venues"), new("reception_rules")
            rows["venues"].append(
                (venue, county_id, unit, f"接访场所{venue}", "", "[]", SESSIONS, 30, 2, now, now)
            )
            kind = "daily" if days is None else "monthly"
            rows["reception_rules"].append(
                (
                    rule,
                    county_id,
                    unit,
                    f"bench-{n}",
                    f"接访规则{rule}",
                    kind,
                    venue,
                    "[]",
                    "[]",
                    None,
                    "{}",
                    True,
                    now,
                    now,
                )
            )
            for k in range(365):
                day = first + dt.timedelta(days=k)
                if days is not None and day.day not in days:
                    continue
                person, tenure = leaders[
                    (k if days is None else days.index(day.day)) % len(leaders)
                ]
                sitting = new("sittings")
                rows["sittings"].append(
                    (
                        sitting,
                        county_id,
                        rule,
                        venue,
                        day,
                        person,
                        tenure,
                        roster,
                        "scheduled",
                        0,
                        now,
                        now,
                    )
                )
                sittings[day].append((sitting, person))
        for day, held in sittings.items():
            for k in range(2 * visits.get((county_id, day), 0)):
                sitting, person = held[k % len(held)]
                booking = new("bookings")
                digest = hashlib.sha256(str(booking).encode()).hexdigest()
                at = dt.datetime.combine(day, dt.time(10), SHANGHAI)
                rows["bookings"].append(
                    (
                        booking,
                        f"B{booking}",
                        county_id,
                        sitting,
                        None,
                        "in_person",
                        "received",
                        k + 1,
                        "信访人",
                        digest,
                        b"x",
                        "resident",
                        digest,
                        b"x",
                        "3301**********0000",
                        "其他",
                        "反映问题",
                        1,
                        "[]",
                        0,
                        None,
                        at,
                        at,
                    )
                )
                outcome = "case" if k % 2 == 0 else "resolved"
                rows["reception_records"].append(
                    (
                        new("reception_records"),
                        county_id,
                        booking,
                        sitting,
                        person,
                        "反映问题",
                        "答复",
                        outcome,
                        None,
                        at,
                    )
                )
    for table in TABLES:
        await raw.copy_records_to_table(table, records=rows[table], columns=COLUMNS[table].split())
    await raw.execute("ANALYZE " + ", ".join(TABLES))
    return {t: len(r) for t, r in rows.items()}


async def _timed(
    conn: AsyncConnection, chosen: list[measure.ReadPath], actors: dict[str, Any], n: int
) -> dict[str, list[float]]:
    today = dt.datetime.now(SHANGHAI).date()
    spent: dict[str, list[float]] = {p.name: [] for p in chosen}
    for path in chosen:
        for k in range(n + 1):
            began = time.perf_counter()
            async with AsyncSession(bind=conn) as db:
                await path.call(db, actors[path.account], today)
            if k:  # the first is a warm-up
                spent[path.name].append((time.perf_counter() - began) * 1e3)
    return spent


async def estimate(manifest: Manifest, requests: int) -> str:
    engine = create_engine(manifest.settings())
    chosen = [p for p in measure.paths(manifest) if p.ranking]
    try:
        actors = await measure._principals(session_factory(engine), manifest)
        async with engine.connect() as conn:
            await conn.begin()
            before = await _timed(conn, chosen, actors, requests)
            raw = (await conn.get_raw_connection()).driver_connection
            began = time.perf_counter()
            counts = await insert(raw, manifest)
            made = time.perf_counter() - began
            after = await _timed(conn, chosen, actors, requests)
            await conn.rollback()
    finally:
        await engine.dispose()
    lines = [
        f"receptions inserted in the transaction ({made:.0f} s, rolled back): "
        + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
        "",
        "| path | without receptions p50 / p95 ms | with a year of receptions p50 / p95 ms |",
        "|---|---:|---:|",
    ]
    for path in chosen:
        b, a = sorted(before[path.name]), sorted(after[path.name])
        lines.append(
            f"| {path.name} | {statistics.median(b):.1f} / {percentile(b, 95):.1f} | "
            f"{statistics.median(a):.1f} / {percentile(a, 95):.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ownership.receptions")
    parser.add_argument("--out", type=Path, default=dataset.DEFAULT_OUT)
    parser.add_argument("--requests", type=int, default=10, help="per ranking path, each phase")
    args = parser.parse_args(argv)
    import_all_models()
    manifest = Manifest.load(args.out)
    dataset.prepare(manifest)
    print(describe(), flush=True)
    print(asyncio.run(estimate(manifest, args.requests)))
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
