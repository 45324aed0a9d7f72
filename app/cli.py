"""The `jiefang` command: each capability contributes its group of commands."""

from __future__ import annotations

import click

from app.core import cli as core_cli
from app.ledger import cli as ledger_cli
from app.org import cli as org_cli
from app.ownership import cli as ownership_cli
from app.scheduling import cli as scheduling_cli


@click.group(help="接访 Jiefang — 领导接访与包案责任系统")
def main() -> None:
    """The root command group."""


for command in (
    *core_cli.COMMANDS,
    *ledger_cli.COMMANDS,
    *org_cli.COMMANDS,
    *ownership_cli.COMMANDS,
    *scheduling_cli.COMMANDS,
):
    main.add_command(command)
