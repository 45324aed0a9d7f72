"""Who may call what: every route declares its access; anything undeclared is refused.

Routes say `opt=allow(Role.admin)` (or `public()`, `signed_in()`, `own_records()`); the guard
loads the caller — a Bearer token under /api, the session cookie on pages — and refuses
whatever the declaration does not allow. Scope (which units a role reaches) is checked by
services with `require_scope`, since it depends on the record being touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.auth.roles import ROLE_LABELS, Role
from app.core.errors import DomainError, Forbidden, NotAuthenticated


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    scope_unit_id: int | None
    scope_path: str | None  # materialised path of the scope unit; None = whole deployment
    scope_name: str = "全部"

    def reaches(self, unit_path: str) -> bool:
        return self.scope_path is None or unit_path.startswith(self.scope_path)


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    username: str
    display_name: str
    person_id: int | None
    grants: tuple[Grant, ...] = field(default=())
    #: The account is disabled (its holder left every post): no role acts, and only
    #: routes open to `own_records()` answer — the person's own archived handovers.
    disabled: bool = False

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has_any(self, roles: Iterable[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    def grants_for(self, roles: Iterable[Role]) -> list[Grant]:
        wanted = frozenset(roles)
        return [g for g in self.grants if g.role in wanted]

    def reaches(self, roles: Iterable[Role], unit_path: str) -> bool:
        return any(g.reaches(unit_path) for g in self.grants_for(roles))

    def scope_paths(self, roles: Iterable[Role]) -> list[str] | None:
        """The scope paths these roles reach; None when one of them reaches everything."""
        paths: list[str] = []
        for grant in self.grants_for(roles):
            if grant.scope_path is None:
                return None
            paths.append(grant.scope_path)
        return paths

    def describe_roles(self) -> str:
        return "、".join(f"{ROLE_LABELS[g.role]}（{g.scope_name}）" for g in self.grants)


@dataclass(frozen=True, slots=True)
class Access:
    public: bool = False
    roles: frozenset[Role] = frozenset()
    #: Also open to a signed-in account without any role (a disabled account): the
    #: service shows such a caller only records about their own person.
    own_records: bool = False


def public() -> dict[str, Any]:
    return {"access": Access(public=True)}


def signed_in() -> dict[str, Any]:
    return {"access": Access(roles=frozenset(Role))}


def own_records() -> dict[str, Any]:
    """Any signed-in account, a disabled one included: routes that read records about the
    caller's own person, such as the archived 交接书 a departed official keeps a copy of."""
    return {"access": Access(roles=frozenset(Role), own_records=True)}


def allow(*roles: Role) -> dict[str, Any]:
    if not roles:
        raise ValueError("allow() needs at least one role; use public() for open routes")
    return {"access": Access(roles=frozenset(roles))}


def require_signed_in(principal: Principal | None) -> Principal:
    if principal is None:
        raise NotAuthenticated("请先登录后再进行此操作。")
    return principal


def require_scope(principal: Principal, roles: Iterable[Role], unit_path: str, what: str) -> None:
    """Refuse (403) unless one of the principal's grants for these roles reaches the unit."""
    wanted = frozenset(roles)
    if not principal.has_any(wanted):
        raise Forbidden(f"您的账号没有{_labels(wanted)}权限，不能{what}。")
    if not principal.reaches(wanted, unit_path):
        raise DomainError(f"该单位不在您账号的管辖范围内，不能{what}。", slug="out-of-scope")


def _labels(roles: frozenset[Role]) -> str:
    return "或".join(sorted(ROLE_LABELS[r] for r in roles))


def system_principal(job: str) -> Principal:
    """The actor of command-line work and jobs: a deployment-wide admin that is no account."""
    return Principal(0, f"system:{job}", "系统", None, (Grant(Role.admin, None, None),))
