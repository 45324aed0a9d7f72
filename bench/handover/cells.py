"""The layout before (bench only): every list of the 交接书 as an HTML table with one cell
per value — 11 cells a case, 5,500 for 500 cases — instead of one line of text per row.

`use_cell_tables()` swaps `app.handover.document.handover_html` for a version that renders
the real document and then replaces each list table by the equivalent cell table, built
from the same rows and columns, so the two layouts differ in nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from app.handover import document
from app.handover.document import Column
from app.handover.dossier import Anchor, Dossier, overdue_first

_LIST_TABLE = re.compile(r'<table class="list".*?</table>', re.DOTALL)
_STYLE = """
  table.cells { table-layout: fixed; font-size: 8pt; line-height: 1.3; }
  table.cells th { background: #eee; }
  table.cells td { text-align: center; padding: .4mm .8mm; }
  table.cells td.left { text-align: left; }
  table.cells tr { break-inside: avoid; }
"""


def cell_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    widths = "".join(f'<col style="width:{c.width_mm}mm">' for c in columns)
    head = "".join(f"<th>{escape(c.title)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{'' if c.centred else ' class=left'}>{escape(v)}</td>"
            for c, v in zip(columns, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="cells"><colgroup>{widths}</colgroup>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _lists(dossier: Dossier) -> list[str]:
    cases, backlog = overdue_first(dossier.cases), overdue_first(dossier.backlog)
    tables = [
        (document.CASE_COLUMNS, [document._case_row(n, c) for n, c in enumerate(cases, 1)]),
        (
            document.BACKLOG_COLUMNS,
            [document._backlog_row(n, c) for n, c in enumerate(backlog, 1)],
        ),
        (
            document.ASSIGNMENT_COLUMNS,
            [document._assignment_row(n, a) for n, a in enumerate(dossier.assignments, 1)],
        ),
        (
            document.SITTING_COLUMNS,
            [document._sitting_row(n, s) for n, s in enumerate(dossier.sittings, 1)],
        ),
    ]
    return [cell_table(columns, rows) for columns, rows in tables if rows]


def use_cell_tables() -> None:
    lines_html = document.handover_html

    def cells_html(dossier: Dossier, anchor: Anchor) -> str:
        html = lines_html(dossier, anchor).replace("</style>", _STYLE + "</style>", 1)
        tables = iter(_lists(dossier))
        return _LIST_TABLE.sub(lambda _: next(tables), html)

    document.handover_html = cells_html
