"""Departure handover services on both databases: opening and its refusals, the dossier,
signatures in order, and the archive transaction — all or nothing.

张建华 (`leader`) is 东山镇党委书记 (a post that requires a handover) and 副县长. He owns
three cases through his 党委书记 tenure; 王明 owns a case accusing him. 周新 is appointed
党委书记 from the effective date once the handover has announced 张建华's departure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.auth.access import Principal
from app.core.auth.models import Account
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError
from app.core.keys import KeyRing
from app.core.pdf import cjk_font
from app.core.personal_data import Secrets
from app.handover import review_services as reviews
from app.handover import services as handovers
from app.handover import sign_services as signing
from app.handover.models import Handover
from app.handover.workflow import HandoverStatus, Reason
from app.ledger.checkpoints import make_checkpoint, verifiers
from app.ledger.models import Ledger, LedgerEntry
from app.ledger.note import Verifier
from app.org import services as org
from app.org.models import Tenure
from app.org.schemas import EndReason, PersonIn, TenureEnd, TenureIn
from app.ownership.models import CaseOwner
from app.scheduling import handover_services as sitting_handover
from tests.integration.cases_setup import Desk, at, build_cases, intake
from tests.integration.conftest import County
from tests.integration.sittings_setup import Factory, add_account, principal

pytestmark = pytest.mark.skipif(cjk_font() is None, reason="no CJK font for the 交接书 PDF")

OPENED_ON = dt.date(2026, 3, 2)
EFFECTIVE = dt.date(2026, 3, 16)
PIN = "246810"


@dataclass
class Hand:
    desk: Desk
    keys: signing.SigningKeys
    office: Principal
    leader: Principal  # 张建华, departing
    successor: Principal | None
    successor_person: int
    departing_tenure: int
    verifiers: list[Verifier]

    @property
    def factory(self) -> Factory:
        return self.desk.factory


@pytest.fixture
async def hand(factory: Factory, clock: FixedClock, county: County, keys_dir: Path) -> Hand:
    from app.core.holidays import calendar_for

    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    desk = Desk(factory, Secrets(KeyRing(keys_dir)), built, calendar)
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
    leader = await principal(factory, clock, "leader")
    clerk_desk = await principal(factory, clock, "clerk")
    for n in range(3):
        await desk.register(
            clerk_desk,
            intake(built, owner_tenure_id=built.zhang_township_tenure, summary=f"事项{n}"),
        )
    await desk.register(
        clerk_desk,
        intake(built, owner_tenure_id=built.wang_tenure, accused_person_ids=[built.zhang]),
    )
    return Hand(
        desk,
        signing.SigningKeys.from_dir(keys_dir),
        await principal(factory, clock, "zuzhi"),
        leader,
        await principal(factory, clock, "zhou"),
        zhou.id,
        built.zhang_township_tenure,
        verifiers(keys_dir),
    )


async def _open(hand: Hand, **changes: object) -> Handover:
    data = handovers.HandoverIn(
        tenure_id=int(changes.pop("tenure_id", hand.departing_tenure)),  # type: ignore[call-overload]
        reason=Reason.transfer,
        effective_date=EFFECTIVE,
        receiver_tenure_id=int(changes.pop("receiver", hand.desk.c.wang_tenure)),  # type: ignore[call-overload]
        interim=bool(changes.pop("interim", True)),
    )
    for name, value in changes.items():
        setattr(data, name, value)
    async with transaction(hand.factory) as db:
        return await handovers.open_handover(db, hand.office, at(OPENED_ON), data)


async def _appoint_successor(hand: Hand) -> int:
    admin = await principal(hand.factory, FixedClock(at(OPENED_ON)), "admin")
    async with transaction(hand.factory) as db:
        post = (await org.get_tenure(db, hand.departing_tenure)).post_id
        tenure = await org.appoint(
            db, admin, at(OPENED_ON), TenureIn(hand.successor_person, post, EFFECTIVE)
        )
        return tenure.id


async def _count(hand: Hand, model: type) -> int:
    async with hand.factory() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def _refused(hand: Hand, **changes: object) -> DomainError:
    with pytest.raises(DomainError) as refused:
        await _open(hand, **changes)
    return refused.value


async def test_it_refuses_a_successor_who_is_the_departing_person(hand: Hand) -> None:
    error = await _refused(hand, receiver=hand.desk.c.zhang_tenure)
    assert error.instance_slug == "handover-refused"
    assert "不能是离任领导本人" in str(error)
    assert await _count(hand, Handover) == 0


async def test_it_refuses_a_successor_not_appointed_to_the_post(hand: Hand) -> None:
    error = await _refused(hand, interim=False)
    assert "未被任命到离任领导的同一职务" in str(error)


async def test_it_refuses_an_effective_date_before_the_handover_opens(hand: Hand) -> None:
    error = await _refused(hand, effective_date=OPENED_ON - dt.timedelta(days=1))
    assert "不能早于发起交接的日期" in str(error)


async def test_it_refuses_a_second_handover_of_the_same_tenure(hand: Hand) -> None:
    await _open(hand)
    error = await _refused(hand)
    assert "已有一份正在办理的离任交接" in str(error)
    assert await _count(hand, Handover) == 1


async def test_a_leader_cannot_open_a_handover(hand: Hand) -> None:
    data = handovers.HandoverIn(
        hand.departing_tenure, Reason.transfer, EFFECTIVE, hand.desk.c.wang_tenure, True
    )
    with pytest.raises(DomainError) as refused:
        async with transaction(hand.factory) as db:
            await handovers.open_handover(db, hand.leader, at(OPENED_ON), data)
    assert refused.value.status == 403


async def test_opening_lets_the_successor_be_appointed_to_the_single_holder_post(
    hand: Hand,
) -> None:
    with pytest.raises(DomainError):
        await _appoint_successor(hand)
    await _open(hand)
    successor = await _appoint_successor(hand)
    assert successor > 0


async def test_the_tenure_cannot_end_before_its_handover_is_archived(hand: Hand) -> None:
    admin = await principal(hand.factory, FixedClock(at(OPENED_ON)), "admin")
    with pytest.raises(DomainError) as refused:
        async with transaction(hand.factory) as db:
            await org.end_tenure(
                db,
                admin,
                at(OPENED_ON),
                hand.departing_tenure,
                TenureEnd(EFFECTIVE, EndReason.transfer),
            )
    assert "信访工作离任交接" in str(refused.value)


async def test_the_dossier_lists_owned_cases_but_never_one_accusing_the_departing_official(
    hand: Hand,
) -> None:
    opened = await _open(hand)
    async with hand.factory() as db:
        handover = await db.get(Handover, opened.id)
        assert handover is not None
        dossier = await handovers.build_dossier(db, handover, at(OPENED_ON))
        accusing = await handovers.discipline_cases(db, handover)
    assert len(dossier.cases) == 3
    assert len(accusing) == 1
    assert accusing[0][0] not in dossier.case_ids


async def _enrol_all(hand: Hand) -> None:
    for who in (hand.leader, hand.successor, hand.office):
        assert who is not None
        async with transaction(hand.factory) as db:
            await signing.enrol(db, who, at(OPENED_ON), hand.keys, PIN)


async def _sign(hand: Hand, who: Principal, pin: str = PIN, day: dt.date = OPENED_ON) -> Handover:
    async with hand.factory() as db:
        seen = (await db.get(Handover, 1, populate_existing=True)).pdf_sha256  # type: ignore[union-attr]
    async with transaction(hand.factory) as db:
        return await signing.sign(db, who, at(day), 1, hand.keys, signing.SignIn(pin, seen or ""))


async def _ready(hand: Hand) -> int:
    """Opened with 周新 as successor, rendered, every signer enrolled."""
    await _open(hand)
    successor = await _appoint_successor(hand)
    async with transaction(hand.factory) as db:
        await handovers.change_receiver(
            db, hand.office, at(OPENED_ON), 1, handovers.ReceiverIn(successor, interim=False)
        )
    async with transaction(hand.factory) as db:
        await signing.render(db, hand.office, at(OPENED_ON), 1, hand.keys)
    await _enrol_all(hand)
    return successor


async def test_signatures_go_in_order_and_the_office_archives(hand: Hand) -> None:
    successor = await _ready(hand)
    assert hand.successor is not None
    with pytest.raises(DomainError) as early:
        await _sign(hand, hand.successor)
    assert early.value.status == 403
    await _sign(hand, hand.leader)
    await _sign(hand, hand.successor)
    archived = await _sign(hand, hand.office)
    assert archived.status == HandoverStatus.archived
    async with hand.factory() as db:
        owners = list(await db.scalars(select(CaseOwner).where(CaseOwner.active.is_(True))))
        departing = await db.get(Tenure, hand.departing_tenure)
        account = await db.scalar(select(Account).where(Account.username == "leader"))
    moved = [o for o in owners if o.tenure_id == successor]
    assert len(moved) == 3
    assert not [o for o in owners if o.tenure_id == hand.departing_tenure]
    assert departing is not None and departing.end_date == EFFECTIVE
    # 张建华 is still 副县长: his account stays enabled.
    assert account is not None and not account.disabled


async def test_a_wrong_pin_signs_nothing(hand: Hand) -> None:
    await _ready(hand)
    before = await _count(hand, LedgerEntry)
    with pytest.raises(DomainError) as refused:
        await _sign(hand, hand.leader, pin="000000")
    assert refused.value.instance_slug == "wrong-pin"
    async with hand.factory() as db:
        row = await db.get(Handover, 1)
    assert row is not None and row.status == HandoverStatus.rendered
    assert await _count(hand, LedgerEntry) == before


async def test_the_archive_rolls_back_completely_when_a_step_fails(
    hand: Hand, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _ready(hand)
    assert hand.successor is not None
    await _sign(hand, hand.leader)
    await _sign(hand, hand.successor)
    before = await _count(hand, LedgerEntry)

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("排班服务不可用")

    monkeypatch.setattr(sitting_handover, "hand_over_sittings", broken)
    with pytest.raises(RuntimeError):
        await _sign(hand, hand.office)
    async with hand.factory() as db:
        row = await db.get(Handover, 1)
        held = await db.scalar(
            select(func.count())
            .select_from(CaseOwner)
            .where(CaseOwner.tenure_id == hand.departing_tenure, CaseOwner.active.is_(True))
        )
        departing = await db.get(Tenure, hand.departing_tenure)
    assert row is not None and row.status == HandoverStatus.signed_receiving
    assert held == 3
    assert departing is not None and departing.end_date is None
    assert await _count(hand, LedgerEntry) == before


async def test_a_stale_document_cannot_be_signed(hand: Hand) -> None:
    await _ready(hand)
    async with transaction(hand.factory) as db:
        with pytest.raises(DomainError) as refused:
            await signing.sign(
                db, hand.leader, at(OPENED_ON), 1, hand.keys, signing.SignIn(PIN, "0" * 64)
            )
    assert refused.value.instance_slug == "stale-document"


async def _sign_as(hand: Hand, handover_id: int, who: Principal, day: dt.date) -> Handover:
    async with hand.factory() as db:
        row = await db.get(Handover, handover_id, populate_existing=True)
        assert row is not None and row.pdf_sha256 is not None
        seen = row.pdf_sha256
    async with transaction(hand.factory) as db:
        return await signing.sign(
            db, who, at(day), handover_id, hand.keys, signing.SignIn(PIN, seen)
        )


async def test_an_interim_owner_hands_on_only_what_they_received(hand: Hand) -> None:
    """王明 (副县长) holds 张建华's cases as interim owner, then hands exactly those to 周新,
    keeping his own case and his own tenure."""
    wang = await principal(hand.factory, FixedClock(at(OPENED_ON)), "wang")
    await _open(hand)  # interim: 王明
    async with transaction(hand.factory) as db:
        await signing.render(db, hand.office, at(OPENED_ON), 1, hand.keys)
    await _enrol_all(hand)
    async with transaction(hand.factory) as db:
        await signing.enrol(db, wang, at(OPENED_ON), hand.keys, PIN)
    for who in (hand.leader, wang, hand.office):
        await _sign_as(hand, 1, who, OPENED_ON)
    successor = await _appoint_successor(hand)
    second = await _open(
        hand,
        tenure_id=hand.desk.c.wang_tenure,
        receiver=successor,
        interim=False,
        from_handover_id=1,
    )
    async with transaction(hand.factory) as db:
        await signing.render(db, hand.office, at(OPENED_ON), second.id, hand.keys)
    assert hand.successor is not None
    for who in (wang, hand.successor, hand.office):
        await _sign_as(hand, second.id, who, OPENED_ON)
    async with hand.factory() as db:
        owners = list(await db.scalars(select(CaseOwner).where(CaseOwner.active.is_(True))))
        wang_tenure = await db.get(Tenure, hand.desk.c.wang_tenure)
    assert len([o for o in owners if o.tenure_id == successor]) == 3
    assert len([o for o in owners if o.tenure_id == hand.desk.c.wang_tenure]) == 1
    assert wang_tenure is not None and wang_tenure.end_date is None
    await _checkpoint(hand)
    async with transaction(hand.factory) as db:
        verdict = await reviews.verify(
            db, hand.office, at(OPENED_ON), second.id, hand.verifiers, hand.keys.ca_pem
        )
    assert verdict.ok, verdict.summary()


async def _checkpoint(hand: Hand) -> None:
    async with transaction(hand.factory) as db:
        for ledger_id in list(await db.scalars(select(Ledger.id))):
            await make_checkpoint(db, ledger_id, hand.keys.checkpoint_key, at(OPENED_ON))
