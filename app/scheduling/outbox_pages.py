"""The outbox page: the messages the system sent to citizens (one-time codes, booking
confirmations, reminders, changes). With the built-in sender this page is where the
messages arrive; with an SMS gateway it is the record of what was sent."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import allow
from app.core.auth.roles import Role
from app.core.web import nav_item, page
from app.scheduling.models import OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
READERS = frozenset({Role.admin})
SHOWN = 200
KIND_LABELS = {
    "otp": "验证码",
    "confirmation": "预约确认",
    "reminder": "提醒",
    "change": "变动通知",
    "cancellation": "取消通知",
    "promotion": "候补转正",
    "case": "信访事项",
}
STATUS_LABELS = {"queued": "待发送", "sent": "已发送", "failed": "发送失败"}

nav_item("短信发件箱", "/outbox", READERS, order=80)


class OutboxPages(Controller):
    path = "/outbox"
    include_in_schema = False

    @get("/", opt=allow(*READERS))
    async def index(self, request: Request[Any, Any, Any], db: AsyncSession) -> Template:
        rows = list(
            await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(SHOWN))
        )
        return page(
            request,
            "outbox/index.html",
            rows=rows,
            kinds=KIND_LABELS,
            statuses=STATUS_LABELS,
            shown=SHOWN,
            shanghai=SHANGHAI,
        )


ROUTES = [OutboxPages]
