"""The 信访工作离任交接书 as PDF: the dossier laid out for people, and attached for programs.

The document is rendered from the frozen dossier only (no database, no clock): the same
dossier gives the same pages (and the same bytes where WeasyPrint subsets fonts with
HarfBuzz; its fontTools fallback stamps the time into each font). Its footer prints on every page the SHA-256 of the dossier's
canonical JSON and the ledger checkpoint the snapshot is anchored to, and the JSON itself is
embedded as the file attachment `dossier.json`, byte for byte `canonical(dossier)`, so a
reviewer holding only the PDF can recompute the hash and walk the chain to the ledger.

PDF/A-3b (ISO 19005-3): the archival profile that allows embedded files, with the dossier
attached as the document's `Data` (its AFRelationship). The three signatures are later
incremental updates (`app.handover.signing.sign_pdf`) that leave the rendered revision
untouched, and all three validate. One thing to know: the signers' keys are ECDSA P-256,
which pyHanko declares through the ISO/TS 32002 extension, so the first signature's update
sets the catalog's /Version to 2.0 (the header stays %PDF-1.7). The unsigned document is
PDF/A-3b; a strict PDF/A-3 checker may object to that /Version in the signed file.
`PDF_VARIANT = "pdf/a-4f"` (PDF/A-4 on PDF 2.0, embedded files allowed) renders, signs and
validates the same way and has no such mismatch.

Speed (bench/README.md, "Departure handover"): WeasyPrint's cost is per element and per
line box, not per character. A list of 500 cases with a table cell per value is 5,500
cells, each with its own cascade, boxes, Pango layout and drawing: about 7 s of CPU here.
So each row of a list is one line of text instead. Its columns start where they must
because the gaps between them are runs of the space characters fonts carry as glyphs of
fixed width (em, en, 1/3 … thin and hair spaces), chosen with the font's own advance widths
(read with fontTools; kerning and ligatures are off in the lists so widths add up): every
column starts within a few hundredths of a point of its place. A value too wide for its
column wraps onto more lines of its row. A list is a table whose first cell in each row
holds the text of a chunk of rows (up to eight lines) running across the other, empty
cells, whose borders are the column rules; the rule under each row is the underline of its
line, and the page breaks only between chunks, so the header repeats and no row is cut.
Rules made as gradients, SVG or images would each add PDF objects per row or page, and
pyHanko's check of what later revisions changed grows fast with the number of objects
(validating three signatures took 28 s for 300 cases with gradient rules; 0.25 s now).
Tabs would be simpler, but WeasyPrint 70 draws a tab 2.4 % wider than Pango laid it out.
A character missing from the font comes from a fallback font whose width is only
estimated (as wide as a Chinese character): that row's later columns may start a little
off.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
import subprocess
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Final

import jinja2
from fontTools.ttLib import TTFont, TTLibError  # type: ignore[import-untyped]
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from app.core.clock import SHANGHAI
from app.core.pdf import PdfAttachment, cjk_font, font_family, render_pdf
from app.handover.dossier import (
    Anchor,
    Dossier,
    DossierAssignment,
    DossierCase,
    DossierSitting,
    Figures,
    canonical,
    overdue_first,
)
from app.ownership import charts

ATTACHMENT_NAME: Final = "dossier.json"
ATTACHMENT_DESCRIPTION: Final = "信访工作离任交接清单（RFC 8785 规范化 JSON）"
PDF_VARIANT: Final = "pdf/a-3b"
TEMPLATE: Final = "handover/document.html"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# ---------------------------------------------------------------- wording


def cn_date(iso: str | None) -> str:
    """2026-03-31 → 2026年3月31日; "—" for no date."""
    if not iso:
        return "—"
    day = dt.date.fromisoformat(iso)
    return f"{day.year}年{day.month}月{day.day}日"


def overdue_words(days: int) -> str:
    """The overdue mark in words: "逾期3天", or "未逾期"."""
    return f"逾期{days}天" if days > 0 else "未逾期"


def local_time(rfc3339: str) -> str:
    """An RFC 3339 instant as Beijing time: 2026年3月31日 14:30."""
    moment = dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).astimezone(SHANGHAI)
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"


def css_string(text: str) -> str:
    """`text` as a quoted CSS string (for `content:` of the page's margin boxes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ")
    return f'"{escaped}"'


_TEMPLATES.filters.update(cn_date=cn_date)


# ---------------------------------------------------------------- list tables

LIST_FONT_PT: Final = 8.0  # the template's `table.list` font-size
CELL_PADDING_MM: Final = 0.8  # between a column's rule and its text, each side
LINE_PT: Final = 12  # the template's `table.list td` line-height
RULE_PT: Final = 0.5  # the rules' thickness
CHUNK_LINES: Final = 8
_EM_PER_MM: Final = 72 / 25.4 / LIST_FONT_PT
# One token is a run that must not be broken (a code, a date, a number, with the
# separator after it), or any other single character (Chinese breaks anywhere).
_TOKENS = re.compile(r"[0-9A-Za-z.:/\-]+[、，,；; ]?|.", re.DOTALL)
# Spaces that fonts carry as glyphs of fixed width (em, en, 1/3, 1/4, 1/6 em, figure,
# punctuation, thin, hair, ideographic, plain): padding is made of these.
_SPACES: Final = "\u2003\u2002\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u3000 "


def _font_file(family: str) -> tuple[str, int]:
    """The file and face index fontconfig (as Pango) picks for `family`."""
    found = subprocess.run(
        ["fc-match", "-f", "%{file}|%{index}", family], capture_output=True, text=True, check=True
    ).stdout
    path, index = found.rsplit("|", 1)
    return path, int(index or 0)


@functools.cache
def _advances(family: str) -> dict[int, float]:
    """Code point → advance width in em of the font fontconfig picks for `family`
    (empty when it cannot be read: then `_em` estimates)."""
    try:
        path, index = _font_file(family)
        font = TTFont(path, fontNumber=index, lazy=True)
        upem = font["head"].unitsPerEm
        metrics = font["hmtx"].metrics
        return {cp: metrics[glyph][0] / upem for cp, glyph in font.getBestCmap().items()}
    except (OSError, ValueError, KeyError, TTLibError, subprocess.CalledProcessError):
        return {}


def _em(advances: dict[int, float], char: str) -> float:
    """A character's width in em; unknown ones as wide as a Chinese character (1 em) unless
    narrow, so the estimate errs on the wide side and text never spills out of its cell."""
    known = advances.get(ord(char))
    if known is not None:
        return known
    return 0.6 if unicodedata.east_asian_width(char) in "NaH" else 1.0


@functools.cache
def _space_runs(spaces: tuple[tuple[float, str], ...]) -> list[tuple[float, str]]:
    """Every run of up to four of `spaces` (width, character), by total width."""
    runs = {0.0: ""}
    for _ in range(4):
        runs |= {round(w + s, 6): run + c for w, run in list(runs.items()) for s, c in spaces}
    return sorted(runs.items())


@functools.cache
def _vertical_metrics(family: str) -> tuple[float, float]:
    """(ascent, descent) in em of the font fontconfig picks for `family` (hhea, as Pango
    reads them); a common CJK pair when it cannot be read."""
    try:
        path, index = _font_file(family)
        font = TTFont(path, fontNumber=index, lazy=True)
        upem, hhea = font["head"].unitsPerEm, font["hhea"]
        return hhea.ascent / upem, -hhea.descent / upem
    except (OSError, ValueError, KeyError, TTLibError, subprocess.CalledProcessError):
        return 0.88, 0.12


def underline_offset_pt() -> float:
    """Where the list's row rule goes, below the baseline: at the bottom of the line box
    (baseline = half the leading + ascent), less the rule's thickness."""
    ascent, descent = _vertical_metrics(cjk_font() or "sans-serif")
    return LINE_PT / 2 - (ascent - descent) * LIST_FONT_PT / 2 - RULE_PT


class Metrics:
    """Widths of text in the list's font, and runs of space glyphs of a given width.

    A list row is one line of text whose columns start where they must because the gaps
    between them are space characters of known widths (see the module's docstring)."""

    def __init__(self, advances: dict[int, float]) -> None:
        self._advances = advances
        spaces = {c: advances[ord(c)] for c in _SPACES if advances.get(ord(c), 0) > 0}
        self._spaces = spaces or {"\u3000": 1.0, " ": _em(advances, " ")}
        self._unit = max(self._spaces, key=self._spaces.__getitem__)
        small = [(w, c) for c, w in self._spaces.items() if c != self._unit]
        self._fractions = _space_runs(tuple(sorted(small)))

    def width(self, text: str) -> float:
        return sum(_em(self._advances, char) for char in text)

    def gap(self, em: float) -> str:
        """Spaces as close to `em` wide as the font's space glyphs allow: whole em spaces,
        then the run of narrower ones nearest the rest (a hundredth of an em or so with the
        usual en … hair spaces); one em space fewer when that leaves a rest they fit better."""
        unit = self._spaces[self._unit]
        whole = max(0, int(em // unit))
        options = [(n, self._nearest(em - n * unit)) for n in {whole, max(0, whole - 1)}]
        n, (_, run) = min(options, key=lambda o: abs(em - o[0] * unit - o[1][0]))
        return self._unit * n + run

    def _nearest(self, rest: float) -> tuple[float, str]:
        widths = [w for w, _ in self._fractions]
        i = bisect.bisect_left(widths, rest)
        return min(self._fractions[max(0, i - 1) : i + 1], key=lambda f: abs(f[0] - rest))


def _split(token: str, room: float, width: Callable[[str], float]) -> list[str]:
    """A token too wide for a whole line, cut character by character."""
    parts, part = [], ""
    for char in token:
        if part and width(part + char) > room:
            parts.append(part)
            part = ""
        part += char
    return [*parts, part]


def wrap(text: str, room: float, width: Callable[[str], float]) -> list[str]:
    """`text` as lines no wider than `room` (em), broken between tokens where possible."""
    lines, line = [], ""
    for token in _TOKENS.findall(" ".join(text.split())):
        if line and width(line + token.rstrip()) > room:
            lines.append(line.rstrip())
            line = ""
        if not line and width(token.rstrip()) > room:
            *full, line = _split(token, room, width)
            lines += full
        else:
            line += token
    return [*lines, line.rstrip()]


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width_mm: float
    centred: bool = False
    wraps: bool = True  # False for codes: never cut, at worst a little wider than the cell

    @property
    def room(self) -> float:
        """The width its text may take, in em of the list's font."""
        return (self.width_mm - 2 * CELL_PADDING_MM) * _EM_PER_MM


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows kept together on a page: their lines but the last are underlined (the rule
    under each row), the chunk's cells draw the rule under the last."""

    ruled: str  # lines with the rule under each, "\n" after each
    last: str  # the chunk's last line(s), ruled by the cell borders


@dataclass(frozen=True, slots=True)
class ListTable:
    header: str
    chunks: list[Chunk]
    rows: int
    widths_mm: list[float]


def _line(columns: Sequence[Column], parts: Sequence[str], metrics: Metrics) -> str:
    """One line of a row: each part placed in its column by the gap before it, and spaces
    to the table's edge so the line's underline runs across the whole row."""
    out, x, left = [], 0.0, 0.0
    for column, part in zip(columns, parts, strict=True):
        width = metrics.width(part)
        indent = (column.room - width) / 2 if column.centred else 0.0
        start = left + CELL_PADDING_MM * _EM_PER_MM + max(0.0, indent)
        if part:
            out += [metrics.gap(start - x), part]
            x = start + width
        left += column.width_mm * _EM_PER_MM
    return "".join([*out, metrics.gap(left - x)])


def _row_lines(columns: Sequence[Column], values: Sequence[str], metrics: Metrics) -> list[str]:
    """A row as its lines: values too wide for their column wrap onto more lines."""
    parts = [
        wrap(value, column.room, metrics.width) if column.wraps else [value]
        for column, value in zip(columns, values, strict=True)
    ]
    height = max(len(p) for p in parts)
    return [
        _line(columns, [p[i] if i < len(p) else "" for p in parts], metrics) for i in range(height)
    ]


def _chunk(rows: Sequence[list[str]]) -> Chunk:
    if len(rows[0]) > 1:  # a row of several lines is a chunk of its own, ruled by the cells
        return Chunk("", "\n".join(rows[0]))
    return Chunk("".join(row[0] + "\n" for row in rows[:-1]), rows[-1][0])


def _chunks(rows: Iterable[list[str]]) -> Iterator[Chunk]:
    """Runs of one-line rows up to `CHUNK_LINES`, and each taller row alone."""
    pending: list[list[str]] = []
    for row in rows:
        if pending and (len(row) > 1 or len(pending) >= CHUNK_LINES):
            yield _chunk(pending)
            pending = []
        pending.append(row)
        if len(row) > 1:
            yield _chunk(pending)
            pending = []
    if pending:
        yield _chunk(pending)


def list_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> ListTable:
    """Rows laid out as lines of text in chunks (see the module's docstring)."""
    metrics = Metrics(_advances(cjk_font() or "sans-serif"))
    centred = [Column(c.title, c.width_mm, centred=True) for c in columns]
    header = "\n".join(_row_lines(centred, [c.title for c in columns], metrics))
    lines = (_row_lines(columns, values, metrics) for values in rows)
    widths = [c.width_mm for c in columns]
    return ListTable(header, list(_chunks(lines)), len(rows), widths)


CASE_COLUMNS: Final = [
    Column("序号", 8, centred=True),
    Column("诉求码", 21, wraps=False),
    Column("类别", 18.5),
    Column("类型", 16.5, centred=True),
    Column("状态", 17, centred=True),
    Column("包案角色", 13.5, centred=True),
    Column("受理日期", 16.5, centred=True),
    Column("下一期限", 16.5, centred=True),
    Column("期限名称", 19, centred=True),
    Column("逾期", 15, centred=True),
    Column("积案", 8, centred=True),
]
BACKLOG_COLUMNS: Final = [
    Column("序号", 8, centred=True),
    Column("诉求码", 21, wraps=False),
    Column("类别", 43),
    Column("状态", 20, centred=True),
    Column("包案角色", 18, centred=True),
    Column("受理日期", 20, centred=True),
    Column("化解时限", 20, centred=True),
    Column("逾期", 20, centred=True),
]
ASSIGNMENT_COLUMNS: Final = [
    Column("序号", 8, centred=True),
    Column("诉求码", 21, wraps=False),
    Column("承办单位", 81),
    Column("办理期限", 30, centred=True),
    Column("状态", 30, centred=True),
]
SITTING_COLUMNS: Final = [
    Column("序号", 8, centred=True),
    Column("日期", 18, centred=True),
    Column("接访安排", 30),
    Column("地点", 32),
    Column("已预约", 12, centred=True),
    Column("候补", 10, centred=True),
    Column("预约码", 60),
]


def _case_row(n: int, c: DossierCase) -> list[str]:
    return [
        str(n),
        c.code,
        c.category,
        c.kind_label,
        c.status_label,
        c.role_label,
        c.received_on,
        c.next_due or "—",
        c.next_clock_label or "—",
        overdue_words(c.days_overdue),
        "是" if c.backlog else "否",
    ]


def _backlog_row(n: int, c: DossierCase) -> list[str]:
    return [
        str(n),
        c.code,
        c.category,
        c.status_label,
        c.role_label,
        c.received_on,
        c.target_date or "—",
        overdue_words(c.days_overdue),
    ]


def _assignment_row(n: int, a: DossierAssignment) -> list[str]:
    return [str(n), a.case_code, a.unit_name, a.due_on or "—", a.status_label]


def _sitting_row(n: int, s: DossierSitting) -> list[str]:
    codes = "、".join(s.booking_codes) or "—"
    return [str(n), s.day, s.rule_name, s.venue_name, str(s.booked), str(s.waitlisted), codes]


# ---------------------------------------------------------------- figures


@dataclass(frozen=True, slots=True)
class FigureRow:
    label: str
    value: str


def _permille(part: int, whole: int) -> float | None:
    """A rate for the chart, rounded like the dossier's rates so both print the same."""
    return None if whole == 0 else (part * 1000 + whole // 2) // whole / 1000


def _percent(part: int, whole: int) -> str:
    rate = _permille(part, whole)
    return "—" if rate is None else f"{rate:.1%}"


def figure_rows(f: Figures) -> list[FigureRow]:
    return [
        FigureRow("包案信访事项（件）", str(f.received)),
        FigureRow("已办结（件）", str(f.resolved)),
        FigureRow("办结率", _percent(f.resolved, f.received)),
        FigureRow("已答复（件）", str(f.replied)),
        FigureRow("按期答复（件）", str(f.replied_on_time)),
        FigureRow("按期答复率", f.on_time_rate),
        FigureRow("已评价（件）", str(f.evaluated)),
        FigureRow("满意或基本满意（件）", str(f.satisfied)),
        FigureRow("满意率", f.satisfaction_rate),
    ]


def figures_chart(f: Figures) -> str:
    """The tenure's three rates as a server-rendered SVG bar chart."""
    return charts.bars(
        "任期信访工作主要指标",
        [
            charts.Bar("办结率", _permille(f.resolved, f.received)),
            charts.Bar("按期答复率", _permille(f.replied_on_time, f.replied)),
            charts.Bar("满意率", _permille(f.satisfied, f.evaluated)),
        ],
    )


# ---------------------------------------------------------------- rendering


def footer_lines(anchor: Anchor) -> tuple[str, str]:
    """The two lines every page's footer prints under the page number."""
    return (
        f"交接清单 SHA-256：{anchor.dossier_sha256}",
        f"台账检查点：{anchor.origin} 第 {anchor.checkpoint_size} 条 "
        f"根哈希 {anchor.checkpoint_root}",
    )


def _lists(dossier: Dossier, cases: list[DossierCase]) -> dict[str, ListTable]:
    backlog = overdue_first(dossier.backlog)
    return {
        "cases": list_table(CASE_COLUMNS, [_case_row(n, c) for n, c in enumerate(cases, 1)]),
        "backlog": list_table(
            BACKLOG_COLUMNS, [_backlog_row(n, c) for n, c in enumerate(backlog, 1)]
        ),
        "assignments": list_table(
            ASSIGNMENT_COLUMNS,
            [_assignment_row(n, a) for n, a in enumerate(dossier.assignments, 1)],
        ),
        "sittings": list_table(
            SITTING_COLUMNS, [_sitting_row(n, s) for n, s in enumerate(dossier.sittings, 1)]
        ),
    }


def handover_html(dossier: Dossier, anchor: Anchor) -> str:
    """The document as HTML for WeasyPrint (A4, the installed CJK font)."""
    digest_line, checkpoint_line = footer_lines(anchor)
    cases = overdue_first(dossier.cases)
    return _TEMPLATES.get_template(TEMPLATE).render(
        d=dossier,
        lists=_lists(dossier, cases),
        overdue_count=sum(1 for c in cases if c.days_overdue > 0),
        figures=figure_rows(dossier.figures),
        chart=figures_chart(dossier.figures),
        snapshot=local_time(dossier.snapshot_at),
        receiving_role="临时接收人" if dossier.interim else "接任领导",
        office=f"{dossier.county}信访局",
        font_family=font_family(),
        list_font_pt=LIST_FONT_PT,
        line_pt=LINE_PT,
        rule_pt=RULE_PT,
        underline_offset_pt=f"{underline_offset_pt():.2f}",
        digest_line=digest_line,
        checkpoint_line=checkpoint_line,
        running_title=css_string(
            f"{dossier.county} 信访工作离任交接书 交接编号 {dossier.handover_id}"
        ),
    )


def _attachment(dossier: Dossier) -> PdfAttachment:
    snapshot = dt.datetime.fromisoformat(dossier.snapshot_at.replace("Z", "+00:00"))
    return PdfAttachment(
        name=ATTACHMENT_NAME,
        data=canonical(dossier),
        description=ATTACHMENT_DESCRIPTION,
        relationship="Data",
        dated=snapshot.astimezone(dt.UTC).replace(tzinfo=None),
    )


async def render_handover(dossier: Dossier, anchor: Anchor) -> bytes:
    """The unsigned 信访工作离任交接书 (PDF/A-3b with `dossier.json` attached).

    Rendered in a worker thread; raises `PdfUnavailable` when no CJK font is installed.
    """
    return await render_pdf(
        handover_html(dossier, anchor),
        attachments=[_attachment(dossier)],
        pdf_variant=PDF_VARIANT,
    )


# ---------------------------------------------------------------- reading the attachment


def _name_tree(node: Any) -> Iterator[tuple[Any, Any]]:
    """(key, value) pairs of a PDF name tree (ISO 32000-1 §7.9.6), leaves in order."""
    names = node.get("/Names")
    if names is not None:
        for i in range(0, len(names) - 1, 2):
            yield names[i], names[i + 1]
    for kid in node.get("/Kids") or []:
        yield from _name_tree(kid.get_object())


def _file_specs(root: Any) -> Iterator[Any]:
    tree = (root.get("/Names") or {}).get("/EmbeddedFiles")
    if tree is not None:
        yield from (spec for _, spec in _name_tree(tree.get_object()))
    yield from root.get("/AF") or []


def _spec_name(spec: Any) -> str:
    return str(spec.get("/UF") or spec.get("/F") or "")


def _embedded_bytes(spec: Any) -> bytes | None:
    stream = (spec.get("/EF") or {}).get("/F")
    data = None if stream is None else stream.get_object().data
    return data if isinstance(data, bytes) else None


def attached_dossier(pdf: bytes) -> bytes | None:
    """The bytes of the `dossier.json` attachment, or None when there is none (or the file
    is not a readable PDF). Read from the newest revision, so signing does not hide it."""
    try:
        root = PdfFileReader(BytesIO(pdf), strict=False).root
        specs = [spec.get_object() for spec in _file_specs(root)]
    except (PdfError, ValueError, KeyError, TypeError):
        return None
    for spec in specs:
        if _spec_name(spec) == ATTACHMENT_NAME:
            return _embedded_bytes(spec)
    return None
