"""凭码查询: the petitioner's public page, `/track` — no account, no JavaScript, phone first.

The petitioner types the 诉求码 and the last four digits of the mobile number given at
intake; the page shows the status, the public timeline, the next deadline and, once a
written reply has been delivered, the evaluation form (满意 / 基本满意 / 不满意; 不满意
flags the case for the supervisors). An unknown code and a wrong number get the same
message, so a lookup never tells whether a code exists; lookups and evaluations are
counted per address (`LOOKUP_PER_IP`, in the database) and a refused lookup stays counted
(it is not rolled back). What the petitioner proved lives in the encrypted session cookie,
never in an address; writes are POST-redirect-GET.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.auth.routes import remote_of
from app.core.clock import SHANGHAI, Clock
from app.core.codes import normalise_code
from app.core.errors import DomainError, RuleViolation
from app.core.personal_data import Secrets
from app.core.web import flash, page, private, runtime_of
from app.ownership import services, track_services
from app.ownership import workflow as wf
from app.ownership.pages import clock_label, mark_of
from app.ownership.track_services import Tracking
from app.scheduling import citizen_services as citizens

PUBLIC = public()
TRACK_URL = "/track"
#: Session key: the codes this browser proved, each with the last four digits.
_TRACKED = "tracked_cases"
#: How many proven codes one browser keeps (a family may follow a few).
TRACKED_KEEP = 5
LAST4_MESSAGE = "请填写手机号码的后四位数字。"
EVALUATION_CHOICES = [(str(e), label) for e, label in wf.EVALUATION_LABELS.items()]


def track_url(code: str) -> str:
    return f"{TRACK_URL}/{code}"


@dataclass(frozen=True, slots=True)
class Visit:
    request: Request[Any, Any, Any]
    db: AsyncSession
    clock: Clock

    @property
    def secrets(self) -> Secrets:
        return runtime_of(self.request).secrets

    @property
    def today(self) -> dt.date:
        return services.today_of(self.clock.now())


def refusal_status(refusal: DomainError) -> int:
    """A missing proof is answered as a rule (422): 401 would send a citizen to the staff
    login."""
    return 422 if refusal.status == 401 else refusal.status


# ---------------------------------------------------------------- what the session holds


def _tracked(request: Request[Any, Any, Any]) -> dict[str, str]:
    held = request.session.get(_TRACKED)
    return {str(k): str(v) for k, v in held.items()} if isinstance(held, dict) else {}


def remember(request: Request[Any, Any, Any], code: str, last4: str) -> None:
    others = [(k, v) for k, v in _tracked(request).items() if k != code]
    request.session[_TRACKED] = dict([*others[-(TRACKED_KEEP - 1) :], (code, last4)])


async def _count(v: Visit) -> None:
    key = f"lookup:ip:{remote_of(v.request)}"
    await citizens.require(v.db, key, citizens.LOOKUP_PER_IP, v.clock.now(), "查询")


def _last4(text: str) -> str:
    digits = text.strip()
    if len(digits) != 4 or not digits.isdigit():
        raise RuleViolation(LAST4_MESSAGE, slug="invalid-input")
    return digits


async def prove(v: Visit, code: str, last4: str) -> Tracking:
    """Code and last four digits, counted per address; remembered when they match."""
    await _count(v)
    if not code.strip():
        raise RuleViolation("请填写诉求码。", slug="invalid-input")
    found = await track_services.track(v.db, v.secrets, code, _last4(last4))
    remember(v.request, found.case.code, last4.strip())
    return found


async def proven(v: Visit, code: str) -> Tracking | None:
    """The case, if this browser proved its code (not counted again: the proof was)."""
    wanted = normalise_code(code)
    last4 = _tracked(v.request).get(wanted)
    if last4 is None:
        return None
    try:
        return await track_services.track(v.db, v.secrets, wanted, last4)
    except DomainError:
        return None


# ---------------------------------------------------------------- rendering


def render_form(
    v: Visit, *, code: str = "", status_code: int = 200, error: str | None = None
) -> Template:
    return private(
        page(v.request, "track/index.html", status_code=status_code, code=code, error=error)
    )


def render_case(
    v: Visit, found: Tracking, *, status_code: int = 200, error: str | None = None
) -> Template:
    case = found.case
    # The case's own clocks: a unit's window to object to an assignment is not the
    # petitioner's deadline.
    own = [c for c in found.running if c.assignment_id is None]
    return private(
        page(
            v.request,
            "track/case.html",
            status_code=status_code,
            found=found,
            case=case,
            error=error,
            status_label=wf.STATUS_LABELS[wf.CaseStatus(case.status)],
            next_clock=own[0] if own else None,
            next_label=clock_label(case.profile, own[0].name) if own else "",
            next_mark=mark_of(own[0].due, v.today) if own else None,
            running=[(clock_label(case.profile, c.name), c.due) for c in own],
            evaluation_label=wf.EVALUATION_LABELS.get(wf.Evaluation(case.evaluation))
            if case.evaluation
            else None,
            evaluation_choices=EVALUATION_CHOICES,
            url=track_url(case.code),
            shanghai=SHANGHAI,
        )
    )


# ---------------------------------------------------------------- controllers


class TrackPages(Controller):
    path = TRACK_URL
    include_in_schema = False

    @get("/", opt=PUBLIC)
    async def form(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str = ""
    ) -> Template:
        """The lookup form (a code in the address only fills the form in)."""
        return render_form(Visit(request, db, clock), code=normalise_code(code)[:20])

    @post("/", opt=PUBLIC)
    async def lookup(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock
    ) -> Template | Redirect:
        v = Visit(request, db, clock)
        form = await request.form()
        code, last4 = str(form.get("code", "")), str(form.get("last4", ""))
        try:
            found = await prove(v, code, last4)
        except DomainError as refusal:
            # Not rolled back: the failed lookup stays counted against the address.
            return render_form(
                v, code=code.strip(), status_code=refusal_status(refusal), error=refusal.detail
            )
        return Redirect(path=track_url(found.case.code), status_code=303)

    @get("/{code:str}", opt=PUBLIC)
    async def show(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template:
        """The case as its petitioner sees it, once this browser proved the code."""
        v = Visit(request, db, clock)
        found = await proven(v, code)
        if found is None:
            return render_form(v, code=normalise_code(code)[:20])
        return render_case(v, found)

    @post("/{code:str}/evaluation", opt=PUBLIC)
    async def evaluate(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, code: str
    ) -> Template | Redirect:
        """Rate the written reply, once; 不满意 goes to the supervisors."""
        v = Visit(request, db, clock)
        wanted = normalise_code(code)
        last4 = _tracked(request).get(wanted)
        if last4 is None:
            return render_form(
                v, code=wanted[:20], status_code=422, error="请先凭诉求码和手机号后四位查询。"
            )
        chosen = str((await request.form()).get("evaluation", ""))
        try:
            await _count(v)
            evaluation = _evaluation(chosen)
            await track_services.evaluate(db, v.secrets, clock.now(), wanted, last4, evaluation)
        except DomainError as refusal:
            # Nothing but the address's count was written; the count stays.
            again = await proven(v, wanted)
            if again is None:
                return render_form(
                    v, code=wanted, status_code=refusal_status(refusal), error=refusal.detail
                )
            return render_case(v, again, status_code=refusal_status(refusal), error=refusal.detail)
        label = wf.EVALUATION_LABELS[evaluation]
        flash(
            request,
            f"感谢您的评价：{label}。"
            + ("我们已转督查部门跟踪。" if evaluation is wf.Evaluation.unsatisfied else ""),
        )
        return Redirect(path=track_url(wanted), status_code=303)


def _evaluation(text: str) -> wf.Evaluation:
    try:
        return wf.Evaluation(text)
    except ValueError:
        raise RuleViolation("请选择满意、基本满意或不满意。", slug="invalid-input") from None


ROUTES = [TrackPages]
