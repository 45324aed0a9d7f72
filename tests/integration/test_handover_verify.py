"""Verifying and reviewing an archived handover, on SQLite and PostgreSQL.

张建华 (`leader`) leaves his 东山镇党委书记 post: he owns three open cases through it, and a
fourth that was not accepted (finished, so it is not handed over although its owner row
stays). The office (`zuzhi`) opens the handover, 周新 (`zhou`) is appointed to the post and
named the receiver, the 交接书 is rendered and signed by 张建华, 周新 and the office — which
archives it. Then 纪委 (`jiwei`), 组织部 (`zuzhibu`) and 信访局 (`xinfang`) reviewers verify
it, and each tampering — a changed byte in the PDF, an ownership row changed after
archiving, a rewritten ledger entry — shows which check failed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.pdf import cjk_font
from app.core.personal_data import Secrets
from app.handover import review_services as reviews
from app.handover import services as handovers
from app.handover import sign_services as signing
from app.handover import verify as v
from app.handover.models import Handover, HandoverReview
from app.handover.workflow import HandoverStatus, Reason
from app.ledger import merkle
from app.ledger import services as ledger
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import LedgerEntry
from app.org import services as org
from app.org.schemas import PersonIn, TenureIn
from app.ownership.models import CaseOwner
from app.ownership.workflow import Outcome
from tests.integration.cases_setup import Desk, at, build_cases, intake
from tests.integration.conftest import County
from tests.integration.sittings_setup import Factory, add_account, principal

pytestmark = pytest.mark.skipif(cjk_font() is None, reason="no CJK font for the 交接书 PDF")

OPENED_ON = dt.date(2026, 3, 2)
EFFECTIVE = dt.date(2026, 3, 16)
REVIEWED_ON = dt.date(2026, 3, 3)
PIN = "246810"
ALL_CHECKS = ["signatures", "chain", "ledger", "cases", "dossier"]


@dataclass
class Archive:
    factory: Factory
    keys_dir: Path
    handover_id: int
    departing_tenure: int
    successor_tenure: int
    cases: list[int]  # the open cases handed over
    finished_case: int  # owned through the same tenure, but not accepted

    async def actor(self, username: str) -> Principal:
        return await principal(self.factory, FixedClock(at(OPENED_ON)), username)

    async def verify(
        self, username: str = "jiwei", saved: str | None = None, pdf: bytes | None = None
    ) -> v.Verdict:
        who = await self.actor(username)
        async with transaction(self.factory) as db:
            return await reviews.verify(
                db,
                who,
                at(REVIEWED_ON),
                self.handover_id,
                verifiers(self.keys_dir),
                signing.SigningKeys.from_dir(self.keys_dir).ca_pem,
                saved,
                pdf=pdf,
            )

    async def checkpoint(self) -> str:
        """Sign a checkpoint of the county's ledger now; its note."""
        async with transaction(self.factory) as db:
            handover = await db.get(Handover, self.handover_id)
            assert handover is not None
            book = await ledger.ledger_for_county(db, handover.county_id)
            await make_checkpoint(db, book.id, signer(self.keys_dir), at(REVIEWED_ON))
            latest = await ledger.latest_checkpoint(db, book.id)
            assert latest is not None
            return latest.note

    async def pdf(self) -> bytes:
        async with self.factory() as db:
            handover = await db.get(Handover, self.handover_id)
            assert handover is not None and handover.pdf is not None
            return bytes(handover.pdf)

    async def entries(self, action: str) -> list[LedgerEntry]:
        async with self.factory() as db:
            rows = await db.scalars(
                select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq)
            )
            return list(rows)


def failed(verdict: v.Verdict) -> list[str]:
    return [c.key for c in verdict.failed]


def check(verdict: v.Verdict, key: str) -> v.Check:
    return next(c for c in verdict.checks if c.key == key)


# ---------------------------------------------------------------- building the archive


async def _people(factory: Factory, clock: FixedClock, county: County) -> int:
    """The office clerk and 周新 with their accounts, and the reviewers; 周新's person id."""
    admin = await principal(factory, clock, "admin")
    async with transaction(factory) as db:
        clerk = await org.create_person(
            db, admin, clock.now(), PersonIn("赵组织", None, county.county)
        )
        zhou = await org.create_person(
            db, admin, clock.now(), PersonIn("周新", None, county.county)
        )
    await add_account(factory, clock, "zuzhi", Role.office, county.county, clerk.id)
    await add_account(factory, clock, "zhou", Role.leader, county.township, zhou.id)
    await add_account(factory, clock, "zuzhibu", Role.reviewer_organisation, county.county, None)
    await add_account(factory, clock, "xinfang", Role.reviewer_petition, county.county, None)
    await add_account(
        factory, clock, "far_jiwei", Role.reviewer_discipline, county.other_county, None
    )
    return zhou.id


async def _cases(desk: Desk) -> tuple[list[int], int]:
    clerk = await desk.actor("clerk")
    tenure = desk.c.zhang_township_tenure
    cases = [
        (await desk.register(clerk, intake(desk.c, owner_tenure_id=tenure, summary=f"事项{n}"))).id
        for n in range(3)
    ]
    finished = await desk.register(
        clerk, intake(desk.c, owner_tenure_id=tenure, summary="不予受理")
    )
    await desk.route(clerk, finished.id, Outcome.not_accept, OPENED_ON, reason="不属于信访事项")
    return cases, finished.id


async def _open_and_render(
    factory: Factory, desk: Desk, keys: signing.SigningKeys, zhou: int
) -> tuple[int, int]:
    office = await desk.actor("zuzhi")
    data = handovers.HandoverIn(
        desk.c.zhang_township_tenure, Reason.transfer, EFFECTIVE, desk.c.wang_tenure, True
    )
    async with transaction(factory) as db:
        opened = await handovers.open_handover(db, office, at(OPENED_ON), data)
    admin = await desk.actor("admin")
    async with transaction(factory) as db:
        post = (await org.get_tenure(db, desk.c.zhang_township_tenure)).post_id
        successor = await org.appoint(db, admin, at(OPENED_ON), TenureIn(zhou, post, EFFECTIVE))
    async with transaction(factory) as db:
        await handovers.change_receiver(
            db, office, at(OPENED_ON), opened.id, handovers.ReceiverIn(successor.id, False)
        )
    async with transaction(factory) as db:
        await signing.render(db, office, at(OPENED_ON), opened.id, keys)
    return opened.id, successor.id


async def _sign_all(factory: Factory, desk: Desk, keys: signing.SigningKeys, handover: int) -> None:
    for username in ("leader", "zhou", "zuzhi"):
        who = await desk.actor(username)
        async with transaction(factory) as db:
            await signing.enrol(db, who, at(OPENED_ON), keys, PIN)
        async with factory() as db:
            seen = (await db.get(Handover, handover, populate_existing=True)).pdf_sha256  # type: ignore[union-attr]
        async with transaction(factory) as db:
            await signing.sign(
                db, who, at(OPENED_ON), handover, keys, signing.SignIn(PIN, seen or "")
            )


@pytest.fixture
async def archive(factory: Factory, clock: FixedClock, county: County, keys_dir: Path) -> Archive:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    desk = Desk(factory, Secrets(KeyRing(keys_dir)), built, calendar)
    zhou = await _people(factory, clock, county)
    cases, finished = await _cases(desk)
    keys = signing.SigningKeys.from_dir(keys_dir)
    handover, successor = await _open_and_render(factory, desk, keys, zhou)
    await _sign_all(factory, desk, keys, handover)
    async with factory() as db:
        row = await db.get(Handover, handover)
    assert row is not None and row.status == HandoverStatus.archived
    return Archive(
        factory, keys_dir, handover, built.zhang_township_tenure, successor, cases, finished
    )


# ---------------------------------------------------------------- verification


async def test_an_archived_handover_verifies_once_a_checkpoint_covers_its_signatures(
    archive: Archive,
) -> None:
    early = await archive.verify()
    assert early.ok, [c.detail for c in early.failed]
    assert not early.complete
    assert check(early, "ledger").pending
    assert "尚未被已签名检查点覆盖" in check(early, "ledger").detail

    await archive.checkpoint()
    verdict = await archive.verify()
    assert [c.key for c in verdict.checks] == ALL_CHECKS
    assert verdict.ok and verdict.complete, [c.detail for c in verdict.failed]
    assert verdict.summary().startswith("验证通过")
    cases = check(verdict, "cases")
    assert f"清单所列 {len(archive.cases)} 件事项" in cases.detail
    assert str(archive.finished_case) not in cases.detail.split("（编号 ")[1].split("）")[0]


async def test_a_checkpoint_the_reviewer_saved_can_stand_for_the_latest(archive: Archive) -> None:
    saved = await archive.checkpoint()
    verdict = await archive.verify(saved=saved)
    assert verdict.ok and verdict.complete and verdict.saved_checkpoint
    assert "您保存的检查点" in check(verdict, "ledger").detail

    forged = saved.replace("— ", "— x", 1)
    refused = await archive.verify(saved=forged)
    assert failed(refused) == ["ledger"]
    assert "您提供的检查点无法验证" in check(refused, "ledger").detail


async def test_a_pdf_with_one_changed_byte_fails_the_signature_and_chain_checks(
    archive: Archive,
) -> None:
    await archive.checkpoint()
    original = await archive.pdf()
    tampered = bytearray(original)
    tampered[len(original) // 3] ^= 0x01
    verdict = await archive.verify(pdf=bytes(tampered))
    assert {"signatures", "chain"} <= set(failed(verdict))
    assert "ledger" not in failed(verdict) and "cases" not in failed(verdict)
    assert "签名" in verdict.summary()
    assert (await archive.verify(pdf=original)).ok


async def test_an_ownership_row_changed_after_archiving_fails_the_cases_check(
    archive: Archive,
) -> None:
    await archive.checkpoint()
    moved = archive.cases[0]
    async with transaction(archive.factory) as db:
        await db.execute(
            update(CaseOwner)
            .where(CaseOwner.case_id == moved, CaseOwner.tenure_id == archive.departing_tenure)
            .values(tenure_id=archive.successor_tenure)
        )
    verdict = await archive.verify()
    assert failed(verdict) == ["cases"]
    detail = check(verdict, "cases").detail
    assert "包案记录表中随归档移出的事项与清单不同" in detail
    assert f"缺少清单所列的事项 {moved}" in detail


async def _rewrite(
    archive: Archive, row: LedgerEntry, change: dict[str, Any], rehash: bool
) -> None:
    """Rewrite one entry's payload, column and leaf bytes alike (and its leaf hash, if
    `rehash`), the way a database administrator could; on PostgreSQL the ledger's
    triggers are bypassed for this transaction."""
    entry = json.loads(bytes(row.leaf))
    entry["payload"] = {**entry["payload"], **change}
    leaf = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    values: dict[str, Any] = {"leaf": leaf, "payload": entry["payload"]}
    if rehash:
        values["leaf_hash"] = merkle.leaf_hash(leaf)
    async with transaction(archive.factory) as db:
        await _bypass_triggers(db)
        await db.execute(
            update(LedgerEntry)
            .where(LedgerEntry.ledger_id == row.ledger_id, LedgerEntry.seq == row.seq)
            .values(**values)
        )


async def _bypass_triggers(db: AsyncSession) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SET LOCAL session_replication_role = replica"))


async def test_a_rewritten_handover_entry_fails_the_ledger_check(archive: Archive) -> None:
    await archive.checkpoint()
    [snapshot] = await archive.entries(v.SNAPSHOTTED)
    await _rewrite(archive, snapshot, {"cases": []}, rehash=True)
    verdict = await archive.verify()
    assert "ledger" in failed(verdict)
    detail = check(verdict, "ledger").detail
    assert f"第 {snapshot.seq} 条记录（{v.SNAPSHOTTED}）" in detail
    assert "包含证明未通过" in detail


async def test_a_rewritten_ownership_entry_fails_the_cases_check(archive: Archive) -> None:
    await archive.checkpoint()
    moved = archive.cases[1]
    renounced = [
        row
        for row in await archive.entries(v.OWNER_RENOUNCED)
        if row.subject_id == str(moved) and row.payload["cause"] == "handover"
    ]
    await _rewrite(archive, renounced[0], {"cause": "other"}, rehash=False)
    verdict = await archive.verify()
    assert failed(verdict) == ["cases"]
    detail = check(verdict, "cases").detail
    assert f"据以回放的第 {renounced[0].seq} 条记录" in detail
    assert "包含证明未通过" in detail
    assert "台账中归档时移交的事项与清单不同" in detail


# ---------------------------------------------------------------- who may see and verify


async def _sees(archive: Archive, username: str) -> handovers.Access | None:
    who = await archive.actor(username)
    async with archive.factory() as db:
        try:
            return (await handovers.get_handover(db, who, archive.handover_id))[1]
        except DomainError as refused:
            assert refused.status == 404
            return None


async def test_each_reviewer_role_sees_archived_handovers_in_its_scope_only(
    archive: Archive,
) -> None:
    for username, role in (
        ("jiwei", Role.reviewer_discipline),
        ("zuzhibu", Role.reviewer_organisation),
        ("xinfang", Role.reviewer_petition),
    ):
        access = await _sees(archive, username)
        assert access is not None and access.reviewer_roles == {role}
    assert await _sees(archive, "far_jiwei") is None
    assert await _sees(archive, "clerk") is None
    with pytest.raises(DomainError) as outside:
        await archive.verify("far_jiwei")
    assert outside.value.status == 404
    with pytest.raises(DomainError) as departing:
        await archive.verify("leader")
    assert departing.value.status == 403
    assert (await archive.verify("zuzhi")).ok


async def test_a_reviewer_cannot_see_a_handover_before_it_is_archived(
    factory: Factory, clock: FixedClock, county: County, keys_dir: Path
) -> None:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    desk = Desk(factory, Secrets(KeyRing(keys_dir)), built, calendar)
    zhou = await _people(factory, clock, county)
    await _cases(desk)
    handover, _ = await _open_and_render(
        factory, desk, signing.SigningKeys.from_dir(keys_dir), zhou
    )
    archive = Archive(factory, keys_dir, handover, built.zhang_township_tenure, 0, [], 0)
    assert await _sees(archive, "jiwei") is None
    with pytest.raises(DomainError) as early:
        await archive.verify("zuzhi")
    assert early.value.instance_slug == "handover-refused"


# ---------------------------------------------------------------- review and access records


async def _payloads(archive: Archive, action: str) -> list[dict[str, Any]]:
    found = [r for r in await archive.entries(action) if r.subject_id == str(archive.handover_id)]
    return [json.loads(bytes(r.leaf))["payload"] for r in found]


async def _review(archive: Archive, username: str, remark: str) -> HandoverReview:
    who = await archive.actor(username)
    async with transaction(archive.factory) as db:
        return await reviews.review(db, who, at(REVIEWED_ON), archive.handover_id, remark)


async def test_a_review_is_recorded_once_per_reviewer_and_ledgered_without_its_remark(
    archive: Archive,
) -> None:
    await archive.checkpoint()
    await archive.verify("jiwei")
    remark = "已核对交接清单，未发现问题"
    row = await _review(archive, "jiwei", remark)
    assert (row.role, row.remark, row.verified_ok) == ("reviewer_discipline", remark, True)
    unverified = await _review(archive, "zuzhibu", "")
    assert unverified.verified_ok is None

    with pytest.raises(DomainError) as twice:
        await _review(archive, "jiwei", "再次审阅")
    assert twice.value.instance_slug == "duplicate"
    with pytest.raises(DomainError) as office:
        await _review(archive, "zuzhi", "办公室")
    assert office.value.status == 403

    assert await _payloads(archive, reviews.REVIEWED) == [
        {"role": "reviewer_discipline", "verified": True},
        {"role": "reviewer_organisation", "verified": None},
    ]
    async with archive.factory() as db:
        listed = await reviews.reviews_of(db, archive.handover_id)
        leaves = await db.scalars(select(LedgerEntry.leaf))
        assert not any(remark in bytes(leaf).decode() for leaf in leaves)
    assert [r.role for r in listed] == ["reviewer_discipline", "reviewer_organisation"]


async def test_every_read_download_and_verification_is_ledgered(archive: Archive) -> None:
    await archive.verify("xinfang")
    for username, what in (("leader", "read"), ("zhou", "download"), ("jiwei", "read")):
        who = await archive.actor(username)
        async with transaction(archive.factory) as db:
            handover, _ = await handovers.get_handover(db, who, archive.handover_id)
            await reviews.record_access(db, who, at(REVIEWED_ON), handover, what)
    assert await _payloads(archive, reviews.ACCESSED) == [
        {"what": "verify", "role": "reviewer_petition", "verified": True},
        {"what": "read", "role": "departing", "verified": None},
        {"what": "download", "role": "receiving", "verified": None},
        {"what": "read", "role": "reviewer_discipline", "verified": None},
    ]
