"""The sitting listing reads each page in one statement that joins a sitting's rule, venue
and official, and nothing else (the units of the rule and venue, and the rule's own venue,
are not needed to list a sitting)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.scheduling import booking_services as bookings

pytest_plugins = ["tests.integration.test_booking_services"]

DAY = dt.date(2026, 3, 5)


async def test_a_page_is_one_statement_over_sittings_rules_venues_and_officials(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession], sitting: int
) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT"):  # not SQLite's BEGIN IMMEDIATE
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with factory() as db:
            found = await bookings.published_sittings(db, DAY, DAY)
            listed = {s.id: (s.rule.name, s.venue.name, s.person.name) for s in found}
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert all(listed[sitting]), listed
    assert len(statements) == 1, statements
    joined = re.split(r"\sFROM\s", statements[0], maxsplit=1)[1]
    assert "reception_rules" in joined and "venues" in joined and "persons" in joined
    assert "units" not in joined, joined
