"""The ledgers below the API, on SQLite and PostgreSQL: every organisation change leaves its
entry in the same transaction, the stored tree proves what the signed checkpoints say, and
whatever a database administrator rewrites is found — and located — by the verifier."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.auth import services as auth
from app.core.auth.access import Principal
from app.core.auth.models import Account
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.settings import Settings
from app.ledger import merkle
from app.ledger import services as ledger
from app.ledger.audit import Rebuild
from app.ledger.checkpoints import InconsistentLog, make_checkpoint, signer, verifiers
from app.ledger.models import Ledger, LedgerCheckpoint, LedgerEntry, LedgerNode
from app.ledger.note import Checkpoint, Signer, open_checkpoint, sign_checkpoint
from app.ledger.rules import Entry, json_string
from app.ledger.verify import Report, verify_ledger
from app.org import services as org
from app.org.errors import Duplicate
from app.org.models import Unit
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import EndReason, PersonIn, PostIn, TenureEnd, TenureIn, UnitIn
from tests.integration.conftest import SYSTEM, County

Factory = async_sessionmaker[AsyncSession]

ACTIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger-actions.md"
JIEFANG = Path(sys.executable).with_name("jiefang")


# ---------------------------------------------------------------- helpers


def documented_actions() -> dict[str, tuple[str, set[str]]]:
    """action -> (subject type, payload fields), read from docs/ledger-actions.md."""
    found: dict[str, tuple[str, set[str]]] = {}
    for line in ACTIONS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[a-z_]+(\.[a-z_]+)+`", cells[0]):
            fields = set(re.findall(r"`(\w+)`:", cells[2]))
            found[cells[0].strip("`")] = (cells[1].strip("`"), fields)
    return found


async def county_ledger(factory: Factory, county_id: int | None) -> Ledger:
    async with factory() as db:
        return await ledger.ledger_for_county(db, county_id)


async def entries(factory: Factory, ledger_id: int, start: int = 0) -> list[LedgerEntry]:
    async with factory() as db:
        return list(
            await db.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq >= start)
                .order_by(LedgerEntry.seq)
            )
        )


async def node_count(factory: Factory, ledger_id: int) -> int:
    async with factory() as db:
        count = await db.scalar(
            select(func.count()).select_from(LedgerNode).where(LedgerNode.ledger_id == ledger_id)
        )
    return int(count or 0)


async def sign(factory: Factory, ledger_id: int, keys_dir: Path, clock: FixedClock) -> Any:
    """Sign the ledger's current tree, as the checkpoint job does."""
    async with transaction(factory) as db:
        made = await make_checkpoint(db, ledger_id, signer(keys_dir), clock.now())
    assert made is not None
    return made


async def stored_checkpoints(factory: Factory, ledger_id: int) -> list[int]:
    async with factory() as db:
        return [int(c.size) for c in await ledger.checkpoints(db, ledger_id)]


async def verify(factory: Factory, ledger_id: int, keys_dir: Path, **options: Any) -> Report:
    async with factory() as db:
        found = await db.get(Ledger, ledger_id)
        assert found is not None
        return await verify_ledger(db, found, verifiers(keys_dir), **options)


async def add_people(factory: Factory, clock: FixedClock, county_id: int, count: int) -> None:
    async with transaction(factory) as db:
        for _ in range(count):
            await org.create_person(db, SYSTEM, clock.now(), PersonIn("李文静", "女", county_id))


async def grow_to(factory: Factory, clock: FixedClock, county_id: int, size: int) -> None:
    current = (await county_ledger(factory, county_id)).size
    assert current <= size, f"the county fixture already wrote {current} entries"
    if current < size:
        await add_people(factory, clock, county_id, size - current)


async def as_dba(db: AsyncSession) -> None:
    """A superuser switches the append-only triggers off for their transaction."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SET LOCAL session_replication_role = replica"))


async def rewrite_entry(factory: Factory, ledger_id: int, seq: int, **values: Any) -> None:
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            update(LedgerEntry)
            .where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq == seq)
            .values(**values)
        )


async def rewrite_history(factory: Factory, origin: str, ledger_id: int, seq: int) -> None:
    """What a DBA holding a copy of the code can do: move a registered person to another
    county in the past, then recompute the leaf, its hash, every node and the head's
    frontier so that all stored rows agree with each other again."""
    rows = await entries(factory, ledger_id)
    target = rows[seq]
    payload = {**target.payload, "county": int(target.payload["county"]) + 1}
    forged = Entry(
        origin,
        seq,
        target.recorded_at,
        target.actor,
        target.action,
        target.subject_type,
        target.subject_id,
        payload,
    ).leaf()
    rebuild = Rebuild()
    _, nodes = rebuild.add([forged if r.seq == seq else bytes(r.leaf) for r in rows])
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            update(LedgerEntry)
            .where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq == seq)
            .values(payload=payload, leaf=forged, leaf_hash=merkle.leaf_hash(forged))
        )
        for (level, idx), digest in nodes.items():
            await db.execute(
                update(LedgerNode)
                .where(
                    LedgerNode.ledger_id == ledger_id,
                    LedgerNode.level == level,
                    LedgerNode.idx == idx,
                )
                .values(hash=digest)
            )
        await db.execute(
            update(Ledger).where(Ledger.id == ledger_id).values(frontier=rebuild.frontier())
        )


async def cut_log(factory: Factory, ledger_id: int, keep: int, *, cover_tracks: bool) -> None:
    """A DBA rolls the log back to `keep` entries and fixes the head to match; covering
    their tracks, they also delete the nodes past the cut and the later checkpoints."""
    leaves = [bytes(e.leaf) for e in await entries(factory, ledger_id)][:keep]
    rebuild = Rebuild()
    rebuild.add(leaves)
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            delete(LedgerEntry).where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq >= keep)
        )
        if cover_tracks:
            for level in range(1, 64):
                await db.execute(
                    delete(LedgerNode).where(
                        LedgerNode.ledger_id == ledger_id,
                        LedgerNode.level == level,
                        LedgerNode.idx >= keep >> level,
                    )
                )
            await db.execute(
                delete(LedgerCheckpoint).where(
                    LedgerCheckpoint.ledger_id == ledger_id, LedgerCheckpoint.size > keep
                )
            )
        await db.execute(
            update(Ledger)
            .where(Ledger.id == ledger_id)
            .values(size=keep, frontier=rebuild.frontier())
        )


async def admin_principal(factory: Factory, clock: FixedClock) -> Principal:
    async with factory() as db:
        account_id = await db.scalar(select(Account.id).where(Account.username == "admin"))
        assert account_id is not None
        principal = await auth.principal_for(db, account_id, clock.now())
    assert principal is not None
    return principal


def seqs_named(report: Report) -> set[int]:
    return {p.seq for p in report.problems if p.seq is not None}


# ---------------------------------------------------------------- every change leaves its entry


async def test_every_organisation_change_writes_its_documented_entry_to_the_county_ledger(
    factory: Factory, clock: FixedClock, county: County
) -> None:
    admin = await admin_principal(factory, clock)
    before = (await county_ledger(factory, county.county)).size
    now = clock.now()
    async with transaction(factory) as db:
        unit = await org.create_unit(
            db, admin, now, UnitIn(UnitKind.township, "990001003", "青石镇", county.county)
        )
        person = await org.create_person(db, admin, now, PersonIn("王秀英", "女", county.county))
        post = await org.create_post(
            db, admin, now, PostIn(unit.id, "党委副书记", ReceptionRole.township_secretary)
        )
        tenure = await org.appoint(
            db, admin, now, TenureIn(person.id, post.id, dt.date(2026, 3, 1), ["信访"])
        )
        await org.end_tenure(
            db, admin, now, tenure.id, TenureEnd(dt.date(2026, 6, 1), EndReason.retirement)
        )

    written = await entries(factory, (await county_ledger(factory, county.county)).id, before)
    assert [(e.action, e.subject_type, e.subject_id) for e in written] == [
        ("org.unit.created", "unit", str(unit.id)),
        ("org.person.created", "person", str(person.id)),
        ("org.post.created", "post", str(post.id)),
        ("org.tenure.started", "tenure", str(tenure.id)),
        ("org.tenure.ended", "tenure", str(tenure.id)),
    ]
    assert [e.seq for e in written] == list(range(before, before + 5))
    assert [e.payload for e in written] == [
        {"kind": "township", "code": "990001003", "name": "青石镇", "parent": county.county},
        {"county": county.county},
        {
            "unit": unit.id,
            "title": "党委副书记",
            "reception_role": "township_secretary",
            "single_holder": True,
        },
        {"person": person.id, "post": post.id, "start_date": "2026-03-01", "portfolio": ["信访"]},
        {"end_date": "2026-06-01", "reason": "退休"},
    ]
    documented = documented_actions()
    for entry in written:
        subject, fields = documented[entry.action]
        assert entry.subject_type == subject
        assert set(entry.payload) <= fields, entry.action
        assert entry.actor == {
            "kind": "staff",
            "account": admin.account_id,
            "role": "admin",
            "person": None,
        }
        hashed = json.loads(bytes(entry.leaf))
        assert hashed["payload"] == entry.payload and hashed["seq"] == entry.seq
    assert "王秀英" not in bytes(written[1].leaf).decode("utf-8")
    assert "王秀英" not in json.dumps([e.payload for e in written], ensure_ascii=False)


async def test_a_new_county_starts_its_own_ledger_and_the_admin_ledger_records_the_opening(
    factory: Factory, clock: FixedClock, county: County
) -> None:
    admin_before = (await county_ledger(factory, None)).size
    async with transaction(factory) as db:
        created = await org.create_unit(
            db, SYSTEM, clock.now(), UnitIn(UnitKind.county, "990003", "新设县", None)
        )
    opened = await county_ledger(factory, created.id)
    assert opened.origin.endswith("/990003") and opened.size == 1
    [first] = await entries(factory, opened.id)
    assert (first.seq, first.action, first.subject_id) == (0, "org.unit.created", str(created.id))
    assert first.actor == {"kind": "system", "job": "tests"}
    [announced] = await entries(factory, (await county_ledger(factory, None)).id, admin_before)
    assert announced.action == "ledger.opened"
    assert announced.payload == {"origin": opened.origin, "county": created.id}


# ---------------------------------------------------------------- one transaction


async def test_a_change_that_fails_after_its_entry_leaves_neither_and_no_gap_in_the_seqs(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    nodes_before = await node_count(factory, led.id)
    township = UnitIn(UnitKind.township, "990001088", "半途镇", county.county)

    with pytest.raises(RuntimeError, match="断电"):
        async with transaction(factory) as db:
            await org.create_unit(db, SYSTEM, clock.now(), township)
            await ledger.settle(db)
            written = await ledger.get_entry(db, led.id, led.size)
            assert written.action == "org.unit.created"
            raise RuntimeError("断电")
    with pytest.raises(Duplicate):
        async with transaction(factory) as db:
            await org.create_unit(db, SYSTEM, clock.now(), township)
            await org.create_unit(db, SYSTEM, clock.now(), township)

    assert (await county_ledger(factory, county.county)).size == led.size
    assert [e.seq for e in await entries(factory, led.id)] == list(range(led.size))
    assert await node_count(factory, led.id) == nodes_before
    async with factory() as db:
        assert await db.scalar(select(Unit.id).where(Unit.code == "990001088")) is None

    async with transaction(factory) as db:
        unit = await org.create_unit(db, SYSTEM, clock.now(), township)
    rows = await entries(factory, led.id)
    assert [e.seq for e in rows] == list(range(led.size + 1))
    assert (rows[-1].action, rows[-1].subject_id) == ("org.unit.created", str(unit.id))
    assert (await verify(factory, led.id, keys_dir)).ok


# ---------------------------------------------------------------- sequences, roots and proofs


async def test_two_hundred_appends_are_numbered_without_gaps_and_every_proof_holds(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    for batch in range(5):
        await add_people(factory, clock, county.county, 40)
        if batch == 1:
            first = await sign(factory, led.id, keys_dir, clock)
    last = await sign(factory, led.id, keys_dir, clock)

    rows = await entries(factory, led.id)
    n = led.size + 200
    assert [e.seq for e in rows] == list(range(n))
    assert last.size == n and first.size == led.size + 80
    hashes = [bytes(e.leaf_hash) for e in rows]
    assert hashes == [merkle.leaf_hash(bytes(e.leaf)) for e in rows]
    keys = verifiers(keys_dir)
    for made in (first, last):
        signed = open_checkpoint(made.note, keys, led.origin)
        assert (signed.size, signed.root) == (made.size, merkle.root(hashes[: made.size]))

    async with factory() as db:
        current = await ledger.get_ledger(db, led.id)
        for size in range(1, n + 1):
            assert await ledger.root_at(db, led.id, size) == merkle.root(hashes[:size])
        for checkpoint in (first, last):
            root = open_checkpoint(checkpoint.note, keys).root
            for seq in range(checkpoint.size):
                proof = await ledger.prove_inclusion(db, current, seq, checkpoint.size)
                assert merkle.verify_inclusion(seq, checkpoint.size, hashes[seq], proof.path, root)
        between = await ledger.prove_consistency(db, current, first.size, last.size)
        assert merkle.verify_consistency(
            first.size, last.size, bytes(first.root), bytes(last.root), between.path
        )
        for old in range(1, n):
            path = await ledger.consistency_proof(db, led.id, old, n)
            assert path == merkle.consistency_proof(old, hashes)
            assert merkle.verify_consistency(
                old, n, merkle.root(hashes[:old]), bytes(last.root), path
            )


async def _append_person(db: AsyncSession, clock: FixedClock, county: int, n: int) -> None:
    await ledger.append(db, **_person_entry(clock, county, n))


def _person_entry(clock: FixedClock, county: int, n: int) -> dict[str, Any]:
    return {
        "county": county,
        "actor": {"kind": "system", "job": "tests"},
        "action": "org.person.created",
        "subject": ("person", 9000 + n),
        "payload": {"county": county},
        "at": clock.now(),
    }


async def test_a_transactions_entries_are_consecutive_in_the_order_it_appended_them(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    async with transaction(factory) as db:
        await _append_person(db, clock, county.county, 1)
        await _append_person(db, clock, county.county, 2)
        receipt = await ledger.append_now(db, **_person_entry(clock, county.county, 3))
        # The receipt is known inside the transaction, after what was queued before it.
        assert (receipt.ledger_id, receipt.origin, receipt.seq) == (
            led.id,
            led.origin,
            led.size + 2,
        )
        await _append_person(db, clock, county.county, 4)
        try:
            async with db.begin_nested():
                await _append_person(db, clock, county.county, 5)
                raise LookupError("撤回")
        except LookupError:
            pass
        await _append_person(db, clock, county.county, 6)

    rows = await entries(factory, led.id, led.size)
    assert [(e.seq, e.subject_id) for e in rows] == [
        (led.size + i, str(9000 + n)) for i, n in enumerate((1, 2, 3, 4, 6))
    ]
    assert bytes(rows[2].leaf_hash) == receipt.leaf_hash
    assert (await county_ledger(factory, county.county)).size == led.size + 5
    assert (await verify(factory, led.id, keys_dir)).ok


async def test_an_origin_is_spliced_into_the_leaf_as_rfc8785_writes_it(
    factory: Factory, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes the whole leaf in Python")
    origins = ['县"引号"/33', "back\\slash", "tab\tnew\nline\x01\x1f\x7f", "长山县/330824", "😀"]
    async with factory() as db:
        for origin in origins:
            spliced = await db.scalar(text("SELECT to_json(CAST(:o AS text))::text"), {"o": origin})
            assert str(spliced).encode() == json_string(origin)


async def test_an_untampered_ledger_verifies_also_against_an_earlier_saved_checkpoint(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    saved = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 13)
    await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 2)

    report = await verify(factory, led.id, keys_dir)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (led.size + 15, 2)
    against = await verify(factory, led.id, keys_dir, against=saved.note, chunk=4)
    assert against.ok, against.problems
    assert against.against is not None and against.against.size == saved.size
    admin = await county_ledger(factory, None)
    assert (await verify(factory, admin.id, keys_dir)).ok


# ---------------------------------------------------------------- refusing to sign


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        pytest.param((2, 4), "does not extend", id="a node only the consistency proof reads"),
        pytest.param((4, 0), "frontier disagrees", id="a peak of today's tree"),
    ],
)
async def test_no_checkpoint_is_signed_once_a_stored_node_was_rewritten(
    factory: Factory,
    clock: FixedClock,
    county: County,
    keys_dir: Path,
    node: tuple[int, int],
    reason: str,
) -> None:
    led = await county_ledger(factory, county.county)
    await grow_to(factory, clock, county.county, 21)
    await sign(factory, led.id, keys_dir, clock)
    # Between the checkpoints of 21 and 26 entries, node (2, 4) — entries 16..19 — is read
    # only by the consistency proof; node (4, 0) — entries 0..15 — is a peak of the tree.
    assert (2, 4) in merkle.range_nodes(16, 20) and (16, 20) in merkle.consistency_ranges(21, 26)
    assert (2, 4) not in merkle.peaks(26) and (4, 0) in merkle.peaks(26)
    level, idx = node
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            update(LedgerNode)
            .where(LedgerNode.ledger_id == led.id, LedgerNode.level == level, LedgerNode.idx == idx)
            .values(hash=bytes(32))
        )
    await add_people(factory, clock, county.county, 5)

    with pytest.raises(InconsistentLog, match=reason):
        async with transaction(factory) as db:
            await make_checkpoint(db, led.id, signer(keys_dir), clock.now())
    assert await stored_checkpoints(factory, led.id) == [21]
    report = await verify(factory, led.id, keys_dir)
    span = (idx << level, ((idx + 1) << level) - 1)
    assert not report.ok and span in [p.interval for p in report.problems]


# ---------------------------------------------------------------- tampering, found and located


async def test_an_edited_payload_is_reported_at_its_seq(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    [person] = [e for e in await entries(factory, led.id) if e.subject_type == "person"]
    await rewrite_entry(factory, led.id, person.seq, payload={"county": county.other_county})

    report = await verify(factory, led.id, keys_dir)
    assert not report.ok
    assert seqs_named(report) == {person.seq}
    assert f"第 {person.seq} 条" in report.problems[0].message
    assert "payload" in report.problems[0].message


async def test_a_deleted_row_is_reported_as_the_missing_seq(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    missing = led.size // 2
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            delete(LedgerEntry).where(LedgerEntry.ledger_id == led.id, LedgerEntry.seq == missing)
        )

    report = await verify(factory, led.id, keys_dir)
    assert not report.ok
    assert report.problems[0].seq == missing
    assert "缺失" in report.problems[0].message


async def test_two_swapped_rows_are_reported_from_the_first_of_them(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    rows = await entries(factory, led.id)
    a, b = rows[3], rows[11]
    columns = ("recorded_at", "actor", "action", "subject_type", "subject_id", "payload")
    contents = {
        row.seq: {
            **{c: getattr(row, c) for c in columns},
            "leaf": row.leaf,
            "leaf_hash": row.leaf_hash,
        }
        for row in (a, b)
    }
    await rewrite_entry(factory, led.id, a.seq, **contents[b.seq])
    await rewrite_entry(factory, led.id, b.seq, **contents[a.seq])

    report = await verify(factory, led.id, keys_dir)
    assert not report.ok
    assert report.problems[0].seq == a.seq
    assert min(seqs_named(report)) == a.seq


@pytest.mark.parametrize("forgery", ["signed by a stranger's key", "root altered"])
async def test_a_forged_checkpoint_is_reported_as_a_checkpoint_problem(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path, forgery: str
) -> None:
    led = await county_ledger(factory, county.county)
    genuine = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 6)
    size = led.size + 6
    async with transaction(factory) as db:
        await as_dba(db)
        if forgery == "root altered":
            await db.execute(
                update(LedgerCheckpoint)
                .where(LedgerCheckpoint.ledger_id == led.id, LedgerCheckpoint.size == genuine.size)
                .values(root=bytes(32))
            )
            interval = (0, genuine.size - 1)
        else:
            root = await ledger.root_at(db, led.id, size)
            stranger = Signer.generate(signer(keys_dir).name)
            note = sign_checkpoint(stranger, Checkpoint(led.origin, size, root))
            await db.execute(
                insert(LedgerCheckpoint).values(
                    ledger_id=led.id, size=size, root=root, note=note, created_at=clock.now()
                )
            )
            interval = (genuine.size, size - 1)

    report = await verify(factory, led.id, keys_dir)
    assert not report.ok
    [problem] = report.problems
    assert problem.interval == interval and problem.seq is None
    assert "检查点" in problem.message


async def test_history_rewritten_with_every_hash_recomputed_is_located_by_the_signed_checkpoint(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    earlier = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 10)
    saved = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 3)
    rewritten = earlier.size + 4

    await rewrite_history(factory, led.origin, led.id, rewritten)

    report = await verify(factory, led.id, keys_dir)
    assert not report.ok
    assert seqs_named(report) == set(), "every row, node and the head agree with each other"
    [problem] = report.problems
    assert problem.interval == (earlier.size, saved.size - 1)
    assert problem.interval[0] <= rewritten <= problem.interval[1]
    assert f"第 {earlier.size} 至 {saved.size - 1} 条" in problem.message
    against = await verify(factory, led.id, keys_dir, against=saved.note)
    assert not against.ok
    assert (0, saved.size - 1) in [p.interval for p in against.problems]


async def test_a_log_rolled_back_below_a_saved_checkpoint_is_reported_as_truncated(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 5)
    saved = await sign(factory, led.id, keys_dir, clock)
    keep = led.size + 2
    await cut_log(factory, led.id, keep, cover_tracks=True)

    assert (await verify(factory, led.id, keys_dir)).ok, "consistent on its own"
    report = await verify(factory, led.id, keys_dir, against=saved.note)
    assert not report.ok
    assert "截断" in report.problems[-1].message and report.problems[-1].seq == keep


async def test_a_truncation_below_a_stored_checkpoint_is_found_also_when_checking_against_an_older_one(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    older = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 5)
    newer = await sign(factory, led.id, keys_dir, clock)
    keep = older.size + 2
    await cut_log(factory, led.id, keep, cover_tracks=False)

    report = await verify(factory, led.id, keys_dir, against=older.note)
    assert not report.ok
    assert report.against_matched is True
    assert any(f"大小为 {newer.size} 的检查点" in p.message for p in report.problems)


async def test_a_row_missing_just_before_a_checkpoint_is_named_not_taken_for_a_truncation(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    signed = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 4)
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            delete(LedgerEntry).where(
                LedgerEntry.ledger_id == led.id, LedgerEntry.seq == signed.size - 1
            )
        )

    report = await verify(factory, led.id, keys_dir)
    assert report.problems[0].seq == signed.size - 1
    assert "缺失" in report.problems[0].message
    assert not any("截断" in p.message for p in report.problems)


async def test_a_saved_checkpoint_is_not_called_consistent_after_history_inside_it_was_rewritten(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    led = await county_ledger(factory, county.county)
    earlier = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 10)
    saved = await sign(factory, led.id, keys_dir, clock)
    await add_people(factory, clock, county.county, 3)
    await rewrite_history(factory, led.origin, led.id, earlier.size + 4)

    async with factory() as db:
        inside = await ledger.check_saved_checkpoint(db, saved.note, verifiers(keys_dir))
        before = await ledger.check_saved_checkpoint(db, earlier.note, verifiers(keys_dir))
    assert not inside.consistent and "不一致" in inside.detail
    assert before.consistent and not before.whole_ledger_ok
    assert f"前 {earlier.size} 条记录未被改写" in before.detail


# ---------------------------------------------------------------- the database refuses


async def test_postgresql_refuses_to_update_or_delete_ledger_rows(
    engine: AsyncEngine, factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no triggers; the verifier finds such edits there")
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    statements = [
        "UPDATE ledger_entries SET action = 'org.unit.updated' WHERE ledger_id = :lid AND seq = 1",
        "DELETE FROM ledger_entries WHERE ledger_id = :lid AND seq = 1",
        "UPDATE ledger_nodes SET hash = hash WHERE ledger_id = :lid",
        "DELETE FROM ledger_nodes WHERE ledger_id = :lid",
        "UPDATE ledger_checkpoints SET root = root WHERE ledger_id = :lid",
        "DELETE FROM ledger_checkpoints WHERE ledger_id = :lid",
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="台账只能追加"):
            async with transaction(factory) as db:
                await db.execute(text(statement), {"lid": led.id})
    for table in ("ledger_entries", "ledger_nodes", "ledger_checkpoints"):
        with pytest.raises(DBAPIError, match="台账只能追加"):
            async with transaction(factory) as db:
                await db.execute(text(f"TRUNCATE {table}"))
    assert (await verify(factory, led.id, keys_dir)).ok


# ---------------------------------------------------------------- the command line


async def jiefang(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "JIEFANG_DATABASE_URL": settings.database_url,
        "JIEFANG_KEYS_DIR": str(settings.keys_dir),
        "JIEFANG_VAR_DIR": str(settings.var_dir),
        "COLUMNS": "240",
    }
    process = await asyncio.create_subprocess_exec(
        str(JIEFANG),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8")


async def test_the_verify_command_passes_a_clean_ledger_and_names_the_seq_of_an_edit(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path, settings: Settings
) -> None:
    led = await county_ledger(factory, county.county)
    await sign(factory, led.id, keys_dir, clock)
    code, output = await jiefang(settings, "ledger", "verify")
    assert code == 0, output
    assert "全部验证通过" in output and led.origin in output

    await rewrite_entry(factory, led.id, 5, action="org.unit.updated")
    code, output = await jiefang(settings, "ledger", "verify")
    assert code != 0
    assert "第 5 条" in output, output


async def test_an_exported_proof_bundle_verifies_offline_until_its_entry_is_edited(
    factory: Factory, county: County, keys_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    [person] = [
        e
        for e in await entries(factory, (await county_ledger(factory, county.county)).id)
        if e.subject_type == "person"
    ]
    out = tmp_path / "proof.json"
    key = verifiers(keys_dir)[0].to_string()
    code, output = await jiefang(
        settings, "ledger", "prove", str(person.seq), "--ledger", "990001", "--out", str(out)
    )
    assert code == 0, output
    code, output = await jiefang(settings, "ledger", "verify-bundle", str(out), "--key", key)
    assert code == 0, output
    assert "该证明有效" in output

    bundle = json.loads(out.read_text(encoding="utf-8"))
    bundle["entry"]["payload"]["county"] = county.other_county
    out.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    code, output = await jiefang(settings, "ledger", "verify-bundle", str(out), "--key", key)
    assert code != 0
    assert "该证明无效" in output and "记录内容与叶子字节一致" in output
