"""SVG charts rendered on the server, so the same chart goes into a page and into a PDF
(no script, no external font or asset). One kind is needed: labelled horizontal bars.

Pure: values in, SVG text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

ROW_HEIGHT: Final = 22
LABEL_WIDTH: Final = 130
BAR_WIDTH: Final = 300
VALUE_WIDTH: Final = 60
FONT: Final = "'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif"
COLOURS: Final = {"red": "#c62828", "black": "#263238", "middle": "#78909c", "none": "#b0bec5"}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    #: 0..1, or None for "no data" (drawn as an empty bar with a dash).
    value: float | None
    tone: str = "middle"


def _bar(i: int, bar: Bar) -> str:
    y = i * ROW_HEIGHT
    width = 0 if bar.value is None else round(max(0.0, min(1.0, bar.value)) * BAR_WIDTH, 1)
    text = "—" if bar.value is None else f"{bar.value * 100:.1f}%"
    colour = COLOURS.get(bar.tone, COLOURS["middle"])
    return (
        f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(bar.label)}</text>'
        f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{BAR_WIDTH}" height="14" fill="#eceff1"/>'
        f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{width}" height="14" fill="{colour}"/>'
        f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{y + 15}">{text}</text>'
    )


def bars(title: str, data: Sequence[Bar]) -> str:
    """A horizontal bar chart of rates (0–100 %), one row per bar, titled."""
    height = (len(data) + 1) * ROW_HEIGHT + 8
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    rows = "".join(_bar(i + 1, b) for i, b in enumerate(data))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'font-family="{FONT}" font-size="12">'
        f"<title>{escape(title)}</title>"
        f'<text x="0" y="15" font-weight="bold" font-size="13">{escape(title)}</text>'
        f"{rows}</svg>"
    )
