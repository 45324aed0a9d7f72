"""Accounts, roles and sign-in. Passwords are argon2id hashes; failed sign-ins are
counted in the database so that every server process enforces one limit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Grant, Principal, require_scope
from app.core.auth.models import Account, LoginAttempt, RoleGrant
from app.core.auth.roles import Role
from app.core.errors import DomainError, InvalidInput, NotFound, TooManyAttempts
from app.ledger import services as ledger
from app.ledger.rules import ledger_action

_hasher = PasswordHasher()
#: Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("jiefang-timing-equaliser")

# The units table belongs to app.org; the core reads only the two columns it needs.
_units = table(
    "units", column("id"), column("path"), column("name"), column("kind"), column("county_id")
)

ACCOUNT_CREATED = ledger_action(
    "core.account.created",
    "account",
    "建立工作人员账号（不记用户名和姓名）",
    person="关联人员编号",
    scope="管辖单位编号（null 为全部署）",
)
ROLE_GRANTED = ledger_action(
    "core.role.granted",
    "account",
    "授予账号一个角色及其管辖范围",
    role="角色",
    scope="管辖单位编号（null 为全部署）",
)
SESSIONS_REVOKED = ledger_action(
    "core.account.sessions_revoked",
    "account",
    "吊销账号此前签发的全部会话与令牌",
)

ROLE_REVOKED = ledger_action(
    "core.role.revoked",
    "account",
    "收回账号的一个角色（如离任后收回与该任职相关的角色）",
    role="角色",
    scope="管辖单位编号（null 为全部署）",
)
ACCOUNT_DISABLED = ledger_action(
    "core.account.disabled",
    "account",
    "停用账号（如离任且不再担任任何职务）：此后不再具有任何角色，仅可登录查阅本人的离任交接档案",
)

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符。")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def unit_path(db: AsyncSession, unit_id: int | None) -> str | None:
    """The materialised path of a unit (None: the whole deployment), for scope checks."""
    return (await _scope_path(db, unit_id))[0]


async def _scope_path(db: AsyncSession, unit_id: int | None) -> tuple[str | None, str]:
    if unit_id is None:
        return None, "全部"
    row = (
        await db.execute(select(_units.c.path, _units.c.name).where(_units.c.id == unit_id))
    ).first()
    if row is None:
        raise InvalidInput(f"管辖单位 {unit_id} 不存在。")
    return str(row.path), str(row.name)


async def create_account(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: Iterable[Role],
    scope_unit_id: int | None,
    person_id: int | None = None,
) -> Account:
    roles = list(dict.fromkeys(roles))
    if not roles:
        raise InvalidInput("账号至少需要一个角色。")
    if Role.leader in roles and person_id is None:
        raise InvalidInput("领导账号必须关联人员。")
    scope_path, _ = await _scope_path(db, scope_unit_id)
    if scope_path is None and actor.scope_paths({Role.admin}) is not None:
        raise DomainError("只有全局管理员可以建立全局账号。", slug="out-of-scope")
    require_scope(actor, {Role.admin}, scope_path or "/", "在该单位建立账号")
    if await db.scalar(select(Account.id).where(func.lower(Account.username) == username.lower())):
        raise DomainError(f"用户名 {username} 已被使用。", slug="duplicate")
    account = Account(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        person_id=person_id,
        sessions_valid_after=now - dt.timedelta(seconds=1),
        created_at=now,
        grants=[RoleGrant(role=role, scope_unit_id=scope_unit_id) for role in roles],
    )
    db.add(account)
    await db.flush()
    county = await county_of_unit(db, scope_unit_id)
    await ledger.append(
        db,
        county=county,
        actor=actor,
        action=ACCOUNT_CREATED,
        subject=("account", account.id),
        at=now,
        role=Role.admin.value,
        payload={"person": person_id, "scope": scope_unit_id},
    )
    for role in roles:
        await ledger.append(
            db,
            county=county,
            actor=actor,
            action=ROLE_GRANTED,
            subject=("account", account.id),
            at=now,
            role=Role.admin.value,
            payload={"role": role.value, "scope": scope_unit_id},
        )
    return account


async def county_of_unit(db: AsyncSession, unit_id: int | None) -> int | None:
    """The county whose ledger records changes scoped to this unit (None: deployment)."""
    if unit_id is None:
        return None
    county = await db.scalar(select(_units.c.county_id).where(_units.c.id == unit_id))
    return int(county) if county is not None else None


async def recent_failures(db: AsyncSession, username: str, since: dt.datetime) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username.lower(), LoginAttempt.succeeded.is_(False))
        .where(LoginAttempt.at >= since)
    )
    return int(count or 0)


async def authenticate(
    db: AsyncSession,
    now: dt.datetime,
    username: str,
    password: str,
    remote: str,
    *,
    max_failures: int,
    window: dt.timedelta,
) -> Account | None:
    """The account when the password is right; None (and one more failure counted) when
    not. Raises TooManyAttempts — before checking the password — once the limit is hit.

    The caller must commit even when this returns None: the failure count is the point.
    """
    key = username.strip().lower()
    if await recent_failures(db, key, now - window) >= max_failures:
        minutes = int(window.total_seconds() // 60)
        raise TooManyAttempts(f"该账号登录失败次数过多，请 {minutes} 分钟后再试。")
    account = await db.scalar(select(Account).where(func.lower(Account.username) == key))
    ok = password_matches(account.password_hash if account else _DUMMY_HASH, password)
    ok = ok and account is not None
    db.add(LoginAttempt(username=key, remote=remote[:64], succeeded=ok, at=now))
    await db.flush()
    return account if ok else None


_GRANTS = RoleGrant.__table__
#: Built once: every request with a credential runs it.
_PRINCIPAL = (
    select(
        Account.username,
        Account.display_name,
        Account.person_id,
        Account.disabled,
        Account.sessions_valid_after,
        _GRANTS.c.role,
        _GRANTS.c.scope_unit_id,
        _units.c.path,
        _units.c.name,
    )
    .select_from(Account)
    .outerjoin(_GRANTS, _GRANTS.c.account_id == Account.id)
    .outerjoin(_units, _units.c.id == _GRANTS.c.scope_unit_id)
    .where(Account.id == bindparam("account_id"))
    .order_by(_GRANTS.c.id)
)


async def principal_for(
    db: AsyncSession, account_id: int, issued_at: dt.datetime
) -> Principal | None:
    """The signed-in principal, or None if the account is gone or its sessions were revoked
    after this credential was issued. A disabled account signs in without any role: only
    `own_records()` routes answer it (its holder's archived handovers).

    Every request with a credential asks this, so it is one statement: the account, each
    grant and the grant's scope unit, joined."""
    rows = (await db.execute(_PRINCIPAL, {"account_id": account_id})).all()
    if not rows or issued_at < rows[0].sessions_valid_after:
        return None
    first = rows[0]
    held = () if first.disabled else tuple(_grant(r) for r in rows if r.role is not None)
    return Principal(
        account_id, first.username, first.display_name, first.person_id, held, first.disabled
    )


def _grant(row: Any) -> Grant:
    if row.scope_unit_id is None:
        return Grant(Role(row.role), None, None)
    return Grant(Role(row.role), row.scope_unit_id, str(row.path), str(row.name))


async def revoke_sessions(
    db: AsyncSession, actor: Principal, account_id: int, now: dt.datetime
) -> None:
    account = await db.get(Account, account_id)
    if account is None:
        raise NotFound(f"账号 {account_id} 不存在。")
    account.sessions_valid_after = now
    await db.flush()
    scopes = {g.scope_unit_id for g in account.grants}
    county = await county_of_unit(db, scopes.pop()) if len(scopes) == 1 else None
    await ledger.append(
        db,
        county=county,
        actor=actor,
        action=SESSIONS_REVOKED,
        subject=("account", account.id),
        payload={},
        at=now,
    )


async def list_accounts(db: AsyncSession, actor: Principal) -> list[Account]:
    accounts = list(await db.scalars(select(Account).order_by(Account.id)))
    paths = actor.scope_paths({Role.admin})
    if paths is None:
        return accounts
    visible = []
    for account in accounts:
        scopes = [await _scope_path(db, g.scope_unit_id) for g in account.grants]
        if scopes and all(p is not None and any(p.startswith(s) for s in paths) for p, _ in scopes):
            visible.append(account)
    return visible


async def purge_login_attempts(db: AsyncSession, before: dt.datetime) -> None:
    from sqlalchemy import delete

    await db.execute(delete(LoginAttempt).where(LoginAttempt.at < before))


async def retire_tenure_roles(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    person_id: int,
    roles: frozenset[Role],
    unit_id: int,
    *,
    disable: bool,
) -> list[int]:
    """After a tenure ends: the person's accounts lose `roles` scoped to the tenure's unit,
    and are disabled (sessions revoked) when `disable` (no other tenure remains): a disabled
    account keeps no role and signs in only to read its holder's own records. Ledgered;
    returns the accounts touched. The caller has checked its own right (the office
    archiving a handover)."""
    accounts = list(
        await db.scalars(
            select(Account)
            .where(Account.person_id == person_id)
            .with_for_update()
            .order_by(Account.id)
        )
    )
    county = await county_of_unit(db, unit_id)
    for account in accounts:
        for grant in [g for g in account.grants if g.scope_unit_id == unit_id and g.role in roles]:
            account.grants.remove(grant)
            await db.flush()
            await _account_ledger(db, actor, now, county, account, ROLE_REVOKED, grant)
        if disable and not account.disabled:
            account.disabled = True
            account.sessions_valid_after = now
            await db.flush()
            await _account_ledger(db, actor, now, county, account, ACCOUNT_DISABLED, None)
    return [a.id for a in accounts]


async def _account_ledger(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    county: int | None,
    account: Account,
    action: str,
    grant: RoleGrant | None,
) -> None:
    payload = {} if grant is None else {"role": grant.role, "scope": grant.scope_unit_id}
    await ledger.append(
        db,
        county=county,
        actor=actor,
        action=action,
        subject=("account", account.id),
        payload=payload,
        at=now,
        role=Role.office.value,
    )
