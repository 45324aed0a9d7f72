"""Appending to the ledgers and reading proofs out of them, inside the caller's transaction.

`append` is called by every service that changes state, in the same transaction as the
change: if either fails, neither happens. Sequencing an entry locks the ledger's head row,
takes the next `seq`, hashes the leaf and the subtrees it completes from the head's
frontier, and writes the entry, the new nodes and the new frontier. On PostgreSQL that
happens in the database at COMMIT (migration 0015), so a ledger is locked only while its
writers commit, never across their client round trips; `append_now` sequences at once
for a caller that needs the receipt. On SQLite, whose writers are serialised anyway, the
same steps run here, at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import TextClause, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services as auth_services
from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import REVIEWER_ROLES, Role
from app.core.db import dialect_insert
from app.core.errors import DomainError, NotFound, RuleViolation
from app.ledger import merkle
from app.ledger.bundle import make_bundle
from app.ledger.models import Ledger, LedgerCheckpoint, LedgerEntry, LedgerNode
from app.ledger.note import Checkpoint, Verifier, open_checkpoint
from app.ledger.rules import (
    ADMIN_LEDGER_NAME,
    Entry,
    check_entry,
    leaf_splices,
    origin_of,
    staff_actor,
    system_actor,
)
from app.ledger.verify import verify_ledger

Actor = Principal | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an entry landed: enough for a citizen or clerk to ask for its proof."""

    ledger_id: int
    origin: str
    seq: int
    leaf_hash: bytes


def actor_json(actor: Actor, role: str | None = None) -> dict[str, Any]:
    if not isinstance(actor, Principal):
        return dict(actor)
    if actor.account_id == 0:
        return system_actor(actor.username.removeprefix("system:"))
    acting = role or min((g.role.value for g in actor.grants), default="none")
    return staff_actor(actor.account_id, acting, actor.person_id)


# ---------------------------------------------------------------- ledgers


async def ensure_admin_ledger(db: AsyncSession, deployment: str, now: dt.datetime) -> Ledger:
    """Create the deployment-wide ledger once; safe when several processes start at once.

    The deployment name is fixed by the first start: origins never change afterwards, so
    a later JIEFANG_DEPLOYMENT does not open a second administration ledger."""
    existing = await admin_ledger(db)
    if existing is not None:
        return existing
    origin = origin_of(deployment, ADMIN_LEDGER_NAME)
    values = {"origin": origin, "county_id": None, "size": 0, "frontier": b"", "created_at": now}
    await db.execute(dialect_insert(db)(Ledger).values(**values).on_conflict_do_nothing())
    ledger = await admin_ledger(db)
    if ledger is None:
        raise RuntimeError("another administration ledger exists under a different name")
    return ledger


async def admin_ledger(db: AsyncSession) -> Ledger | None:
    ledger: Ledger | None = await db.scalar(
        select(Ledger).where(Ledger.county_id.is_(None)).order_by(Ledger.id).limit(1)
    )
    return ledger


async def open_county_ledger(
    db: AsyncSession, county_id: int, code: str, now: dt.datetime
) -> Ledger:
    """A new county's ledger, named `<deployment>/<county code>` after the admin ledger."""
    admin = await admin_ledger(db)
    if admin is None:
        raise RuntimeError("台账未初始化：请先运行 `jiefang db upgrade`。")
    deployment = admin.origin.rsplit("/", 1)[0]
    ledger = Ledger(
        origin=origin_of(deployment, code),
        county_id=county_id,
        size=0,
        frontier=b"",
        created_at=now,
    )
    db.add(ledger)
    await db.flush()
    return ledger


async def ledgers(db: AsyncSession) -> list[Ledger]:
    return list(await db.scalars(select(Ledger).order_by(Ledger.id)))


async def get_ledger(db: AsyncSession, ref: str | int) -> Ledger:
    """A ledger by id, by origin, or by the last part of its origin (a county code)."""
    text_ref = str(ref)
    wheres = [Ledger.origin == text_ref, Ledger.origin.endswith(f"/{text_ref}")]
    if text_ref.isdigit():
        wheres.insert(0, Ledger.id == int(text_ref))
    for where in wheres:
        found = list(await db.scalars(select(Ledger).where(where).limit(2)))
        if len(found) == 1:
            return found[0]
    raise NotFound(f"台账 {ref} 不存在。")


async def only_county_ledger(db: AsyncSession) -> Ledger:
    found = list(await db.scalars(select(Ledger).where(Ledger.county_id.is_not(None)).limit(2)))
    if len(found) != 1:
        raise NotFound("本部署有多个县的台账，请用 --ledger 指定。")
    return found[0]


async def ledger_for_county(db: AsyncSession, county_id: int | None) -> Ledger:
    where = Ledger.county_id.is_(None) if county_id is None else Ledger.county_id == county_id
    ledger = await db.scalar(select(Ledger).where(where))
    if ledger is None:
        raise NotFound("该县尚无台账。")
    return ledger


# ---------------------------------------------------------------- append


async def append(
    db: AsyncSession,
    *,
    county: int | None,
    actor: Actor,
    action: str,
    subject: tuple[str, str | int],
    payload: Mapping[str, Any],
    at: dt.datetime,
    role: str | None = None,
) -> None:
    """Record one state change in `county`'s ledger (None: the administration ledger).

    On PostgreSQL the entry is queued and sequenced when the transaction commits, so the
    ledger is locked for the commit only; `append_now` when the caller needs the receipt
    inside its transaction."""
    entry = _draft(actor, action, subject, payload, at, role)
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_QUEUE_PG, _parameters(county, entry))
    else:
        await _append_generic(db, county, entry)


async def append_now(
    db: AsyncSession,
    *,
    county: int | None,
    actor: Actor,
    action: str,
    subject: tuple[str, str | int],
    payload: Mapping[str, Any],
    at: dt.datetime,
    role: str | None = None,
) -> Receipt:
    """`append`, sequenced at once (after what the transaction queued before it): the
    ledger stays locked until the transaction ends."""
    entry = _draft(actor, action, subject, payload, at, role)
    if db.get_bind().dialect.name != "postgresql":
        return await _append_generic(db, county, entry)
    row = (await db.execute(_APPEND_NOW_PG, _parameters(county, entry))).one()
    return Receipt(int(row.out_ledger), str(row.out_origin), int(row.out_seq), row.out_leaf_hash)


async def settle(db: AsyncSession) -> None:
    """Sequence now what this transaction has queued, for a reader that must see its own
    entries before the commit (PostgreSQL; SQLite sequences at once)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_SEQUENCE_NOW)
        await db.execute(_SEQUENCE_AT_COMMIT)


_SEQUENCE_NOW = text("SET CONSTRAINTS ledger_pending_sequence IMMEDIATE")
_SEQUENCE_AT_COMMIT = text("SET CONSTRAINTS ledger_pending_sequence DEFERRED")


def _draft(
    actor: Actor,
    action: str,
    subject: tuple[str, str | int],
    payload: Mapping[str, Any],
    at: dt.datetime,
    role: str | None,
) -> Entry:
    """The entry without its ledger's origin and seq, checked against its contract."""
    subject_type, subject_id = subject[0], str(subject[1])
    check_entry(action, subject_type, payload)
    return Entry(
        "", 0, at, actor_json(actor, role), action, subject_type, subject_id, dict(payload)
    )


async def _append_generic(db: AsyncSession, county: int | None, draft: Entry) -> Receipt:
    """SQLite, whose writers are serialised anyway: lock the head and write it all here."""
    ledger_id, origin, seq, frontier = await _lock_head(db, county)
    entry = dataclasses.replace(draft, log=origin, seq=seq)
    leaf = entry.leaf()
    leaf_hash = merkle.leaf_hash(leaf)
    peaks, nodes = merkle.append_leaf(seq, frontier_peaks(frontier), leaf_hash)
    await _write_generic(db, _Written(ledger_id, entry, leaf, leaf_hash, nodes, b"".join(peaks)))
    return Receipt(ledger_id, origin, seq, leaf_hash)


_PENDING_VALUES = (
    ":county, :head, :middle, :tail, :at, CAST(:actor AS jsonb), :action, :stype, :sid, "
    "CAST(:payload AS jsonb)"
)
_QUEUE_PG = text(
    "INSERT INTO ledger_pending (county_id, head, middle, tail, recorded_at, actor, action, "
    f"subject_type, subject_id, payload) VALUES ({_PENDING_VALUES})"
)
_APPEND_NOW_PG = text(
    "SELECT out_ledger, out_seq, out_origin, out_leaf_hash "
    f"FROM ledger_append_now({_PENDING_VALUES})"
)


def _parameters(county: int | None, entry: Entry) -> dict[str, Any]:
    """The entry for PostgreSQL (migration 0015): its leaf cut where the database splices
    in the ledger's origin and seq under the ledger's lock."""
    head, middle, tail = leaf_splices(entry)
    return {
        "county": county,
        "head": head,
        "middle": middle,
        "tail": tail,
        "at": entry.recorded_at,
        "actor": json.dumps(entry.actor),
        "action": entry.action,
        "stype": entry.subject_type,
        "sid": entry.subject_id,
        "payload": json.dumps(entry.payload),
    }


def frontier_peaks(frontier: bytes) -> list[bytes]:
    """The head's stored frontier as its peak hashes, left to right."""
    size = merkle.HASH_SIZE
    return [frontier[i : i + size] for i in range(0, len(frontier), size)]


_LOCK_SQL = (
    "UPDATE ledgers SET size = size + 1 WHERE {where} "
    "RETURNING id, origin, size - 1 AS seq, frontier"
)
_LOCK_COUNTY = text(_LOCK_SQL.format(where="county_id = :county"))
_LOCK_ADMIN = text(
    _LOCK_SQL.format(where="id = (SELECT min(id) FROM ledgers WHERE county_id IS NULL)")
)


async def _lock_head(db: AsyncSession, county: int | None) -> tuple[int, str, int, bytes]:
    """Take the ledger's row lock and the next `seq`; held until the transaction ends."""
    if county is None:
        row = (await db.execute(_LOCK_ADMIN)).one_or_none()
    else:
        row = (await db.execute(_LOCK_COUNTY, {"county": county})).one_or_none()
    if row is None:
        raise RuntimeError(f"no ledger for county {county}: run `jiefang db upgrade` first")
    return int(row.id), str(row.origin), int(row.seq), bytes(row.frontier)


@dataclass(frozen=True, slots=True)
class _Written:
    """What one append writes: the entry row, the nodes it completes, the new frontier."""

    ledger_id: int
    entry: Entry
    leaf: bytes
    leaf_hash: bytes
    nodes: list[tuple[int, int, bytes]]
    frontier: bytes


async def _write_generic(db: AsyncSession, w: _Written) -> None:
    await db.execute(
        insert(LedgerEntry).values(
            ledger_id=w.ledger_id,
            seq=w.entry.seq,
            recorded_at=w.entry.recorded_at,
            actor=dict(w.entry.actor),
            action=w.entry.action,
            subject_type=w.entry.subject_type,
            subject_id=w.entry.subject_id,
            payload=dict(w.entry.payload),
            leaf=w.leaf,
            leaf_hash=w.leaf_hash,
        )
    )
    if w.nodes:
        await db.execute(
            insert(LedgerNode),
            [
                {"ledger_id": w.ledger_id, "level": lv, "idx": ix, "hash": h}
                for lv, ix, h in w.nodes
            ],
        )
    await db.execute(update(Ledger).where(Ledger.id == w.ledger_id).values(frontier=w.frontier))


# ---------------------------------------------------------------- reading


async def get_entry(db: AsyncSession, ledger_id: int, seq: int) -> LedgerEntry:
    row = await db.get(LedgerEntry, (ledger_id, seq))
    if row is None:
        raise NotFound(f"台账中没有序号为 {seq} 的记录。")
    return row


async def nodes(
    db: AsyncSession, ledger_id: int, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Stored hashes of complete subtrees, level 0 being the entries' leaf hashes, in one
    statement of point lookups joined by UNION ALL (a long OR makes SQLite's planner scan
    the whole ledger instead of using the primary keys)."""
    wanted = set(wanted)
    if not wanted:
        return {}
    leaves = sorted(idx for level, idx in wanted if level == 0)
    inner = sorted((level, idx) for level, idx in wanted if level > 0)
    params: dict[str, int] = {"ledger": ledger_id}
    params.update({f"s{n}": idx for n, idx in enumerate(leaves)})
    params.update({f"v{n}": level for n, (level, _) in enumerate(inner)})
    params.update({f"n{n}": idx for n, (_, idx) in enumerate(inner)})
    rows = await db.execute(_lookups(len(leaves), len(inner)), params)
    found = {(int(level), int(idx)): bytes(h) for level, idx, h in rows}
    missing = wanted - set(found)
    if missing:
        raise LedgerDamaged(f"stored tree nodes are missing: {sorted(missing)[:5]}")
    return found


@functools.lru_cache(maxsize=256)
def _lookups(leaves: int, inner: int) -> TextClause:
    """The SQL of `leaves` leaf and `inner` node point lookups (built once per shape: a
    proof needs about forty, and building them as expressions costs more than the query)."""
    parts = [
        "SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM ledger_entries "
        f"WHERE ledger_id = :ledger AND seq = :s{n}"
        for n in range(leaves)
    ] + [
        "SELECT level, idx, hash FROM ledger_nodes "
        f"WHERE ledger_id = :ledger AND level = :v{n} AND idx = :n{n}"
        for n in range(inner)
    ]
    return text(" UNION ALL ".join(parts))


class LedgerDamaged(RuntimeError):
    """Stored nodes are missing or disagree: `jiefang ledger verify` says where."""


async def range_hashes(
    db: AsyncSession, ledger_id: int, ranges: list[tuple[int, int]]
) -> list[bytes]:
    """MTH(D[start:end]) of each range, from O(log n) stored nodes."""
    wanted = {node for start, end in ranges for node in merkle.range_nodes(start, end)}
    table = await nodes(db, ledger_id, wanted)
    return [merkle.range_hash(start, end, lambda lv, i: table[(lv, i)]) for start, end in ranges]


async def inclusion_proof(db: AsyncSession, ledger_id: int, seq: int, size: int) -> list[bytes]:
    return await range_hashes(db, ledger_id, merkle.inclusion_ranges(seq, size))


async def consistency_proof(
    db: AsyncSession, ledger_id: int, old_size: int, new_size: int
) -> list[bytes]:
    return await range_hashes(db, ledger_id, merkle.consistency_ranges(old_size, new_size))


async def root_at(db: AsyncSession, ledger_id: int, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return (await range_hashes(db, ledger_id, [(0, size)]))[0]


async def checkpoint_at(db: AsyncSession, ledger_id: int, size: int | None) -> LedgerCheckpoint:
    """The stored checkpoint of `size`, or the latest one."""
    if size is None:
        row = await latest_checkpoint(db, ledger_id)
    else:
        row = await db.get(LedgerCheckpoint, (ledger_id, size))
    if row is None:
        what = f"大小为 {size} 的检查点" if size is not None else "任何检查点"
        raise NotFound(f"该台账还没有{what}。")
    return row


async def checkpoints(db: AsyncSession, ledger_id: int) -> list[LedgerCheckpoint]:
    return list(
        await db.scalars(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.ledger_id == ledger_id)
            .order_by(LedgerCheckpoint.size)
        )
    )


async def entries_of_subject(
    db: AsyncSession, subject_type: str, subject_id: str | int
) -> list[LedgerEntry]:
    return list(
        await db.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.subject_type == subject_type, LedgerEntry.subject_id == str(subject_id)
            )
            .order_by(LedgerEntry.ledger_id, LedgerEntry.seq)
        )
    )


# ---------------------------------------------------------------- who reads entries

#: Roles that read whole entries of the ledgers their scope reaches.
ENTRY_READERS = REVIEWER_ROLES | {Role.admin}


async def may_read_entries(db: AsyncSession, principal: Principal | None, ledger: Ledger) -> bool:
    """Reviewers and admins of the ledger's county (deployment-wide ones for the admin
    ledger); everybody else sees leaf hashes only."""
    if principal is None or not principal.has_any(ENTRY_READERS):
        return False
    path = await auth_services.unit_path(db, ledger.county_id)
    if path is None:
        return principal.scope_paths(ENTRY_READERS) is None
    return principal.reaches(ENTRY_READERS, path)


# ---------------------------------------------------------------- proofs


@dataclass(frozen=True, slots=True)
class Inclusion:
    ledger: Ledger
    seq: int
    leaf_hash: bytes
    checkpoint: LedgerCheckpoint
    path: list[bytes]


async def prove_inclusion(
    db: AsyncSession, ledger: Ledger, seq: int, size: int | None = None
) -> Inclusion:
    """The inclusion path of entry `seq` against the stored checkpoint of `size` (or the
    latest): the checkpoint and one statement of O(log n) point lookups."""
    checkpoint = await checkpoint_at(db, ledger.id, size)
    if seq >= checkpoint.size:
        await refuse_newer_entry(db, ledger.id, seq, int(checkpoint.size))
    leaf_hash, path = await inclusion_path(db, ledger.id, seq, int(checkpoint.size))
    return Inclusion(ledger, seq, leaf_hash, checkpoint, path)


async def refuse_newer_entry(db: AsyncSession, ledger_id: int, seq: int, size: int) -> NoReturn:
    """Entry `seq` is not in the tree of `size`: a 404 when it does not exist, else a 422."""
    await get_entry(db, ledger_id, seq)
    raise RuleViolation(
        f"第 {seq} 条记录晚于大小为 {size} 的检查点，"
        "请等待下一个检查点（最多几分钟）或请管理员立即生成。"
    )


async def inclusion_path(
    db: AsyncSession, ledger_id: int, seq: int, size: int
) -> tuple[bytes, list[bytes]]:
    """The leaf hash of entry `seq` and its inclusion path in the tree of `size`, from one
    statement of O(log n) point lookups."""
    ranges = merkle.inclusion_ranges(seq, size)
    wanted = {(0, seq)} | {node for r in ranges for node in merkle.range_nodes(*r)}
    table = await nodes(db, ledger_id, wanted)
    path = [merkle.range_hash(a, b, lambda lv, i: table[(lv, i)]) for a, b in ranges]
    return table[(0, seq)], path


@dataclass(frozen=True, slots=True)
class Consistency:
    old: LedgerCheckpoint
    new: LedgerCheckpoint
    path: list[bytes]


async def prove_consistency(
    db: AsyncSession, ledger: Ledger, old_size: int, new_size: int | None = None
) -> Consistency:
    """The consistency proof between two stored checkpoints (the newer one defaults to the latest)."""
    old = await checkpoint_at(db, ledger.id, old_size)
    new = await checkpoint_at(db, ledger.id, new_size)
    if old.size > new.size:
        raise RuleViolation(f"起点检查点（大小 {old.size}）不能晚于终点检查点（大小 {new.size}）。")
    path = await consistency_proof(db, ledger.id, int(old.size), int(new.size))
    return Consistency(old, new, path)


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """The entry exactly as it was hashed."""
    decoded: dict[str, Any] = json.loads(bytes(entry.leaf))
    return decoded


async def proof_bundle(
    db: AsyncSession, ledger: Ledger, seq: int, size: int | None = None
) -> dict[str, Any]:
    """The offline proof bundle of docs/ledger-bundle.md."""
    proof = await prove_inclusion(db, ledger, seq, size)
    entry = await get_entry(db, ledger.id, seq)
    return make_bundle(
        origin=ledger.origin,
        index=seq,
        tree_size=int(proof.checkpoint.size),
        entry=entry_json(entry),
        leaf=bytes(entry.leaf),
        inclusion_path=proof.path,
        checkpoint_note=proof.checkpoint.note,
    )


# ---------------------------------------------------------------- a checkpoint somebody kept


@dataclass(frozen=True, slots=True)
class SavedCheck:
    """Whether today's log still extends a checkpoint a reviewer saved earlier."""

    saved: Checkpoint
    ledger: Ledger
    latest: LedgerCheckpoint | None
    consistent: bool  # today's log still begins with the saved tree
    detail: str
    whole_ledger_ok: bool = True  # and nothing else in the ledger disagrees


async def check_saved_checkpoint(
    db: AsyncSession, note_text: str, verifiers: list[Verifier]
) -> SavedCheck:
    """Open the saved note (NoteError when its signature fails), then rebuild its ledger from
    the stored leaf bytes and check that today's log still begins with exactly the tree the
    note signed — and that every stored checkpoint and node still agrees."""
    saved = open_checkpoint(note_text, verifiers)
    ledger = await get_ledger(db, saved.origin)
    latest = await latest_checkpoint(db, ledger.id)
    report = await verify_ledger(db, ledger, verifiers, against=note_text, reencode=False)
    others = "；".join(p.message.rstrip("。") for p in report.problems[:3])
    if report.ok:
        detail = (
            f"一致：今天的日志（{report.entries} 条记录）以您保存的前 {saved.size} 条记录开头，"
            "未被改写；服务器保存的全部检查点与树节点也都与重建结果相符。"
        )
    elif report.against_matched:
        detail = f"您保存的前 {saved.size} 条记录未被改写，但台账的其他部分有问题：{others}。"
    else:
        detail = f"不一致：{others}。"
    return SavedCheck(saved, ledger, latest, bool(report.against_matched), detail, report.ok)


async def latest_checkpoint(db: AsyncSession, ledger_id: int) -> LedgerCheckpoint | None:
    row: LedgerCheckpoint | None = await db.scalar(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.ledger_id == ledger_id)
        .order_by(LedgerCheckpoint.size.desc())
        .limit(1)
    )
    return row


async def require_entry_reader(db: AsyncSession, actor: Principal, ledger: Ledger) -> None:
    if not await may_read_entries(db, actor, ledger):
        raise DomainError("该台账不在您账号的审查范围内，只能查看叶子哈希。", slug="out-of-scope")


async def require_ledger_admin(db: AsyncSession, actor: Principal, ledger: Ledger) -> None:
    path = await auth_services.unit_path(db, ledger.county_id)
    if path is None:
        if actor.scope_paths({Role.admin}) is not None:
            raise DomainError("部署管理台账只能由全局管理员操作。", slug="out-of-scope")
        return
    require_scope(actor, {Role.admin}, path, "为该台账生成检查点")
