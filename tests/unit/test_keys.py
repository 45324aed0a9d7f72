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
    assert created == ["session"] and kept == ["data", "ledger"]
    assert (tmp_path / "data.key").read_bytes() == data


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
