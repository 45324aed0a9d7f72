"""Keys live in files outside the database, created once by `jiefang keys init`.

Capabilities register the keys they need in `KEY_SPECS`; `init_keys` creates the missing
ones and never overwrites a key that exists. A rotated key is moved to `retired/`, never
deleted, so whatever it signed can still be checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    filename: str
    purpose: str
    make: Callable[[str], bytes]  # given the deployment name
    rotatable: bool = False


def _random_key(_deployment: str) -> bytes:
    return base64.b64encode(secrets.token_bytes(32)) + b"\n"


def _ledger_signer(deployment: str) -> bytes:
    from app.ledger.note import Signer

    return (Signer.generate(f"{deployment}/ledger").to_string() + "\n").encode()


KEY_SPECS: list[KeySpec] = [
    KeySpec(
        "session",
        "session.key",
        "登录会话 Cookie 加密、CSRF 令牌与 API 访问令牌签名",
        _random_key,
        rotatable=True,
    ),
    KeySpec("data", "data.key", "身份证件号码等个人信息的加密与匹配哈希", _random_key),
    KeySpec(
        "ledger",
        "ledger.key",
        "台账检查点签名（Ed25519，C2SP signed note）；旧验证公钥在轮换后继续公布",
        _ledger_signer,
        rotatable=True,
    ),
]


class MissingKeysError(RuntimeError):
    def __init__(self, keys_dir: Path, missing: list[str]) -> None:
        names = "、".join(missing)
        super().__init__(f"缺少密钥：{names}（目录 {keys_dir}）。请先运行 `jiefang keys init`。")
        self.missing = missing


class KeysExistError(RuntimeError):
    pass


def spec(name: str) -> KeySpec:
    for key_spec in KEY_SPECS:
        if key_spec.name == name:
            return key_spec
    raise KeyError(name)


def missing_keys(keys_dir: Path) -> list[str]:
    return [s.name for s in KEY_SPECS if not (keys_dir / s.filename).is_file()]


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def init_keys(keys_dir: Path, deployment: str = "jiefang") -> tuple[list[str], list[str]]:
    """Create every missing key; returns (created, kept). Raises when nothing was missing."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    created: list[str] = []
    kept: list[str] = []
    for key_spec in KEY_SPECS:
        path = keys_dir / key_spec.filename
        if path.exists():
            kept.append(key_spec.name)
            continue
        _write_private(path, key_spec.make(deployment))
        created.append(key_spec.name)
    if not created:
        raise KeysExistError(
            f"全部密钥已存在于 {keys_dir}，拒绝覆盖。轮换请用 `jiefang keys rotate`。"
        )
    return created, kept


def rotate_key(keys_dir: Path, name: str, now: dt.datetime, deployment: str = "jiefang") -> Path:
    """Retire the current key file (kept, never deleted) and create a new one."""
    key_spec = spec(name)
    if not key_spec.rotatable:
        raise ValueError(f"密钥 {name} 不能直接轮换：它保护着已存储的数据，需要随数据一并迁移。")
    current = keys_dir / key_spec.filename
    retired_dir = keys_dir / "retired"
    retired_dir.mkdir(exist_ok=True, mode=0o700)
    retired = retired_dir / f"{now:%Y%m%dT%H%M%SZ}-{key_spec.filename}"
    current.rename(retired)
    _write_private(current, key_spec.make(deployment))
    return retired


class KeyRing:
    """The loaded keys of one process; `serve` refuses to start without them."""

    def __init__(self, keys_dir: Path) -> None:
        missing = missing_keys(keys_dir)
        if missing:
            raise MissingKeysError(keys_dir, missing)
        self.keys_dir = keys_dir
        self._raw = {s.name: (keys_dir / s.filename).read_bytes() for s in KEY_SPECS}

    def raw(self, name: str) -> bytes:
        return self._raw[name]

    def secret(self, name: str) -> bytes:
        """The 32 secret bytes of a random key."""
        return base64.b64decode(self._raw[name].strip())

    def derive(self, name: str, purpose: str, length: int = 32) -> bytes:
        """A sub-key for one purpose, so one file can safely serve several uses."""
        digest = hmac.new(self.secret(name), purpose.encode(), hashlib.sha256).digest()
        return digest[:length]
