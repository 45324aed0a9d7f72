"""Generate a province on PostgreSQL: 90 counties, 1,000,000 cases over the last year,
20,000 officials — in bulk, with every county's ledger written so that
`jiefang ledger verify` passes.

    .venv/bin/python -m bench.ownership.generate --cases 1000000 --counties 90 --replace
    .venv/bin/python -m bench.ownership.generate --drop

Steps (each timed and printed):

1. a scratch database (`--database`, default jiefang_bench_cases, dropped first with
   `--replace`), migrated with `app.core.migrate.upgrade` and bootstrapped with
   `bootstrap_ledgers` (what `jiefang db upgrade` does); keys from `init_keys` in `--out`;
2. the province (`org`): units, persons, posts, tenures by COPY; the administration ledger's
   entries (province and cities created, one `ledger.opened` per county, the county ledgers
   opened with `open_county_ledger`) through `ledger.append`;
3. the cases: how many per county (log-normal county sizes), when each was received
   (weekdays busier), ids in the order received across the province; then per county, in
   `--jobs` worker processes: its cases lived (`lives`), their rows COPYed into unlogged
   stage tables, its ledger written (`ledger`): org entries, then every case entry;
4. the stage tables moved into the app's tables in the order the rows were first written
   (so a county's rows lie scattered over the heap as in a real province), sequences set;
   then the red/black list's facts and monthly totals written from them
   (`fact_services.rebuild`);
5. accounts through `auth.services.create_account` (ledgered): a supervisor of the busiest
   county, of a median county and of the province, and leaders with the most, a 90th
   percentile and a median number of open cases; a signed checkpoint of every ledger
   (`checkpoints.checkpoint_all`, which also checks the stored nodes against the heads);
6. `VACUUM (ANALYZE)` (what autovacuum would have done), the `checks`, and
   `jiefang ledger verify` over every ledger, which must exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from app.core.auth import services as auth_services
from app.core.auth.access import system_principal
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.db import create_engine, session_factory, transaction
from app.core.keys import KeyRing, init_keys
from app.core.migrate import upgrade
from app.core.personal_data import Secrets
from app.ledger import services as ledger_services
from app.ledger.bootstrap import bootstrap_ledgers
from app.ledger.checkpoints import checkpoint_all, signer
from app.models import import_all_models
from app.org.services import LEDGER_OPENED
from app.ownership import fact_services
from app.ownership.workflow import OPEN
from bench.booking.scratch import DEPLOYMENT
from bench.ownership import checks, dataset, ledger, org
from bench.ownership.dataset import Account, Manifest
from bench.ownership.lives import ACTOR, TABLES, live_county, shanghai_day

ID_BLOCK = 10_000_000  # ids of a county's clocks, owners, events …: county index × block + n
DAYS = 365
WEEKDAY_WEIGHTS = (1.0, 1.0, 0.95, 0.95, 0.9, 0.3, 0.2)
ORG_DAYS_BEFORE = 400  # the organisation was entered this long before the horizon


class Timer:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.began = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.spent[name] = round(now - self.began, 1)
        print(f"[{name}] {self.spent[name]:.1f} s", flush=True)
        self.began = now


# --------------------------------------------------------------------------- org


async def _copy_org(database: str, province: org.Province) -> None:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "units", records=province.units, columns=list(org.UNIT_COLUMNS)
            )
            await conn.copy_records_to_table(
                "persons", records=province.persons, columns=list(org.PERSON_COLUMNS)
            )
            await conn.copy_records_to_table(
                "posts", records=province.posts, columns=list(org.POST_COLUMNS)
            )
            tenures = [
                (*t[:6], json.dumps(t[6], ensure_ascii=False), *t[7:]) for t in province.tenures
            ]
            await conn.copy_records_to_table(
                "tenures", records=tenures, columns=list(org.TENURE_COLUMNS)
            )
            for table in ("units", "persons", "posts", "tenures"):
                await _set_sequence(conn, table)
    finally:
        await conn.close()


async def _set_sequence(conn: Any, table: str) -> None:
    await conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"(SELECT coalesce(max(id), 1) FROM {table}))"
    )


async def _admin_ledger(manifest: Manifest, province: org.Province) -> dict[int, tuple[int, str]]:
    """The administration ledger's entries, through `ledger.append` as `create_unit` writes
    them, and the county ledgers opened; returns county id -> (ledger id, origin)."""
    engine = create_engine(manifest.settings(), pool=False)
    opened: dict[int, tuple[int, str]] = {}
    try:
        async with transaction(session_factory(engine)) as db:
            for d in province.admin_drafts:
                await ledger_services.append(
                    db,
                    county=None,
                    actor=d.actor,
                    action=d.action,
                    subject=(d.subject_type, d.subject_id),
                    payload=d.payload,
                    at=d.at,
                )
            for county in province.counties:
                at = county.drafts[0].at
                row = await ledger_services.open_county_ledger(db, county.id, county.code, at)
                await ledger_services.append(
                    db,
                    county=None,
                    actor=ACTOR,
                    action=LEDGER_OPENED,
                    subject=("ledger", row.id),
                    payload={"origin": row.origin, "county": county.id},
                    at=at,
                )
                opened[county.id] = (row.id, row.origin)
    finally:
        await engine.dispose()
    return opened


# --------------------------------------------------------------------------- the cases


def skeleton(
    counties: int, total: int, horizon: dt.datetime, rng: random.Random
) -> list[list[tuple[int, dt.datetime]]]:
    """Per county, its cases as (case id, received at): county sizes log-normal, days of
    the last year weighted by weekday (and slowly growing), office hours; case ids in the
    order received across the province."""
    weights = [rng.lognormvariate(0, 0.5) for _ in range(counties)]
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    for k in sorted(range(counties), key=lambda k: counts[k] - shares[k])[: total - sum(counts)]:
        counts[k] += 1
    today = shanghai_day(horizon)
    days = [today - dt.timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    day_weights = [
        WEEKDAY_WEIGHTS[d.weekday()] * (0.9 + 0.2 * n / DAYS) for n, d in enumerate(days)
    ]
    received: list[tuple[dt.datetime, int]] = []
    for county, count in enumerate(counts):
        for day in rng.choices(days, day_weights, k=count):
            at = dt.datetime.combine(day, dt.time(8), SHANGHAI)
            at += dt.timedelta(seconds=rng.randint(0, 10 * 3600 - 1))
            at = at.astimezone(dt.UTC)
            if at > horizon:
                at = horizon - dt.timedelta(seconds=rng.randint(1, 3600))
            received.append((at, county))
    received.sort()
    per_county: list[list[tuple[int, dt.datetime]]] = [[] for _ in range(counties)]
    for case_id, (at, county) in enumerate(received, 1):
        per_county[county].append((case_id, at))
    return per_county


async def _create_stages(database: str) -> None:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        for table in TABLES:
            await conn.execute(f"DROP TABLE IF EXISTS stage_{table}")
            await conn.execute(
                f"CREATE UNLOGGED TABLE stage_{table} (LIKE {table}, sort_at timestamptz)"
            )
    finally:
        await conn.close()


@dataclass(frozen=True)
class Job:
    county: org.CountyOrg
    cases: list[tuple[int, dt.datetime]]
    horizon: dt.datetime
    seed: int
    keys_dir: Path
    database: str
    ledger_id: int
    origin: str


@dataclass
class Done:
    county_id: int
    cases: int
    rows: dict[str, int]
    entries: int
    statuses: dict[str, int]
    spent: dict[str, float] = field(default_factory=dict)


def run_job(job: Job) -> Done:
    """One county, in a worker process."""
    return asyncio.run(_run_job(job))


async def _run_job(job: Job) -> Done:
    began = time.perf_counter()
    secrets = Secrets(KeyRing(job.keys_dir))
    base = job.county.index * ID_BLOCK
    written = live_county(job.county, job.cases, base, job.horizon, secrets, job.seed)
    lived = time.perf_counter()
    drafts = ledger.ordered(job.county.drafts, written.drafts)
    conn = await asyncpg.connect(dataset.dsn(job.database))
    try:
        async with conn.transaction():
            for table, rows in written.rows.items():
                if rows:
                    await conn.copy_records_to_table(
                        f"stage_{table}", records=rows, columns=[*TABLES[table], "sort_at"]
                    )
            copied = time.perf_counter()
            head = await ledger.write(conn, job.ledger_id, job.origin, drafts)
    finally:
        await conn.close()
    return Done(
        job.county.id,
        len(job.cases),
        {t: len(r) for t, r in written.rows.items()},
        head.size,
        written.statuses,
        {
            "live": lived - began,
            "copy": copied - lived,
            "ledger": time.perf_counter() - copied,
        },
    )


def _order_by(table: str) -> str:
    columns = TABLES[table]
    return "sort_at, id" if columns[0] == "id" else f"sort_at, {', '.join(columns)}"


async def _move_stages(database: str) -> dict[str, int]:
    """Stage rows into the app's tables in the order first written; sequences set."""
    conn = await asyncpg.connect(dataset.dsn(database))
    sizes = {}
    try:
        for table, columns in TABLES.items():
            began = time.perf_counter()
            cols = ", ".join(f'"{c}"' for c in columns)
            status = await conn.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM stage_{table} "
                f"ORDER BY {_order_by(table)}"
            )
            sizes[table] = int(status.split()[-1])
            await conn.execute(f"DROP TABLE stage_{table}")
            if columns[0] == "id":
                await _set_sequence(conn, table)
            print(
                f"  {table}: {sizes[table]:,} rows in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
    finally:
        await conn.close()
    return sizes


async def _owners_due(database: str) -> None:
    """Each active ownership of an open case is marked open and gets the case's next due
    date and clock, as `clock_services.refresh_next` writes them case by case (migrations
    0016 and 0017 fill them the same way)."""
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        await conn.execute(
            f"""UPDATE case_owners
            SET case_open = true, next_due = c.next_due, next_clock = c.next_clock
            FROM cases c WHERE c.id = case_owners.case_id AND case_owners.active
            AND c.status NOT IN ({checks.FINISHED_SQL})"""
        )
    finally:
        await conn.close()


def run_counties(
    province: org.Province,
    per_county: list[list[tuple[int, dt.datetime]]],
    opened: dict[int, tuple[int, str]],
    manifest: Manifest,
    jobs: int,
    horizon: dt.datetime,
) -> list[Done]:
    work = [
        Job(
            county,
            per_county[county.index],
            horizon,
            manifest.seed * 1000 + county.index,
            manifest.keys_dir,
            manifest.database,
            *opened[county.id],
        )
        for county in province.counties
    ]
    work.sort(key=lambda j: -len(j.cases))  # the largest first: the pool ends together
    done: list[Done] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(run_job, work):
            done.append(result)
            spent = " ".join(f"{k} {v:.1f}s" for k, v in result.spent.items())
            print(
                f"  county {len(done):>3}/{len(work)}: {result.cases:>6,} cases, "
                f"{result.entries:>7,} ledger entries ({spent})",
                flush=True,
            )
    return done


# --------------------------------------------------------------------------- accounts


_OPEN = ", ".join(f"'{s}'" for s in sorted(OPEN))
_OWNED = f"""
    SELECT o.person_id, p.county_id, count(DISTINCT o.case_id) AS n
    FROM case_owners o JOIN cases c ON c.id = o.case_id JOIN persons p ON p.id = o.person_id
    WHERE o.active AND c.status IN ({_OPEN})
    GROUP BY o.person_id, p.county_id ORDER BY n DESC, o.person_id"""


async def _accounts(manifest: Manifest, busiest: int, median: int, horizon: dt.datetime) -> None:
    """Supervisors and leaders, through the service (argon2 passwords, ledgered)."""
    engine = create_engine(manifest.settings(), pool=False)
    actor = system_principal("bench.ownership")
    try:
        async with transaction(session_factory(engine)) as db:
            owned = [tuple(r) for r in (await db.execute(text(_OWNED))).all()]
            leaders = {
                "leader-most": (owned[0], "the official with the most open owned cases"),
                "leader-p90": (owned[len(owned) // 10], "the 90th percentile of open owned cases"),
                "leader-median": (owned[len(owned) // 2], "the median of open owned cases"),
            }
            made = [
                ("sup-county", Role.supervisor, busiest, None, "the county with the most cases"),
                ("sup-county-median", Role.supervisor, median, None, "a county of median size"),
                ("sup-province", Role.supervisor, manifest.province_id, None, "the province"),
            ] + [
                (name, Role.leader, county, person, f"{note}: {n}")
                for name, ((person, county, n), note) in leaders.items()
            ]
            for username, role, scope, person, note in made:
                account = await auth_services.create_account(
                    db,
                    actor,
                    horizon,
                    username=username,
                    password=dataset.PASSWORD,
                    display_name=username,
                    roles=[role],
                    scope_unit_id=scope,
                    person_id=person,
                )
                manifest.accounts[username] = Account(
                    username, account.id, str(role), scope, person, note
                )
            await checkpoint_all(db, signer(manifest.keys_dir), horizon)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- finishing


async def _vacuum(database: str) -> None:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def _check(database: str) -> dict[str, int]:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        return await checks.run(conn)
    finally:
        await conn.close()


async def _figures(database: str, today: dt.date) -> dict[str, int]:
    conn = await asyncpg.connect(dataset.dsn(database))
    try:
        row = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE status IN ({_OPEN})) AS open,
                       count(*) FILTER (WHERE status IN ({_OPEN}) AND next_due < $1) AS overdue,
                       count(*) FILTER (WHERE status IN ({_OPEN}) AND next_due >= $1
                                        AND next_due <= $1 + 5) AS due_soon
                FROM cases""",
            today,
        )
        figures = {k: int(v) for k, v in row.items()}
        figures["ledger_entries"] = int(await conn.fetchval("SELECT sum(size) FROM ledgers"))
        figures["database_bytes"] = int(
            await conn.fetchval("SELECT pg_database_size(current_database())")
        )
        return figures
    finally:
        await conn.close()


def verify(manifest: Manifest) -> str:
    """`jiefang ledger verify --timings` over every ledger; it must exit 0. Its report is
    kept in `<out>/verify.txt`."""
    done = subprocess.run(
        [str(dataset.JIEFANG), "ledger", "verify", "--timings"],
        env=manifest.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    report = done.stdout + done.stderr
    (Path(manifest.out) / "verify.txt").write_text(report)
    if done.returncode != 0:
        sys.stderr.write(report[-5000:])
        raise SystemExit(f"jiefang ledger verify exited {done.returncode}")
    return report


def build(args: argparse.Namespace) -> Manifest:
    timer = Timer()
    out: Path = args.out.resolve()
    dataset.create_database(args.database, args.replace)
    if out.exists():
        if not args.replace:
            raise SystemExit(f"{out} exists: pass --replace")
        shutil.rmtree(out)
    horizon = dt.datetime.now(dt.UTC).replace(microsecond=0)
    manifest = Manifest(
        args.database,
        str(out),
        args.seed,
        args.counties,
        args.cases,
        args.officials,
        horizon.isoformat(),
        shanghai_day(horizon).isoformat(),
        0,
    )
    manifest.var_dir.mkdir(parents=True)
    init_keys(manifest.keys_dir, DEPLOYMENT)
    import_all_models()
    upgrade(manifest.url)
    asyncio.run(_bootstrap(manifest, horizon))
    timer.lap("database")

    start = horizon - dt.timedelta(days=ORG_DAYS_BEFORE)
    province = org.build(args.counties, args.officials, args.seed, start, ACTOR)
    manifest.province_id = province.unit.id
    manifest.county_ids = [c.id for c in province.counties]
    asyncio.run(_copy_org(args.database, province))
    opened = asyncio.run(_admin_ledger(manifest, province))
    timer.lap("org")
    print(
        f"  {len(province.units):,} units, {province.officials:,} officials "
        f"({len(province.counties)} counties)",
        flush=True,
    )

    per_county = skeleton(args.counties, args.cases, horizon, random.Random(args.seed))
    asyncio.run(_create_stages(args.database))
    done = run_counties(province, per_county, opened, manifest, args.jobs, horizon)
    timer.lap("cases")
    manifest.sizes = asyncio.run(_move_stages(args.database))
    asyncio.run(_owners_due(args.database))
    timer.lap("move")
    manifest.sizes["ranking_facts"] = asyncio.run(_ranking_facts(manifest))
    timer.lap("ranking facts")

    sizes = sorted(province.counties, key=lambda c: len(per_county[c.index]))
    busiest, median = sizes[-1], sizes[len(sizes) // 2]
    manifest.notes["busiest_county"] = {"id": busiest.id, "cases": len(per_county[busiest.index])}
    manifest.notes["median_county"] = {"id": median.id, "cases": len(per_county[median.index])}
    asyncio.run(_accounts(manifest, busiest.id, median.id, horizon))
    timer.lap("accounts and checkpoints")
    asyncio.run(_vacuum(args.database))
    timer.lap("vacuum analyze")

    failed = {k: v for k, v in asyncio.run(_check(args.database)).items() if v}
    if failed:
        raise SystemExit(f"checks failed: {failed}")
    timer.lap("checks")
    statuses: Counter[str] = Counter()
    for d in done:
        statuses.update(d.statuses)
    manifest.notes["statuses"] = dict(statuses.most_common())
    manifest.notes.update(asyncio.run(_figures(args.database, shanghai_day(horizon))))
    manifest.timings = dict(timer.spent)
    manifest.save()
    if not args.no_verify:
        report = verify(manifest)
        timer.lap("verify")
        manifest.notes["verified"] = report.count("✓")
        manifest.timings = dict(timer.spent)
        manifest.save()
    return manifest


async def _ranking_facts(manifest: Manifest) -> int:
    """The red/black list's facts and monthly totals, from the loaded clocks, cases and
    owners (what the services keep case by case)."""
    engine = create_engine(manifest.settings(), pool=False)
    try:
        async with transaction(session_factory(engine)) as db:
            return await fact_services.rebuild(db)
    finally:
        await engine.dispose()


async def _bootstrap(manifest: Manifest, now: dt.datetime) -> None:
    engine = create_engine(manifest.settings(), pool=False)
    try:
        await bootstrap_ledgers(session_factory(engine), manifest.settings(), now)
    finally:
        await engine.dispose()


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ownership.generate")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--counties", type=int, default=90)
    parser.add_argument(
        "--officials",
        type=int,
        help=f"default {org.OFFICIALS_PER_COUNTY} per county; 20,000 for 90",
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--database", default=dataset.DEFAULT_DATABASE)
    parser.add_argument("--out", type=Path, default=dataset.DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the cases")
    parser.add_argument("--replace", action="store_true", help="drop the database and --out first")
    parser.add_argument("--no-verify", action="store_true", help="skip `jiefang ledger verify`")
    parser.add_argument("--drop", action="store_true", help="drop the database and --out, and stop")
    args = parser.parse_args(argv)
    if args.officials is None:
        args.officials = 20_000 if args.counties == 90 else org.OFFICIALS_PER_COUNTY * args.counties
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.drop:
        dataset.drop(args.database, args.out)
        print(f"dropped database {args.database} and {args.out}")
        return
    began = time.perf_counter()
    manifest = build(args)
    total = time.perf_counter() - began
    print(json.dumps(manifest.notes, ensure_ascii=False, indent=2))
    print(
        f"{manifest.cases:,} cases in {manifest.counties} counties: {total:.0f} s; {manifest.out}"
    )


if __name__ == "__main__":
    main()
