"""Departure handover JSON API (信访工作离任交接): list and open, the departing official's
notes, rendering the 交接书, the three signatures, withdrawal, the document, reviewers'
verification and "已审阅", the signer's signing PIN, and the posts that require a handover.

Thin: parse, authorise (roles here; scope, parties and order in the services), call one
service, serialise. Every refusal is problem+json. A signature, like setting the signing PIN,
asks for the account password again: each signer signs in anew. A wrong password is counted
like a failed sign-in (and so answered without rolling the count back).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services as auth
from app.core.auth.access import Principal, allow, own_records, signed_in
from app.core.auth.roles import REVIEWER_ROLES, Role
from app.core.auth.routes import remote_of
from app.core.clock import Clock
from app.core.errors import NotFound
from app.core.problems import problem_response
from app.core.web import runtime_of
from app.handover import review_services as reviews
from app.handover import services, workflow
from app.handover import sign_services as signing
from app.handover.dossier import Dossier
from app.handover.models import Handover, HandoverReview, HandoverSignature, SigningKey
from app.handover.schemas import (
    CheckOut,
    EnrolBody,
    HandoverBrief,
    HandoverOut,
    PartyOut,
    PostMarkBody,
    PostMarkOut,
    ReviewBody,
    ReviewOut,
    SignatureOut,
    SignBody,
    SigningKeyOut,
    VerdictOut,
    VerifyBody,
)
from app.handover.verify import Verdict
from app.handover.workflow import HandoverStatus, Step
from app.ledger.checkpoints import verifiers
from app.org.models import Tenure

API = "/api/v1/handovers"
OFFICE = allow(Role.office)
REVIEWERS = allow(*REVIEWER_ROLES)
VERIFIERS = allow(Role.office, *REVIEWER_ROLES)
WRONG_PASSWORD = "账号密码不正确，未签字（每次签字都须重新输入本人的登录密码）。"
WRONG_PASSWORD_ENROL = "账号密码不正确，签章密码未设置。"
_KEYS = "handover.signing_keys"


# ---------------------------------------------------------------- shared with the pages


def signing_keys(request: Request[Any, Any, Any]) -> signing.SigningKeys:
    """The handover CA and ledger key from `jiefang keys init`, read once per process."""
    runtime = runtime_of(request)
    found = runtime.extras.get(_KEYS)
    if not isinstance(found, signing.SigningKeys):
        found = signing.SigningKeys.from_dir(runtime.settings.keys_dir)
        runtime.extras[_KEYS] = found
    return found


async def password_again(
    db: AsyncSession,
    request: Request[Any, Any, Any],
    actor: Principal,
    now: dt.datetime,
    password: str,
) -> bool:
    """Whether the signed-in person typed their own account password again. A wrong one
    counts as a failed sign-in (the caller commits it), so guessing is rate-limited too;
    raises `TooManyAttempts` once the limit is reached."""
    settings = runtime_of(request).settings
    account = await auth.authenticate(
        db,
        now,
        actor.username,
        password,
        remote_of(request),
        max_failures=settings.login_max_failures,
        window=dt.timedelta(minutes=settings.login_window_minutes),
    )
    return account is not None and account.id == actor.account_id


def signer_step(handover: Handover, access: services.Access) -> Step | None:
    """The signature the viewer may add now, or None (the services' order and parties)."""
    step = workflow.awaited_step(HandoverStatus(handover.status))
    allowed = {
        Step.departing: access.departing,
        Step.receiving: access.receiving,
        Step.office: access.office and not (access.departing or access.receiving),
        None: False,
    }[step]
    return step if allowed else None


def step_label(handover: Handover, step: Step) -> str:
    return workflow.signer_label(step, handover.interim)


async def dossier_of(
    db: AsyncSession, handover: Handover, now: dt.datetime
) -> tuple[Dossier, bool]:
    """The frozen dossier of the rendered 交接书, or (before that) the live one; and which."""
    frozen = services.stored_dossier(handover)
    if frozen is not None and handover.pdf is not None:
        return frozen, True
    return await services.build_dossier(db, handover, now), False


async def ledger_access(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover: Handover, what: str
) -> None:
    """Every read and download of an archived handover is ledgered (nothing before)."""
    await reviews.record_access(db, actor, now, handover, what)


def pdf_response(handover: Handover) -> Response[bytes]:
    if handover.pdf is None:
        raise NotFound("该离任交接尚未生成交接书。")
    name = f"jiaojieshu-{handover.id}.pdf"
    return Response(
        bytes(handover.pdf),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- serialising


def party_out(tenure: Tenure) -> PartyOut:
    return PartyOut(
        person_id=tenure.person_id,
        name=tenure.person.name,
        tenure_id=tenure.id,
        post=f"{tenure.post.unit.name}{tenure.post.title}",
    )


def brief_fields(h: Handover) -> dict[str, Any]:
    return {
        "id": h.id,
        "status": h.status,
        "status_label": workflow.STATUS_LABELS[HandoverStatus(h.status)],
        "departing": party_out(h.tenure),
        "receiving": party_out(h.receiver_tenure),
        "interim": h.interim,
        "reason": h.reason,
        "effective_date": h.effective_date,
        "opened_at": h.opened_at,
        "archived_at": h.archived_at,
    }


def signature_out(h: Handover, s: HandoverSignature) -> SignatureOut:
    return SignatureOut(
        step=s.step,
        step_label=step_label(h, Step(s.step)),
        person_id=s.person_id,
        name=s.person.name,
        signed_at=s.signed_at,
        before_sha256=s.before_sha256,
        after_sha256=s.after_sha256,
    )


async def handover_out(
    db: AsyncSession, actor: Principal, handover_id: int, now: dt.datetime
) -> HandoverOut:
    """The handover read afresh (a service may just have changed its receiver or created
    it), as the caller may see it."""
    h, _ = await services.get_handover(db, actor, handover_id)
    dossier, frozen = await dossier_of(db, h, now)
    awaited = workflow.awaited_step(HandoverStatus(h.status))
    return HandoverOut(
        **brief_fields(h),
        awaited_step=str(awaited) if awaited else None,
        signatures=[signature_out(h, s) for s in await services.signatures_of(db, h.id)],
        dossier_frozen=frozen,
        dossier=dossier,
        dossier_sha256=h.dossier_sha256 if frozen else None,
        pdf_sha256=h.pdf_sha256,
        unsigned_sha256=h.unsigned_sha256,
        checkpoint_size=h.checkpoint_size if frozen else None,
        checkpoint_root=h.checkpoint_root if frozen else None,
        between_person_id=h.between_person_id,
        moved_cases=h.moved_cases,
    )


def review_out(r: HandoverReview) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        role=r.role,
        reviewer_name=r.reviewer_name,
        remark=r.remark,
        verified_ok=r.verified_ok,
        reviewed_at=r.reviewed_at,
    )


def verdict_out(verdict: Verdict) -> VerdictOut:
    checks = [
        CheckOut(key=c.key, label=c.label, ok=c.ok, detail=c.detail, pending=c.pending)
        for c in verdict.checks
    ]
    return VerdictOut(
        ok=verdict.ok,
        complete=verdict.complete,
        summary=verdict.summary(),
        saved_checkpoint=verdict.saved_checkpoint,
        checks=checks,
    )


def key_out(row: SigningKey | None) -> SigningKeyOut:
    if row is None:
        return SigningKeyOut(enrolled=False)
    return SigningKeyOut(enrolled=True, serial=row.serial, created_at=row.created_at)


# ---------------------------------------------------------------- controllers


class HandoverApi(Controller):
    path = API
    tags = ("handovers",)

    @get("/", opt=own_records())
    async def index(self, db: AsyncSession, actor: Principal) -> list[HandoverBrief]:
        """The handovers the caller may see: the office its scope's, the departing and
        receiving persons their own, reviewers the archived ones in their scope."""
        rows = await services.visible_handovers(db, actor)
        return [HandoverBrief(**brief_fields(h)) for h in rows]

    @post("/", opt=OFFICE, status_code=201)
    async def open(
        self, db: AsyncSession, actor: Principal, clock: Clock, data: services.HandoverIn
    ) -> HandoverOut:
        """Open the handover of a departing tenure (refused, with the reason, when the
        tenure already has one, the receiver is the departing person, the successor is not
        appointed to the post or the effective date is past)."""
        handover = await services.open_handover(db, actor, clock.now(), data)
        return await handover_out(db, actor, handover.id, clock.now())

    @get("/{handover_id:int}", opt=own_records())
    async def show(
        self, db: AsyncSession, actor: Principal, clock: Clock, handover_id: int
    ) -> HandoverOut:
        handover, _ = await services.get_handover(db, actor, handover_id)
        await ledger_access(db, actor, clock.now(), handover, "read")
        return await handover_out(db, actor, handover.id, clock.now())

    @post("/{handover_id:int}/notes", opt=signed_in(), status_code=200)
    async def notes(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
        data: services.NotesIn,
    ) -> HandoverOut:
        """重点人员、风险隐患、未尽事项, by the departing official before the first signature."""
        handover = await services.save_notes(db, actor, clock.now(), handover_id, data)
        return await handover_out(db, actor, handover.id, clock.now())

    @post("/{handover_id:int}/receiver", opt=OFFICE, status_code=200)
    async def receiver(
        self,
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
        data: services.ReceiverIn,
    ) -> HandoverOut:
        """Name another receiver before the first signature (the successor once appointed)."""
        handover = await services.change_receiver(db, actor, clock.now(), handover_id, data)
        return await handover_out(db, actor, handover.id, clock.now())

    @post("/{handover_id:int}/render", opt=signed_in(), status_code=200)
    async def render(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
    ) -> HandoverOut:
        """Snapshot the dossier, anchor it in a signed checkpoint and render the 交接书."""
        keys = signing_keys(request)
        handover = await signing.render(db, actor, clock.now(), handover_id, keys)
        return await handover_out(db, actor, handover.id, clock.now())

    @post("/{handover_id:int}/sign", opt=signed_in(), status_code=200)
    async def sign(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
        data: SignBody,
    ) -> HandoverOut | Response[Any]:
        """Add the awaited signature (password again, signing PIN, the hash seen); the
        office's signature archives the handover."""
        now = clock.now()
        if not await password_again(db, request, actor, now, data.password):
            return problem_response(request, "invalid-credentials", WRONG_PASSWORD)
        sign_in = signing.SignIn(data.pin, data.seen_sha256, data.between_person_id)
        keys = signing_keys(request)
        handover = await signing.sign(db, actor, now, handover_id, keys, sign_in)
        return await handover_out(db, actor, handover.id, now)

    @post("/{handover_id:int}/withdraw", opt=OFFICE, status_code=200)
    async def withdraw(
        self, db: AsyncSession, actor: Principal, clock: Clock, handover_id: int
    ) -> HandoverOut:
        handover = await services.withdraw(db, actor, clock.now(), handover_id)
        return await handover_out(db, actor, handover.id, clock.now())

    @get("/{handover_id:int}/document.pdf", opt=own_records(), media_type="application/pdf")
    async def document(
        self, db: AsyncSession, actor: Principal, clock: Clock, handover_id: int
    ) -> Response[bytes]:
        """The 交接书 as it stands (signed so far); downloads of an archived one are ledgered."""
        handover, _ = await services.get_handover(db, actor, handover_id)
        response = pdf_response(handover)
        await ledger_access(db, actor, clock.now(), handover, "download")
        return response

    @post("/{handover_id:int}/verify", opt=VERIFIERS, status_code=200)
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        handover_id: int,
        data: VerifyBody,
    ) -> VerdictOut:
        """Check signatures, the hash chain against the ledger, inclusion and consistency
        against a signed checkpoint (the PDF's, or `checkpoint`), and the listed cases
        against the ownership replayed from the ledger."""
        keys_dir = runtime_of(request).settings.keys_dir
        verdict = await reviews.verify(
            db,
            actor,
            clock.now(),
            handover_id,
            verifiers(keys_dir),
            signing_keys(request).ca_pem,
            data.checkpoint.strip() or None,
        )
        return verdict_out(verdict)

    @get("/{handover_id:int}/reviews", opt=own_records())
    async def list_reviews(
        self, db: AsyncSession, actor: Principal, handover_id: int
    ) -> list[ReviewOut]:
        await services.get_handover(db, actor, handover_id)
        return [review_out(r) for r in await reviews.reviews_of(db, handover_id)]

    @post("/{handover_id:int}/reviews", opt=REVIEWERS, status_code=201)
    async def review(
        self, db: AsyncSession, actor: Principal, clock: Clock, handover_id: int, data: ReviewBody
    ) -> ReviewOut:
        """ "已审阅" with a remark (the remark is kept with the handover, never ledgered)."""
        role = Role(data.role) if data.role else None
        row = await reviews.review(db, actor, clock.now(), handover_id, data.remark, role=role)
        return review_out(row)


class SigningKeyApi(Controller):
    path = "/api/v1/signing-key"
    tags = ("handovers",)

    @get("/", opt=signed_in())
    async def show(self, db: AsyncSession, actor: Principal) -> SigningKeyOut:
        if actor.person_id is None:
            return SigningKeyOut(enrolled=False)
        return key_out(await signing.signing_key_of(db, actor.person_id))

    @put("/", opt=signed_in(), status_code=200)
    async def enrol(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Principal,
        clock: Clock,
        data: EnrolBody,
    ) -> SigningKeyOut | Response[Any]:
        """Set or replace the signing PIN (a new certificate; the PIN is never stored)."""
        now = clock.now()
        if not await password_again(db, request, actor, now, data.password):
            return problem_response(request, "invalid-credentials", WRONG_PASSWORD_ENROL)
        row = await signing.enrol(db, actor, now, signing_keys(request), data.pin)
        return key_out(row)


class PostMarkApi(Controller):
    path = "/api/v1/posts/{post_id:int}/handover-required"
    tags = ("handovers",)

    @put("/", opt=allow(Role.admin), status_code=200)
    async def mark(
        self, db: AsyncSession, actor: Principal, clock: Clock, post_id: int, data: PostMarkBody
    ) -> PostMarkOut:
        """Mark a post as requiring a petition-work handover (or not), overriding the
        default titles (乡镇党委书记、街道党工委书记、县级机关党委书记)."""
        await services.mark_post(db, actor, clock.now(), post_id, data.required)
        return PostMarkOut(post_id=post_id, required=data.required)


ROUTES = [HandoverApi, SigningKeyApi, PostMarkApi]
