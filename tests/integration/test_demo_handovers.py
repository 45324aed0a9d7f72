"""The demo county's departure handovers (`fixtures/demo_handovers.py`), loaded through the
services with the rest of the demo: exactly one archived and one in progress; the archived
交接书 carries the three signatures in order and validates against the published CA; the
ledger verifies; and the in-progress one can be signed next with the README's PIN.

The demo is loaded once, on a fixed day and with fewer cases than `make run` loads, to keep
the test short; the handovers do not depend on either.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services as auth_services
from app.core.auth.access import system_principal
from app.core.auth.models import Account
from app.core.clock import SHANGHAI
from app.core.db import transaction
from app.core.keys import KeyRing, handover_ca_certificate_pem
from app.core.personal_data import Secrets
from app.handover import services as handover_services
from app.handover import sign_services as signatures
from app.handover import signing
from app.handover.models import Handover, HandoverSignature
from app.handover.workflow import HandoverStatus
from app.ledger import services as ledger
from app.ledger.checkpoints import verifiers
from app.ledger.verify import verify_ledger
from app.org.models import Tenure
from app.ownership.models import CaseOwner
from fixtures import demo_handovers, load
from fixtures.demo_county import generate
from fixtures.demo_handovers import (
    ARCHIVED_USERS,
    IN_PROGRESS_USERS,
    SIGNING_PIN,
    DemoHandovers,
    HandoverClock,
    pdf_problem,
)
from tests.integration.sittings_setup import Factory

needs_pdf = pytest.mark.skipif(pdf_problem() is not None, reason="no CJK font for the 交接书")

TODAY = dt.date(2026, 6, 15)


async def _load(factory: Factory, keys_dir: Path) -> None:
    async with transaction(factory) as db:
        await load.DemoLoader(
            db,
            generate(),
            lambda n: None,
            TODAY,
            secrets=Secrets(KeyRing(keys_dir)),
            keys_dir=keys_dir,
        ).run()


async def _accounts(factory: Factory) -> dict[str, Account]:
    async with factory() as db:
        rows = await db.scalars(select(Account))
        return {a.username: a for a in rows}


@needs_pdf
async def test_the_demo_has_one_archived_and_one_in_progress_handover(
    factory: Factory, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "CASES", 60)
    await _load(factory, keys_dir)
    async with factory() as db:
        rows = list(await db.scalars(select(Handover).order_by(Handover.id)))
        assert sorted(h.status for h in rows) == sorted(
            [HandoverStatus.archived, HandoverStatus.signed_departing]
        )
        archived = next(h for h in rows if h.status == HandoverStatus.archived)
        pending = next(h for h in rows if h.status != HandoverStatus.archived)
        steps = list(
            await db.scalars(
                select(HandoverSignature.step)
                .where(HandoverSignature.handover_id == archived.id)
                .order_by(HandoverSignature.id)
            )
        )
        assert steps == ["departing", "receiving", "office"]
        assert not archived.interim and archived.effective_date == TODAY
        assert (archived.moved_cases or 0) >= 5
        still_owned = await db.scalar(
            select(CaseOwner.id).where(
                CaseOwner.tenure_id == archived.tenure_id, CaseOwner.active.is_(True)
            )
        )
        assert still_owned is None
        departed = await db.get(Tenure, archived.tenure_id)
        assert departed is not None and departed.end_date == TODAY
        assert pending.interim and pending.effective_date > TODAY
        assert pending.notes_key_people and pending.notes_risks and pending.notes_unfinished
        archived_pdf, pending_id = bytes(archived.pdf or b""), pending.id

    # pyHanko's validation runs an event loop of its own: a worker thread.
    ca = handover_ca_certificate_pem(keys_dir)
    checks = await asyncio.to_thread(signing.validate, archived_pdf, ca)
    assert [c.field_name for c in checks] == ["Sig1_departing", "Sig2_receiving", "Sig3_office"]
    assert all(c.ok for c in checks), checks

    accounts = await _accounts(factory)
    assert accounts[ARCHIVED_USERS[0]].disabled  # 调任 out of the county: no tenure left
    async with factory() as db:
        former = await auth_services.principal_for(
            db, accounts[ARCHIVED_USERS[0]].id, HandoverClock(TODAY).now() + dt.timedelta(days=1)
        )
        assert former is not None and former.disabled and not former.grants
        assert [h.id for h in await handover_services.visible_handovers(db, former)] == [
            archived.id
        ]
    assert not accounts[ARCHIVED_USERS[1]].disabled
    assert accounts["office"].person_id is not None

    async with factory() as db:
        found = await ledger.ledger_for_county(db, archived.county_id)
        report = await verify_ledger(db, found, verifiers(keys_dir))
    assert report.ok, [p.message for p in report.problems]

    # Whoever tries the demo signs next as the interim receiver, with the README's PIN.
    later = HandoverClock(TODAY).now() + dt.timedelta(days=1)
    async with transaction(factory) as db:
        receiver = await auth_services.principal_for(db, accounts[IN_PROGRESS_USERS[1]].id, later)
        assert receiver is not None
        handover = await db.get(Handover, pending_id)
        assert handover is not None
        data = signatures.SignIn(pin=SIGNING_PIN, seen_sha256=handover.pdf_sha256 or "")
        keys = signatures.SigningKeys.from_dir(keys_dir)
        signed = await signatures.sign(db, receiver, later, pending_id, keys, data)
        assert signed.status == HandoverStatus.signed_receiving


async def test_without_a_cjk_font_the_demo_loads_without_handovers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo_handovers, "cjk_font", lambda: None)
    nothing = cast(AsyncSession, None)  # nothing is read or written
    made = await DemoHandovers(nothing, system_principal("t"), Path("/none"), 0, TODAY).run()
    assert made is None
    assert "演示数据未生成离任交接" in capsys.readouterr().err


def test_loaded_live_the_handovers_are_dated_before_the_real_time() -> None:
    planned = HandoverClock(TODAY)
    assert planned.now() == dt.datetime(2026, 6, 15, 2, 30, tzinfo=dt.UTC)  # 10:30 Shanghai
    for wall in (
        dt.datetime(2026, 6, 14, 16, 5, tzinfo=dt.UTC),  # 00:05 in Shanghai
        dt.datetime(2026, 6, 14, 19, 20, tzinfo=dt.UTC),  # 03:20
        dt.datetime(2026, 6, 15, 2, 40, tzinfo=dt.UTC),  # 10:40
    ):
        clock = HandoverClock(TODAY, wall)
        times = [clock.now()] + [clock.tick() for _ in range(demo_handovers.STEPS)]
        assert times == sorted(times)
        assert times[0].astimezone(SHANGHAI).date() == TODAY
        assert times[-1] <= wall
    late = HandoverClock(TODAY, dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC))
    assert late.now() == planned.now()
