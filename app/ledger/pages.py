"""台账核验: the reviewers' page for the tamper-evident ledgers.

An overview of every ledger with its latest signed checkpoint, and three tools that work
without JavaScript: verify an offline proof bundle, check a checkpoint saved earlier
against today's log, and look up one entry with its inclusion proof. Every tool only
reads: unreadable input (empty, too large, not UTF-8, not JSON) is refused with 422 and a
message next to the form; input that can be read but does not verify gets a verdict (200).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.response import Template
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, allow
from app.core.auth.roles import ROLE_LABELS
from app.core.clock import SHANGHAI
from app.core.errors import DomainError, InvalidInput, NotFound, RuleViolation
from app.core.web import nav_item, page, runtime_of
from app.ledger import bundle, merkle, services
from app.ledger.checkpoints import verifiers
from app.ledger.models import Ledger, LedgerCheckpoint, LedgerEntry
from app.ledger.note import Checkpoint, NoteError, Verifier, open_checkpoint
from app.ledger.rules import ACTIONS

READ = allow(*services.ENTRY_READERS)

nav_item("台账核验", "/ledger", services.ENTRY_READERS, order=70)

#: Bundles and checkpoint notes are a few kilobytes; anything above this is not one.
MAX_INPUT_BYTES = 1024 * 1024
_FILE_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ROLE_NAMES = {role.value: label for role, label in ROLE_LABELS.items()}
_units = table("units", column("id"), column("name"))


# ---------------------------------------------------------------- small formatting


def local_time(moment: dt.datetime | None) -> str:
    """Beijing time, to the second."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def as_text(value: Any) -> str:
    """A JSON value as one line: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def file_name(origin: str, what: str) -> str:
    return f"{_FILE_SAFE.sub('-', origin).strip('-') or 'ledger'}-{what}"


def keys_dir(request: Request[Any, Any, Any]) -> Path:
    return runtime_of(request).keys.keys_dir


def server_verifiers(request: Request[Any, Any, Any]) -> list[Verifier]:
    return verifiers(keys_dir(request))


@dataclass(frozen=True, slots=True)
class Root:
    """A checkpoint as shown: origin, size and root in both encodings."""

    origin: str
    size: int
    hex: str
    b64: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> Root:
        return cls.raw(checkpoint.origin, checkpoint.size, checkpoint.root)

    @classmethod
    def raw(cls, origin: str, size: int, root: bytes) -> Root:
        return cls(origin, size, root.hex(), base64.b64encode(root).decode("ascii"))


# ---------------------------------------------------------------- an entry as shown


@dataclass(frozen=True, slots=True)
class PayloadRow:
    name: str
    meaning: str
    value: str


@dataclass(frozen=True, slots=True)
class EntryView:
    log: str
    seq: str
    recorded_at: str
    recorded_raw: str
    actor: str
    action: str
    action_summary: str
    subject: str
    payload: list[PayloadRow] = field(default_factory=list)


def actor_text(actor: Any) -> str:
    if not isinstance(actor, Mapping):
        return as_text(actor)
    kind = actor.get("kind")
    if kind == "staff":
        role = _ROLE_NAMES.get(str(actor.get("role")), as_text(actor.get("role")))
        return f"工作人员（账号 {as_text(actor.get('account'))}，以“{role}”身份）"
    if kind == "system":
        return f"系统自动（{as_text(actor.get('job'))}）"
    if kind == "citizen":
        return "群众（以手机号的加密指纹记录，不含号码本身）"
    return as_text(dict(actor))


def subject_text(subject: Any) -> str:
    if isinstance(subject, Mapping):
        return f"{as_text(subject.get('type'))} #{as_text(subject.get('id'))}"
    return as_text(subject)


def recorded_text(value: Any) -> str:
    """RFC 3339 UTC as Beijing time; anything else as it is."""
    if not isinstance(value, str):
        return as_text(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return local_time(moment) + "（北京时间）" if moment.tzinfo else value


def entry_view(entry: Mapping[str, Any]) -> EntryView:
    """What an entry (as hashed, or as a bundle claims) says, in plain words."""
    action = as_text(entry.get("action"))
    spec = ACTIONS.get(action)
    meanings = spec.fields if spec else {}
    payload = entry.get("payload")
    rows = (
        [PayloadRow(str(k), meanings.get(str(k), ""), as_text(v)) for k, v in payload.items()]
        if isinstance(payload, Mapping)
        else [PayloadRow("", "", as_text(payload))]
    )
    return EntryView(
        log=as_text(entry.get("log")),
        seq=as_text(entry.get("seq")),
        recorded_at=recorded_text(entry.get("recorded_at")),
        recorded_raw=as_text(entry.get("recorded_at")),
        actor=actor_text(entry.get("actor")),
        action=action,
        action_summary=spec.summary if spec else "",
        subject=subject_text(entry.get("subject")),
        payload=rows,
    )


# ---------------------------------------------------------------- reading a submitted file


@dataclass(frozen=True, slots=True)
class Upload:
    """The form fields of one tool: a file input and a textarea."""

    file: str
    text: str
    what: str


BUNDLE_FORM = Upload("bundle_file", "bundle_text", "证明包")
CHECKPOINT_FORM = Upload("checkpoint_file", "checkpoint_text", "检查点")


def pasted(form: FormMultiDict, fields: Upload) -> str:
    """The pasted text, to show again after a refusal (not when it was too large)."""
    text = form.get(fields.text)
    return text if isinstance(text, str) and len(text) <= MAX_INPUT_BYTES else ""


async def _raw(form: FormMultiDict, fields: Upload) -> bytes:
    upload = form.get(fields.file)
    text = form.get(fields.text)
    typed = text.encode("utf-8") if isinstance(text, str) else b""
    if not isinstance(upload, UploadFile):
        return typed
    try:
        sent = await upload.read(MAX_INPUT_BYTES + 1)
    finally:
        await upload.close()
    if sent.strip() and typed.strip():
        raise InvalidInput(f"请只上传{fields.what}文件或只粘贴其内容，不要两样都提供。")
    return sent if sent.strip() else typed


async def read_submitted(form: FormMultiDict, fields: Upload) -> str:
    """The uploaded file or the pasted text; InvalidInput (Chinese) when unreadable."""
    raw = await _raw(form, fields)
    if len(raw) > MAX_INPUT_BYTES:
        raise InvalidInput(f"提交的{fields.what}超过 1 MB，不是本系统生成的文件，未予处理。")
    if not raw.strip():
        raise InvalidInput(f"请选择{fields.what}文件，或把其内容粘贴到文本框中。")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"提交的{fields.what}不是 UTF-8 编码的文本文件。") from None


def require_json(text: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as bad:
        where = f"第 {bad.lineno} 行第 {bad.colno} 列附近有错误"
    except (ValueError, RecursionError):
        where = "无法解析"
    else:
        return
    raise InvalidInput(
        f"提交的内容不是有效的 JSON（{where}），请确认上传的是下载得到的证明包 .json 文件。"
    )


# ---------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    origin: str
    place: str
    size: int
    readable: bool
    checkpoint_size: int | None = None
    checkpoint_time: str = ""
    checkpoint_file: str = ""


async def county_names(db: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.execute(select(_units.c.id, _units.c.name).where(_units.c.id.in_(ids)))
    return {int(row.id): str(row.name) for row in rows}


def place_of(ledger: Ledger, names: Mapping[int, str]) -> str:
    """The county a ledger records, or the deployment-wide administration ledger."""
    return names.get(ledger.county_id, "") if ledger.county_id else "全系统管理台账"


async def ledger_rows(db: AsyncSession, actor: Principal) -> list[LedgerRow]:
    all_ledgers = await services.ledgers(db)
    names = await county_names(db, [lg.county_id for lg in all_ledgers if lg.county_id])
    rows = []
    for ledger in all_ledgers:
        latest = await services.latest_checkpoint(db, ledger.id)
        rows.append(
            LedgerRow(
                ledger.id,
                ledger.origin,
                place_of(ledger, names),
                int(ledger.size),
                await services.may_read_entries(db, actor, ledger),
                int(latest.size) if latest else None,
                local_time(latest.created_at) if latest else "",
                file_name(ledger.origin, f"checkpoint-{latest.size}.txt") if latest else "",
            )
        )
    return rows


async def ledger_choices(db: AsyncSession) -> list[tuple[int, str]]:
    """The ledgers to pick from: "测试县（jiefang/990001）"."""
    all_ledgers = await services.ledgers(db)
    names = await county_names(db, [lg.county_id for lg in all_ledgers if lg.county_id])
    return [(lg.id, f"{place_of(lg, names)}（{lg.origin}）") for lg in all_ledgers]


# ---------------------------------------------------------------- a proof bundle


@dataclass(frozen=True, slots=True)
class BundleResult:
    ok: bool
    summary: str
    checks: list[bundle.Check]
    checkpoint: Root | None
    entry: EntryView | None
    entry_link: str | None


def bundle_result(verdict: bundle.BundleVerdict) -> BundleResult:
    entry = verdict.entry
    link = None
    if verdict.ok and entry is not None and verdict.checkpoint is not None:
        origin = quote(verdict.checkpoint.origin, safe="")
        link = f"/ledger/entry?ledger={origin}&seq={as_text(entry.get('seq'))}"
    return BundleResult(
        ok=verdict.ok,
        summary=verdict.summary(),
        checks=list(verdict.checks),
        checkpoint=Root.of(verdict.checkpoint) if verdict.checkpoint else None,
        entry=entry_view(entry) if entry is not None else None,
        entry_link=link,
    )


# ---------------------------------------------------------------- a saved checkpoint


@dataclass(frozen=True, slots=True)
class SavedResult:
    signature_ok: bool
    signature_detail: str
    saved: Root | None = None
    place: str = ""
    consistent: bool = False
    whole_ledger_ok: bool = False
    detail: str = ""
    latest: Root | None = None
    latest_time: str = ""


def _latest_root(row: LedgerCheckpoint | None, origin: str) -> Root | None:
    return Root.raw(origin, int(row.size), bytes(row.root)) if row else None


async def saved_result(db: AsyncSession, text: str, keys: list[Verifier]) -> SavedResult:
    """The signature, then whether today's log still begins with the saved tree and the
    rest of the ledger agrees with it."""
    try:
        found = await services.check_saved_checkpoint(db, text, keys)
    except NoteError as bad:
        return SavedResult(False, f"检查点未通过签名验证：{bad}。")
    names = await county_names(db, [found.ledger.county_id] if found.ledger.county_id else [])
    return SavedResult(
        signature_ok=True,
        signature_detail="检查点签名有效，确由本系统的台账签名密钥签发。",
        saved=Root.of(found.saved),
        place=place_of(found.ledger, names),
        consistent=found.consistent,
        whole_ledger_ok=found.whole_ledger_ok,
        detail=found.detail,
        latest=_latest_root(found.latest, found.ledger.origin),
        latest_time=local_time(found.latest.created_at) if found.latest else "",
    )


# ---------------------------------------------------------------- one entry


@dataclass(frozen=True, slots=True)
class InclusionResult:
    """ok None: nothing to check yet (no checkpoint covers the entry)."""

    ok: bool | None
    message: str
    checkpoint: Root | None = None
    checkpoint_time: str = ""
    path_length: int = 0


@dataclass(frozen=True, slots=True)
class EntryResult:
    ledger: Ledger
    seq: int
    leaf_hash: str
    stored_hash_differs: bool
    readable: bool
    entry: EntryView | None
    inclusion: InclusionResult
    bundle_url: str | None


def parse_seq(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("记录序号应为从 0 开始的整数。")
    return int(value)


async def find_ledger(db: AsyncSession, ref: str) -> Ledger:
    if not ref.strip():
        raise InvalidInput("请选择台账。")
    return await services.get_ledger(db, ref.strip())


def _verified_inclusion(
    proof: services.Inclusion, keys: list[Verifier], leaf_hash: bytes
) -> InclusionResult:
    row = proof.checkpoint
    try:
        signed = open_checkpoint(row.note, keys, proof.ledger.origin)
    except NoteError as bad:
        return InclusionResult(False, f"最新检查点的签名未通过验证：{bad}。")
    shown = Root.of(signed)
    when = local_time(row.created_at)
    seq, size = proof.seq, signed.size
    if signed.size == row.size and merkle.verify_inclusion(
        seq, size, leaf_hash, proof.path, signed.root
    ):
        message = f"包含证明通过：这条记录在大小为 {size} 的已签名检查点中，未被改动。"
        return InclusionResult(True, message, shown, when, len(proof.path))
    message = (
        f"包含证明未通过：由服务器存储的数据算出的根哈希与大小为 {size} 的已签名检查点不符，"
        "台账数据可能被改动过，请通知系统管理员运行 `jiefang ledger verify` 核查。"
    )
    return InclusionResult(False, message, shown, when, len(proof.path))


async def inclusion_result(
    db: AsyncSession, ledger: Ledger, entry: LedgerEntry, keys: list[Verifier]
) -> InclusionResult:
    try:
        proof = await services.prove_inclusion(db, ledger, int(entry.seq))
    except (RuleViolation, NotFound) as later:
        return InclusionResult(None, f"暂时无法核验：{later.detail}")
    except services.LedgerDamaged as damaged:
        return InclusionResult(False, f"服务器存储的树节点缺失，无法计算包含证明（{damaged}）。")
    return _verified_inclusion(proof, keys, merkle.leaf_hash(bytes(entry.leaf)))


async def entry_result(
    db: AsyncSession, actor: Principal, ledger: Ledger, seq: int, keys: list[Verifier]
) -> EntryResult:
    row = await services.get_entry(db, ledger.id, seq)
    readable = await services.may_read_entries(db, actor, ledger)
    leaf_hash = merkle.leaf_hash(bytes(row.leaf))
    inclusion = await inclusion_result(db, ledger, row, keys)
    return EntryResult(
        ledger=ledger,
        seq=seq,
        leaf_hash=leaf_hash.hex(),
        stored_hash_differs=leaf_hash != bytes(row.leaf_hash),
        readable=readable,
        entry=entry_view(services.entry_json(row)) if readable else None,
        inclusion=inclusion,
        bundle_url=f"/ledger/{ledger.id}/entries/{seq}/bundle.json"
        if readable and inclusion.checkpoint is not None
        else None,
    )


# ---------------------------------------------------------------- controller


class LedgerPages(Controller):
    path = "/ledger"
    include_in_schema = False

    @get("/", opt=READ)
    async def overview(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal
    ) -> Template:
        rows = await ledger_rows(db, actor)
        return page(request, "ledger/index.html", rows=rows, choices=await ledger_choices(db))

    @get("/bundle", opt=READ)
    async def bundle_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "ledger/bundle.html")

    @post("/bundle", opt=READ)
    async def check_bundle(self, request: Request[Any, Any, Any]) -> Template:
        """Verify an uploaded or pasted proof bundle with this server's verifier keys."""
        form = await request.form()
        try:
            text = await read_submitted(form, BUNDLE_FORM)
            require_json(text)
        except DomainError as bad:
            return page(
                request,
                "ledger/bundle.html",
                status_code=bad.status,
                error=bad.detail,
                pasted=pasted(form, BUNDLE_FORM),
            )
        verdict = bundle.check_bundle(text, server_verifiers(request))
        return page(request, "ledger/bundle.html", result=bundle_result(verdict))

    @get("/checkpoint", opt=READ)
    async def checkpoint_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "ledger/checkpoint.html")

    @post("/checkpoint", opt=READ)
    async def check_checkpoint(self, request: Request[Any, Any, Any], db: AsyncSession) -> Template:
        """Check a checkpoint note saved earlier against today's log."""
        form = await request.form()
        try:
            text = await read_submitted(form, CHECKPOINT_FORM)
            result = await saved_result(db, text, server_verifiers(request))
        except DomainError as bad:
            return page(
                request,
                "ledger/checkpoint.html",
                status_code=bad.status,
                error=bad.detail,
                pasted=pasted(form, CHECKPOINT_FORM),
            )
        return page(request, "ledger/checkpoint.html", result=result)

    @get("/entry", opt=READ)
    async def entry(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        ledger: str = "",
        seq: str = "",
    ) -> Template:
        """One entry (or only its leaf hash) and its inclusion in the latest checkpoint."""
        choices = await ledger_choices(db)
        asked = {"ledger": ledger, "seq": seq}
        if not ledger and not seq:
            return page(request, "ledger/entry.html", choices=choices, asked=asked)
        try:
            target = await find_ledger(db, ledger)
            number = parse_seq(seq)
            result = await entry_result(db, actor, target, number, server_verifiers(request))
        except DomainError as bad:
            return page(
                request,
                "ledger/entry.html",
                status_code=bad.status,
                choices=choices,
                asked=asked,
                error=bad.detail,
            )
        asked = {"ledger": str(target.id), "seq": str(number)}
        return page(request, "ledger/entry.html", choices=choices, asked=asked, result=result)

    @get("/{ledger_id:int}/entries/{seq:int}/bundle.json", opt=READ)
    async def download_bundle(
        self, db: AsyncSession, actor: Principal, ledger_id: int, seq: int
    ) -> Response[bytes]:
        """The offline proof bundle of one entry, as a file to keep."""
        ledger = await services.get_ledger(db, ledger_id)
        await services.require_entry_reader(db, actor, ledger)
        data = await services.proof_bundle(db, ledger, seq)
        name = file_name(ledger.origin, f"entry-{seq}-bundle.json")
        return Response(
            content=bundle.dumps(data),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


ROUTES = [LedgerPages]
