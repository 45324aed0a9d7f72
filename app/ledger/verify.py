"""`jiefang ledger verify`: re-derive a ledger from its stored leaf bytes and check that
every stored hash, node, checkpoint and the head agree — and, given a checkpoint saved
earlier, that today's log still extends it.

A database administrator can edit rows and recompute hashes; they cannot forge the
signature on a checkpoint somebody already holds. So a rewrite is found either at the
first row whose columns, leaf and hash disagree, or — when everything derived was rewritten
consistently — as the checkpoint interval whose signed root no longer matches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ledger.audit import Finished, Rebuild
from app.ledger.models import Ledger, LedgerCheckpoint, LedgerEntry, LedgerNode
from app.ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint
from app.ledger.rules import Entry, encodes_to

CHUNK = 20_000
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    seq: int | None = None
    interval: tuple[int, int] | None = None  # [first, last] seq of a mismatching interval


@dataclass
class Report:
    origin: str
    entries: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "hash_tree": 0.0, "reencode": 0.0}
    )
    against: Checkpoint | None = None
    #: Whether today's log still begins with the saved checkpoint's tree (None: not reached).
    against_matched: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(
        self, message: str, seq: int | None = None, interval: tuple[int, int] | None = None
    ) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(message, seq, interval))


@dataclass
class _Walk:
    """State carried from chunk to chunk."""

    ledger: Ledger
    verifiers: Sequence[Verifier]
    report: Report
    rebuild: Rebuild = field(default_factory=Rebuild)
    last_good: int = 0  # size of the last checkpoint whose root matched
    stopped: bool = False
    reencode: bool = True
    pending: dict[int, Finished] = field(default_factory=dict)  # nodes to compare, per level


async def verify_ledger(
    db: AsyncSession,
    ledger: Ledger,
    verifiers: Sequence[Verifier],
    *,
    against: str | None = None,
    chunk: int = CHUNK,
    reencode: bool = True,
) -> Report:
    """Check one ledger. `reencode=False` skips re-encoding the columns (the slow part),
    for interactive checks that only need the hashes, tree and checkpoints."""
    walk = _Walk(ledger, verifiers, Report(ledger.origin), reencode=reencode)
    saved = _open_against(walk, against)
    stored = list(
        await db.scalars(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.ledger_id == ledger.id)
            .order_by(LedgerCheckpoint.size)
        )
    )
    walk.report.checkpoints = len(stored)
    stops = sorted({c.size for c in stored} | ({saved.size} if saved else set()))
    by_size = {c.size: c for c in stored}
    if saved is not None and saved.size == 0:
        _check_against(walk, saved)
    while not walk.stopped:
        size = walk.rebuild.size
        rows = await _read(db, walk, min([s for s in stops if s > size] + [size + chunk]) - size)
        if not rows:
            break
        _check_rows(walk, rows)
        if walk.stopped:
            break
        await _check_nodes(db, walk)
        size = walk.rebuild.size
        if size in by_size:
            _check_checkpoint(walk, by_size[size])
        if saved is not None and size == saved.size:
            _check_against(walk, saved)
    _check_head(walk, saved, sorted(by_size))
    return walk.report


def _open_against(walk: _Walk, note: str | None) -> Checkpoint | None:
    if note is None:
        return None
    try:
        saved = open_checkpoint(note, walk.verifiers, walk.ledger.origin)
    except NoteError as bad:
        walk.report.add(f"您提供的检查点无法验证：{bad}")
        return None
    walk.report.against = saved
    return saved


async def _read(db: AsyncSession, walk: _Walk, count: int) -> list[Any]:
    """The next `count` rows from the current size on; a gap shows as an unexpected seq."""
    started = time.perf_counter()
    rows = list(
        await db.execute(
            select(
                LedgerEntry.seq,
                LedgerEntry.recorded_at,
                LedgerEntry.actor,
                LedgerEntry.action,
                LedgerEntry.subject_type,
                LedgerEntry.subject_id,
                LedgerEntry.payload,
                LedgerEntry.leaf,
                LedgerEntry.leaf_hash,
            )
            .where(LedgerEntry.ledger_id == walk.ledger.id, LedgerEntry.seq >= walk.rebuild.size)
            .order_by(LedgerEntry.seq)
            .limit(count)
        )
    )
    walk.report.timings["read"] += time.perf_counter() - started
    return rows


_SEQ, _LEAF, _LEAF_HASH = 0, 7, 8  # positions in the rows `_read` selects


def _check_rows(walk: _Walk, rows: list[Any]) -> None:
    report, first = walk.report, walk.rebuild.size
    seqs = [r[_SEQ] for r in rows]
    if seqs != list(range(first, first + len(rows))):
        offset = next(k for k, seq in enumerate(seqs) if seq != first + k)
        report.add(
            f"第 {first + offset} 条记录缺失（序号不连续，下一条为 {seqs[offset]}）。",
            first + offset,
        )
        rows[:] = rows[:offset]
        walk.stopped = True
    started = time.perf_counter()
    leaves = [r[_LEAF] for r in rows]
    hashes, walk.pending = walk.rebuild.extend(leaves)
    if hashes != [r[_LEAF_HASH] for r in rows]:
        for row, computed in zip(rows, hashes, strict=True):
            if bytes(row[_LEAF_HASH]) != computed:
                report.add(f"第 {row.seq} 条记录的叶子哈希与其叶子字节不符。", row.seq)
    report.timings["hash_tree"] += time.perf_counter() - started
    if walk.reencode:
        started = time.perf_counter()
        for row, leaf in zip(rows, leaves, strict=True):
            _check_columns(walk, row, bytes(leaf))
        report.timings["reencode"] += time.perf_counter() - started
    report.entries += len(rows)


def _check_columns(walk: _Walk, row: Any, leaf: bytes) -> None:
    entry = Entry(
        walk.ledger.origin,
        row.seq,
        row.recorded_at,
        row.actor,
        row.action,
        row.subject_type,
        row.subject_id,
        row.payload,
    )
    stored = entry.as_json()
    if encodes_to(stored, leaf):
        return
    try:
        hashed = json.loads(leaf)
    except ValueError:
        hashed = {}
    differ = sorted(k for k in set(stored) | set(hashed) if stored.get(k) != hashed.get(k))
    fields = "、".join(differ) or "编码"
    walk.report.add(f"第 {row.seq} 条记录的列内容与其叶子字节不一致（{fields}）。", row.seq)


async def _check_nodes(db: AsyncSession, walk: _Walk) -> None:
    """Compare the nodes the last chunk finished with the stored ones, level by level."""
    bad: list[tuple[int, int, bool]] = []  # level, idx, stored at all
    for level, run in walk.pending.items():
        started = time.perf_counter()
        last = run.first + len(run.hashes) - 1
        found = await db.execute(
            select(LedgerNode.idx, LedgerNode.hash)
            .where(
                LedgerNode.ledger_id == walk.ledger.id,
                LedgerNode.level == level,
                LedgerNode.idx.between(run.first, last),
            )
            .order_by(LedgerNode.idx)
        )
        stored = {int(i): bytes(h) for i, h in found}
        walk.report.timings["read"] += time.perf_counter() - started
        if [stored.get(run.first + k) for k in range(len(run.hashes))] != run.hashes:
            bad += [
                (level, run.first + k, run.first + k in stored)
                for k, h in enumerate(run.hashes)
                if stored.get(run.first + k) != h
            ]
    for level, idx, present in sorted(bad, key=lambda b: (b[1] << b[0], b[0])):
        span = (idx << level, ((idx + 1) << level) - 1)
        what = "与重建结果不符" if present else "缺失"
        walk.report.add(
            f"覆盖第 {span[0]}–{span[1]} 条的树节点（层 {level}，位置 {idx}）{what}。",
            interval=span,
        )


def _check_checkpoint(walk: _Walk, row: LedgerCheckpoint) -> None:
    report, size = walk.report, walk.rebuild.size
    root = walk.rebuild.root()
    try:
        signed = open_checkpoint(row.note, walk.verifiers, walk.ledger.origin)
    except NoteError as bad:
        report.add(f"大小为 {size} 的检查点签名无效：{bad}", interval=(walk.last_good, size - 1))
        return
    if signed.size != row.size or signed.root != bytes(row.root):
        report.add(
            f"大小为 {size} 的检查点行与其签名内容不一致。", interval=(walk.last_good, size - 1)
        )
        return
    if signed.root != root:
        report.add(
            f"大小为 {size} 的已签名检查点与重建的日志不符：第 {walk.last_good} 至 {size - 1} 条"
            f"之间的记录在签名之后被改写（上一个相符的检查点大小为 {walk.last_good}）。",
            interval=(walk.last_good, size - 1),
        )
        return
    walk.last_good = size


def _check_against(walk: _Walk, saved: Checkpoint) -> None:
    walk.report.against_matched = walk.rebuild.root() == saved.root
    if not walk.report.against_matched:
        walk.report.add(
            f"今天的日志与您保存的检查点（大小 {saved.size}）不一致：前 {saved.size} 条记录"
            "在您保存检查点之后被改写。",
            interval=(0, saved.size - 1),
        )


def _check_head(walk: _Walk, saved: Checkpoint | None, stored_sizes: list[int]) -> None:
    report, rebuilt = walk.report, walk.rebuild
    if walk.stopped:
        return
    if rebuilt.size != walk.ledger.size:
        report.add(
            f"台账头记录的大小为 {walk.ledger.size}，但实有 {rebuilt.size} 条记录。", rebuilt.size
        )
    elif rebuilt.frontier() != bytes(walk.ledger.frontier):
        report.add("台账头记录保存的树前沿与重建结果不符。")
    if saved is not None and saved.size > rebuilt.size:
        report.add(
            f"今天的日志只有 {rebuilt.size} 条，短于您保存的检查点（大小 {saved.size}）：日志被截断。",
            rebuilt.size,
        )
    missing = [s for s in stored_sizes if s > rebuilt.size]
    if missing:
        report.add(
            f"存在大小为 {missing[0]} 的检查点，但日志只有 {rebuilt.size} 条：日志被截断。",
            rebuilt.size,
        )
