"""Keys live in files outside the database, created once by `jiefang keys init`.

Capabilities register the keys they need in `KEY_SPECS`; `init_keys` creates the missing
ones and never overwrites a key that exists. A key may come with a public companion file (the
handover CA's certificate), made from the private key and published. A rotated key is moved to
`retired/`, never deleted, so whatever it signed can still be checked.
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.certificates import CertificateAuthority


@dataclass(frozen=True, slots=True)
class PublicFile:
    filename: str
    make: Callable[[bytes, str, dt.datetime], bytes]  # given the private key, deployment, now


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    filename: str
    purpose: str
    make: Callable[[str], bytes]  # given the deployment name
    rotatable: bool = False
    public: PublicFile | None = None

    def files(self) -> list[str]:
        return [self.filename] + ([self.public.filename] if self.public else [])


def _random_key(_deployment: str) -> bytes:
    return base64.b64encode(secrets.token_bytes(32)) + b"\n"


def _ledger_signer(deployment: str) -> bytes:
    from app.ledger.note import Signer

    return (Signer.generate(f"{deployment}/ledger").to_string() + "\n").encode()


def _handover_ca_key(_deployment: str) -> bytes:
    from app.core.certificates import make_ca_key

    return make_ca_key()


def _handover_ca_certificate(key_pem: bytes, deployment: str, now: dt.datetime) -> bytes:
    from app.core.certificates import make_ca_certificate

    return make_ca_certificate(key_pem, deployment, now)


HANDOVER_CA = "handover-ca"
HANDOVER_CA_CERTIFICATE = "handover-ca.crt"

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
    KeySpec(
        HANDOVER_CA,
        "handover-ca.key",
        "离任交接书签章的证书颁发机构（ECDSA P-256）；CA 证书 handover-ca.crt 对外公布",
        _handover_ca_key,
        public=PublicFile(HANDOVER_CA_CERTIFICATE, _handover_ca_certificate),
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
    return [s.name for s in KEY_SPECS if not all((keys_dir / f).is_file() for f in s.files())]


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _write_public(
    keys_dir: Path, public: PublicFile, private: bytes, deployment: str, now: dt.datetime
) -> None:
    """Write a public companion; one left over from a lost private key is retired, not lost."""
    path = keys_dir / public.filename
    if path.exists():
        path.rename(_retired_path(keys_dir, public.filename, now))
    path.write_bytes(public.make(private, deployment, now))
    path.chmod(0o644)


def _retired_path(keys_dir: Path, filename: str, now: dt.datetime) -> Path:
    retired_dir = keys_dir / "retired"
    retired_dir.mkdir(exist_ok=True, mode=0o700)
    return retired_dir / f"{now:%Y%m%dT%H%M%SZ}-{filename}"


def _init_key(keys_dir: Path, key_spec: KeySpec, deployment: str, now: dt.datetime) -> bool:
    """Create what is missing of one key; False when it was complete."""
    path = keys_dir / key_spec.filename
    public = key_spec.public
    if path.exists() and (public is None or (keys_dir / public.filename).exists()):
        return False
    if not path.exists():
        _write_private(path, key_spec.make(deployment))
    if public is not None:
        _write_public(keys_dir, public, path.read_bytes(), deployment, now)
    return True


def init_keys(
    keys_dir: Path, deployment: str = "jiefang", now: dt.datetime | None = None
) -> tuple[list[str], list[str]]:
    """Create every missing key; returns (created, kept). Raises when nothing was missing."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    at = now or dt.datetime.now(dt.UTC)
    created: list[str] = []
    kept: list[str] = []
    for key_spec in KEY_SPECS:
        if _init_key(keys_dir, key_spec, deployment, at):
            created.append(key_spec.name)
        else:
            kept.append(key_spec.name)
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
    retired = _retired_path(keys_dir, key_spec.filename, now)
    current.rename(retired)
    _write_private(current, key_spec.make(deployment))
    if key_spec.public is not None:
        _write_public(keys_dir, key_spec.public, current.read_bytes(), deployment, now)
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

    def public(self, name: str) -> bytes:
        """The public companion file of a key (the handover CA certificate)."""
        public = spec(name).public
        if public is None:
            raise KeyError(name)
        return (self.keys_dir / public.filename).read_bytes()

    def handover_ca(self) -> CertificateAuthority:
        """The CA that issues handover signers' certificates."""
        from app.core.certificates import CertificateAuthority

        return CertificateAuthority.from_pem(self.raw(HANDOVER_CA), self.public(HANDOVER_CA))

    def derive(self, name: str, purpose: str, length: int = 32) -> bytes:
        """A sub-key for one purpose, so one file can safely serve several uses."""
        digest = hmac.new(self.secret(name), purpose.encode(), hashlib.sha256).digest()
        return digest[:length]


def handover_ca_certificate_pem(keys_dir: Path) -> bytes:
    """The handover CA certificate (PEM), published so reviewers can validate signed PDFs."""
    return (keys_dir / HANDOVER_CA_CERTIFICATE).read_bytes()
