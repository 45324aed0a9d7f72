"""Key files are ledgered, and rotating the checkpoint key keeps old checkpoints verifiable."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.keys import rotate_key
from app.ledger import services
from app.ledger.checkpoints import make_checkpoint, record_keys, signer, verifiers
from app.ledger.models import LedgerEntry
from app.ledger.note import open_checkpoint
from app.ledger.verify import verify_ledger
from tests.integration.conftest import County


def own_keys(keys_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's keys, so rotating them here touches no other test."""
    copy = tmp_path / "keys"
    shutil.copytree(keys_dir, copy)
    return copy


async def key_actions(db: AsyncSession) -> list[tuple[str, str]]:
    rows = await db.scalars(
        select(LedgerEntry).where(LedgerEntry.subject_type == "key").order_by(LedgerEntry.seq)
    )
    return [(row.action, row.payload["name"]) for row in rows]


async def test_each_key_file_is_recorded_once_in_the_administration_ledger(
    factory: async_sessionmaker[AsyncSession], keys_dir: Path, tmp_path: Path, clock: FixedClock
) -> None:
    keys = own_keys(keys_dir, tmp_path)
    async with transaction(factory) as db:
        assert await record_keys(db, keys, clock.now()) == 4
    async with transaction(factory) as db:
        assert await record_keys(db, keys, clock.now()) == 0
        recorded = await key_actions(db)
        ledger_key = await db.scalar(
            select(LedgerEntry.payload)
            .where(LedgerEntry.action == "core.key.created")
            .where(LedgerEntry.payload["name"].as_string() == "ledger")
        )
    assert sorted(recorded) == [
        ("core.key.created", "data"),
        ("core.key.created", "handover-ca"),
        ("core.key.created", "ledger"),
        ("core.key.created", "session"),
    ]
    assert ledger_key is not None
    assert ledger_key["verifier"] == verifiers(keys)[0].to_string()


async def test_a_rotated_ledger_key_still_verifies_the_checkpoints_it_signed(
    factory: async_sessionmaker[AsyncSession],
    keys_dir: Path,
    tmp_path: Path,
    clock: FixedClock,
    county: County,
) -> None:
    keys = own_keys(keys_dir, tmp_path)
    async with transaction(factory) as db:
        ledger = await services.ledger_for_county(db, county.county)
        old = await make_checkpoint(db, ledger.id, signer(keys), clock.now())
        await record_keys(db, keys, clock.now())
    assert old is not None
    rotate_key(keys, "ledger", clock.now() + dt.timedelta(days=1))
    clock.advance(dt.timedelta(days=1))
    async with transaction(factory) as db:
        await record_keys(db, keys, clock.now())
        await services.append(
            db,
            county=county.county,
            actor={"kind": "system", "job": "tests"},
            action="org.person.created",
            subject=("person", 999),
            payload={"county": None},
            at=clock.now(),
        )
        new = await make_checkpoint(db, ledger.id, signer(keys), clock.now())
    assert new is not None and new.size == old.size + 1
    async with factory() as db:
        recorded = await key_actions(db)
    current, retired = verifiers(keys)
    assert current != retired
    open_checkpoint(new.note, [current])
    open_checkpoint(old.note, [retired])
    assert ("core.key.retired", "ledger") in recorded
    assert recorded.count(("core.key.created", "ledger")) == 2
    async with factory() as db:
        ledger = await services.ledger_for_county(db, county.county)
        report = await verify_ledger(db, ledger, [current, retired])
    assert report.ok, report.problems
    assert report.checkpoints == 2


async def test_a_later_deployment_name_does_not_open_a_second_administration_ledger(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    async with transaction(factory) as db:
        first = await services.admin_ledger(db)
        again = await services.ensure_admin_ledger(db, "renamed", clock.now())
        all_ledgers = await services.ledgers(db)
    assert first is not None and again.id == first.id
    assert [ledger.origin for ledger in all_ledgers] == [first.origin]
