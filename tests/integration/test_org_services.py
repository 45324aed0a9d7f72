"""Org services: ending a tenure asks every registered reference holder first; the
holiday calendar entered by an admin overrides the provisional one."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import holidays
from app.core.clock import FixedClock
from app.core.db import transaction
from app.org import references, services
from app.org.errors import TenureReferenced
from app.org.models import Tenure
from app.org.schemas import EndReason, TenureEnd
from tests.integration.conftest import SYSTEM, County


async def test_ending_a_tenure_is_refused_while_something_still_refers_to_it(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, county: County
) -> None:
    async def open_cases(db: AsyncSession, tenure_id: int, end: dt.date) -> list[str]:
        return ["包案信访事项 QX-0001"] if tenure_id == county.tenure else []

    references.CHECKS["test.cases"] = open_cases
    try:
        with pytest.raises(TenureReferenced) as refused:
            async with transaction(factory) as db:
                await services.end_tenure(
                    db,
                    SYSTEM,
                    clock.now(),
                    county.tenure,
                    TenureEnd(dt.date(2026, 4, 1), EndReason.transfer),
                )
        assert "QX-0001" in refused.value.detail and refused.value.status == 409
    finally:
        del references.CHECKS["test.cases"]
    async with factory() as db:
        tenure = await db.get(Tenure, county.tenure)
        assert tenure is not None and tenure.end_date is None


async def test_an_entered_official_year_replaces_the_provisional_one(
    factory: async_sessionmaker[AsyncSession], clock: FixedClock, county: County
) -> None:
    async with factory() as db:
        before = await holidays.calendar_for(db, county.county)
    assert before.is_provisional(2027) and before.is_workday(dt.date(2027, 2, 14)) is False
    notice = holidays.YearFile(
        year=2027,
        source="测试用通知",
        rest_days=["2027-01-01", "2027-02-05/2027-02-11"],
        working_days=["2027-02-14", "2027-02-20"],
    )
    async with transaction(factory) as db:
        await holidays.enter_official_year(db, SYSTEM, clock.now(), notice)
    async with factory() as db:
        after = await holidays.calendar_for(db, county.county)
    assert not after.is_provisional(2027)
    assert after.is_workday(dt.date(2027, 2, 14))
    assert after.is_rest_day(dt.date(2027, 2, 11))


async def test_a_county_rest_day_applies_to_that_county_only(
    factory: async_sessionmaker[AsyncSession], county: County, clock: FixedClock
) -> None:
    async with transaction(factory) as db:
        unit = await services.get_unit(db, county.county)
        await holidays.add_local_rest_day(
            db, SYSTEM, county.county, unit.path, dt.date(2026, 4, 21), "三月三", now=clock.now()
        )
    async with factory() as db:
        mine = await holidays.calendar_for(db, county.county)
        theirs = await holidays.calendar_for(db, county.other_county)
    assert mine.is_rest_day(dt.date(2026, 4, 21))
    assert theirs.is_workday(dt.date(2026, 4, 21))
