from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services, tokens
from app.core.auth.access import Principal, public, signed_in
from app.core.auth.schemas import GrantOut, MeOut, TokenRequest, TokenResponse
from app.core.clock import Clock
from app.core.problems import problem_response
from app.core.web import runtime_of


def remote_of(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "-"


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ("auth",)

    @post("/token", opt=public(), status_code=200)
    async def token(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, data: TokenRequest
    ) -> Response[Any] | TokenResponse:
        """Exchange a username and password for a Bearer token."""
        settings = runtime_of(request).settings
        now = clock.now()
        account = await services.authenticate(
            db,
            now,
            data.username,
            data.password,
            remote_of(request),
            max_failures=settings.login_max_failures,
            window=dt.timedelta(minutes=settings.login_window_minutes),
        )
        if account is None:
            # Returned, not raised: the failed attempt must be committed to count.
            return problem_response(request, "invalid-credentials", "用户名或密码不正确。")
        ttl = settings.token_ttl_minutes * 60
        token = tokens.issue(runtime_of(request).token_key, account.id, int(now.timestamp()), ttl)
        return TokenResponse(access_token=token, token_type="Bearer", expires_in=ttl)

    @get("/me", opt=signed_in())
    async def me(self, actor: Principal) -> MeOut:
        """The signed-in account with its roles and scopes."""
        return MeOut(
            account_id=actor.account_id,
            username=actor.username,
            display_name=actor.display_name,
            person_id=actor.person_id,
            grants=[GrantOut(g.role, g.scope_unit_id, g.scope_name) for g in actor.grants],
        )
