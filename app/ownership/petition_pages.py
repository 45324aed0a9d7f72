"""网上信访 — `/track/new`: a citizen submits a petition online, phone first, without
JavaScript. The mobile number is proven by a one-time code once; the proof (a citizen
token, 30 minutes) stays in the encrypted session, so a refused form can be corrected and
sent again without a new code. The petition then follows `petition_services.submit`, and
the browser is taken to the case's tracking page with the code already proven.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, post
from litestar import get as get_route
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.auth.routes import remote_of
from app.core.clock import Clock
from app.core.errors import DomainError, NotAuthenticated
from app.core.forms import FormInvalid
from app.core.identity import ID_TYPE_LABELS, IdType
from app.core.web import page, private, runtime_of
from app.org.models import Unit
from app.ownership import deadlines, petition_services, services
from app.ownership import workflow as wf
from app.ownership.pages import TERRITORIAL_KINDS, Posted, Reader, indented, posted_of
from app.ownership.track_pages import Visit, refusal_status, remember, track_url
from app.scheduling import citizen_services as citizens
from app.scheduling.booking_forms import TOPICS

NEW_URL = "/track/new"
#: Session key: the citizen token proving the number, and the number it proves.
_PROOF = "petition_proof"
CLAIM_CHOICES = [(str(k), f"第{k}项：{v}") for k, v in wf.CLAIM_ROUTES.items()]


def _proof(request: Request[Any, Any, Any]) -> Mapping[str, str]:
    held = request.session.get(_PROOF)
    return held if isinstance(held, dict) else {}


async def _places(db: AsyncSession) -> list[tuple[int, str]]:
    rows = await db.scalars(
        select(Unit).where(Unit.kind.in_(TERRITORIAL_KINDS[1:])).order_by(Unit.path)
    )
    return indented(rows)


async def render(
    v: Visit,
    posted: Posted | None = None,
    *,
    status_code: int = 200,
    error: str | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
) -> Template:
    return private(
        page(
            v.request,
            "track/new.html",
            status_code=status_code,
            v=posted or Posted(),
            proven_mobile=_proof(v.request).get("mobile", ""),
            error=error,
            errors=errors or {},
            notice=notice,
            places=await _places(v.db),
            topic_choices=[(t, t) for t in TOPICS],
            kind_choices=[(str(k), label) for k, label in wf.KIND_LABELS.items()],
            claim_choices=CLAIM_CHOICES,
            id_type_choices=[(str(k), label) for k, label in ID_TYPE_LABELS.items()],
            summary_max=services.SUMMARY_MAX,
        )
    )


def _petition(posted: Posted, mobile: str) -> petition_services.OnlinePetition:
    form = Reader(posted)
    kind = form.choice(wf.Kind, "kind", "请选择信访事项的类型。")
    item = form.optional_number("claim_item", "请选择第三十一条的项次。")
    petition = petition_services.OnlinePetition(
        name=form.text("name"),
        mobile=mobile,
        id_type=form.choice(IdType, "id_type", "请选择证件类型。"),
        id_number=form.text("id_number"),
        kind=kind,
        category=form.text("category"),
        summary=form.text("summary"),
        territorial_unit_id=form.number("territorial_unit_id", "请选择问题发生地（属地）。"),
        # The item only applies to 申诉求决类; the form shows it to everyone.
        claim_item=item if kind is wf.Kind.claim else None,
    )
    form.done()
    return petition


async def _token(v: Visit, posted: Posted) -> tuple[str, str]:
    """The proof of the number: kept from before, or made now from the one-time code."""
    mobile, held = posted.one("mobile"), _proof(v.request)
    if held.get("mobile") == mobile and held.get("token"):
        return held["token"], mobile
    if not posted.one("otp"):
        raise NotAuthenticated("请先获取并填写短信验证码。")
    token = await citizens.verify_code(v.db, v.secrets, v.clock.now(), mobile, posted.one("otp"))
    v.request.session[_PROOF] = {"mobile": mobile, "token": token}
    return token, mobile


class PetitionPages(Controller):
    path = NEW_URL
    include_in_schema = False

    @get_route("/", opt=public())
    async def form(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template:
        return await render(Visit(request, db, clock))

    @post("/code", opt=public())
    async def send_code(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template:
        """Send the one-time code and show the form again with what was typed."""
        v, posted = Visit(request, db, clock), await posted_of(request)
        try:
            await citizens.send_code(
                db, v.secrets, clock.now(), posted.one("mobile"), remote_of(request)
            )
        except DomainError as refusal:
            return await render(
                v, posted, status_code=refusal_status(refusal), error=refusal.detail
            )
        return await render(v, posted, notice="验证码已发送，5分钟内有效。")

    @post("/", opt=public())
    async def submit(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template | Redirect:
        v, posted = Visit(request, db, clock), await posted_of(request)
        profile = deadlines.profile_for_jurisdiction(runtime_of(request).settings.jurisdiction)
        try:
            token, mobile = await _token(v, posted)
            citizen = citizens.token_mobile(v.secrets, token, clock.now())
            petition = _petition(posted, mobile)
            case = await petition_services.submit(
                db, v.secrets, clock.now(), citizen, remote_of(request), petition, profile
            )
        except FormInvalid as invalid:
            return await render(v, posted, status_code=422, errors=invalid.errors)
        except DomainError as refusal:
            # Not rolled back: codes tried and petitions counted stay counted.
            if refusal.status == 401:
                request.session.pop(_PROOF, None)
            return await render(
                v, posted, status_code=refusal_status(refusal), error=refusal.detail
            )
        remember(request, case.code, mobile[-4:])
        return Redirect(path=track_url(case.code), status_code=303)


ROUTES = [PetitionPages]
