"""Signed notes (c2sp.org/signed-note) with Ed25519 keys, and transparency-log
checkpoints (c2sp.org/tlog-checkpoint) carried in them.

Key strings follow golang.org/x/mod/sumdb/note, so keys and notes interoperate
with Go's ``note`` package and the tools built on it:

* verifier key: ``<name>+<key id, 8 lowercase hex digits>+<base64(0x01 || public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``
* key id:       first 4 bytes, big-endian, of SHA-256(name || "\\n" || 0x01 || public key)

A signed note is its text (ending in a newline), a blank line, then one or more
signature lines ``— <name> <base64(key id || signature)>``.

This module is pure: the standard library and ``cryptography`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "Signer",
    "Verifier",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "sign_checkpoint",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
"""Notes with more signature lines than this are refused as malformed (as in Go)."""

_SIG_PREFIX = "\u2014 "  # EM DASH, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than "\n"
_MAX_TREE_SIZE = 2**64 - 1
_KEY_SIZE = 32
_SIG_SIZE = 64
_HASH_SIZE = 32


class NoteError(ValueError):
    """A key string, note or checkpoint is malformed or does not verify."""


# --- small helpers ---------------------------------------------------------------


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() or ch < " " for ch in name)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _valid_name(name):
        raise NoteError(f"密钥名称无效：{name!r}（不能为空，不能含空白字符、控制字符或“+”）")


def _key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(value: str, what: str) -> bytes:
    """Strict standard base64: only canonical, padded encodings are accepted."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what}不是有效的 base64 编码") from exc
    if _b64encode(raw) != value:
        raise NoteError(f"{what}不是规范的 base64 编码")
    return raw


def _strip_algorithm(raw: bytes, what: str) -> bytes:
    if not raw:
        raise NoteError(f"{what}为空")
    if raw[0] != ALG_ED25519:
        raise NoteError(f"{what}的签名算法不受支持（算法字节 0x{raw[0]:02x}，只支持 Ed25519 0x01）")
    if len(raw) != 1 + _KEY_SIZE:
        raise NoteError(f"{what}长度错误：Ed25519 密钥应为 {_KEY_SIZE} 字节")
    return raw[1:]


def _parse_key_string(s: str, what: str) -> tuple[str, int, bytes]:
    """Split ``name+hexid+base64`` and decode its parts (the base64 may contain "+")."""
    name, sep1, rest = s.partition("+")
    id_hex, sep2, key64 = rest.partition("+")
    if not (sep1 and sep2):
        raise NoteError(f"{what}格式错误：应为“名称+密钥ID+base64密钥”")
    _check_name(name)
    if not _KEY_ID_RE.fullmatch(id_hex):
        raise NoteError(f"{what}的密钥 ID 应为 8 位小写十六进制数字：{id_hex!r}")
    raw = _b64decode(key64, what)
    return name, int(id_hex, 16), _strip_algorithm(raw, what)


def _check_key_id(key_id: int, expected: int, name: str) -> None:
    if isinstance(key_id, bool) or not isinstance(key_id, int) or key_id != expected:
        raise NoteError(f"密钥 {name} 的密钥 ID 与名称和公钥不符（应为 {expected:08x}）")


def _check_bytes(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise NoteError(f"{what}应为 {size} 字节")


def _encode_text(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what}不是有效的 UTF-8 文本") from exc


def _check_note_text(text: str) -> bytes:
    """Validate note text for signing; return its UTF-8 bytes."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("便笺正文必须以换行符结尾")
    if _CONTROL_RE.search(text):
        raise NoteError("便笺不能含有换行符以外的控制字符（包括回车符）")
    return _encode_text(text, "便笺正文")


# --- keys ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_bytes(self.public_key, _KEY_SIZE, "Ed25519 公钥")
        _check_key_id(self.key_id, _key_id(self.name, self.public_key), self.name)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        _check_name(name)
        _check_bytes(public_key, _KEY_SIZE, "Ed25519 公钥")
        return cls(name=name, key_id=_key_id(name, public_key), public_key=public_key)

    @classmethod
    def from_string(cls, s: str) -> Verifier:
        """Parse ``<name>+<hex id>+<base64(0x01 || public key)>``."""
        name, key_id, public_key = _parse_key_string(s, "验证公钥")
        return cls(name=name, key_id=key_id, public_key=public_key)

    def to_string(self) -> str:
        encoded = _b64encode(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify_signature(self, text: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (64 bytes, no key id prefix) is this key's signature of ``text``."""
        if len(sig) != _SIG_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, text)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key (``private_key`` is the 32-byte RFC 8032 seed)."""

    name: str
    key_id: int
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_bytes(self.private_key, _KEY_SIZE, "Ed25519 私钥")
        _check_key_id(self.key_id, _key_id(self.name, self._public_key()), self.name)

    def _public_key(self) -> bytes:
        key = Ed25519PrivateKey.from_private_bytes(self.private_key)
        return key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        return cls(name=name, key_id=_key_id(name, public_key), private_key=seed)

    @classmethod
    def from_string(cls, s: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``."""
        if not isinstance(s, str) or not s.startswith(_PRIVATE_PREFIX):
            raise NoteError("签名私钥格式错误：应以“PRIVATE+KEY+”开头")
        name, key_id, seed = _parse_key_string(s[len(_PRIVATE_PREFIX) :], "签名私钥")
        return cls(name=name, key_id=key_id, private_key=seed)

    def to_string(self) -> str:
        encoded = _b64encode(bytes([ALG_ED25519]) + self.private_key)
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id:08x}+{encoded}"

    def verifier(self) -> Verifier:
        return Verifier(name=self.name, key_id=self.key_id, public_key=self._public_key())

    def signature_line(self, text: str) -> str:
        """The line ``— <name> <base64(key id || signature)>\\n`` for ``text``."""
        message = _check_note_text(text)
        sig = Ed25519PrivateKey.from_private_bytes(self.private_key).sign(message)
        payload = self.key_id.to_bytes(4, "big") + sig
        return f"{_SIG_PREFIX}{self.name} {_b64encode(payload)}\n"

    def sign(self, text: str) -> str:
        """Return the signed note: ``text``, a blank line, and this key's signature line."""
        return f"{text}\n{self.signature_line(text)}"


# --- notes -----------------------------------------------------------------------


def _as_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("便笺不是有效的 UTF-8 文本") from exc
    _encode_text(note, "便笺")  # lone surrogates cannot be UTF-8
    return note


def _split_note(note: str) -> tuple[str, list[str]]:
    """Split a note into its text and signature lines (without their newlines)."""
    if _CONTROL_RE.search(note):
        raise NoteError("便笺不能含有换行符以外的控制字符（包括回车符）")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("便笺格式错误：正文与签名之间缺少空行")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("便笺格式错误：没有签名行")
    if not block.endswith("\n"):
        raise NoteError("便笺格式错误：最后一行签名必须以换行符结尾")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"便笺签名过多（{len(lines)} 个，上限 {MAX_SIGNATURES} 个）")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"签名行格式错误：应以“— ”开头：{line[:40]!r}")
    name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep or not _valid_name(name):
        raise NoteError(f"签名行格式错误：密钥名称无效：{line[:40]!r}")
    raw = _b64decode(encoded, f"签名行（{name}）的签名")
    if len(raw) < 5:
        raise NoteError(f"签名行（{name}）的签名太短")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


def _index_verifiers(verifiers: Sequence[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if slot in known and known[slot] != verifier:
            raise NoteError(
                f"验证公钥有歧义：{verifier.name}+{verifier.key_id:08x} 对应多个不同公钥"
            )
        known[slot] = verifier
    return known


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> tuple[str, list[Verifier]]:
    """Parse a signed note and check its signatures against ``verifiers``.

    Returns the note text (with its final newline) and the verifiers whose
    signatures verified, in order of appearance. Signature lines from unknown
    keys (name and key id not both matching a verifier) are ignored; a signature
    from a known key that fails to verify makes the whole note invalid.
    """
    text, lines = _split_note(_as_text(note))
    known = _index_verifiers(verifiers)
    message = text.encode("utf-8")
    verified: list[Verifier] = []
    unknown: list[str] = []
    for line in lines:
        name, key_id, sig = _parse_signature_line(line)
        verifier = known.get((name, key_id))
        if verifier is None:
            unknown.append(f"{name}+{key_id:08x}")
        elif not verifier.verify_signature(message, sig):
            raise NoteError(f"签名无效：密钥 {name}+{key_id:08x} 的签名与便笺正文不符")
        elif verifier not in verified:
            verified.append(verifier)
    if not verified:
        raise NoteError(f"便笺没有来自已知密钥的签名（未知密钥：{'、'.join(unknown)}）")
    return text, verified


# --- checkpoints -----------------------------------------------------------------


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise NoteError(f"检查点{what}不能为空")
    if "\n" in value or _CONTROL_RE.search(value):
        raise NoteError(f"检查点{what}不能含有换行符或控制字符")


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise NoteError("检查点树大小必须是整数")
    if not 0 <= size <= _MAX_TREE_SIZE:
        raise NoteError(f"检查点树大小超出范围（0 到 {_MAX_TREE_SIZE}）")


def _parse_size(line: str) -> int:
    if not _SIZE_RE.fullmatch(line):
        raise NoteError(f"检查点第 2 行应为不带前导零的非负十进制整数：{line[:40]!r}")
    if len(line) > len(str(_MAX_TREE_SIZE)):
        raise NoteError("检查点树大小超出范围")
    return int(line)


@dataclass(frozen=True)
class Checkpoint:
    """A transparency-log checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        _check_line(self.origin, "来源（origin）")
        _check_size(self.size)
        _check_bytes(self.root, _HASH_SIZE, "检查点根哈希")
        for extension in self.extensions:
            _check_line(extension, "扩展行")

    def body(self) -> str:
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (a note text); raise NoteError when malformed."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("检查点正文必须以换行符结尾")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("检查点至少要有 3 行：来源、树大小、根哈希")
    origin, size_line, root_line, *extensions = lines
    size = _parse_size(size_line)
    root = _b64decode(root_line, "检查点根哈希")
    if len(root) != _HASH_SIZE:
        raise NoteError(f"检查点根哈希应为 {_HASH_SIZE} 字节，实为 {len(root)} 字节")
    return Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))


def sign_checkpoint(signer: Signer, checkpoint: Checkpoint) -> str:
    """The complete signed note for ``checkpoint``."""
    return signer.sign(checkpoint.body())


def open_checkpoint(
    note: str | bytes, verifiers: Sequence[Verifier], origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; check its origin when given."""
    text, _ = open_note(note, verifiers)
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"检查点来源不符：应为 {origin!r}，实为 {checkpoint.origin!r}")
    return checkpoint
