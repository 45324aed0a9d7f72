"""`jiefang roster solve INSTANCE.json`: the solver on a file, with or without a database."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click
import msgspec

from app.core.cli import console
from app.core.settings import Settings, load_settings
from app.core.workdays import WorkCalendar
from app.scheduling.schemas import Instance, Result
from app.scheduling.sittings import instance_problems
from app.scheduling.solver import solve


@click.group(name="roster", help="接访排班")
def roster_group() -> None:
    """Reception rosters."""


def _database_configured(settings: Settings) -> bool:
    """A database counts as configured when its URL is given or the default file exists."""
    if os.environ.get("JIEFANG_DATABASE_URL"):
        return True
    return (settings.var_dir / "jiefang.db").exists()


async def _calendar_from_db(settings: Settings) -> WorkCalendar:
    from app.core.db import create_engine, session_factory
    from app.core.holidays import official_years

    engine = create_engine(settings, pool=False)
    try:
        async with session_factory(engine)() as db:
            return WorkCalendar.china(official_years=await official_years(db))
    finally:
        await engine.dispose()


def _read(path: Path) -> Instance:
    try:
        instance = msgspec.json.decode(path.read_bytes(), type=Instance)
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise click.ClickException(f"无法读取排班输入文件 {path}：{exc}") from exc
    problems = instance_problems(instance)
    if problems:
        raise click.ClickException("排班输入有误：\n" + "\n".join(problems))
    return instance


def _summary(result: Result) -> str:
    line = f"{result.status}  目标值 {result.objective}  下界 {result.bound}  用时 {result.wall_time_s}s"
    if result.changes:
        line += f"  变动 {result.changes}（最少 {result.min_changes}）"
    return line


@roster_group.command(name="solve")
@click.argument("instance", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="结果写入文件")
@click.option("--time-limit", type=float, default=60.0, show_default=True, help="秒")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-db", is_flag=True, help="不读取数据库中录入的节假日安排")
def roster_solve(
    instance: Path, out: Path | None, time_limit: float, seed: int, no_db: bool
) -> None:
    """Solve INSTANCE.json and print or write the roster JSON."""
    data = _read(instance)
    settings = load_settings()
    calendar = None
    if not no_db and _database_configured(settings):
        calendar = asyncio.run(_calendar_from_db(settings))
    result = solve(data, time_limit=time_limit, seed=seed, calendar=calendar)
    encoded = msgspec.json.format(msgspec.json.encode(result), indent=2)
    if out is None:
        click.echo(encoded.decode())
    else:
        out.write_bytes(encoded + b"\n")
    console.print(_summary(result))
    for conflict in result.conflicts:
        console.print(conflict.message)
    for warning in result.warnings:
        console.print(f"[yellow]{warning}[/yellow]")


COMMANDS = [roster_group]
