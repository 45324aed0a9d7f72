"""A case's written notice as PDF (告知书 or the registration receipt), with the 诉求码 and
a QR code to the citizen's tracking page; for staff who may read the case."""

from __future__ import annotations

from typing import Any

import segno
from litestar import Controller, Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, signed_in
from app.core.clock import Clock
from app.core.pdf import font_family, render_pdf
from app.ownership import read_services
from app.ownership.services import load, today_of

QR_SCALE = 4


def qr_svg(url: str) -> str:
    symbol = segno.make_qr(url, error="m")
    svg: str = symbol.svg_inline(scale=QR_SCALE, omitsize=True, title="查询办理进度")
    return svg


class NoticePages(Controller):
    path = "/cases"
    include_in_schema = False

    @get("/{case_id:int}/notice.pdf", opt=signed_in())
    async def notice(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        case_id: int,
    ) -> Response[bytes]:
        """The notice of the current decision, to print, sign and send (or hand over)."""
        notice = await read_services.notice_of(db, actor, case_id, today_of(clock.now()))
        case = await load(db, case_id)
        track = f"{str(request.base_url).rstrip('/')}/track/{case.code}"
        engine = request.app.template_engine
        assert engine is not None
        html = engine.get_template("cases/notice_print.html").render(
            notice=notice,
            code=case.code,
            qr=qr_svg(track),
            track_url=track,
            font_family=font_family(),
        )
        name = f"gaozhishu-{case.code}.pdf"
        return Response(
            await render_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


ROUTES = [NoticePages]
