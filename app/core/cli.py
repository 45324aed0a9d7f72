"""Core commands: keys, database, serving, the worker, accounts, calendar, demo."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import aio, holidays, keys, migrate
from app.core.auth import services as auth_services
from app.core.auth.access import system_principal
from app.core.auth.roles import Role
from app.core.clock import SystemClock
from app.core.db import create_engine, session_factory, transaction
from app.core.errors import DomainError
from app.core.jobs import Worker
from app.core.personal_data import Secrets
from app.core.settings import Settings, load_settings

if TYPE_CHECKING:
    import uvicorn

console = Console(stderr=True)
T = TypeVar("T")
ASGI_APP = "app.asgi:create_app"


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_in_transaction(
    work: Callable[[AsyncSession], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run one unit of work in one transaction; a DomainError exits 1 with its message."""

    async def go() -> T:
        engine = create_engine(settings or load_settings(), pool=False)
        try:
            async with transaction(session_factory(engine)) as db:
                return await work(db)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except DomainError as refused:
        console.print(f"[red]{refused.title}：{refused.detail}[/red]")
        raise SystemExit(1) from refused


# ---------------------------------------------------------------- keys


@click.group(name="keys", help="密钥：创建、检查、轮换")
def keys_group() -> None:
    """Keys live outside the database."""


@keys_group.command(name="init", help="创建系统需要的全部密钥（已存在的绝不覆盖）")
def keys_init() -> None:
    settings = load_settings()
    try:
        created, kept = keys.init_keys(settings.keys_dir, settings.deployment)
    except keys.KeysExistError as exists:
        console.print(f"[yellow]{exists}[/yellow]")
        raise SystemExit(1) from exists
    console.print(f"已创建密钥：{'、'.join(created)}（目录 {settings.keys_dir}）")
    if kept:
        console.print(f"保留已有密钥：{'、'.join(kept)}")
    console.print("请立即备份该目录；丢失 data 密钥将无法解密已存储的证件号码。")


@keys_group.command(name="check", help="检查密钥是否齐全（缺少时退出码为 1）")
def keys_check() -> None:
    settings = load_settings()
    missing = keys.missing_keys(settings.keys_dir)
    if missing:
        console.print(f"缺少密钥：{'、'.join(missing)}")
        raise SystemExit(1)
    console.print(f"密钥齐全（目录 {settings.keys_dir}）")
    ca_certificate = settings.keys_dir / keys.HANDOVER_CA_CERTIFICATE
    console.print(f"交接签章 CA 证书（公开，供审核人员验证签章）：{ca_certificate}")


@keys_group.command(name="rotate", help="轮换一个密钥：旧密钥移入 retired/ 保留")
@click.argument("name")
def keys_rotate(name: str) -> None:
    settings = load_settings()
    try:
        retired = keys.rotate_key(
            settings.keys_dir, name, dt.datetime.now(dt.UTC), settings.deployment
        )
    except (KeyError, ValueError) as refused:
        console.print(f"[red]{refused}[/red]")
        raise SystemExit(1) from refused
    console.print(f"已轮换密钥 {name}，旧密钥保留在 {retired}。请重启全部服务进程。")


# ---------------------------------------------------------------- database


@click.group(name="db", help="数据库迁移")
def db_group() -> None:
    """Alembic owns the schema."""


@db_group.command(name="upgrade", help="把数据库升级到最新结构")
def db_upgrade() -> None:
    from app.ledger.bootstrap import bootstrap_ledgers

    settings = load_settings()
    migrate.upgrade(settings.database_url)

    async def go() -> None:
        engine = create_engine(settings, pool=False)
        try:
            await bootstrap_ledgers(session_factory(engine), settings, SystemClock().now())
        finally:
            await engine.dispose()

    asyncio.run(go())
    console.print("数据库结构已是最新，台账已就绪。")


# ---------------------------------------------------------------- serve and worker


@click.command(name="serve", help="以生产方式运行 Web 服务（uvicorn，多进程）")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Web 进程数")
@click.option(
    "--with-worker/--no-worker", default=False, help="在 Web 进程内运行一个后台任务执行器"
)
def serve(host: str, port: int, workers: int, with_worker: bool) -> None:
    import os

    import uvicorn

    settings = load_settings()
    missing = keys.missing_keys(settings.keys_dir)
    if missing:
        console.print(f"[red]{keys.MissingKeysError(settings.keys_dir, missing)}[/red]")
        raise SystemExit(2)
    if with_worker:
        os.environ["JIEFANG_IN_PROCESS_WORKER"] = "1"
    if workers == 1:
        uvicorn.run(
            ASGI_APP, factory=True, host=host, port=port, proxy_headers=True, log_level="info"
        )
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        ASGI_APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )
    Multiprocess(config, sockets=[tcp_listener(config)]).run()


def tcp_listener(config: uvicorn.Config) -> socket.socket:
    """The listening socket for uvicorn's worker processes, marked as TCP.

    `uvicorn.Config.bind_socket()` leaves the socket's `proto` at 0; accepted connections
    inherit it, and asyncio turns on TCP_NODELAY only for sockets whose `proto` is
    IPPROTO_TCP. With `--workers` > 1 every keep-alive response after the first then waits
    for the client's delayed ACK, ~40 ms on Linux (uvicorn issue #3149). The same
    descriptor, re-wrapped with IPPROTO_TCP, keeps that through the workers' start.
    """
    bound = config.bind_socket()
    listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    listener.set_inheritable(True)
    return listener


@click.command(name="worker", help="运行后台任务执行器（可在多台机器上运行任意多个）")
@click.option("--once", is_flag=True, help="只执行当前到期的任务后退出")
def worker(once: bool) -> None:
    settings = load_settings()

    async def go() -> None:
        from app.jobs import import_all_jobs

        import_all_jobs()
        engine = create_engine(settings)
        runner = Worker(
            session_factory(engine), SystemClock(), keys=keys.KeyRing(settings.keys_dir)
        )
        try:
            if once:
                await runner.ensure_recurring()
                while await runner.run_once():
                    pass
            else:
                await runner.run_forever(asyncio.Event())
        finally:
            await engine.dispose()

    aio.run(go())


# ---------------------------------------------------------------- users


@click.group(name="users", help="工作人员账号")
def users_group() -> None:
    """Staff accounts."""


async def _default_scope(db: AsyncSession) -> int | None:
    from app.org.models import Unit  # the org capability owns units

    counties = list(await db.scalars(select(Unit.id).where(Unit.kind == "county").limit(2)))
    return counties[0] if len(counties) == 1 else None


async def _unit_by_ref(db: AsyncSession, ref: str) -> int:
    from app.org.models import Unit

    found = await db.scalar(select(Unit.id).where((Unit.code == ref) | (Unit.name == ref)))
    if found is None and ref.isdigit():
        found = await db.scalar(select(Unit.id).where(Unit.id == int(ref)))
    if found is None:
        raise DomainError(f"找不到单位 {ref}（可用单位代码、名称或编号）。", slug="not-found")
    return int(found)


@users_group.command(name="create", help="建立账号；--scope 默认为本部署唯一的县")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role])
)
@click.option("--scope", default=None, help="管辖单位（代码、名称或编号）；all 表示全部")
@click.option("--person", type=int, default=None, help="关联人员编号（领导账号必填）")
@click.option("--name", "display_name", default="", help="显示名称")
def users_create(
    username: str,
    password: str,
    roles: tuple[str, ...],
    scope: str | None,
    person: int | None,
    display_name: str,
) -> None:
    async def work(db: AsyncSession) -> str:
        scope_id = (
            None
            if scope == "all"
            else (await _unit_by_ref(db, scope) if scope else await _default_scope(db))
        )
        account = await auth_services.create_account(
            db,
            system_principal("users.create"),
            dt.datetime.now(dt.UTC),
            username=username,
            password=password,
            display_name=display_name or username,
            roles=[Role(r) for r in roles],
            scope_unit_id=scope_id,
            person_id=person,
        )
        return f"已建立账号 {account.username}（编号 {account.id}）"

    console.print(run_in_transaction(work))


# ---------------------------------------------------------------- calendar


@click.group(name="calendar", help="节假日安排")
def calendar_group() -> None:
    """Holiday calendar."""


@calendar_group.command(name="import", help="从文件录入某年国务院正式节假日安排（JSON）")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(path: Path) -> None:
    try:
        data = msgspec.json.decode(path.read_bytes(), type=holidays.YearFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as bad:
        console.print(f"[red]文件格式不正确：{bad}[/red]")
        raise SystemExit(1) from bad

    async def work(db: AsyncSession) -> str:
        row = await holidays.enter_official_year(
            db, system_principal("calendar.import"), dt.datetime.now(dt.UTC), data
        )
        return f"已录入 {row.year} 年正式节假日安排：休息 {len(row.rest_days)} 天，调休上班 {len(row.working_days)} 天"

    console.print(run_in_transaction(work))


@calendar_group.command(name="show", help="列出某年的节假日与调休上班日")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    async def work(db: AsyncSession) -> list[str]:
        cal = await holidays.calendar_for(db)
        start = dt.date(year, 1, 1)
        lines = [f"{year} 年（{'暂定，待国务院通知' if cal.is_provisional(year) else '正式'}）"]
        for offset in range((dt.date(year + 1, 1, 1) - start).days):
            info = cal.describe(start + dt.timedelta(days=offset))
            if info.workday == (info.day.weekday() >= 5):
                kind = "上班" if info.workday else "休息"
                lines.append(f"{info.day.isoformat()} {kind} {info.name or ''}")
        return lines

    for line in run_in_transaction(work):
        click.echo(line)


# ---------------------------------------------------------------- demo


@click.group(name="demo", help="演示数据")
def demo_group() -> None:
    """The demo county."""


@demo_group.command(name="load", help="通过业务服务载入演示县（青溪县）")
@click.option("--if-empty", is_flag=True, help="数据库已有数据时跳过")
def demo_load(if_empty: bool) -> None:
    from app.ownership.deadlines import profile_for_jurisdiction
    from fixtures.demo_county import generate
    from fixtures.load import DemoLoader, database_is_empty, steps

    demo = generate()
    settings = load_settings()

    async def work(db: AsyncSession) -> str:
        if not await database_is_empty(db):
            if if_empty:
                return "数据库已有数据，跳过演示数据。"
            raise DomainError("数据库已有数据，演示数据只能载入空库。", slug="conflict")
        with progress_bar() as bar:
            task = bar.add_task("载入演示县", total=steps(demo))
            await DemoLoader(
                db,
                demo,
                lambda n: bar.advance(task, n),
                secrets=Secrets(keys.KeyRing(settings.keys_dir)),
                profile=profile_for_jurisdiction(settings.jurisdiction),
                keys_dir=settings.keys_dir,
            ).run()
        return "演示县已载入。"

    console.print(run_in_transaction(work))
    print_demo_accounts()


@demo_group.command(name="accounts", help="列出演示账号")
def demo_accounts() -> None:
    print_demo_accounts()


def print_demo_accounts() -> None:
    from app.core.auth.roles import ROLE_LABELS
    from fixtures.demo_county import generate
    from fixtures.demo_handovers import ACCOUNT_NOTES, SIGNING_PIN

    console.print(
        "\n演示账号（密码均为 [bold]jiefang-demo[/bold]），登录地址 http://127.0.0.1:8000/login ："
    )
    for account in generate().accounts:
        labels = "、".join(ROLE_LABELS[Role(r)] for r in account.roles)
        console.print(f"  {account.username:<12} {labels}  {account.display_name}")
    console.print(f"离任交接（签章密码均为 [bold]{SIGNING_PIN}[/bold]，载入时有中文字体才有）：")
    for username, what in ACCOUNT_NOTES.items():
        console.print(f"  {username:<12} {what}")


COMMANDS = [keys_group, db_group, serve, worker, users_group, calendar_group, demo_group]
