from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.core import keys


def test_init_creates_every_key_private_and_refuses_to_overwrite(tmp_path: Path) -> None:
    created, kept = keys.init_keys(tmp_path)
    assert set(created) == {s.name for s in keys.KEY_SPECS} and kept == []
    session = (tmp_path / "session.key").read_bytes()
    assert (tmp_path / "session.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(keys.KeysExistError):
        keys.init_keys(tmp_path)
    assert (tmp_path / "session.key").read_bytes() == session


def test_init_adds_only_what_is_missing(tmp_path: Path) -> None:
    keys.init_keys(tmp_path)
    data = (tmp_path / "data.key").read_bytes()
    (tmp_path / "session.key").unlink()
    created, kept = keys.init_keys(tmp_path)
    assert created == ["session"] and kept == ["data", "ledger", "handover-ca"]
    assert (tmp_path / "data.key").read_bytes() == data


def test_an_older_deployment_gains_the_handover_ca_without_touching_other_keys(
    tmp_path: Path,
) -> None:
    keys.init_keys(tmp_path)
    (tmp_path / "handover-ca.key").unlink()
    (tmp_path / "handover-ca.crt").unlink()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert keys.missing_keys(tmp_path) == ["handover-ca"]
    created, kept = keys.init_keys(tmp_path)
    assert created == ["handover-ca"] and kept == ["session", "data", "ledger"]
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert (tmp_path / "handover-ca.key").stat().st_mode & 0o777 == 0o600
    assert keys.handover_ca_certificate_pem(tmp_path).startswith(b"-----BEGIN CERTIFICATE-----")


def test_a_lost_ca_certificate_is_remade_from_the_kept_ca_key(tmp_path: Path) -> None:
    keys.init_keys(tmp_path)
    ca_key = (tmp_path / "handover-ca.key").read_bytes()
    old = keys.KeyRing(tmp_path).handover_ca().certificate
    (tmp_path / "handover-ca.crt").unlink()
    assert keys.missing_keys(tmp_path) == ["handover-ca"]
    assert keys.init_keys(tmp_path)[0] == ["handover-ca"]
    assert (tmp_path / "handover-ca.key").read_bytes() == ca_key
    new = keys.KeyRing(tmp_path).handover_ca().certificate
    assert new.subject == old.subject and new.public_key() == old.public_key()


def test_the_handover_ca_is_not_rotated_by_command(tmp_path: Path) -> None:
    keys.init_keys(tmp_path)
    with pytest.raises(ValueError, match="不能直接轮换"):
        keys.rotate_key(tmp_path, "handover-ca", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))


def test_the_key_ring_refuses_to_load_without_every_key(tmp_path: Path) -> None:
    with pytest.raises(keys.MissingKeysError, match="jiefang keys init"):
        keys.KeyRing(tmp_path)


def test_rotation_retires_the_old_key_and_keeps_it(tmp_path: Path) -> None:
    keys.init_keys(tmp_path)
    old = (tmp_path / "session.key").read_bytes()
    retired = keys.rotate_key(tmp_path, "session", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    assert retired.read_bytes() == old
    assert (tmp_path / "session.key").read_bytes() != old
    with pytest.raises(ValueError, match="不能直接轮换"):
        keys.rotate_key(tmp_path, "data", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))


def test_derived_sub_keys_differ_by_purpose(tmp_path: Path) -> None:
    keys.init_keys(tmp_path)
    ring = keys.KeyRing(tmp_path)
    assert ring.derive("session", "cookie") != ring.derive("session", "csrf")
    assert len(ring.derive("session", "cookie")) == 32
