"""`jiefang org import FILE`: units, people, posts and tenures from a JSON file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import system_principal
from app.core.cli import console, progress_bar, run_in_transaction
from app.org import services
from app.org.models import Unit
from app.org.schemas import EndReason, OrgImport, PersonIn, PostIn, TenureEnd, TenureIn, UnitIn


@click.group(name="org", help="组织机构与人员任职")
def org_group() -> None:
    """Organisation data."""


class _Importer:
    def __init__(self, db: AsyncSession, data: OrgImport) -> None:
        self.db, self.data = db, data
        self.actor = system_principal("org.import")
        self.now = dt.datetime.now(dt.UTC)
        self.persons: dict[str, int] = {}
        self.posts: dict[str, int] = {}

    async def unit_id(self, code: str) -> int:
        found = await self.db.scalar(select(Unit.id).where(Unit.code == code))
        if found is None:
            raise click.ClickException(f"文件引用了不存在的单位代码 {code}")
        return int(found)

    async def run(self, advance: object) -> None:
        step = advance if callable(advance) else (lambda: None)
        for unit in self.data.units:
            parent = await self.unit_id(unit.parent) if unit.parent else None
            await services.create_unit(
                self.db, self.actor, self.now, UnitIn(unit.kind, unit.code, unit.name, parent)
            )
            step()
        for person in self.data.persons:
            county = await self.unit_id(person.county) if person.county else None
            person_row = await services.create_person(
                self.db, self.actor, self.now, PersonIn(person.name, person.gender, county)
            )
            self.persons[person.key] = person_row.id
            step()
        for post in self.data.posts:
            data = PostIn(
                await self.unit_id(post.unit), post.title, post.reception_role, post.single_holder
            )
            self.posts[post.key] = (
                await services.create_post(self.db, self.actor, self.now, data)
            ).id
            step()
        for tenure in sorted(self.data.tenures, key=lambda t: (t.end_date is None, t.start_date)):
            made = await services.appoint(
                self.db,
                self.actor,
                self.now,
                TenureIn(
                    self.persons[tenure.person],
                    self.posts[tenure.post],
                    tenure.start_date,
                    tenure.portfolio,
                ),
            )
            if tenure.end_date:
                await services.end_tenure(
                    self.db,
                    self.actor,
                    self.now,
                    made.id,
                    TenureEnd(tenure.end_date, EndReason.other),
                )
            step()


@org_group.command(
    name="import", help="从 JSON 文件导入单位、人员、职务和任职（全部成功或全部不导入）"
)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def org_import(path: Path) -> None:
    try:
        data = msgspec.json.decode(path.read_bytes(), type=OrgImport)
    except (msgspec.ValidationError, msgspec.DecodeError) as bad:
        console.print(f"[red]文件格式不正确：{bad}[/red]")
        raise SystemExit(1) from bad
    total = len(data.units) + len(data.persons) + len(data.posts) + len(data.tenures)

    async def work(db: AsyncSession) -> str:
        with progress_bar() as bar:
            task = bar.add_task("导入组织机构", total=total)
            await _Importer(db, data).run(lambda: bar.advance(task))
        return f"已导入 {len(data.units)} 个单位、{len(data.persons)} 名人员、{len(data.tenures)} 条任职。"

    console.print(run_in_transaction(work))


COMMANDS = [org_group]
