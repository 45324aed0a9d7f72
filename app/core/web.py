"""Request plumbing shared by every capability: the app state, the per-request
transaction, the access guard, and the page renderer with its navigation."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.auth import tokens
from app.core.auth.access import Access, Principal
from app.core.auth.roles import Role
from app.core.auth.services import principal_for
from app.core.clock import Clock
from app.core.db import one_statement_factory, transaction
from app.core.errors import Forbidden, NotAuthenticated
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    keys: KeyRing
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def token_key(self) -> bytes:
        return self.keys.derive("session", "api-token")

    @functools.cached_property
    def secrets(self) -> Secrets:
        """Sealing and keyed hashes of personal numbers (derived once per process)."""
        return Secrets(self.keys)

    @functools.cached_property
    def lookups(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for a read of one statement (the guard's principal), no transaction."""
        return one_statement_factory(self.engine)


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


# ---------------------------------------------------------------- dependencies


async def provide_db(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed after the handler, rolled back on error."""
    async with transaction(runtime_of(request).factory) as session:
        yield session


def provide_clock(request: Request[Any, Any, Any]) -> Clock:
    return runtime_of(request).clock


def provide_principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def provide_actor(request: Request[Any, Any, Any]) -> Principal:
    principal = provide_principal(request)
    if principal is None:
        raise NotAuthenticated("请先登录。")
    return principal


# ---------------------------------------------------------------- the guard


def _is_api(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.url.path.startswith("/api/")


async def _load_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    runtime = runtime_of(connection)
    now = runtime.clock.now()
    if _is_api(connection):
        header = connection.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        claims = tokens.read(runtime.token_key, header[7:].strip(), int(now.timestamp()))
        if claims is None:
            return None
        account_id, issued = claims.account_id, claims.issued_at
    else:
        session = connection.scope.get("session")
        if not isinstance(session, dict) or "account_id" not in session:
            return None
        account_id, issued = int(session["account_id"]), int(session.get("issued", 0))
    async with runtime.lookups() as db:
        return await principal_for(db, account_id, dt.datetime.fromtimestamp(issued, dt.UTC))


async def access_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Every route declares its access (`opt=allow(...)`/`public()`); anything else is refused."""
    access = handler.opt.get("access")
    principal = await _load_principal(connection)
    connection.scope["user"] = principal
    if not isinstance(access, Access):
        raise Forbidden("该地址未声明访问权限，已拒绝。")
    if access.public:
        return
    if principal is None:
        raise NotAuthenticated("请先登录。")
    if access.own_records:
        return
    if principal.disabled:
        raise Forbidden("您的账号已停用，只能查阅本人的离任交接档案。")
    if not principal.has_any(access.roles):
        raise Forbidden("您的账号角色无权访问此功能。")


# ---------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[Role]
    order: int = 50
    own_records: bool = False  # also shown to an account without roles (disabled)


NAV: list[NavItem] = []


def nav_item(
    label: str,
    href: str,
    roles: frozenset[Role] | set[Role],
    order: int = 50,
    *,
    own_records: bool = False,
) -> None:
    NAV.append(NavItem(label, href, frozenset(roles), order, own_records))


def _shown(item: NavItem, principal: Principal) -> bool:
    if not principal.grants:
        return item.own_records
    return principal.has_any(item.roles)


def _nav_for(principal: Principal | None, path: str) -> list[dict[str, Any]]:
    if principal is None:
        return []
    items = sorted((i for i in NAV if _shown(i, principal)), key=lambda i: i.order)
    return [
        {
            "label": i.label,
            "href": i.href,
            "active": path == i.href or path.startswith(i.href + "/"),
        }
        for i in items
        if i.href != "/" or path == "/"
    ]


def flash(request: Request[Any, Any, Any], text: str, category: str = "success") -> None:
    messages = list(request.session.get("_messages", []))
    messages.append({"category": category, "text": text})
    request.session["_messages"] = messages


def private(template: Template) -> Template:
    """A page with personal details: never kept by a shared cache or the browser's
    back-forward store."""
    template.headers["Cache-Control"] = "no-store"
    return template


def page(
    request: Request[Any, Any, Any], template: str, status_code: int = 200, **context: Any
) -> Template:
    principal = provide_principal(request)
    messages: list[dict[str, str]] = []
    if "session" in request.scope and request.session.get("_messages"):
        messages = list(request.session.pop("_messages"))
    return Template(
        template_name=template,
        status_code=status_code,
        context={
            "principal": principal,
            "nav": _nav_for(principal, request.url.path),
            "messages": messages,
            **context,
        },
    )
