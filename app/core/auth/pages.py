from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services
from app.core.auth.access import public
from app.core.auth.routes import remote_of
from app.core.clock import Clock
from app.core.errors import TooManyAttempts
from app.core.web import page, runtime_of


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not send anyone elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class LoginPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", opt=public())
    async def login_form(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Template:
        return page(request, "login.html", next=_safe_next(next))

    @post("/login", opt=public())
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template | Redirect:
        form = await request.form()
        username = str(form.get("username", "")).strip()
        target = _safe_next(str(form.get("next", "/")))
        settings = runtime_of(request).settings
        now = clock.now()
        try:
            account = await services.authenticate(
                db,
                now,
                username,
                str(form.get("password", "")),
                remote_of(request),
                max_failures=settings.login_max_failures,
                window=dt.timedelta(minutes=settings.login_window_minutes),
            )
        except TooManyAttempts as refused:
            return page(
                request,
                "login.html",
                status_code=429,
                error=refused.detail,
                username=username,
                next=target,
            )
        if account is None:
            return page(
                request,
                "login.html",
                status_code=401,
                error="用户名或密码不正确。",
                username=username,
                next=target,
            )
        request.set_session({"account_id": account.id, "issued": int(now.timestamp())})
        return Redirect(path=target)

    @post("/logout", opt=public())
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect(path="/login")
