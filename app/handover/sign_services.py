"""Rendering, signing and archiving a departure handover.

Render: the dossier is snapshotted and ledgered (`handover.dossier.snapshotted`), a signed
checkpoint is made that includes that entry, and the 交接书 is rendered with the dossier's
hash and that checkpoint in its footer (`handover.rendered` carries the PDF's hash). The
PDF is rendered while this transaction holds the county ledger (a second or two, a few
times a year per county) so that the printed checkpoint includes the dossier's entry.

Sign: departing official → receiving side → office, each with their signing PIN; each
`handover.signed` carries the file's hash before and after. The office's signature is the
archive: in the same transaction every open ownership moves to the receiving tenure, the
future sittings go to the successor (`scheduling.handover_services`), the departing tenure
ends and its roles are retired. If any step fails, nothing changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services as auth
from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.certificates import CertificateAuthority
from app.core.errors import Conflict, Forbidden, RuleViolation
from app.core.keys import KeyRing, handover_ca_certificate_pem
from app.handover import document, signing, workflow
from app.handover import dossier as d
from app.handover.models import Handover, HandoverSignature, SigningKey
from app.handover.services import (
    Access,
    HandoverRefused,
    _entry,
    _ledger,
    build_dossier,
    case_scope,
    ensure_conflict_free,
    get_handover,
    local_today,
)
from app.handover.workflow import HandoverStatus, Step
from app.ledger import checkpoints
from app.ledger import services as ledger
from app.ledger.note import Signer
from app.ledger.rules import ledger_action
from app.org import services as org
from app.org.schemas import EndReason, TenureEnd
from app.ownership import tenure_services as held
from app.scheduling import handover_services as sittings

ENROLLED = ledger_action(
    "handover.signer.enrolled",
    "person",
    "设置签章密码：系统证书机构为该人员签发签章证书（私钥以签章密码加密保存，密码不保存）",
    serial="证书序列号（十六进制）",
)
SNAPSHOTTED = ledger_action(
    "handover.dossier.snapshotted",
    "handover",
    "生成交接清单快照",
    dossier_hash="交接清单规范 JSON 的 SHA-256",
    cases="清单所列信访事项编号（升序）",
)
RENDERED = ledger_action(
    "handover.rendered",
    "handover",
    "生成待签的信访工作离任交接书 PDF",
    pdf_hash="未签字 PDF 的 SHA-256",
    dossier_hash="交接清单的 SHA-256",
    checkpoint_size="PDF 页脚所印检查点的树大小",
    checkpoint_root="该检查点的根哈希（十六进制）",
)
SIGNED = ledger_action(
    "handover.signed",
    "handover",
    "签字（离任领导、接收方、组织/办公室依次）",
    step="departing 离任领导 / receiving 接收方 / office 组织/办公室",
    person="签字人的人员编号",
    before_hash="签字前文件的 SHA-256",
    after_hash="签字后文件的 SHA-256",
)
ARCHIVED = ledger_action(
    "handover.archived",
    "handover",
    "归档：包案移交接收方、接访安排交接任、离任任职结束",
    receiver_tenure="接收方任职编号",
    cases="移交的信访事项编号（升序）",
    sittings_moved="交给接任人的接访安排数",
    sittings_unfilled="待重新排班的接访安排数",
    replan_roster="为其重新排班的排班版本编号（无则 null）",
    between_person="离任日期至归档期间负责这些事项的人员编号（无则 null）",
)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """What signing needs from `jiefang keys init`: the handover CA and the ledger key."""

    ca: CertificateAuthority
    ca_pem: bytes
    checkpoint_key: Signer

    @classmethod
    def from_dir(cls, keys_dir: Path) -> SigningKeys:
        return cls(
            KeyRing(keys_dir).handover_ca(),
            handover_ca_certificate_pem(keys_dir),
            checkpoints.signer(keys_dir),
        )


# ---------------------------------------------------------------- signers


async def signing_key_of(db: AsyncSession, person_id: int) -> SigningKey | None:
    row: SigningKey | None = await db.scalar(
        select(SigningKey)
        .where(SigningKey.person_id == person_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.id.desc())
    )
    return row


async def enrol(
    db: AsyncSession, actor: Principal, now: dt.datetime, keys: SigningKeys, pin: str
) -> SigningKey:
    """The signed-in official sets a signing PIN: a new certificate from the handover CA,
    the private key sealed under the PIN (never stored). An earlier key is retired."""
    if actor.person_id is None:
        raise Forbidden("该账号未关联人员，不能设置签章密码。")
    person = await org.get_person(db, actor.person_id)
    try:
        # A new key pair and scrypt sealing (~0.1 s of CPU): a worker thread.
        issued = await asyncio.to_thread(
            signing.issue_signer, keys.ca, person.name, person.id, pin, now
        )
    except ValueError as short:
        raise RuleViolation(str(short) + "。", slug="invalid-input") from None
    old = await signing_key_of(db, person.id)
    if old is not None:
        old.retired_at = now
    row = SigningKey(
        person_id=person.id,
        cert_pem=issued.cert_pem,
        key_enc=issued.key_enc,
        serial=format(issued.certificate.serial_number, "x"),
        created_at=now,
    )
    db.add(row)
    await db.flush()
    await ledger.append(
        db,
        county=person.county_id,
        actor=actor,
        action=ENROLLED,
        subject=("person", person.id),
        payload={"serial": row.serial},
        at=now,
    )
    return row


# ---------------------------------------------------------------- render


async def render(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover_id: int, keys: SigningKeys
) -> Handover:
    """Snapshot the dossier, anchor it in a signed checkpoint and render the 交接书."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    if not (access.office or access.departing):
        raise Forbidden("只有组织/办公室或离任领导本人可以生成交接书。")
    if HandoverStatus(handover.status) not in workflow.UNSIGNED:
        raise HandoverRefused("已有人签字，交接书不能再重新生成。")
    dossier = await build_dossier(db, handover, now)
    body, digest = d.canonical(dossier), d.digest(dossier)
    role = Role.office if access.office else Role.leader
    # At once: the checkpoint below must hold the snapshot's entry.
    snapped = _entry(
        actor, now, handover, SNAPSHOTTED, role, dossier_hash=digest, cases=dossier.case_ids
    )
    snap = await ledger.append_now(db, **snapped)
    checkpoint = await checkpoints.make_checkpoint(db, snap.ledger_id, keys.checkpoint_key, now)
    if checkpoint is None:  # pragma: no cover - the entry above always grows the tree
        raise Conflict("无法为交接清单生成检查点。")
    anchor = d.Anchor(
        dossier_sha256=digest,
        origin=snap.origin,
        checkpoint_size=int(checkpoint.size),
        checkpoint_root=bytes(checkpoint.root).hex(),
    )
    pdf = await document.render_handover(dossier, anchor)
    _store_render(handover, now, body, digest, snap.seq, anchor, pdf)
    await db.flush()
    await _ledger(
        db,
        actor,
        now,
        handover,
        RENDERED,
        role,
        pdf_hash=handover.pdf_sha256,
        dossier_hash=digest,
        checkpoint_size=anchor.checkpoint_size,
        checkpoint_root=anchor.checkpoint_root,
    )
    return handover


def _store_render(
    handover: Handover,
    now: dt.datetime,
    body: bytes,
    digest: str,
    seq: int,
    anchor: d.Anchor,
    pdf: bytes,
) -> None:
    handover.dossier, handover.dossier_sha256, handover.dossier_seq = body, digest, seq
    handover.checkpoint_size = anchor.checkpoint_size
    handover.checkpoint_root = anchor.checkpoint_root
    handover.pdf = pdf
    handover.pdf_sha256 = handover.unsigned_sha256 = signing.sha256_hex(pdf)
    handover.status = str(HandoverStatus.rendered)
    handover.updated_at = now


# ---------------------------------------------------------------- sign


@dataclass(frozen=True, slots=True)
class SignIn:
    pin: str
    seen_sha256: str  # the hash of the document the signer was shown
    between_person_id: int | None = None  # office, when the effective date has passed


def _step_for(handover: Handover) -> Step:
    step = workflow.awaited_step(HandoverStatus(handover.status))
    if step is None:
        label = workflow.STATUS_LABELS[HandoverStatus(handover.status)]
        raise HandoverRefused(f"该交接当前为“{label}”，没有待签的步骤。")
    return step


def _require_signer(handover: Handover, actor: Principal, step: Step, access: Access) -> None:
    if actor.person_id is None:
        raise Forbidden("该账号未关联人员，不能签字；请用本人账号签字。")
    allowed = {
        Step.departing: access.departing,
        Step.receiving: access.receiving,
        Step.office: access.office and not (access.departing or access.receiving),
    }[step]
    if not allowed:
        who = workflow.signer_label(step, handover.interim)
        raise Forbidden(f"现在等待{who}签字，您不能代签。")


async def sign(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover_id: int,
    keys: SigningKeys,
    data: SignIn,
) -> Handover:
    """Add the awaited signature; the office's signature archives the handover."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    step = _step_for(handover)
    _require_signer(handover, actor, step, access)
    ensure_conflict_free(handover, data.seen_sha256)
    if step == Step.office:
        await _check_archivable(db, handover, now, data)
    before = handover.pdf or b""
    after = await _signed(db, actor, before, step, keys, data.pin)
    handover.pdf, handover.pdf_sha256 = after, signing.sha256_hex(after)
    handover.updated_at = now
    signature = _signature_row(handover, actor, step, before, after, now)
    db.add(signature)
    role = Role.office if step == Step.office else Role.leader
    if step == Step.office:
        await _archive(db, actor, now, handover, data)
    else:
        handover.status = str(workflow.status_after(step))
        await db.flush()
    await _ledger(
        db,
        actor,
        now,
        handover,
        SIGNED,
        role,
        step=str(step),
        person=signature.person_id,
        before_hash=signature.before_sha256,
        after_hash=signature.after_sha256,
    )
    return handover


async def _signed(
    db: AsyncSession, actor: Principal, pdf: bytes, step: Step, keys: SigningKeys, pin: str
) -> bytes:
    assert actor.person_id is not None
    row = await signing_key_of(db, actor.person_id)
    if row is None:
        raise RuleViolation(
            "您还没有设置签章密码，请先在“签章密码”页面设置后再签字。", slug="signing-key-missing"
        )
    signer = signing.SignerKey(cert_pem=bytes(row.cert_pem), key_enc=bytes(row.key_enc))
    reason = f"信访工作离任交接：{workflow.STEP_LABELS[step]}签字"
    field = workflow.field_name(step)
    try:
        # pyHanko's signer runs its own event loop, and scrypt costs ~0.1 s: a worker thread.
        return await asyncio.to_thread(
            signing.sign_pdf, pdf, signer, pin, field, reason, keys.ca_pem
        )
    except signing.WrongPin:
        raise RuleViolation("签章密码不正确，未签字。", slug="wrong-pin") from None


def _signature_row(
    handover: Handover, actor: Principal, step: Step, before: bytes, after: bytes, now: dt.datetime
) -> HandoverSignature:
    assert actor.person_id is not None
    return HandoverSignature(
        handover_id=handover.id,
        step=str(step),
        person_id=actor.person_id,
        account_id=actor.account_id,
        before_sha256=signing.sha256_hex(before),
        after_sha256=signing.sha256_hex(after),
        signed_at=now,
    )


# ---------------------------------------------------------------- archive


async def _check_archivable(
    db: AsyncSession, handover: Handover, now: dt.datetime, data: SignIn
) -> None:
    """Refuse before signing: the dossier must still list exactly the cases held, and a
    late archive names who held them since the effective date."""
    listed = d.load(handover.dossier or b"").case_ids
    today = local_today(now)
    scope = await case_scope(db, handover)
    found = await held.held_cases(db, handover.tenure_id, handover.person_id, today, scope)
    current = sorted(c.id for c in found)
    if listed != current:
        raise Conflict(
            f"交接书列出 {len(listed)} 件包案事项，而离任领导现在包案 {len(current)} 件，"
            "交接书已过期。请撤回本次交接并重新发起。",
            slug="stale-document",
        )
    if handover.effective_date < today and data.between_person_id is None:
        raise RuleViolation(
            "离任日期已过：请注明离任日期至今由谁负责这些信访事项。", slug="invalid-input"
        )


async def _archive(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover: Handover, data: SignIn
) -> None:
    if data.between_person_id is not None:
        between = await org.get_person(db, data.between_person_id)
        if between.county_id not in (None, handover.county_id):
            raise RuleViolation("期间负责人须是本县人员。", slug="invalid-input")
        handover.between_person_id = data.between_person_id
    scope = await case_scope(db, handover)
    # Every ownership and sitting moves now, never backdated; the effective date only ends
    # the tenure. Cases are locked first and the sittings (which lock their bookings before
    # writing) go before the cases' ledger entries.
    await held.lock_held_cases(db, handover.tenure_id, scope)
    handed = await _hand_over_sittings(db, actor, now, handover, scope)
    moved = await held.hand_over_cases(
        db, actor, now, handover.tenure_id, handover.receiver_tenure_id, scope
    )
    # The row is written once as archived: from then on it is frozen (a trigger on PostgreSQL).
    handover.moved_cases = len(moved)
    handover.archived_at = now
    handover.status = str(HandoverStatus.archived)
    await db.flush()
    if scope is None:
        await _end_tenure(db, actor, now, handover)
    await _ledger(
        db,
        actor,
        now,
        handover,
        ARCHIVED,
        Role.office,
        receiver_tenure=handover.receiver_tenure_id,
        cases=sorted(moved),
        sittings_moved=len(handed.moved) if handed else 0,
        sittings_unfilled=len(handed.unfilled) if handed else 0,
        replan_roster=handed.replan_roster_id if handed else None,
        between_person=handover.between_person_id,
    )


async def _hand_over_sittings(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover: Handover,
    scope: list[int] | None,
) -> sittings.SittingsHandedOver | None:
    """The departing tenure's future sittings go to the successor (an interim owner's own
    sittings stay theirs)."""
    if scope is not None:
        return None
    successor = None if handover.interim else handover.receiver_tenure_id
    start = max(handover.effective_date, local_today(now))
    return await sittings.hand_over_sittings(db, actor, now, handover.tenure_id, successor, start)


async def _end_tenure(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover: Handover
) -> None:
    departing = await org.get_tenure(db, handover.tenure_id)
    end = TenureEnd(end_date=handover.effective_date, reason=EndReason(handover.reason))
    await org.close_tenure(db, actor, now, departing, end, Role.office)
    await _retire_roles(db, actor, now, handover, departing.post.unit_id)


TENURE_ROLES = frozenset({Role.leader})


async def _retire_roles(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover: Handover,
    unit_id: int,
) -> None:
    """The person's leader role at the post's unit goes unless another of their tenures is
    at that unit; the account is disabled when no other tenure remains — it then signs in
    only to read the person's own handovers, the copy §7 of the practice leaves them."""
    others = [
        t for t in await org.open_tenures_of(db, handover.person_id) if t.id != handover.tenure_id
    ]
    keep = {t.post.unit_id for t in others}
    roles = frozenset() if unit_id in keep else TENURE_ROLES
    await auth.retire_tenure_roles(
        db, actor, now, handover.person_id, roles, unit_id, disable=not others
    )
