"""A desk for the cases capability (信访事项 and 包案) on top of the reception set-up.

The county is the test county with its published week: 张建华 (the `leader` account) sits
on 5 March as 副县长, 王明 (`wang`) on 6 March; 李秀英 is 上塘村党支部书记. Added here: a
county supervisor, and `li_supervisor` — a supervisor account of 李秀英 herself, so a case
accusing her shows what recusal does to someone who could otherwise read everything.

`Desk` runs each service call in its own transaction at 09:00 Shanghai time of a given
day, and reads back what a user would see: statuses, running clocks, owners, entries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.errors import DomainError
from app.core.holidays import calendar_for
from app.core.identity import IdType, gb11643_check_char
from app.core.personal_data import Secrets
from app.core.workdays import WorkCalendar
from app.ledger import services as ledger
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_ledger
from app.org import services as org
from app.org.models import Tenure
from app.org.schemas import EndReason, TenureEnd
from app.ownership import clock_services as clocks
from app.ownership import deadlines, services
from app.ownership import owner_services as owners
from app.ownership.models import Case, CaseClock, CaseEvent, CaseOwner, mirrored
from app.ownership.owner_services import RenounceCause
from app.ownership.petitioners import PetitionerIn
from app.ownership.services import FromReception, Intake, Routing, StepIn
from app.ownership.visibility import accused_of, readable_case
from app.ownership.workflow import CaseStatus, Channel, Kind, Outcome
from app.scheduling import queue_services as queue
from app.scheduling import reception_services as receptions
from app.scheduling.models import ReceptionRecord
from app.scheduling.schemas import ReceptionOutcome
from tests.integration.conftest import County
from tests.integration.sittings_setup import (
    DAY,
    Factory,
    Setting,
    add_account,
    entries,
    principal,
    two_days,
)
from tests.integration.test_queue import book

P = ParamSpec("P")

#: The clock of the fixtures: Monday 2 March 2026, 09:00 in Shanghai.
RECEIVED = dt.date(2026, 3, 2)
NATIONAL = "national-2022"
ZHEJIANG = "zhejiang-2016"
SUMMARY = "反映东山镇上塘村征地补偿款至今未发放到户"
PETITIONER = "赵丽华"
MOBILE = "13800000017"
RAISED = "反映村里征地补偿款至今未发放到户，要求查明去向"


def resident(n: int) -> str:
    """A valid 18-digit 居民身份证号码 (GB 11643 check character)."""
    body = f"33030219790315{n:03d}"
    return body + gb11643_check_char(body)


ID_NUMBER = resident(17)


def wrong_check(number: str) -> str:
    """The same number with a check character that does not fit."""
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def at(day: dt.date) -> dt.datetime:
    """09:00 in Shanghai on `day`."""
    return dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC)


def petitioner(**changes: Any) -> PetitionerIn:
    base = PetitionerIn(PETITIONER, IdType.resident, ID_NUMBER, MOBILE)
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True, slots=True)
class Cases:
    county: County
    setting: Setting
    zhang: int  # 张建华, person of the `leader` account
    zhang_tenure: int  # his 副县长 tenure, the one his sittings run on
    zhang_township_tenure: int  # his 东山镇党委书记 tenure
    wang: int
    wang_tenure: int  # 王明 副县长
    li: int
    li_tenure: int  # 李秀英 上塘村党支部书记


async def _tenure_of(db: AsyncSession, person: int, post: int) -> int:
    found = await db.scalar(
        select(Tenure.id).where(Tenure.person_id == person, Tenure.post_id == post)
    )
    assert found is not None
    return int(found)


async def build_cases(factory: Factory, clock: FixedClock, county: County) -> Cases:
    setting = await two_days(factory, clock, county)
    r = setting.reception
    for username, role, person in (
        ("wang", Role.leader, r.other_leader),
        ("supervisor", Role.supervisor, None),
        ("li_supervisor", Role.supervisor, r.secretary),
    ):
        await add_account(factory, clock, username, role, county.county, person)
    async with factory() as db:
        zhang = await _tenure_of(db, r.leader, r.leader_post)
        wang = await _tenure_of(db, r.other_leader, r.leader_post)
        li = await _tenure_of(db, r.secretary, r.secretary_post)
    return Cases(
        county, setting, r.leader, zhang, county.tenure, r.other_leader, wang, r.secretary, li
    )


# ---------------------------------------------------------------- what the clerk enters


def intake(c: Cases, **changes: Any) -> Intake:
    """A letter (书信) of 第三十一条第六项, about 东山镇, owned first by 张建华."""
    base = Intake(
        channel=Channel.letter,
        kind=Kind.claim,
        claim_item=6,
        category="土地征收",
        summary=SUMMARY,
        territorial_unit_id=c.county.township,
        received_on=RECEIVED,
        profile=NATIONAL,
        petitioners=[petitioner()],
        subject_unit_ids=[c.county.department],
        owner_tenure_id=c.zhang_tenure,
    )
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True, slots=True)
class ClockView:
    start: dt.date
    due: dt.date
    state: str
    stopped_on: dt.date | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a refusal must leave as it was."""

    cases: list[tuple[int, str, dt.date | None, str | None, str | None, bool]]
    clocks: list[tuple[int, str, str]]
    owners: list[tuple[int, int, str, bool]]
    ledger: int
    receptions: int
    events: int


class Desk:
    """The petition bureau's desk: one transaction per call, then a fresh read."""

    def __init__(self, factory: Factory, secrets: Secrets, c: Cases, calendar: WorkCalendar):
        self.factory, self.secrets, self.c, self.calendar = factory, secrets, c, calendar

    async def actor(self, username: str) -> Principal:
        return await principal(self.factory, FixedClock(at(RECEIVED)), username)

    def due(self, profile: str, clock: str, start: dt.date, **extra: int) -> dt.date:
        return deadlines.due_date(self.calendar, profile, clock, start, **extra).due

    # ------------------------------------------------------------ acting

    async def register(self, actor: Principal, data: Intake, day: dt.date = RECEIVED) -> Case:
        return await self.register_at(actor, data, at(day))

    async def register_at(self, actor: Principal, data: Intake, now: dt.datetime) -> Case:
        async with transaction(self.factory) as db:
            calendar = await calendar_for(db, self.c.county.county)
            return await services.register(db, actor, now, self.secrets, calendar, data)

    async def route(
        self, actor: Principal, case_id: int, outcome: Outcome, on: dt.date, **notice: str
    ) -> Case:
        async with transaction(self.factory) as db:
            calendar = await calendar_for(db, self.c.county.county)
            return await services.route(
                db, actor, at(on), calendar, case_id, Routing(outcome, on, **notice)
            )

    async def advance(
        self,
        actor: Principal,
        case_id: int,
        target: CaseStatus,
        on: dt.date,
        text: str = "",
        delivered_on: dt.date | None = None,
    ) -> Case:
        async with transaction(self.factory) as db:
            calendar = await calendar_for(db, self.c.county.county)
            step = StepIn(target, on, text, delivered_on)
            return await services.advance(
                db, actor, at(delivered_on or on), calendar, case_id, step
            )

    async def extend(
        self, actor: Principal, case_id: int, days: int, on: dt.date, reason: str = "需要补充调查"
    ) -> Case:
        async with transaction(self.factory) as db:
            calendar = await calendar_for(db, self.c.county.county)
            return await services.extend(db, actor, at(on), calendar, case_id, days, reason)

    async def appoint(
        self,
        actor: Principal,
        case_id: int,
        tenure: int,
        target: dt.date,
        co: Sequence[int] = (),
        on: dt.date = RECEIVED,
    ) -> Case:
        async with transaction(self.factory) as db:
            return await services.appoint(db, actor, at(on), case_id, tenure, target, co)

    async def open_from(
        self, actor: Principal, reception_id: int, data: FromReception, on: dt.date = DAY
    ) -> Case:
        async with transaction(self.factory) as db:
            calendar = await calendar_for(db, self.c.county.county)
            return await services.open_from_reception(
                db, actor, at(on), self.secrets, calendar, reception_id, data, NATIONAL
            )

    async def note(
        self, actor: Principal, case_id: int, text: str, public: bool = True, on: dt.date = DAY
    ) -> CaseEvent:
        async with transaction(self.factory) as db:
            return await services.note_progress(db, actor, at(on), case_id, text, public)

    async def backlog(self, actor: Principal, case_id: int, on: dt.date = DAY) -> Case:
        async with transaction(self.factory) as db:
            return await services.designate_backlog(db, actor, at(on), case_id)

    async def renounce(self, actor: Principal, case_id: int, person: int) -> None:
        async with transaction(self.factory) as db:
            case = await services.load(db, case_id, lock=True)
            row = next(o for o in await owners.owners_of(db, case_id) if o.person_id == person)
            await owners.renounce(db, actor, at(RECEIVED), case, row, RenounceCause.other, "调整")

    async def end_tenure(
        self, actor: Principal, tenure: int, on: dt.date, move_to: int | None = None
    ) -> Tenure:
        """离任 on `on`; with `move_to`, the tenure's open cases move there first, in the
        same transaction."""
        async with transaction(self.factory) as db:
            if move_to is not None:
                held = await db.scalars(
                    select(CaseOwner.case_id).where(
                        CaseOwner.tenure_id == tenure, CaseOwner.active.is_(True)
                    )
                )
                cases = [(await services.load(db, i), await accused_of(db, i)) for i in list(held)]
                cause = RenounceCause.handover
                await owners.move_tenure(db, actor, at(on), cases, tenure, move_to, cause)
            end = TenureEnd(on, EndReason.transfer)
            return await org.end_tenure(db, actor, at(on), tenure, end)

    async def read(self, actor: Principal, case_id: int) -> Case:
        async with self.factory() as db:
            return await readable_case(db, actor, case_id)

    async def accepted(self, data: Intake, on: dt.date = dt.date(2026, 3, 4)) -> Case:
        """A registered case the clerk accepted on `on`."""
        clerk = await self.actor("clerk")
        case = await self.register(clerk, data)
        return await self.route(clerk, case.id, Outcome.accept, on)

    async def refused(
        self, action: Callable[P, Awaitable[object]], *args: P.args, **kwargs: P.kwargs
    ) -> DomainError:
        """Run an action that must be refused, and check it changed nothing."""
        before = await self.snapshot()
        with pytest.raises(DomainError) as refusal:
            await action(*args, **kwargs)
        assert await self.snapshot() == before
        return refusal.value

    # ------------------------------------------------------------ reading

    async def case(self, case_id: int) -> Case:
        async with self.factory() as db:
            return await services.load(db, case_id)

    async def running(self, case_id: int) -> dict[str, dt.date]:
        """Running clocks: name -> due date."""
        async with self.factory() as db:
            return {c.name: c.due for c in await clocks.running(db, case_id)}

    async def clocks(self, case_id: int) -> dict[tuple[str, str], ClockView]:
        """Every clock ever started, by (name, state)."""
        async with self.factory() as db:
            rows: list[CaseClock] = await clocks.clocks_of(db, case_id)
        return {(r.name, r.state): ClockView(r.start, r.due, r.state, r.stopped_on) for r in rows}

    async def owners(self, case_id: int) -> list[tuple[int, int, str]]:
        """Active owners: (person, tenure, role)."""
        async with self.factory() as db:
            rows = await owners.owners_of(db, case_id)
        return [(o.person_id, o.tenure_id, o.role) for o in rows]

    async def mirrors_agree(self) -> None:
        """Every ownership row carries whether its case is open and its next due date and
        clock while it is active, and nothing once it is not: what 我的包案 and the board
        by owner read."""
        async with self.factory() as db:
            rows = await db.execute(
                select(CaseOwner, Case).join(Case, Case.id == CaseOwner.case_id)
            )
            for owner, case in rows.tuples():
                wanted = mirrored(case) if owner.active else (False, None, None)
                got = (owner.case_open, owner.next_due, owner.next_clock)
                assert got == wanted, (owner.id, case.status)

    async def actions(self, case_id: int) -> list[str]:
        return [a for a, _ in await entries(self.factory, "case", case_id)]

    async def last_entry(self, case_id: int, action: str) -> dict[str, Any]:
        found = [p for a, p in await entries(self.factory, "case", case_id) if a == action]
        assert found, action
        return found[-1]

    async def leaves(self, case_id: int) -> list[str]:
        async with self.factory() as db:
            rows = await db.scalars(
                select(LedgerEntry.leaf).where(
                    LedgerEntry.subject_type == "case", LedgerEntry.subject_id == str(case_id)
                )
            )
            return [bytes(leaf).decode() for leaf in rows]

    async def snapshot(self) -> Snapshot:
        async with self.factory() as db:
            cases = await db.scalars(select(Case).order_by(Case.id))
            case_rows = [
                (k.id, k.status, k.next_due, k.next_clock, k.outcome, k.backlog) for k in cases
            ]
            rows = await db.scalars(select(CaseClock).order_by(CaseClock.id))
            clock_rows = [(k.id, k.name, k.state) for k in rows]
            found = await db.scalars(select(CaseOwner).order_by(CaseOwner.id))
            owner_rows = [(o.id, o.person_id, o.role, o.active) for o in found]
            size = await db.scalar(select(func.count()).select_from(LedgerEntry))
            records = await db.scalar(select(func.count()).select_from(ReceptionRecord))
            events = await db.scalar(select(func.count()).select_from(CaseEvent))
        return Snapshot(
            case_rows, clock_rows, owner_rows, int(size or 0), int(records or 0), int(events or 0)
        )

    async def ledger_verifies(self, keys_dir: Path) -> None:
        """Sign a checkpoint of the county's ledger and verify the whole ledger."""
        county = self.c.county.county
        async with transaction(self.factory) as db:
            found = await ledger.ledger_for_county(db, county)
            await make_checkpoint(db, found.id, signer(keys_dir), at(dt.date(2026, 12, 31)))
        async with self.factory() as db:
            found = await ledger.ledger_for_county(db, county)
            report = await verify_ledger(db, found, verifiers(keys_dir))
        assert report.ok, [p.message for p in report.problems]
        assert report.entries == found.size


# ---------------------------------------------------------------- a reception to open from


async def reception(
    desk: Desk, n: int, outcome: ReceptionOutcome = ReceptionOutcome.case
) -> ReceptionRecord:
    """Citizen `n` booked 张建华's sitting on 2 March, checked in on the day and was
    received; the clerk recorded what was raised."""
    c = desk.c
    booking = await book(desk.factory, FixedClock(at(RECEIVED)), desk.secrets, c.setting.sitting, n)
    clerk = await desk.actor("clerk")
    async with transaction(desk.factory) as db:
        await queue.check_in(db, clerk, at(DAY), booking.code)
    async with transaction(desk.factory) as db:
        return await receptions.record(
            db, clerk, at(DAY), booking.code, RAISED, "已登记，转有关部门办理", outcome
        )
