"""Copies and review of archived handovers (《信访工作离任交接》: "交接资料分别由离任领导、
接任领导、纪委、组织、信访局分别存档备查"): verifying one, marking it reviewed, and the
ledgered record of every read, download and verification.

`verify` gathers the evidence — the PDF (the stored one, or a copy the reviewer holds), the
ledger's entries about the handover read from their hashed leaf bytes, inclusion proofs
against signed checkpoints, the ownership entries replayed — and `app.handover.verify`
judges it. Every function works in the caller's transaction and never commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from app.handover import document
from app.handover import verify as v
from app.handover.models import Handover, HandoverReview, HandoverSignature
from app.handover.services import (
    Access,
    HandoverRefused,
    access_of,
    case_scope,
    get_handover,
)
from app.handover.workflow import HandoverStatus, Step
from app.ledger import bundle, merkle
from app.ledger import services as ledger
from app.ledger.models import Ledger, LedgerEntry
from app.ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint
from app.ledger.rules import ledger_action
from app.ownership import tenure_services as held
from app.ownership.workflow import FINISHED

ACCESSED = ledger_action(
    "handover.accessed",
    "handover",
    "查阅、下载或验证已归档的离任交接",
    what="read 查阅 / download 下载 / verify 验证",
    role=(
        "查阅身份：reviewer_discipline / reviewer_organisation / reviewer_petition / office / "
        "departing 离任领导 / receiving 接收方"
    ),
    verified="验证结果（true 全部通过 / false 有未通过；查阅、下载为 null）",
)
REVIEWED = ledger_action(
    "handover.reviewed",
    "handover",
    "审阅人标记“已审阅”（审阅意见只存于审阅记录）",
    role="审阅角色（reviewer_discipline 纪委 / reviewer_organisation 组织部 / reviewer_petition 信访局）",
    verified="该账号此前最近一次验证的结果（未验证为 null）",
)

WHAT: Final = frozenset({"read", "download", "verify"})
REMARK_LIMIT: Final = 2000
REVIEWER_ORDER: Final = (
    Role.reviewer_discipline,
    Role.reviewer_organisation,
    Role.reviewer_petition,
)


# ---------------------------------------------------------------- access records


def _acting(access: Access) -> tuple[str, Role | None]:
    """(the payload's role, the actor's ledger role) of someone who may see the handover."""
    for role in REVIEWER_ORDER:
        if role in access.reviewer_roles:
            return role.value, role
    if access.office:
        return Role.office.value, Role.office
    return ("departing", None) if access.departing else ("receiving", None)


async def _record(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover: Handover,
    access: Access,
    what: str,
    verified: bool | None = None,
) -> None:
    role, acting = _acting(access)
    await ledger.append(
        db,
        county=handover.county_id,
        actor=actor,
        action=ACCESSED,
        subject=("handover", handover.id),
        payload={"what": what, "role": role, "verified": verified},
        at=now,
        role=acting.value if acting else None,
    )


async def record_access(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover: Handover, what: str
) -> None:
    """Ledger a read or download of an archived handover (`what`: read / download /
    verify) by anyone who may see it; a handover not yet archived is not recorded."""
    if what not in WHAT:
        raise ValueError(f"unknown access {what!r}")
    if handover.status != HandoverStatus.archived:
        return
    access = await access_of(db, actor, handover)
    if not access.any:
        raise Forbidden("您无权查阅该离任交接。")
    await _record(db, actor, now, handover, access, what)


# ---------------------------------------------------------------- review


async def reviews_of(db: AsyncSession, handover_id: int) -> list[HandoverReview]:
    rows = await db.scalars(
        select(HandoverReview)
        .where(HandoverReview.handover_id == handover_id)
        .order_by(HandoverReview.reviewed_at, HandoverReview.id)
    )
    return list(rows)


def _review_role(access: Access, role: Role | None) -> Role:
    if not access.reviewer_roles:
        raise Forbidden("只有纪委、组织部、信访局的审阅人可以标记“已审阅”。")
    if role is not None:
        if role not in access.reviewer_roles:
            raise Forbidden("您没有以该审阅角色审阅本交接的权限。")
        return role
    if len(access.reviewer_roles) > 1:
        raise RuleViolation("您有多个审阅角色，请选择以哪个角色审阅。", slug="invalid-input")
    return next(iter(access.reviewer_roles))


async def last_verification(db: AsyncSession, handover_id: int, account_id: int) -> bool | None:
    """The result of this account's last verification of the handover, from the ledger."""
    for row in reversed(await ledger.entries_of_subject(db, "handover", handover_id)):
        if row.action != ACCESSED:
            continue
        entry = _decoded(bytes(row.leaf))
        actor, payload = entry.get("actor"), v.payload_of(entry)
        mine = isinstance(actor, dict) and actor.get("account") == account_id
        if mine and payload.get("what") == "verify":
            found = payload.get("verified")
            return found if isinstance(found, bool) else None
    return None


async def review(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover_id: int,
    remark: str,
    *,
    role: Role | None = None,
) -> HandoverReview:
    """A reviewer marks the archived handover "已审阅" with a remark: once per account and
    reviewer role. The remark stays in the table; the ledger gets the role and the result
    of the account's last verification."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    acting = _review_role(access, role)
    text = remark.strip()
    if len(text) > REMARK_LIMIT:
        raise RuleViolation(f"审阅意见不超过 {REMARK_LIMIT} 字。", slug="invalid-input")
    done = await db.scalar(
        select(HandoverReview.id).where(
            HandoverReview.handover_id == handover.id,
            HandoverReview.account_id == actor.account_id,
            HandoverReview.role == acting.value,
        )
    )
    if done is not None:
        raise Conflict("您已以该身份审阅过本交接。", slug="duplicate")
    verified = await last_verification(db, handover.id, actor.account_id)
    row = HandoverReview(
        handover_id=handover.id,
        role=acting.value,
        account_id=actor.account_id,
        reviewer_name=actor.display_name,
        remark=text,
        verified_ok=verified,
        reviewed_at=now,
    )
    db.add(row)
    await db.flush()
    await ledger.append(
        db,
        county=handover.county_id,
        actor=actor,
        action=REVIEWED,
        subject=("handover", handover.id),
        payload={"role": acting.value, "verified": verified},
        at=now,
        role=acting.value,
    )
    return row


# ---------------------------------------------------------------- verify


def _require_verifier(handover: Handover, access: Access) -> None:
    if not (access.reviewer_roles or access.office):
        raise Forbidden("只有纪委、组织部、信访局的审阅人和组织/办公室可以验证离任交接。")
    if handover.status != HandoverStatus.archived:
        raise HandoverRefused("该交接尚未归档，归档后才能验证。")


async def verify(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover_id: int,
    verifiers: list[Verifier],
    ca_pem: bytes,
    saved_checkpoint: str | None = None,
    *,
    pdf: bytes | None = None,
) -> v.Verdict:
    """Verify an archived handover (the stored PDF, or `pdf`, a copy the reviewer holds)
    against the ledger: signatures, the revision chain, inclusion proofs and the log's
    consistency (against the latest checkpoint, or `saved_checkpoint`, a signed note the
    reviewer saved), the cases replayed from the ledger, and the dossier attachment. The
    verification itself is ledgered (`handover.accessed`, what: verify)."""
    handover, access = await get_handover(db, actor, handover_id)
    _require_verifier(handover, access)
    verdict = await _verdict(db, handover, verifiers, ca_pem, saved_checkpoint, pdf)
    await _record(db, actor, now, handover, access, "verify", verdict.ok)
    return verdict


def _decoded(leaf: bytes) -> dict[str, Any]:
    """The entry exactly as hashed; {} when its leaf is not a JSON object (a damaged row,
    which then fails its proof)."""
    try:
        found = json.loads(leaf)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


@dataclass(frozen=True, slots=True)
class _Row:
    seq: int
    leaf: bytes
    entry: dict[str, Any]

    @classmethod
    def of(cls, seq: int, leaf: bytes) -> _Row:
        return cls(int(seq), bytes(leaf), _decoded(bytes(leaf)))


async def _verdict(
    db: AsyncSession,
    handover: Handover,
    verifiers: list[Verifier],
    ca_pem: bytes,
    saved: str | None,
    pdf: bytes | None,
) -> v.Verdict:
    book = await ledger.ledger_for_county(db, handover.county_id)
    own = await ledger.entries_of_subject(db, "handover", handover.id)
    rows = [_Row.of(r.seq, r.leaf) for r in own if r.ledger_id == book.id]
    tale = v.story(r.entry for r in rows)
    prover = await _Prover.make(db, book, verifiers, tale, handover, saved)
    making = [r for r in rows if r.seq <= tale.end_seq]
    proofs = await prover.prove(db, making)
    file = pdf if pdf is not None else bytes(handover.pdf or b"")
    attached = document.attached_dossier(file)
    # pyHanko's validation runs its own event loop, and is CPU work: a worker thread.
    at = v.recorded_at(tale.archived) or handover.archived_at
    sigs = await asyncio.to_thread(v.read_signatures, file, ca_pem, at)
    signed_rows = await _signature_rows(db, handover.id)
    sets, replayed = await _case_sets(db, book, handover, tale, attached, prover)
    snap = v.seq_of(tale.snapshotted) if tale.snapshotted else -1
    return v.Verdict(
        handover.id,
        (
            v.check_signatures(sigs, tale, signed_rows, v.parties(attached)),
            v.check_chain(file, sigs, tale, signed_rows),
            v.check_ledger(proofs, prover.anchoring, snap),
            v.check_cases(sets, replayed),
            v.check_dossier(
                attached, _unsigned_attachment(file, tale), tale, _stored(handover.dossier)
            ),
        ),
        saved_checkpoint=saved is not None,
    )


def _stored(data: bytes | None) -> bytes | None:
    return bytes(data) if data is not None else None


def _unsigned_attachment(pdf: bytes, tale: v.Story) -> bytes | None:
    rendered = v.payload_of(tale.rendered).get(v.PDF_DIGEST)
    unsigned = v.revision_ending(pdf, rendered) if isinstance(rendered, str) else None
    return document.attached_dossier(unsigned) if unsigned is not None else None


async def _signature_rows(db: AsyncSession, handover_id: int) -> list[v.SignedStep]:
    rows = await db.scalars(
        select(HandoverSignature)
        .where(HandoverSignature.handover_id == handover_id)
        .order_by(HandoverSignature.signed_at, HandoverSignature.id)
    )
    order = {str(s): n for n, s in enumerate(Step)}
    found = sorted(rows, key=lambda r: (order.get(r.step, 9), r.id))
    return [v.SignedStep(r.step, r.person_id, r.before_sha256, r.after_sha256) for r in found]


# ---------------------------------------------------------------- proofs


@dataclass(frozen=True, slots=True)
class _Signed:
    """A signed checkpoint note, opened."""

    note: str
    checkpoint: Checkpoint


def _open(note: str, verifiers: list[Verifier], origin: str) -> _Signed:
    return _Signed(note, open_checkpoint(note, verifiers, origin))


#: Distinct tree nodes per lookup statement (SQLite allows 500 terms in a compound SELECT).
NODE_BUDGET: Final = 400


def _batches(seqs: Sequence[int], size: int) -> list[list[int]]:
    batches: list[list[int]] = [[]]
    wanted: set[tuple[int, int]] = set()
    for seq in seqs:
        nodes = {n for r in merkle.inclusion_ranges(seq, size) for n in merkle.range_nodes(*r)}
        if batches[-1] and len(wanted | nodes) + len(batches[-1]) >= NODE_BUDGET:
            batches.append([])
            wanted = set()
        batches[-1].append(seq)
        wanted |= nodes
    return [b for b in batches if b]


async def _paths(
    db: AsyncSession, ledger_id: int, seqs: Sequence[int], size: int
) -> dict[int, list[bytes]]:
    """Inclusion paths of several entries against one tree size, a few statements in all."""
    paths: dict[int, list[bytes]] = {}
    for batch in _batches(seqs, size):
        ranges = [merkle.inclusion_ranges(seq, size) for seq in batch]
        hashes = await ledger.range_hashes(db, ledger_id, [r for rs in ranges for r in rs])
        at = 0
        for seq, rs in zip(batch, ranges, strict=True):
            paths[seq], at = hashes[at : at + len(rs)], at + len(rs)
    return paths


def _failure(verdict: bundle.BundleVerdict) -> str | None:
    failed = next((c for c in verdict.checks if not c.ok), None)
    return None if failed is None else f"{failed.label}未通过——{failed.detail.rstrip('。')}"


class _Prover:
    """Proves entries against the checkpoint printed on the PDF (entries before it) or the
    reference checkpoint — the reviewer's saved one, or the latest — after them."""

    def __init__(
        self,
        book: Ledger,
        verifiers: list[Verifier],
        printed: _Signed | None,
        reference: _Signed | None,
        anchoring: v.Anchoring,
    ) -> None:
        self.book, self.verifiers = book, verifiers
        self.printed, self.reference, self.anchoring = printed, reference, anchoring

    @classmethod
    async def make(
        cls,
        db: AsyncSession,
        book: Ledger,
        verifiers: list[Verifier],
        tale: v.Story,
        handover: Handover,
        saved: str | None,
    ) -> _Prover:
        problems: list[str] = []
        printed = await _printed(db, book, verifiers, tale, handover, problems)
        reference = await _reference(db, book, verifiers, saved, problems)
        if printed and reference:
            problems += await _consistency(db, book, printed.checkpoint, reference.checkpoint)
        anchoring = v.Anchoring(
            printed.checkpoint.size if printed else None,
            reference.checkpoint.size if reference else None,
            saved is not None,
            problems,
        )
        return cls(book, verifiers, printed, reference, anchoring)

    def _against(self, seq: int) -> _Signed | None:
        for signed in (self.printed, self.reference):
            if signed is not None and seq < signed.checkpoint.size:
                return signed
        return None

    async def prove(self, db: AsyncSession, rows: Sequence[_Row]) -> list[v.EntryProof]:
        groups: dict[int, list[_Row]] = {}
        waiting = []
        for row in rows:
            signed = self._against(row.seq)
            if signed is None:
                waiting.append(v.EntryProof(row.seq, str(row.entry.get("action")), None))
            else:
                groups.setdefault(signed.checkpoint.size, []).append(row)
        proofs = [p for size, group in groups.items() for p in await self._group(db, size, group)]
        return sorted([*proofs, *waiting], key=lambda p: p.seq)

    async def _group(self, db: AsyncSession, size: int, rows: list[_Row]) -> list[v.EntryProof]:
        signed = self._against(rows[0].seq)
        assert signed is not None
        try:
            paths = await _paths(db, self.book.id, [r.seq for r in rows], size)
        except ledger.LedgerDamaged as damaged:
            return [
                v.EntryProof(r.seq, str(r.entry.get("action")), size, f"树节点缺失：{damaged}")
                for r in rows
            ]
        return [self._one(r, size, paths[r.seq], signed.note) for r in rows]

    def _one(self, row: _Row, size: int, path: list[bytes], note: str) -> v.EntryProof:
        made = bundle.make_bundle(
            origin=self.book.origin,
            index=row.seq,
            tree_size=size,
            entry=row.entry,
            leaf=row.leaf,
            inclusion_path=path,
            checkpoint_note=note,
        )
        problem = _failure(bundle.check_bundle(made, self.verifiers))
        return v.EntryProof(row.seq, str(row.entry.get("action")), size, problem)


async def _printed(
    db: AsyncSession,
    book: Ledger,
    verifiers: list[Verifier],
    tale: v.Story,
    handover: Handover,
    problems: list[str],
) -> _Signed | None:
    """The checkpoint printed on the PDF: the one `handover.rendered` names."""
    payload = v.payload_of(tale.rendered)
    size, root = payload.get("checkpoint_size"), payload.get("checkpoint_root")
    if not isinstance(size, int) or not isinstance(root, str):
        problems.append("台账中找不到 PDF 所印检查点的记录（handover.rendered）")
        return None
    if (handover.checkpoint_size, handover.checkpoint_root) != (size, root):
        problems.append("交接记录保存的检查点与台账记录的不符")
    try:
        row = await ledger.checkpoint_at(db, book.id, size)
        signed = _open(row.note, verifiers, book.origin)
    except NotFound:
        problems.append(f"台账中没有 PDF 所印的大小为 {size} 的已签名检查点")
        return None
    except (NoteError, ValueError) as bad:
        problems.append(f"PDF 所印的大小为 {size} 的检查点签名无效：{bad}")
        return None
    if signed.checkpoint.root.hex() != root:
        problems.append(f"PDF 所印检查点（大小 {size}）的根哈希与已签名的检查点不符")
        return None
    return signed


async def _reference(
    db: AsyncSession,
    book: Ledger,
    verifiers: list[Verifier],
    saved: str | None,
    problems: list[str],
) -> _Signed | None:
    """The reviewer's saved checkpoint, or the latest one the server signed."""
    if saved is not None:
        try:
            return _open(saved, verifiers, book.origin)
        except (NoteError, ValueError) as bad:
            problems.append(f"您提供的检查点无法验证：{bad}")
            return None
    latest = await ledger.latest_checkpoint(db, book.id)
    if latest is None:
        problems.append("该台账还没有任何已签名的检查点")
        return None
    try:
        return _open(latest.note, verifiers, book.origin)
    except (NoteError, ValueError) as bad:
        problems.append(f"最新检查点（大小 {latest.size}）的签名无效：{bad}")
        return None


async def _consistency(
    db: AsyncSession, book: Ledger, first: Checkpoint, second: Checkpoint
) -> list[str]:
    """The log of the later checkpoint begins with the tree of the earlier one."""
    old, new = sorted((first, second), key=lambda c: c.size)
    try:
        proof = await ledger.consistency_proof(db, book.id, old.size, new.size)
    except ledger.LedgerDamaged as damaged:
        return [f"无法给出一致性证明：{damaged}"]
    if merkle.verify_consistency(old.size, new.size, old.root, new.root, proof):
        return []
    return [
        f"大小为 {old.size} 与 {new.size} 的两个已签名检查点之间的日志不一致："
        f"前 {old.size} 条记录在签名之后被改写"
    ]


# ---------------------------------------------------------------- the cases, replayed

OWNER_ACTIONS: Final = (v.OWNER_ASSUMED, v.OWNER_RENOUNCED)


async def _ledger_rows(db: AsyncSession, book: Ledger, upto: int, *where: Any) -> list[_Row]:
    found = await db.execute(
        select(LedgerEntry.seq, LedgerEntry.leaf)
        .where(LedgerEntry.ledger_id == book.id, LedgerEntry.seq < upto, *where)
        .order_by(LedgerEntry.seq)
    )
    return [_Row.of(seq, leaf) for seq, leaf in found.tuples()]


async def _replay_rows(db: AsyncSession, book: Ledger, tenure: int, upto: int) -> list[_Row]:
    """The tenure's `case.owner.*` entries before `upto` (read from their leaves) and the
    status changes of those cases."""
    owners = await _ledger_rows(db, book, upto, LedgerEntry.action.in_(OWNER_ACTIONS))
    mine = [r for r in owners if v.payload_of(r.entry).get("tenure") == tenure]
    cases = sorted({str(case) for r in mine if (case := v.case_of(r.entry)) is not None})
    statuses = await _ledger_rows(
        db,
        book,
        upto,
        LedgerEntry.action == v.STATUS_CHANGED,
        LedgerEntry.subject_type == "case",
        LedgerEntry.subject_id.in_(cases),
    )
    return sorted([*mine, *statuses], key=lambda r: r.seq)


async def _case_sets(
    db: AsyncSession,
    book: Ledger,
    handover: Handover,
    tale: v.Story,
    attached: bytes | None,
    prover: _Prover,
) -> tuple[v.CaseSets, list[v.EntryProof]]:
    tenure, archived = tale.tenure, tale.archived
    listed = v.listed_cases(attached)
    if tenure is None or archived is None:
        return v.CaseSets(listed, set(), set(), None, set(), set(), found=False), []
    end = v.seq_of(archived)
    rows = await _replay_rows(db, book, tenure, end)
    proofs = await prover.prove(db, rows)
    entries = [r.entry for r in rows]
    start = v.archive_start(entries, tenure, tale.receiving_seq, end)
    assert handover.archived_at is not None
    moved_from, moved_to = await held.moved_at(
        db, tenure, tale.receiver_tenure, handover.archived_at
    )
    scope = await case_scope(db, handover)
    replayed = v.owned_at(entries, tenure, start, {str(s) for s in FINISHED})
    archived_cases = v.payload_of(archived).get("cases")
    sets = v.CaseSets(
        listed=listed,
        # From an interim owner only what they received is handed on (their own cases stay).
        replayed=replayed if scope is None else replayed & set(scope),
        moved_in_ledger=v.moved_by_archive(entries, tenure, start, end),
        archived=list(archived_cases) if isinstance(archived_cases, list) else None,
        moved_from_rows=moved_from,
        moved_to_rows=moved_to,
    )
    return sets, proofs
