"""Core pages: the home page, accounts and the holiday calendar."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import holidays
from app.core.auth import services as auth_services
from app.core.auth.access import Principal, allow, public
from app.core.auth.roles import ROLE_LABELS, Role
from app.core.clock import Clock, local_today
from app.core.errors import DomainError
from app.core.web import flash, nav_item, page

nav_item("首页", "/", frozenset(Role), order=0, own_records=True)
nav_item("账号", "/admin/accounts", {Role.admin}, order=80)
nav_item("节假日", "/admin/calendar", {Role.admin}, order=90)


class HomePages(Controller):
    path = "/"
    include_in_schema = False

    @get("/", opt=public())
    async def home(
        self, request: Request[Any, Any, Any], principal: Principal | None, clock: Clock
    ) -> Template:
        return page(
            request,
            "core/home.html",
            today=local_today(clock),
            roles=[ROLE_LABELS[g.role] + "（" + g.scope_name + "）" for g in principal.grants]
            if principal
            else [],
        )


class AccountPages(Controller):
    path = "/admin/accounts"
    include_in_schema = False

    @get("/", opt=allow(Role.admin))
    async def accounts(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal
    ) -> Template:
        accounts = await auth_services.list_accounts(db, actor)
        return page(request, "core/accounts.html", accounts=accounts, role_labels=ROLE_LABELS)


class CalendarPages(Controller):
    path = "/admin/calendar"
    include_in_schema = False

    @get("/", opt=allow(Role.admin))
    async def calendar(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        year: int | None = None,
    ) -> Template:
        shown = year or local_today(clock).year
        return await self._render(request, db, shown)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        year: int,
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        calendar = await holidays.calendar_for(db)
        start = dt.date(year, 1, 1)
        days = [
            calendar.describe(start + dt.timedelta(days=i))
            for i in range((dt.date(year + 1, 1, 1) - start).days)
        ]
        special = [
            d
            for d in days
            if (d.workday and d.day.weekday() >= 5) or (not d.workday and d.day.weekday() < 5)
        ]
        years = await holidays.official_years(db)
        return page(
            request,
            "core/calendar.html",
            status_code=status_code,
            year=year,
            special=special,
            provisional=calendar.is_provisional(year),
            official=years,
            **extra,
        )

    @post("/", opt=allow(Role.admin))
    async def enter_year(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Principal, clock: Clock
    ) -> Template | Redirect:
        form = await request.form()
        text = str(form.get("notice", ""))
        try:
            data = msgspec.json.decode(text.encode(), type=holidays.YearFile)
            row = await holidays.enter_official_year(db, actor, clock.now(), data)
        except (msgspec.ValidationError, msgspec.DecodeError) as bad:
            return await self._render(
                request, db, local_today(clock).year, 422, error=f"格式不正确：{bad}", notice=text
            )
        except DomainError as refused:
            await db.rollback()
            return await self._render(
                request,
                db,
                local_today(clock).year,
                refused.status,
                error=refused.detail,
                notice=text,
            )
        flash(request, f"已录入 {row.year} 年的正式节假日安排。")
        return Redirect(path=f"/admin/calendar?year={row.year}")


ROUTES = [AccountPages, CalendarPages]
