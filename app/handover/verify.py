"""Verifying an archived 信访工作离任交接书 the way a reviewer who trusts nobody would:
values in, a verdict in Chinese out. No database, no clock.

Five checks, each named in the verdict so a reviewer sees which one failed:

1. 签名 — every signature is intact, issued by the handover CA, in the order departing →
   receiving → office, and each certificate's person is the one the ledger says signed;
2. 版本链 — the unsigned file is a prefix of the final one ending at an ``%%EOF`` whose
   SHA-256 is `handover.rendered`'s, and each signature's revision hashes to the
   `handover.signed` entry's ``after_hash`` (each ``before_hash`` the previous ``after_hash``);
3. 台账 — every entry relied on is included in a signed checkpoint (the one printed on the
   PDF for the dossier's snapshot), and the log is consistent between the printed
   checkpoint and the latest (or the reviewer's saved) one;
4. 事项 — the cases listed equal the open cases the departing tenure owned just before the
   archive moved them, replayed from `case.owner.*` and `case.status.changed` entries (not
   read from the tables), and equal what the archive and the ownership rows say moved;
5. 清单 — the PDF's ``dossier.json`` attachment hashes to the ledger's ``dossier_hash``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Final

import msgspec
from pyhanko.pdf_utils.reader import PdfFileReader

from app.handover import dossier as d
from app.handover import signing
from app.handover.workflow import STEP_LABELS, Step, field_name

Entry = Mapping[str, Any]

OPENED: Final = "handover.opened"
SNAPSHOTTED: Final = "handover.dossier.snapshotted"
RENDERED: Final = "handover.rendered"
SIGNED: Final = "handover.signed"
ARCHIVED: Final = "handover.archived"
OWNER_ASSUMED: Final = "case.owner.assumed"
OWNER_RENOUNCED: Final = "case.owner.renounced"
STATUS_CHANGED: Final = "case.status.changed"
HANDOVER_CAUSE: Final = "handover"
#: The payload fields holding SHA-256 digests (hex), as the signing services write them.
DOSSIER_DIGEST: Final = "dossier_hash"  # snapshotted and rendered
PDF_DIGEST: Final = "pdf_hash"  # rendered: the unsigned file
BEFORE: Final = "before_hash"  # signed
AFTER: Final = "after_hash"  # signed

LABEL_SIGNATURES: Final = "签名有效且顺序正确"
LABEL_CHAIN: Final = "各版本文件的哈希与台账链条一致"
LABEL_LEDGER: Final = "台账记录的包含证明与日志一致性"
LABEL_CASES: Final = "所列事项与签字时的包案一致（按台账回放）"
LABEL_DOSSIER: Final = "交接清单附件的哈希与台账一致"

STEPS: Final = tuple(Step)


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the verdict. `pending`: passed as far as it goes, but some entries are
    not yet covered by a signed checkpoint (the checkpoint job runs periodically)."""

    key: str  # signatures / chain / ledger / cases / dossier
    label: str
    ok: bool
    detail: str
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    handover_id: int
    checks: tuple[Check, ...]
    saved_checkpoint: bool = False  # checked against a checkpoint the reviewer saved

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def complete(self) -> bool:
        """Passed, and nothing waits for a later checkpoint."""
        return self.ok and not any(c.pending for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        """One Chinese sentence: what holds, or which checks failed."""
        if self.failed:
            names = "、".join(f"“{c.label}”" for c in self.failed)
            return f"验证未通过：{len(self.failed)} 项检查未通过——{names}。"
        if not self.complete:
            return "各项检查均通过，但部分台账记录尚未被已签名检查点覆盖，请稍后再验证一次。"
        return f"验证通过：{len(self.checks)} 项检查全部通过。"


def _check(key: str, label: str, problems: Sequence[str], passed: str) -> Check:
    if problems:
        return Check(key, label, False, "；".join(p.rstrip("。") for p in problems) + "。")
    return Check(key, label, True, passed)


def short(sha256: str | None) -> str:
    return (sha256 or "—")[:16]


def _ids(values: Iterable[int]) -> str:
    return "、".join(str(v) for v in sorted(values)) or "无"


# ---------------------------------------------------------------- reading entries


def seq_of(entry: Entry) -> int:
    seq = entry.get("seq")
    return seq if isinstance(seq, int) else -1


def payload_of(entry: Entry | None) -> Mapping[str, Any]:
    found = (entry or {}).get("payload")
    return found if isinstance(found, Mapping) else {}


def case_of(entry: Entry) -> int | None:
    """The subject id of an entry as a number (a case's id), or None."""
    subject = entry.get("subject")
    raw = subject.get("id") if isinstance(subject, Mapping) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def recorded_at(entry: Entry | None) -> dt.datetime | None:
    raw = _str((entry or {}).get("recorded_at"))
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None


# ---------------------------------------------------------------- replaying ownership


def _apply(
    entry: Entry, tenure_id: int, held: set[tuple[int, str]], status: dict[int, str]
) -> None:
    action, payload, case = entry.get("action"), payload_of(entry), case_of(entry)
    if case is None:
        return
    if action == STATUS_CHANGED:
        status[case] = str(payload.get("to_status"))
    elif payload.get("tenure") == tenure_id:
        key = (case, str(payload.get("role")))
        if action == OWNER_ASSUMED:
            held.add(key)
        elif action == OWNER_RENOUNCED:
            held.discard(key)


def owned_at(
    entries: Iterable[Entry],
    tenure_id: int,
    upto_seq: int,
    finished: Collection[str] = (),
) -> set[int]:
    """The cases the tenure owned just before entry `upto_seq`, replayed in `seq` order:
    `case.owner.assumed` of the tenure adds (case, role), `case.owner.renounced` removes it.
    With `finished` statuses, a case whose last `case.status.changed` went to one of them
    is left out (a closed case keeps its owner rows but is no longer held)."""
    held: set[tuple[int, str]] = set()
    status: dict[int, str] = {}
    for entry in sorted((e for e in entries if seq_of(e) < upto_seq), key=seq_of):
        _apply(entry, tenure_id, held, status)
    return {case for case, _ in held if status.get(case) not in finished}


def _renounced_by_handover(entry: Entry, tenure_id: int) -> bool:
    payload = payload_of(entry)
    return (
        entry.get("action") == OWNER_RENOUNCED
        and payload.get("tenure") == tenure_id
        and payload.get("cause") == HANDOVER_CAUSE
    )


def archive_start(
    entries: Iterable[Entry], tenure_id: int, after_seq: int, archived_seq: int
) -> int:
    """Where the archive began moving the tenure's cases: its first `case.owner.renounced`
    (cause handover) between the receiving signature and `handover.archived` — or the
    archive entry itself when nothing moved. Only one handover of a tenure is ever under
    way, so every such renouncement in that interval is this archive's."""
    starts = [
        seq_of(e)
        for e in entries
        if after_seq < seq_of(e) < archived_seq and _renounced_by_handover(e, tenure_id)
    ]
    return min(starts, default=archived_seq)


def moved_by_archive(
    entries: Iterable[Entry], tenure_id: int, start: int, archived_seq: int
) -> set[int]:
    """The cases whose ownership by the tenure the archive renounced (cause handover)."""
    return {
        case
        for e in entries
        if start <= seq_of(e) < archived_seq
        and _renounced_by_handover(e, tenure_id)
        and (case := case_of(e)) is not None
    }


# ---------------------------------------------------------------- the handover's entries


@dataclass(frozen=True, slots=True)
class SignedStep:
    """One signature as the ledger (or the signatures table) records it."""

    step: str
    person: int | None
    before: str
    after: str

    @classmethod
    def of(cls, entry: Entry) -> SignedStep:
        p = payload_of(entry)
        return cls(
            str(p.get("step")),
            _int(p.get("person")),
            str(p.get(BEFORE)),
            str(p.get(AFTER)),
        )


@dataclass(frozen=True, slots=True)
class Story:
    """What the ledger says about one handover: the entries the verification relies on."""

    opened: Entry | None
    snapshotted: Entry | None
    rendered: Entry | None
    signed: tuple[Entry, ...]
    archived: Entry | None

    @property
    def steps(self) -> list[SignedStep]:
        return [SignedStep.of(e) for e in self.signed]

    @property
    def end_seq(self) -> int:
        """The last entry of the handover's making (the office's signature)."""
        return max((seq_of(e) for e in (*self.signed, self.archived) if e), default=-1)

    @property
    def tenure(self) -> int | None:
        return _int(payload_of(self.opened).get("tenure"))

    @property
    def receiver_tenure(self) -> int | None:
        return _int(payload_of(self.archived).get("receiver_tenure"))

    @property
    def receiving_seq(self) -> int:
        """The last signature before the archive (the receiving side's), else the render."""
        archived = seq_of(self.archived) if self.archived else 1 << 62
        before = [seq_of(e) for e in self.signed if seq_of(e) < archived]
        return max(before, default=seq_of(self.rendered) if self.rendered else -1)


def _last(entries: Sequence[Entry], action: str, before: int) -> Entry | None:
    found = [e for e in entries if e.get("action") == action and seq_of(e) < before]
    return found[-1] if found else None


def _first(entries: Sequence[Entry], action: str) -> Entry | None:
    return next((e for e in entries if e.get("action") == action), None)


def story(entries: Iterable[Entry]) -> Story:
    """The signed document's render is the last one before the first signature; its
    dossier the last snapshot before that render (a refreshed dossier re-renders)."""
    ordered = sorted(entries, key=seq_of)
    first_signed = _first(ordered, SIGNED)
    bound = seq_of(first_signed) if first_signed else 1 << 62
    rendered = _last(ordered, RENDERED, bound)
    snapshotted = _last(ordered, SNAPSHOTTED, seq_of(rendered) if rendered else bound)
    after = seq_of(rendered) if rendered else bound
    signed = tuple(e for e in ordered if e.get("action") == SIGNED and seq_of(e) > after)
    return Story(_first(ordered, OPENED), snapshotted, rendered, signed, _first(ordered, ARCHIVED))


# ---------------------------------------------------------------- 1. signatures


@dataclass(frozen=True, slots=True)
class Signatures:
    """The PDF's embedded signatures as pyHanko validates them, with each certificate's
    person (the USER_ID the CA wrote into it), or why the file could not be read."""

    checks: list[signing.SignatureCheck] = field(default_factory=list)
    persons: list[int | None] = field(default_factory=list)
    unreadable: str | None = None


def _certificate_persons(pdf: bytes) -> list[int | None]:
    found: list[int | None] = []
    for signature in PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures:
        raw = signature.signer_cert.subject.native.get("user_id")
        found.append(int(raw) if isinstance(raw, str) and raw.isdigit() else None)
    return found


def read_signatures(pdf: bytes, ca_pem: bytes, at: dt.datetime | None) -> Signatures:
    """Validate every signature at `at` (baseline-B signatures carry no trusted time, so
    the archive's time keeps a years-old signature checkable after its certificate ended)."""
    if not pdf:
        return Signatures(unreadable="没有 PDF 文件")
    try:
        return Signatures(signing.validate(pdf, ca_pem, at), _certificate_persons(pdf))
    except Exception as unreadable:  # any damage to a file a reviewer holds is a finding
        return Signatures(unreadable=f"无法读取 PDF 的签名：{unreadable}")


def _who(i: int) -> str:
    return (
        f"第 {i + 1} 个签名（{STEP_LABELS[STEPS[i]]}）" if i < len(STEPS) else f"第 {i + 1} 个签名"
    )


def _signature_problems(i: int, sig: signing.SignatureCheck) -> list[str]:
    problems = []
    if i < len(STEPS) and sig.field_name != field_name(STEPS[i]):
        problems.append(
            f"{_who(i)}位于签名域 {sig.field_name}，应为 {field_name(STEPS[i])}（顺序不对）"
        )
    if not sig.intact:
        problems.append(f"{_who(i)}（{sig.signer_name}）无效：签名所覆盖的内容已被改动")
    if not sig.trusted:
        problems.append(f"{_who(i)}（{sig.signer_name}）的证书不是本系统交接证书机构签发的")
    if not sig.later_changes_allowed:
        problems.append(f"{_who(i)}之后，文件被做了签名以外的修改")
    return problems


def _person_problems(
    persons: Sequence[int | None], ledger: Sequence[SignedStep], rows: Sequence[SignedStep]
) -> list[str]:
    problems = []
    for i, step in enumerate(ledger):
        cert = persons[i] if i < len(persons) else None
        if cert != step.person:
            problems.append(
                f"{_who(i)}的证书属于人员 {cert}，台账记录的签字人却是人员 {step.person}"
            )
        row = rows[i] if i < len(rows) else None
        if row is None or row.person != step.person or row.step != step.step:
            problems.append(f"签字记录表第 {i + 1} 行的签字人或步骤与台账不符")
    return problems


def _order_problems(ledger: Sequence[SignedStep], parties: tuple[int, int] | None) -> list[str]:
    wanted = [str(s) for s in STEPS]
    problems = []
    if [s.step for s in ledger] != wanted:
        found = " → ".join(s.step for s in ledger) or "无"
        problems.append(f"台账中的签字步骤为 {found}，应为 离任领导 → 接收方 → 组织/办公室")
    if parties is not None and len(ledger) >= 2:
        if ledger[0].person != parties[0]:
            problems.append(f"离任领导一栏的签字人（人员 {ledger[0].person}）不是清单中的离任领导")
        if ledger[1].person != parties[1]:
            problems.append(f"接收方一栏的签字人（人员 {ledger[1].person}）不是清单中的接收方")
    return problems


def check_signatures(
    sigs: Signatures,
    tale: Story,
    rows: Sequence[SignedStep],
    parties: tuple[int, int] | None,
) -> Check:
    """Check 1. `parties`: (departing, receiving) person ids from the dossier."""
    if sigs.unreadable:
        return _check("signatures", LABEL_SIGNATURES, [sigs.unreadable], "")
    problems: list[str] = []
    if len(sigs.checks) != len(STEPS):
        problems.append(f"PDF 中有 {len(sigs.checks)} 个签名，应为 {len(STEPS)} 个")
    for i, sig in enumerate(sigs.checks):
        problems += _signature_problems(i, sig)
    problems += _order_problems(tale.steps, parties)
    problems += _person_problems(sigs.persons, tale.steps, rows)
    names = "、".join(s.signer_name for s in sigs.checks)
    passed = (
        f"{len(sigs.checks)} 个签名（{names}）均完好、由交接证书机构签发，依次为离任领导、"
        "接收方、组织/办公室，证书所属人员与台账记录的签字人一致。"
    )
    return _check("signatures", LABEL_SIGNATURES, problems, passed)


# ---------------------------------------------------------------- 2. the revision chain

_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")


def revision_ending(pdf: bytes, sha256: str) -> bytes | None:
    """The prefix of `pdf` that ends at an ``%%EOF`` marker (with its end-of-line, if any)
    and hashes to `sha256`: an earlier revision of an incrementally updated file."""
    for marker in _EOF.finditer(pdf):
        for end in {marker.start() + 5, marker.end()}:
            if signing.sha256_hex(pdf[:end]) == sha256:
                return pdf[:end]
    return None


def _link_problems(rendered: str, ledger: Sequence[SignedStep]) -> list[str]:
    problems, previous = [], rendered
    for i, step in enumerate(ledger):
        if step.before != previous:
            problems.append(
                f"台账中{_who(i)}签字前的哈希 {short(step.before)} 不是上一版本的哈希 {short(previous)}"
            )
        previous = step.after
    return problems


def _revision_problems(
    sigs: Signatures, ledger: Sequence[SignedStep], rows: Sequence[SignedStep]
) -> list[str]:
    problems = []
    for i, step in enumerate(ledger):
        found = sigs.checks[i].revision_sha256 if i < len(sigs.checks) else None
        if found != step.after:
            problems.append(
                f"文件中{_who(i)}所在版本的哈希 {short(found)} 与台账记录的签字后哈希 "
                f"{short(step.after)} 不符"
            )
        row = rows[i] if i < len(rows) else None
        if row is None or (row.before, row.after) != (step.before, step.after):
            problems.append(f"签字记录表第 {i + 1} 行的哈希与台账不符")
    return problems


def check_chain(pdf: bytes, sigs: Signatures, tale: Story, rows: Sequence[SignedStep]) -> Check:
    """Check 2: unsigned → each signature → the final file, hash by hash."""
    rendered = _str(payload_of(tale.rendered).get(PDF_DIGEST))
    if rendered is None:
        return _check("chain", LABEL_CHAIN, ["台账中找不到 handover.rendered 记录"], "")
    ledger = tale.steps
    problems = []
    if revision_ending(pdf, rendered) is None:
        problems.append(
            f"文件中找不到哈希为 {short(rendered)}（台账记录的未签字交接书）的早期版本："
            "未签字文件不是最终文件的前缀"
        )
    problems += _link_problems(rendered, ledger)
    problems += _revision_problems(sigs, ledger, rows)
    final = signing.sha256_hex(pdf)
    last = ledger[-1].after if ledger else rendered
    if final != last:
        problems.append(
            f"最终文件的哈希 {short(final)} 与台账中最后一次签字后的哈希 {short(last)} 不符"
        )
    passed = (
        f"未签字版本（{short(rendered)}…）及其后 {len(ledger)} 次签字后的版本都是最终文件"
        f"（{short(final)}…）的前缀，哈希与台账逐一相符。"
    )
    return _check("chain", LABEL_CHAIN, problems, passed)


# ---------------------------------------------------------------- 3. ledger proofs


@dataclass(frozen=True, slots=True)
class EntryProof:
    """An entry's inclusion proof: against the checkpoint of `size`, or None when no
    signed checkpoint covers it yet; `problem` says why it failed."""

    seq: int
    action: str
    size: int | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Anchoring:
    """The checkpoints the proofs are made against, and what is wrong with them."""

    printed_size: int | None
    reference_size: int | None
    reference_saved: bool
    problems: list[str]


def _proof_problems(proofs: Sequence[EntryProof]) -> list[str]:
    return [f"第 {p.seq} 条记录（{p.action}）：{p.problem}" for p in proofs if p.problem]


def check_ledger(proofs: Sequence[EntryProof], anchoring: Anchoring, snapshot_seq: int) -> Check:
    """Check 3. The dossier's snapshot must be in the checkpoint printed on the PDF."""
    problems = list(anchoring.problems)
    snap = next((p for p in proofs if p.seq == snapshot_seq), None)
    if snap is None or snap.size is None or snap.size != anchoring.printed_size:
        problems.append("交接清单快照记录未能对 PDF 所印的检查点给出包含证明")
    problems += _proof_problems(proofs)
    if problems:
        return _check("ledger", LABEL_LEDGER, problems, "")
    waiting = [p.seq for p in proofs if p.size is None]
    reference = "您保存的检查点" if anchoring.reference_saved else "最新检查点"
    detail = (
        f"{len(proofs) - len(waiting)} 条交接记录均有有效的包含证明（清单快照对 PDF 所印的大小为 "
        f"{anchoring.printed_size} 的检查点，其余对{reference}，大小 {anchoring.reference_size}）；"
        f"两个检查点之间的日志一致，未被改写。"
    )
    if waiting:
        detail += (
            f"第 {_ids(waiting)} 条记录尚未被已签名检查点覆盖（检查点任务定期运行），"
            "请稍后再验证一次。"
        )
    return Check("ledger", LABEL_LEDGER, True, detail, pending=bool(waiting))


# ---------------------------------------------------------------- 4. the cases


@dataclass(frozen=True, slots=True)
class CaseSets:
    listed: list[int] | None  # the dossier attachment's cases
    replayed: set[int]  # open cases the tenure owned just before the archive (ledger)
    moved_in_ledger: set[int]  # renounced by the archive (ledger)
    archived: list[int] | None  # `handover.archived`'s cases
    moved_from_rows: set[int]  # ownership rows of the tenure renounced with the archive
    moved_to_rows: set[int]  # ownership rows of the receiver assumed with the archive
    found: bool = True  # the ledger has the handover's opening and archive to replay to


def _differ(what: str, found: Collection[int], listed: set[int]) -> list[str]:
    missing, extra = listed - set(found), set(found) - listed
    parts = [f"缺少清单所列的事项 {_ids(missing)}"] if missing else []
    parts += [f"多出清单未列的事项 {_ids(extra)}"] if extra else []
    return [f"{what}与清单不同：{'，'.join(parts)}"] if parts else []


def _sets_problems(sets: CaseSets, listed: set[int]) -> list[str]:
    return [
        *_differ("按台账回放得出的签字时包案事项", sets.replayed, listed),
        *_differ("台账中归档时移交的事项", sets.moved_in_ledger, listed),
        *_differ("归档记录（handover.archived）所列事项", sets.archived or [], listed),
        *_differ("包案记录表中随归档移出的事项", sets.moved_from_rows, listed),
        *_differ("包案记录表中随归档移入接收方的事项", sets.moved_to_rows, listed),
    ]


def check_cases(sets: CaseSets, proofs: Sequence[EntryProof]) -> Check:
    """Check 4: the dossier lists exactly what the tenure held at signing; `proofs` are
    those of the entries replayed."""
    if not sets.found:
        return _check("cases", LABEL_CASES, ["台账中找不到该交接的发起或归档记录，无从回放"], "")
    if sets.listed is None:
        return _check("cases", LABEL_CASES, ["无法读取交接清单，无从比对所列事项"], "")
    listed = set(sets.listed)
    problems = [f"据以回放的{p}" for p in _proof_problems(proofs)]
    problems += _sets_problems(sets, listed)
    if problems:
        return _check("cases", LABEL_CASES, problems, "")
    waiting = [p.seq for p in proofs if p.size is None]
    detail = (
        f"清单所列 {len(listed)} 件事项（编号 {_ids(listed)}）与按台账 {len(proofs)} 条"
        "包案和状态记录回放得出的签字时包案事项一致，也与归档记录和包案记录表中移交的事项一致。"
    )
    if waiting:
        detail += f"其中第 {_ids(waiting)} 条记录尚未被已签名检查点覆盖，请稍后再验证一次。"
    return Check("cases", LABEL_CASES, True, detail, pending=bool(waiting))


# ---------------------------------------------------------------- 5. the dossier


def listed_cases(attached: bytes | None) -> list[int] | None:
    """The case ids of a dossier's JSON, or None when it does not decode."""
    if attached is None:
        return None
    try:
        return d.load(attached).case_ids
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def parties(attached: bytes | None) -> tuple[int, int] | None:
    try:
        found = d.load(attached) if attached is not None else None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return (found.departing.person_id, found.receiving.person_id) if found else None


def _attachment_problems(
    attached: bytes | None, unsigned_attached: bytes | None, digest: str
) -> list[str]:
    if attached is None:
        return ["PDF 中没有交接清单附件 dossier.json"]
    problems = []
    found = signing.sha256_hex(attached)
    if found != digest:
        problems.append(
            f"附件 dossier.json 的哈希 {short(found)} 与台账记录的 {short(digest)} 不符"
        )
    if unsigned_attached is not None and unsigned_attached != attached:
        problems.append("签字后的文件中的附件与未签字版本中的不同（附件在签字后被替换）")
    return problems


def check_dossier(
    attached: bytes | None,
    unsigned_attached: bytes | None,
    tale: Story,
    stored: bytes | None,
) -> Check:
    """Check 5. `stored`: the dossier bytes the server keeps (a table copy, also compared)."""
    snap = payload_of(tale.snapshotted)
    digest = _str(snap.get(DOSSIER_DIGEST))
    if digest is None:
        return _check("dossier", LABEL_DOSSIER, ["台账中找不到交接清单快照记录"], "")
    problems = _attachment_problems(attached, unsigned_attached, digest)
    if _str(payload_of(tale.rendered).get(DOSSIER_DIGEST)) != digest:
        problems.append("生成交接书的台账记录所载清单哈希与清单快照记录不符")
    listed = listed_cases(attached)
    if attached is not None and listed != snap.get("cases"):
        problems.append("附件所列事项与台账清单快照记录的事项编号不符")
    if stored is not None and signing.sha256_hex(stored) != digest:
        problems.append("系统保存的交接清单与台账记录的哈希不符（数据库中的清单被改动）")
    passed = (
        f"PDF 附件 dossier.json 的 SHA-256 {short(digest)}… 与台账记录一致，所列事项编号也一致。"
    )
    return _check("dossier", LABEL_DOSSIER, problems, passed)
