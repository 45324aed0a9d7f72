"""`jiefang ledger …`: verify, checkpoint, prove, verify-bundle, key."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.cli import console, run_in_transaction
from app.core.db import create_engine, session_factory, transaction
from app.core.settings import load_settings
from app.ledger import bundle as bundles
from app.ledger import services
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import Ledger
from app.ledger.note import NoteError, parse_checkpoint
from app.ledger.verify import Report, verify_ledger

T = TypeVar("T")


@click.group(name="ledger", help="台账：验证、检查点、证明")
def ledger_group() -> None:
    """The tamper-evident ledgers."""


def _snapshot(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run read-only work on one consistent snapshot of the database."""
    settings = load_settings()

    async def go() -> T:
        engine = create_engine(settings, pool=False)
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        try:
            async with transaction(session_factory(engine)) as db:
                return await work(db)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _print_report(report: Report, timings: bool) -> None:
    if report.ok:
        against = f"，与您保存的检查点（大小 {report.against.size}）一致" if report.against else ""
        console.print(
            f"[green]✓ {report.origin}：{report.entries} 条记录、{report.checkpoints} 个检查点"
            f"全部验证通过{against}。[/green]"
        )
    else:
        console.print(f"[red]✗ {report.origin}：发现 {len(report.problems)} 处问题。[/red]")
        for problem in report.problems:
            console.print(f"  - {problem.message}")
    if timings:
        spent = "，".join(f"{k} {v:.3f}s" for k, v in report.timings.items())
        console.print(f"  用时：{spent}")


@ledger_group.command(name="verify", help="从叶子字节重建并核对台账；有问题时退出码非 0")
@click.option("--ledger", "ref", default=None, help="台账编号、origin 或县代码（默认全部）")
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="此前保存的已签名检查点文件：核对今天的日志仍然包含它",
)
@click.option("--timings", is_flag=True, help="显示读取、哈希建树与列重编码各自用时")
def verify(ref: str | None, against: Path | None, timings: bool) -> None:
    settings = load_settings()
    keys = verifiers(settings.keys_dir)
    saved = against.read_text(encoding="utf-8") if against else None
    if saved is not None and ref is None:
        try:
            ref = parse_checkpoint(saved.split("\n\n", 1)[0] + "\n").origin
        except NoteError as bad:
            raise click.ClickException(f"检查点文件格式不正确：{bad}") from bad

    async def work(db: AsyncSession) -> list[Report]:
        chosen = [await services.get_ledger(db, ref)] if ref else await services.ledgers(db)
        return [await verify_ledger(db, ledger, keys, against=saved) for ledger in chosen]

    gc.disable()  # a batch walk over millions of rows: no cycles to collect, much to scan
    try:
        reports = _snapshot(work)
    finally:
        gc.enable()
    for report in reports:
        _print_report(report, timings)
    if not all(r.ok for r in reports):
        raise SystemExit(1)


@ledger_group.command(name="checkpoint", help="为增长了的台账立即签发检查点")
@click.option("--ledger", "ref", default=None, help="台账编号、origin 或县代码（默认全部）")
def checkpoint(ref: str | None) -> None:
    settings = load_settings()
    key = signer(settings.keys_dir)

    async def work(db: AsyncSession) -> list[str]:
        chosen = [await services.get_ledger(db, ref)] if ref else await services.ledgers(db)
        lines = []
        for ledger in chosen:
            made = await make_checkpoint(db, ledger.id, key, dt.datetime.now(dt.UTC))
            state = f"新检查点，大小 {made.size}" if made else "没有新记录，无需新检查点"
            lines.append(f"{ledger.origin}：{state}")
        return lines

    for line in run_in_transaction(work, settings):
        console.print(line)


async def _covering(db: AsyncSession, ledger: Ledger, seq: int, size: int | None) -> int | None:
    """A checkpoint size that covers `seq`, signing a new checkpoint when none does."""
    if size is not None:
        return size
    latest = await services.latest_checkpoint(db, ledger.id)
    if latest is None or latest.size <= seq:
        key = signer(load_settings().keys_dir)
        await make_checkpoint(db, ledger.id, key, dt.datetime.now(dt.UTC))
    return None


@ledger_group.command(name="prove", help="导出一条记录的离线证明包（docs/ledger-bundle.md）")
@click.argument("seq", type=int)
@click.option(
    "--ledger", "ref", default=None, help="台账编号、origin 或县代码（只有一个县时可省略）"
)
@click.option("--size", type=int, default=None, help="按该大小的检查点证明（默认最新）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def prove(seq: int, ref: str | None, size: int | None, out: Path) -> None:
    async def work(db: AsyncSession) -> bytes:
        ledger = (
            await services.get_ledger(db, ref) if ref else await services.only_county_ledger(db)
        )
        chosen = await _covering(db, ledger, seq, size)
        return bundles.dumps(await services.proof_bundle(db, ledger, seq, chosen))

    out.write_bytes(run_in_transaction(work))
    console.print(f"已写出证明包：{out}")


def _read_keys(value: str) -> str:
    path = Path(value)
    return path.read_text(encoding="utf-8") if path.is_file() else value


@ledger_group.command(name="verify-bundle", help="只凭证明包与验证公钥离线核对一条记录")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key", required=True, help="验证公钥字符串，或每行一个公钥的文件")
def verify_bundle(path: Path, key: str) -> None:
    try:
        keys = bundles.verifiers_from_text(_read_keys(key))
    except NoteError as bad:
        raise click.ClickException(f"验证公钥不正确：{bad}") from bad
    verdict = bundles.check_bundle(path.read_bytes(), keys)
    for check in verdict.checks:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        console.print(f"{mark} {check.label}：{check.detail}")
    console.print(verdict.summary())
    if not verdict.ok:
        raise SystemExit(1)


@ledger_group.command(name="key", help="打印检查点验证公钥（当前的在前，其后为已轮换的）")
def key() -> None:
    for verifier in verifiers(load_settings().keys_dir):
        click.echo(verifier.to_string())


COMMANDS = [ledger_group]
