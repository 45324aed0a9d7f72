"""`jiefang cases …`: the cases' periodic work by hand (the worker runs it hourly).

Importing this module also registers the "open cases" check on ending a tenure
(`owner_services`), so `jiefang org …` commands refuse like the web app does.
"""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cli import console, run_in_transaction
from app.core.clock import SystemClock
from app.core.holidays import calendar_for
from app.ownership import owner_services, services  # noqa: F401  (registers the tenure check)


@click.group(name="cases", help="信访事项")
def cases_group() -> None:
    """Cases."""


@cases_group.command(name="close-lapsed", help="终结期满未请求复查、复核的信访事项")
def close_lapsed() -> None:
    async def work(db: AsyncSession) -> str:
        closed = await services.close_lapsed(db, SystemClock().now(), await calendar_for(db))
        return f"已终结 {closed} 件。"

    console.print(run_in_transaction(work))


@cases_group.command(name="recompute", help="按正式节假日安排重算暂定期限")
def recompute() -> None:
    async def work(db: AsyncSession) -> str:
        changed = await services.recompute_provisional(db, SystemClock().now())
        return f"已重算 {changed} 个期限。"

    console.print(run_in_transaction(work))


COMMANDS = [cases_group]
