"""PDF documents from HTML with WeasyPrint, in a worker thread (never on the event loop),
with a Chinese font or a clear refusal: a document whose characters would print as boxes
is worse than none.

The font is found through fontconfig (`fc-list :lang=zh`); Debian's `fonts-wqy-microhei`
or `fonts-noto-cjk` provide one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from app.core.errors import DomainError

CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
)
NO_FONT = (
    "服务器未安装中文字体，无法生成 PDF（否则汉字将显示为方框）。"
    "请管理员安装 fonts-wqy-microhei 或 fonts-noto-cjk 后重试。"
)
NO_ENGINE = "服务器缺少 PDF 排版组件（WeasyPrint 及其依赖的 Pango），请管理员安装后重试。"


class PdfUnavailable(DomainError):
    slug = "pdf-unavailable"


@functools.cache
def cjk_font() -> str | None:
    """The first installed CJK family fontconfig knows, or None."""
    if shutil.which("fc-list") is None:
        return None
    listed = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    ).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    return next((f for f in CJK_FAMILIES if f in families), None)


@dataclass(frozen=True, slots=True)
class PdfAttachment:
    """A file embedded in the PDF (e.g. the data a document was made from), byte for byte."""

    name: str
    data: bytes
    description: str = ""
    #: PDF 2.0 / PDF/A-3 AFRelationship: Data, Source, Alternative, Supplement, Unspecified.
    relationship: str = "Unspecified"
    #: Its creation and modification time (default: now); a fixed one keeps output stable.
    dated: dt.datetime | None = None


def _weasy_attachment(weasyprint: Any, attachment: PdfAttachment) -> Any:
    return weasyprint.Attachment(
        file_obj=BytesIO(attachment.data),
        name=attachment.name,
        description=attachment.description or None,
        relationship=attachment.relationship,
        created=attachment.dated,
        modified=attachment.dated,
    )


def _render(
    html: str,
    base_url: str | None,
    attachments: Sequence[PdfAttachment] = (),
    pdf_variant: str | None = None,
) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError):
        raise PdfUnavailable(NO_ENGINE) from None
    document: bytes = weasyprint.HTML(string=html, base_url=base_url).write_pdf(
        attachments=[_weasy_attachment(weasyprint, a) for a in attachments] or None,
        pdf_variant=pdf_variant,
    )
    return document


async def render_pdf(
    html: str,
    base_url: str | None = None,
    *,
    attachments: Sequence[PdfAttachment] = (),
    pdf_variant: str | None = None,
) -> bytes:
    """The PDF of `html` (whose CSS should name `font_family()`), rendered off the loop.

    `attachments` are embedded as files; `pdf_variant` is WeasyPrint's (e.g. "pdf/a-3b").
    """
    if cjk_font() is None:
        raise PdfUnavailable(NO_FONT)
    return await asyncio.to_thread(_render, html, base_url, attachments, pdf_variant)


def font_family() -> str:
    """A CSS font-family list starting with the installed CJK family."""
    found = cjk_font()
    families = [found] if found else []
    families += [f for f in CJK_FAMILIES if f != found]
    return ", ".join(f"'{f}'" for f in families) + ", sans-serif"
