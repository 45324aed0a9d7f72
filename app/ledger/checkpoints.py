"""Signed checkpoints and the ledger's keys.

A checkpoint is a C2SP signed note of a ledger's origin, size and root. The service never
signs a checkpoint that is not consistent with the previous one: it proves consistency
from the stored nodes first and refuses when the proof fails. Verifier keys of rotated
signing keys stay published, so old checkpoints keep verifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keys import KEY_SPECS, spec
from app.ledger import merkle
from app.ledger.models import Ledger, LedgerCheckpoint
from app.ledger.note import Checkpoint, Signer, Verifier, sign_checkpoint
from app.ledger.rules import ledger_action, system_actor
from app.ledger.services import (
    LedgerDamaged,
    append,
    consistency_proof,
    entries_of_subject,
    frontier_peaks,
    latest_checkpoint,
    root_at,
    settle,
)

KEY_CREATED = ledger_action(
    "core.key.created",
    "key",
    "密钥被创建（首次见到该密钥文件）",
    name="密钥用途名（session、data、ledger …）",
    fingerprint="密钥文件内容的 SHA-256 指纹（十六进制前 32 位）",
    verifier="台账签名密钥的 C2SP 验证公钥字符串（仅 ledger 密钥）",
)
KEY_RETIRED = ledger_action(
    "core.key.retired",
    "key",
    "密钥被轮换退役（文件移入 retired/，继续保留）",
    name="密钥用途名",
    fingerprint="被退役密钥的指纹",
)
LEDGER_KEY = "ledger"


def signer(keys_dir: Path) -> Signer:
    return Signer.from_string((keys_dir / spec(LEDGER_KEY).filename).read_text().strip())


def verifiers(keys_dir: Path) -> list[Verifier]:
    """The current verifier key first, then those of retired signing keys."""
    current = signer(keys_dir).verifier()
    retired = sorted((keys_dir / "retired").glob(f"*-{spec(LEDGER_KEY).filename}"))
    old = [Signer.from_string(p.read_text().strip()).verifier() for p in retired]
    return [current, *(v for v in old if v != current)]


def fingerprint(content: bytes) -> str:
    return hashlib.sha256(b"jiefang key fingerprint\n" + content).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class KeyFile:
    name: str
    path: Path
    retired: bool


def key_files(keys_dir: Path) -> list[KeyFile]:
    found: list[KeyFile] = []
    for key_spec in KEY_SPECS:
        current = keys_dir / key_spec.filename
        if current.is_file():
            found.append(KeyFile(key_spec.name, current, False))
        for path in sorted((keys_dir / "retired").glob(f"*-{key_spec.filename}")):
            found.append(KeyFile(key_spec.name, path, True))
    return found


async def record_keys(db: AsyncSession, keys_dir: Path, now: dt.datetime) -> int:
    """Ledger every key file not yet recorded (created, or retired); returns how many."""
    admin = await db.scalar(select(Ledger).where(Ledger.county_id.is_(None)).with_for_update())
    if admin is None:
        raise RuntimeError("台账未初始化：请先运行 `jiefang db upgrade`。")
    actor = system_actor("keys")
    written = 0
    for key in key_files(keys_dir):
        content = key.path.read_bytes()
        fp = fingerprint(content)
        seen = {e.action for e in await entries_of_subject(db, "key", fp)}
        payload: dict[str, str] = {"name": key.name, "fingerprint": fp}
        if KEY_CREATED not in seen:
            if key.name == LEDGER_KEY:
                payload["verifier"] = (
                    Signer.from_string(content.decode().strip()).verifier().to_string()
                )
            await append(
                db,
                county=None,
                actor=actor,
                action=KEY_CREATED,
                subject=("key", fp),
                payload=payload,
                at=now,
            )
            written += 1
        if key.retired and KEY_RETIRED not in seen:
            await append(
                db,
                county=None,
                actor=actor,
                action=KEY_RETIRED,
                subject=("key", fp),
                payload={"name": key.name, "fingerprint": fp},
                at=now,
            )
            written += 1
    return written


class InconsistentLog(LedgerDamaged):
    """The log no longer extends the last signed checkpoint: nothing is signed."""


async def make_checkpoint(
    db: AsyncSession, ledger_id: int, key: Signer, now: dt.datetime
) -> LedgerCheckpoint | None:
    """Sign the ledger's current tree, with what this transaction appended, if it grew
    since the last checkpoint."""
    await settle(db)
    ledger = await db.scalar(
        select(Ledger)
        .where(Ledger.id == ledger_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ledger is None:
        raise LookupError(ledger_id)
    last = await latest_checkpoint(db, ledger_id)
    size = int(ledger.size)
    if size == 0 or (last is not None and last.size >= size):
        return None
    root = merkle.root_from_peaks(frontier_peaks(ledger.frontier))
    if await root_at(db, ledger_id, size) != root:
        raise InconsistentLog(
            f"{ledger.origin}: the head's frontier disagrees with the stored nodes"
        )
    if last is not None:
        proof = await consistency_proof(db, ledger_id, int(last.size), size)
        if not merkle.verify_consistency(int(last.size), size, bytes(last.root), root, proof):
            raise InconsistentLog(
                f"{ledger.origin}: the log of size {size} does not extend the checkpoint of "
                f"size {last.size}; refusing to sign. Run `jiefang ledger verify`."
            )
    note = sign_checkpoint(key, Checkpoint(ledger.origin, size, root))
    row = LedgerCheckpoint(ledger_id=ledger_id, size=size, root=root, note=note, created_at=now)
    db.add(row)
    await db.flush()
    return row


async def checkpoint_all(db: AsyncSession, key: Signer, now: dt.datetime) -> list[LedgerCheckpoint]:
    made = []
    for ledger_id in list(await db.scalars(select(Ledger.id).order_by(Ledger.id))):
        row = await make_checkpoint(db, ledger_id, key, now)
        if row is not None:
            made.append(row)
    return made
