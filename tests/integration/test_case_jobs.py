"""The cases' jobs, on SQLite and PostgreSQL: a reply nobody contests within the review
window closes (《浙江省信访条例》第二十五条(二)); a due date computed on the provisional 2027
calendar follows the State Council notice once it is entered, with a ledger entry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.core import holidays
from app.core.auth.access import system_principal
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ownership import services
from app.ownership.workflow import CaseStatus, Outcome
from tests.integration.cases_setup import NATIONAL, Desk, at, build_cases, intake
from tests.integration.conftest import County
from tests.integration.sittings_setup import Factory, entries

S = CaseStatus


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def desk(factory: Factory, clock: FixedClock, county: County, secrets: Secrets) -> Desk:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    return Desk(factory, secrets, built, calendar)


async def close_lapsed(desk: Desk, day: dt.date) -> int:
    async with transaction(desk.factory) as db:
        calendar = await calendar_for(db, desk.c.county.county)
        return await services.close_lapsed(db, at(day), calendar)


async def replied(desk: Desk) -> int:
    """Accepted 4 March, replied 20 March, delivered 23 March: review_request due 22 April."""
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c))
    await desk.advance(
        clerk, case.id, S.replied, dt.date(2026, 3, 20), "经核实，已补发。", dt.date(2026, 3, 23)
    )
    return case.id


async def test_an_uncontested_reply_closes_the_day_after_its_window(desk: Desk) -> None:
    case_id = await replied(desk)
    assert (await desk.running(case_id)) == {"review_request": dt.date(2026, 4, 22)}

    assert await close_lapsed(desk, dt.date(2026, 4, 22)) == 0
    assert (await desk.case(case_id)).status == S.replied
    assert await close_lapsed(desk, dt.date(2026, 4, 23)) == 1

    closed = await desk.case(case_id)
    assert closed.status == S.closed and closed.next_due is None
    entry = await desk.last_entry(case_id, "case.status.changed")
    assert entry["from_status"] == "replied" and entry["to_status"] == "closed"
    assert await close_lapsed(desk, dt.date(2026, 4, 24)) == 0


async def test_a_requested_review_keeps_the_case_open(desk: Desk) -> None:
    case_id = await replied(desk)
    await desk.advance(await desk.actor("clerk"), case_id, S.review_requested, dt.date(2026, 4, 1))

    assert await close_lapsed(desk, dt.date(2026, 5, 30)) == 0
    assert (await desk.case(case_id)).status == S.review_requested


async def test_a_provisional_2027_due_date_follows_the_notice_when_entered(
    desk: Desk, factory: Factory
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(
        clerk, intake(desk.c, received_on=dt.date(2026, 12, 1)), dt.date(2026, 12, 1)
    )
    await desk.route(clerk, case.id, Outcome.accept, dt.date(2026, 12, 10))
    # Provisional 2027: 春节 5–10 February, back to work on the 11th.
    assert (await desk.running(case.id)) == {"handle": dt.date(2027, 2, 11)}

    notice = holidays.YearFile(
        year=2027,
        source="国办发明电〔2026〕X号（测试用）",
        rest_days=["2027-01-01/2027-01-03", "2027-02-05/2027-02-13", "2027-10-01/2027-10-07"],
        working_days=["2027-02-20", "2027-09-26", "2027-10-09"],
    )
    now = at(dt.date(2026, 12, 15))
    async with transaction(factory) as db:
        await holidays.enter_official_year(db, system_principal("test"), now, notice)
    async with transaction(factory) as db:
        assert await services.recompute_provisional(db, now) == 1
    async with transaction(factory) as db:
        assert await services.recompute_provisional(db, now) == 0

    assert (await desk.running(case.id)) == {"handle": dt.date(2027, 2, 15)}
    assert (await desk.case(case.id)).next_due == dt.date(2027, 2, 15)
    recomputed = [
        p for a, p in await entries(factory, "case", case.id) if a == "case.clock.recomputed"
    ]
    assert recomputed == [
        {
            "clock": "handle",
            "start": "2026-12-10",
            "old_due": "2027-02-11",
            "due": "2027-02-15",
            "cause": "calendar",
            "extension_days": 0,
            "paused_days": 0,
            "provisional": False,
        }
    ]


async def test_a_hearing_lengthens_only_the_recheck_period(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case_id = await replied(desk)
    for status, day, text in (
        (S.review_requested, dt.date(2026, 4, 1), ""),
        (S.reviewed, dt.date(2026, 4, 20), "维持原处理意见。"),
        (S.recheck_requested, dt.date(2026, 5, 6), ""),
    ):
        await desk.advance(clerk, case_id, status, day, text)
    start = dt.date(2026, 5, 6)
    assert (await desk.running(case_id)) == {
        "recheck_decision": desk.due(NATIONAL, "recheck_decision", start)
    }

    async with transaction(desk.factory) as db:
        calendar = await calendar_for(db, desk.c.county.county)
        await services.hearing(db, clerk, at(dt.date(2026, 5, 20)), calendar, case_id, 10)

    longer = desk.due(NATIONAL, "recheck_decision", start, paused_days=10)
    assert (await desk.running(case_id)) == {"recheck_decision": longer}
    entry = await desk.last_entry(case_id, "case.clock.recomputed")
    assert entry["cause"] == "hearing" and entry["paused_days"] == 10


async def test_a_hearing_outside_a_recheck_is_refused(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case_id = await replied(desk)

    async def hold() -> None:
        async with transaction(desk.factory) as db:
            calendar = await calendar_for(db, desk.c.county.county)
            await services.hearing(db, clerk, at(dt.date(2026, 4, 1)), calendar, case_id, 10)

    refusal = await desk.refused(hold)
    assert refusal.instance_slug == "illegal-transition"
