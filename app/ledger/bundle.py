"""Offline proof bundles: one ledger entry, its inclusion proof and a signed checkpoint.

A bundle (``jiefang-ledger-proof/1``, JSON in UTF-8) lets a reviewer check, with nothing
but the bundle and the ledger's verifier key, that one entry is in the log described by
a signed checkpoint. ``docs/ledger-bundle.md`` gives the schema and the verification
steps; ``check_bundle`` performs them in that order and reports each one in plain Chinese.

This module is pure: the standard library, ``rfc8785``, ``merkle`` and ``note`` only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from app.ledger import merkle, note

__all__ = [
    "FORMAT",
    "BundleVerdict",
    "Check",
    "check_bundle",
    "dumps",
    "make_bundle",
    "verifiers_from_text",
]

FORMAT = "jiefang-ledger-proof/1"

LABEL_FORMAT = "证明包格式"
LABEL_FIELDS = "证明包字段"
LABEL_SIGNATURE = "检查点签名"
LABEL_ORIGIN = "台账名称"
LABEL_TREE_SIZE = "树大小"
LABEL_LEAF = "叶子字节"
LABEL_LEAF_HASH = "叶子哈希"
LABEL_ENTRY = "记录内容与叶子字节一致"
LABEL_SEQ = "序号"
LABEL_LOG = "记录所属台账"
LABEL_INCLUSION = "包含证明"

_UNSIGNED = "检查点签名未通过验证"
_UNDECODED = "叶子字节无法解码"
_HEX_RE = re.compile(r"[0-9a-f]{64}")

# name -> (kind, what the field must be, in Chinese)
_FIELDS: dict[str, tuple[str, str]] = {
    "origin": ("str", "非空字符串"),
    "index": ("count", "非负整数"),
    "tree_size": ("count", "非负整数"),
    "entry": ("object", "JSON 对象"),
    "leaf": ("str", "非空字符串（base64）"),
    "leaf_hash": ("str", "非空字符串（十六进制）"),
    "inclusion_path": ("str_list", "字符串（十六进制）数组"),
    "checkpoint": ("str", "非空字符串（已签名检查点）"),
}


# --------------------------------------------------------------------------- making


def make_bundle(
    *,
    origin: str,
    index: int,
    tree_size: int,
    entry: dict[str, Any],
    leaf: bytes,
    inclusion_path: list[bytes],
    checkpoint_note: str,
) -> dict[str, Any]:
    """The bundle for one entry; computes ``leaf_hash`` but verifies nothing."""
    return {
        "format": FORMAT,
        "origin": origin,
        "index": index,
        "tree_size": tree_size,
        "entry": entry,
        "leaf": base64.b64encode(leaf).decode("ascii"),
        "leaf_hash": merkle.leaf_hash(leaf).hex(),
        "inclusion_path": [node.hex() for node in inclusion_path],
        "checkpoint": checkpoint_note,
    }


def dumps(bundle: dict[str, Any]) -> bytes:
    """Pretty, key-sorted UTF-8 JSON with a trailing newline."""
    text = json.dumps(bundle, ensure_ascii=False, sort_keys=True, indent=2)
    return (text + "\n").encode("utf-8")


def verifiers_from_text(text: str) -> list[note.Verifier]:
    """One verifier key string per non-empty line (current and retired keys alike).

    Raises NoteError, naming the line, when a line is not a verifier key.
    """
    verifiers: list[note.Verifier] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            verifiers.append(note.Verifier.from_string(stripped))
        except note.NoteError as exc:
            raise note.NoteError(f"第 {number} 行不是有效的验证公钥：{exc}") from exc
    return verifiers


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Check:
    """One line of a verdict: did this step pass, and why (in plain Chinese)."""

    ok: bool
    label: str
    detail: str


@dataclass(frozen=True)
class BundleVerdict:
    """The outcome of ``check_bundle``.

    ``entry`` is the bundle's entry object whenever it is one (what the bundle claims;
    trust it only when ``ok``); ``checkpoint`` is set only when its signature verified.
    """

    ok: bool
    checks: list[Check]
    entry: dict[str, Any] | None
    checkpoint: note.Checkpoint | None

    def summary(self) -> str:
        """One Chinese sentence: what is proven, or the first check that failed."""
        failures = [check for check in self.checks if not check.ok]
        if self.ok and self.checkpoint is not None and self.entry is not None:
            cp = self.checkpoint
            root = base64.b64encode(cp.root).decode("ascii")
            return (
                f"该证明有效：台账 {cp.origin} 序号为 {self.entry.get('seq')} 的记录包含在"
                f"大小为 {cp.size} 的已签名检查点中（根哈希 {root}）。"
            )
        if not failures:
            return "该证明无效：检查没有完成。"
        first, rest = failures[0], failures[1:]
        text = f"该证明无效：“{first.label}”未通过——{first.detail.rstrip('。')}。"
        if rest:
            labels = "、".join(f"“{check.label}”" for check in rest)
            text += f"另有 {len(rest)} 项检查未通过：{labels}。"
        return text


# --------------------------------------------------------------------------- parsing


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"JSON 中有重复的键 {key!r}")
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON 中不允许 {name}")


def _load(data: bytes | str | dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The bundle as a dict, or None and why not."""
    if isinstance(data, dict):
        return data, ""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            return None, "证明包不是有效的 UTF-8 文本。"
    if not isinstance(data, str):
        return None, f"证明包应为 JSON 文本，实为 {type(data).__name__}。"
    try:
        loaded = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        return None, f"证明包不是有效的 JSON：{exc}。"
    if not isinstance(loaded, dict):
        return None, "证明包的最外层应为 JSON 对象。"
    return loaded, ""


def _fits(kind: str, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str) and value != ""
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _decode_hex(value: str) -> bytes | None:
    return bytes.fromhex(value) if _HEX_RE.fullmatch(value) else None


def _decode_b64(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == value else None


def _describe(value: object) -> str:
    """A short JSON rendering of a value for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- checking


class _Run:
    """One verification: the bundle's valid fields and the checks made so far."""

    def __init__(self, bundle: dict[str, Any], verifiers: Sequence[note.Verifier]) -> None:
        self.bundle = bundle
        self.verifiers = verifiers
        self.fields: dict[str, Any] = {}
        self.checks: list[Check] = []
        self.checkpoint: note.Checkpoint | None = None
        self.leaf: bytes | None = None
        self.leaf_hash: bytes | None = None

    def record(self, ok: bool, label: str, detail: str) -> bool:
        self.checks.append(Check(ok=ok, label=label, detail=detail))
        return ok

    def skip(self, label: str, reason: str) -> None:
        self.record(False, label, f"无法检查：{reason}。")

    def missing(self, *names: str) -> str | None:
        """Why a check cannot run (a named field is absent or invalid), or None."""
        bad = [name for name in names if name not in self.fields]
        return f"字段 {'、'.join(bad)} 缺失或无效" if bad else None

    # -- steps, in order ------------------------------------------------------------

    def check_format(self) -> bool:
        value = self.bundle.get("format")
        if value == FORMAT:
            return self.record(True, LABEL_FORMAT, f"格式为 {FORMAT}。")
        if "format" not in self.bundle:
            return self.record(False, LABEL_FORMAT, "证明包缺少 format 字段。")
        detail = f"不认识的证明包格式 {_describe(value)}（只支持 {FORMAT}）。"
        return self.record(False, LABEL_FORMAT, detail)

    def check_fields(self) -> None:
        problems: list[str] = []
        for name, (kind, what) in _FIELDS.items():
            if name not in self.bundle:
                problems.append(f"缺少 {name}")
            elif not _fits(kind, self.bundle[name]):
                problems.append(f"{name} 应为{what}，实为 {_describe(self.bundle[name])}")
            else:
                self.fields[name] = self.bundle[name]
        if problems:
            self.record(False, LABEL_FIELDS, "；".join(problems) + "。")
        else:
            self.record(True, LABEL_FIELDS, "所有字段齐全，类型正确。")

    def check_signature(self) -> None:
        if reason := self.missing("checkpoint"):
            return self.skip(LABEL_SIGNATURE, reason)
        try:
            text, signers = note.open_note(self.fields["checkpoint"], self.verifiers)
            checkpoint = note.parse_checkpoint(text)
        except ValueError as exc:
            self.record(False, LABEL_SIGNATURE, f"检查点未通过验证：{exc}。")
            return
        self.checkpoint = checkpoint
        keys = "、".join(f"{v.name}+{v.key_id:08x}" for v in signers)
        self.record(True, LABEL_SIGNATURE, f"检查点签名有效（密钥 {keys}）。")

    def check_origin(self) -> None:
        if reason := self.missing("origin"):
            return self.skip(LABEL_ORIGIN, reason)
        if self.checkpoint is None:
            return self.skip(LABEL_ORIGIN, _UNSIGNED)
        origin, signed = self.fields["origin"], self.checkpoint.origin
        if origin == signed:
            self.record(True, LABEL_ORIGIN, f"检查点属于台账 {origin}。")
        else:
            detail = f"证明包写的台账是 {_describe(origin)}，检查点却属于 {_describe(signed)}。"
            self.record(False, LABEL_ORIGIN, detail)

    def check_tree_size(self) -> None:
        if reason := self.missing("tree_size"):
            return self.skip(LABEL_TREE_SIZE, reason)
        if self.checkpoint is None:
            return self.skip(LABEL_TREE_SIZE, _UNSIGNED)
        size, signed = self.fields["tree_size"], self.checkpoint.size
        if size == signed:
            self.record(True, LABEL_TREE_SIZE, f"树大小 {size} 与检查点一致。")
        else:
            detail = f"证明包写的树大小是 {size}，检查点中却是 {signed}。"
            self.record(False, LABEL_TREE_SIZE, detail)

    def check_leaf(self) -> None:
        if reason := self.missing("leaf"):
            return self.skip(LABEL_LEAF, reason)
        self.leaf = _decode_b64(self.fields["leaf"])
        if self.leaf is None:
            self.record(False, LABEL_LEAF, "leaf 不是规范的标准 base64 编码（带填充）。")
        else:
            self.record(True, LABEL_LEAF, f"叶子共 {len(self.leaf)} 字节。")

    def check_leaf_hash(self) -> None:
        if reason := self.missing("leaf_hash"):
            return self.skip(LABEL_LEAF_HASH, reason)
        self.leaf_hash = _decode_hex(self.fields["leaf_hash"])
        if self.leaf_hash is None:
            return self.record_bad_hex(LABEL_LEAF_HASH, "leaf_hash")
        if self.leaf is None:
            return self.skip(LABEL_LEAF_HASH, _UNDECODED)
        if merkle.leaf_hash(self.leaf) == self.leaf_hash:
            self.record(True, LABEL_LEAF_HASH, "SHA-256(0x00 ‖ 叶子) 与 leaf_hash 一致。")
        else:
            detail = "SHA-256(0x00 ‖ 叶子) 与 leaf_hash 不一致：叶子字节或叶子哈希被改动过。"
            self.record(False, LABEL_LEAF_HASH, detail)

    def record_bad_hex(self, label: str, what: str) -> None:
        self.record(False, label, f"{what} 应为 64 位小写十六进制数字（32 字节）。")

    def check_entry(self) -> None:
        if reason := self.missing("entry"):
            return self.skip(LABEL_ENTRY, reason)
        if self.leaf is None:
            return self.skip(LABEL_ENTRY, _UNDECODED)
        try:
            canonical = rfc8785.dumps(self.fields["entry"])
        except (ValueError, TypeError, RecursionError) as exc:
            self.record(False, LABEL_ENTRY, f"记录内容无法按 RFC 8785 规范编码：{exc}。")
            return
        if canonical == self.leaf:
            detail = "记录内容的 RFC 8785 规范编码与叶子字节完全一致，显示的就是被哈希的记录。"
            self.record(True, LABEL_ENTRY, detail)
        else:
            detail = "记录内容的 RFC 8785 规范编码与叶子字节不一致：显示的记录不是被哈希的那条。"
            self.record(False, LABEL_ENTRY, detail)

    def check_seq(self) -> None:
        if reason := self.missing("entry", "index"):
            return self.skip(LABEL_SEQ, reason)
        seq, index = self.fields["entry"].get("seq"), self.fields["index"]
        if _fits("count", seq) and seq == index:
            self.record(True, LABEL_SEQ, f"记录的序号 {index} 与 index 一致。")
        else:
            detail = f"记录的序号是 {_describe(seq)}，证明包的 index 却是 {index}。"
            self.record(False, LABEL_SEQ, detail)

    def check_log(self) -> None:
        if reason := self.missing("entry", "origin"):
            return self.skip(LABEL_LOG, reason)
        log, origin = self.fields["entry"].get("log"), self.fields["origin"]
        if log == origin:
            self.record(True, LABEL_LOG, f"记录属于台账 {origin}。")
        else:
            detail = f"记录所属台账是 {_describe(log)}，证明包写的却是 {_describe(origin)}。"
            self.record(False, LABEL_LOG, detail)

    def check_inclusion(self) -> None:
        if reason := self.missing("index", "tree_size", "leaf_hash", "inclusion_path"):
            return self.skip(LABEL_INCLUSION, reason)
        if self.checkpoint is None:
            return self.skip(LABEL_INCLUSION, _UNSIGNED)
        if self.leaf_hash is None:
            return self.skip(LABEL_INCLUSION, "leaf_hash 不是有效的十六进制哈希")
        path = [_decode_hex(node) for node in self.fields["inclusion_path"]]
        bad = [str(n) for n, node in enumerate(path, start=1) if node is None]
        if bad:
            return self.record_bad_hex(LABEL_INCLUSION, f"inclusion_path 第 {'、'.join(bad)} 项")
        nodes = [node for node in path if node is not None]
        self.record_inclusion(self.leaf_hash, nodes, self.checkpoint.root)

    def record_inclusion(self, leaf_hash: bytes, path: list[bytes], root: bytes) -> None:
        index, size = self.fields["index"], self.fields["tree_size"]
        if index >= size:
            detail = f"序号 {index} 不在大小为 {size} 的树中。"
            self.record(False, LABEL_INCLUSION, detail)
        elif merkle.verify_inclusion(index, size, leaf_hash, path, root):
            detail = f"由叶子哈希和 {len(path)} 个路径哈希算出的根哈希与检查点一致。"
            self.record(True, LABEL_INCLUSION, detail)
        else:
            detail = "由叶子哈希和路径算出的根哈希与检查点不一致：这条记录不在该检查点描述的台账中，或路径有误。"
            self.record(False, LABEL_INCLUSION, detail)


def check_bundle(
    data: bytes | str | dict[str, Any], verifiers: Sequence[note.Verifier]
) -> BundleVerdict:
    """Verify a proof bundle offline against the ledger's verifier keys.

    Never raises on a bad bundle: every problem is a failed Check. After a failure the
    remaining checks still run where they make sense, so every problem is reported.
    """
    bundle, why = _load(data)
    if bundle is None:
        return BundleVerdict(False, [Check(False, LABEL_FORMAT, why)], None, None)
    run = _Run(bundle, verifiers)
    if not run.check_format():
        return BundleVerdict(False, run.checks, None, None)
    run.check_fields()
    for step in (
        run.check_signature,
        run.check_origin,
        run.check_tree_size,
        run.check_leaf,
        run.check_leaf_hash,
        run.check_entry,
        run.check_seq,
        run.check_log,
        run.check_inclusion,
    ):
        step()
    return BundleVerdict(
        ok=all(check.ok for check in run.checks),
        checks=run.checks,
        entry=run.fields.get("entry"),
        checkpoint=run.checkpoint,
    )
