"""Departure handovers: which posts require one, opening, the departing official's notes,
withdrawal, who may see what, and the dossier snapshot from the live records.

Signing and the archive transaction are in `sign_services`; verification and reviews in
`review_services`. Every function works in the caller's transaction and never commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import Principal, require_scope
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from app.handover import dossier as d
from app.handover import workflow
from app.handover.models import Handover, HandoverPost, HandoverSignature
from app.handover.workflow import HandoverStatus
from app.ledger import services as ledger
from app.ledger.rules import ledger_action
from app.org import services as org
from app.org.models import Post, Tenure
from app.org.references import tenure_reference_check
from app.ownership import tenure_services as held
from app.scheduling import booking_services
from app.scheduling import handover_services as sittings

OFFICE = frozenset({Role.office})
REVIEWERS = frozenset(
    {Role.reviewer_discipline, Role.reviewer_organisation, Role.reviewer_petition}
)

POST_MARKED = ledger_action(
    "handover.post.marked",
    "post",
    "标记职务是否须办理信访工作离任交接",
    required="true 须办理 / false 无须办理",
)
OPENED = ledger_action(
    "handover.opened",
    "handover",
    "组织/办公室发起信访工作离任交接",
    tenure="离任任职编号（或临时接收人的任职编号）",
    receiver_tenure="接收方任职编号",
    interim="接收方是否为临时接收人",
    from_handover="临时接收人再交给接任人时，原临时接收交接的编号（否则 null）",
    reason="离任原因（调任、转任、免职、退休、其他）",
    effective_date="离任日期（任职结束日）",
)
NOTES_SAVED = ledger_action(
    "handover.notes.saved",
    "handover",
    "离任领导填写重点人员、风险隐患、未尽事项（文字只存于交接记录）",
    fields="被修改的栏目名列表",
)
RECEIVER_CHANGED = ledger_action(
    "handover.receiver.changed",
    "handover",
    "签字前更换接收方（如接任人任命后替换临时接收人）",
    receiver_tenure="新的接收方任职编号",
    interim="是否为临时接收人",
)
WITHDRAWN = ledger_action("handover.withdrawn", "handover", "组织/办公室撤回尚未归档的交接")


class HandoverRefused(RuleViolation):
    slug = "handover-refused"


# ---------------------------------------------------------------- posts that require one


async def post_requires_handover(db: AsyncSession, post: Post) -> bool:
    mark = await db.get(HandoverPost, post.id)
    return workflow.requires_handover(
        post.title, workflow.DEFAULT_REQUIRED_TITLES, mark.required if mark else None
    )


async def mark_post(
    db: AsyncSession, actor: Principal, now: dt.datetime, post_id: int, required: bool
) -> None:
    post = await org.get_post(db, post_id)
    require_scope(actor, {Role.admin}, post.unit.path, "设置职务的离任交接要求")
    mark = await db.get(HandoverPost, post_id)
    if mark is None:
        mark = HandoverPost(post_id=post_id)
        db.add(mark)
    mark.required, mark.marked_at, mark.marked_by = required, now, actor.account_id or None
    await db.flush()
    await ledger.append(
        db,
        county=post.unit.county_id,
        actor=actor,
        action=POST_MARKED,
        subject=("post", post_id),
        payload={"required": required},
        at=now,
        role=Role.admin.value,
    )


async def required_posts(db: AsyncSession, tenures: Iterable[Tenure]) -> set[int]:
    """Of these tenures' posts, those whose holder must hand over on leaving."""
    posts = {t.post_id: t.post.title for t in tenures}
    if not posts:
        return set()
    found = await db.execute(
        select(HandoverPost.post_id, HandoverPost.required).where(HandoverPost.post_id.in_(posts))
    )
    marks = {post: required for post, required in found.tuples()}
    return {
        post
        for post, title in posts.items()
        if workflow.requires_handover(title, workflow.DEFAULT_REQUIRED_TITLES, marks.get(post))
    }


@tenure_reference_check("handover")
async def _handover_not_archived(db: AsyncSession, tenure_id: int, end: dt.date) -> list[str]:
    """A post that requires a handover keeps its holder until the handover is archived.
    A departure from before the county's records began (its ledger was opened) is history
    being entered, not a departure: no handover can be opened for it, and it is let through.
    Any later end date — even one in the past — needs the archived handover."""
    tenure = await org.get_tenure(db, tenure_id)
    if not await post_requires_handover(db, tenure.post):
        return []
    county = tenure.post.unit.county_id or tenure.post.unit.id
    began = (await ledger.ledger_for_county(db, county)).created_at
    if end < began.astimezone(SHANGHAI).date():
        return []
    archived = await db.scalar(
        select(Handover.id).where(
            Handover.tenure_id == tenure_id, Handover.status == str(HandoverStatus.archived)
        )
    )
    return [] if archived else ["信访工作离任交接（该职务须先办结并归档离任交接）"]


# ---------------------------------------------------------------- opening


class HandoverIn(msgspec.Struct, forbid_unknown_fields=True):
    tenure_id: int
    reason: workflow.Reason
    effective_date: dt.date
    receiver_tenure_id: int
    interim: bool = False
    #: For the second handover of an interim owner to the successor: the archived handover
    #: that made them interim owner (`tenure_id` is then the interim owner's tenure).
    from_handover_id: int | None = None


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(SHANGHAI).date()


async def _locked_tenure(db: AsyncSession, tenure_id: int) -> Tenure:
    await db.execute(select(Tenure.id).where(Tenure.id == tenure_id).with_for_update())
    return await org.get_tenure(db, tenure_id)


async def _under_way(db: AsyncSession, tenure_id: int) -> bool:
    found = await db.scalar(
        select(Handover.id).where(
            Handover.tenure_id == tenure_id,
            Handover.status.in_([str(s) for s in workflow.UNDER_WAY]),
        )
    )
    return found is not None


async def open_handover(
    db: AsyncSession, actor: Principal, now: dt.datetime, data: HandoverIn
) -> Handover:
    """The office opens the handover of a departing tenure (rules in `workflow.opening_problem`)
    and announces its end, so a successor can be appointed to a single-holder post. From an
    interim owner (`from_handover_id`), the receiver must hold the original post and the
    interim owner's own tenure goes on."""
    departing = await _locked_tenure(db, data.tenure_id)
    require_scope(actor, OFFICE, departing.post.unit.path, "发起该领导的离任交接")
    source = await _interim_source(db, data) if data.from_handover_id else None
    receiver = await org.get_tenure(db, data.receiver_tenure_id)
    already_open = await _under_way(db, departing.id)
    facts = _opening(departing, receiver, data.interim, data.effective_date, now, already_open)
    if source is not None:
        facts = dataclasses.replace(facts, departing_post=source.tenure.post_id)
    problem = workflow.opening_problem(facts)
    if problem:
        raise HandoverRefused(problem + "。")
    row = _new_handover(departing, receiver, data, actor, now)
    db.add(row)
    await db.flush()
    if source is None:
        await org.announce_departure(db, actor, now, departing, data.effective_date)
    await ledger.append(
        db,
        county=row.county_id,
        actor=actor,
        action=OPENED,
        subject=("handover", row.id),
        payload={
            "tenure": departing.id,
            "receiver_tenure": receiver.id,
            "interim": data.interim,
            "reason": str(data.reason),
            "effective_date": data.effective_date.isoformat(),
            "from_handover": data.from_handover_id,
        },
        at=now,
        role=Role.office.value,
    )
    return row


async def _interim_source(db: AsyncSession, data: HandoverIn) -> Handover:
    source = await db.get(Handover, data.from_handover_id)
    if (
        source is None
        or not source.interim
        or source.status != HandoverStatus.archived
        or source.receiver_tenure_id != data.tenure_id
    ):
        raise HandoverRefused(
            "所选的原交接不是该临时接收人已归档的临时接收交接，不能据此交给接任人。"
        )
    return source


async def case_scope(db: AsyncSession, handover: Handover) -> list[int] | None:
    """The cases a handover may move: all the departing tenure holds (None), or — from an
    interim owner — only those the interim owner received."""
    if handover.from_handover_id is None:
        return None
    source = await db.get(Handover, handover.from_handover_id)
    assert source is not None and source.dossier is not None
    return d.load(source.dossier).case_ids


def _new_handover(
    departing: Tenure, receiver: Tenure, data: HandoverIn, actor: Principal, now: dt.datetime
) -> Handover:
    county = departing.post.unit.county_id or departing.post.unit.id
    return Handover(
        county_id=county,
        tenure=departing,
        receiver_tenure=receiver,
        tenure_id=departing.id,
        person_id=departing.person_id,
        receiver_tenure_id=receiver.id,
        receiver_person_id=receiver.person_id,
        interim=data.interim,
        from_handover_id=data.from_handover_id,
        reason=str(data.reason),
        effective_date=data.effective_date,
        status=str(HandoverStatus.open),
        notes_key_people="",
        notes_risks="",
        notes_unfinished="",
        opened_by=actor.account_id or None,
        opened_at=now,
        updated_at=now,
    )


class ReceiverIn(msgspec.Struct, forbid_unknown_fields=True):
    receiver_tenure_id: int
    interim: bool = False


async def change_receiver(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover_id: int, data: ReceiverIn
) -> Handover:
    """Before the first signature the office may name another receiver — typically the
    successor once appointed, replacing an interim owner — under the opening's rules."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    if not access.office:
        raise Forbidden("只有组织/办公室可以更换接收方。")
    _require_unsigned(handover, "更换接收方")
    departing = await org.get_tenure(db, handover.tenure_id)
    receiver = await org.get_tenure(db, data.receiver_tenure_id)
    problem = workflow.opening_problem(
        _opening(departing, receiver, data.interim, handover.effective_date, now, False)
    )
    if problem:
        raise HandoverRefused(problem + "。")
    handover.receiver_tenure_id, handover.receiver_person_id = receiver.id, receiver.person_id
    handover.receiver_tenure = receiver
    handover.interim = data.interim
    _back_to_open(handover, now)
    await db.flush()
    await _ledger(
        db,
        actor,
        now,
        handover,
        RECEIVER_CHANGED,
        Role.office,
        receiver_tenure=receiver.id,
        interim=data.interim,
    )
    return handover


def _opening(
    departing: Tenure,
    receiver: Tenure,
    interim: bool,
    effective: dt.date,
    now: dt.datetime,
    already_open: bool,
) -> workflow.Opening:
    return workflow.Opening(
        departing_person=departing.person_id,
        departing_post=departing.post_id,
        departing_ended=departing.end_date is not None,
        already_open=already_open,
        receiver_person=receiver.person_id,
        receiver_post=receiver.post_id,
        receiver_start=receiver.start_date,
        receiver_end=receiver.end_date,
        interim=interim,
        effective_date=effective,
        today=local_today(now),
    )


# ---------------------------------------------------------------- access


@dataclass(frozen=True, slots=True)
class Access:
    """What the caller may do with one handover."""

    office: bool
    departing: bool
    receiving: bool
    reviewer_roles: frozenset[Role]

    @property
    def any(self) -> bool:
        return self.office or self.departing or self.receiving or bool(self.reviewer_roles)

    @property
    def discipline(self) -> bool:
        return Role.reviewer_discipline in self.reviewer_roles


async def _county_path(db: AsyncSession, handover: Handover) -> str:
    return handover.tenure.post.unit.path


async def access_of(db: AsyncSession, actor: Principal, handover: Handover) -> Access:
    path = await _county_path(db, handover)
    archived = handover.status == HandoverStatus.archived
    reviewer = frozenset(r for r in REVIEWERS if archived and actor.reaches({r}, path))
    person = actor.person_id
    return Access(
        office=actor.reaches(OFFICE, path),
        departing=person is not None and person == handover.person_id,
        receiving=person is not None and person == handover.receiver_person_id,
        reviewer_roles=reviewer,
    )


async def get_handover(
    db: AsyncSession, actor: Principal, handover_id: int, *, lock: bool = False
) -> tuple[Handover, Access]:
    """The handover and the caller's access; 404 for anyone who may not see it (reviewers
    see archived handovers only)."""
    query = select(Handover).where(Handover.id == handover_id)
    if lock:
        query = query.with_for_update(of=Handover)
    handover = await db.scalar(query.execution_options(populate_existing=True))
    if handover is None:
        raise NotFound("找不到该离任交接。")
    access = await access_of(db, actor, handover)
    if not access.any:
        raise NotFound("找不到该离任交接。")
    return handover, access


async def visible_handovers(db: AsyncSession, actor: Principal) -> list[Handover]:
    """Every handover the caller may see, newest first: their own as a party, and those of
    the counties their office or reviewer roles reach (reviewers: archived ones only)."""
    query = select(Handover)
    paths = actor.scope_paths(OFFICE | REVIEWERS) if actor.has_any(OFFICE | REVIEWERS) else []
    mine = [Handover.person_id == actor.person_id, Handover.receiver_person_id == actor.person_id]
    if paths is not None:
        counties = await org.counties_under(db, paths) if paths else []
        query = query.where(or_(Handover.county_id.in_(counties), *mine))
    rows = await db.scalars(query.order_by(Handover.opened_at.desc(), Handover.id.desc()))
    return [h for h in rows if (await access_of(db, actor, h)).any]


# ---------------------------------------------------------------- notes and withdrawal


class NotesIn(msgspec.Struct, forbid_unknown_fields=True):
    key_people: str = ""
    risks: str = ""
    unfinished: str = ""


NOTE_LIMIT = 4000
_NOTE_COLUMNS = {
    "key_people": "notes_key_people",
    "risks": "notes_risks",
    "unfinished": "notes_unfinished",
}


def _require_unsigned(handover: Handover, what: str) -> None:
    if HandoverStatus(handover.status) not in workflow.UNSIGNED:
        label = workflow.STATUS_LABELS[HandoverStatus(handover.status)]
        raise HandoverRefused(f"该交接当前为“{label}”，已有人签字，不能再{what}。")


async def save_notes(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover_id: int, notes: NotesIn
) -> Handover:
    """The departing official writes 重点人员、风险隐患、未尽事项 until the first signature;
    a rendered 交接书 goes back to 准备中 so that the signed document shows the notes."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    if not access.departing:
        raise Forbidden("只有离任领导本人可以填写交接事项。")
    _require_unsigned(handover, "修改交接事项")
    changed = []
    for field, column in _NOTE_COLUMNS.items():
        text = getattr(notes, field).strip()
        if len(text) > NOTE_LIMIT:
            raise RuleViolation(f"每一栏不超过 {NOTE_LIMIT} 字。", slug="invalid-input")
        if text != getattr(handover, column):
            setattr(handover, column, text)
            changed.append(field)
    if not changed:
        return handover
    _back_to_open(handover, now)
    await db.flush()
    await _ledger(db, actor, now, handover, NOTES_SAVED, Role.leader, fields=changed)
    return handover


def _back_to_open(handover: Handover, now: dt.datetime) -> None:
    handover.status = str(HandoverStatus.open)
    handover.pdf = None
    handover.pdf_sha256 = None
    handover.unsigned_sha256 = None
    handover.updated_at = now


async def withdraw(
    db: AsyncSession, actor: Principal, now: dt.datetime, handover_id: int
) -> Handover:
    """The office withdraws a handover that is not archived (e.g. the dossier no longer
    matches the cases held after a signature); the tenure's announced end is withdrawn."""
    handover, access = await get_handover(db, actor, handover_id, lock=True)
    if not access.office:
        raise Forbidden("只有组织/办公室可以撤回离任交接。")
    if HandoverStatus(handover.status) not in workflow.UNDER_WAY:
        raise HandoverRefused("该交接已归档或已撤回。")
    handover.status = str(HandoverStatus.withdrawn)
    handover.updated_at = now
    await db.flush()
    await org.announce_departure(db, actor, now, await org.get_tenure(db, handover.tenure_id), None)
    await _ledger(db, actor, now, handover, WITHDRAWN, Role.office)
    return handover


async def _ledger(
    db: AsyncSession,
    actor: Principal,
    now: dt.datetime,
    handover: Handover,
    action: str,
    role: Role,
    **payload: object,
) -> None:
    await ledger.append(db, **_entry(actor, now, handover, action, role, **payload))


def _entry(
    actor: Principal,
    now: dt.datetime,
    handover: Handover,
    action: str,
    role: Role,
    **payload: object,
) -> dict[str, Any]:
    """A handover's ledger entry, as `ledger.append`'s keywords."""
    return {
        "county": handover.county_id,
        "actor": actor,
        "action": action,
        "subject": ("handover", handover.id),
        "payload": payload,
        "at": now,
        "role": role.value,
    }


# ---------------------------------------------------------------- the dossier


def _party(tenure: Tenure) -> d.Party:
    return d.Party(
        person_id=tenure.person_id,
        name=tenure.person.name,
        tenure_id=tenure.id,
        post=f"{tenure.post.unit.name}{tenure.post.title}",
    )


def _case(c: held.HeldCase) -> d.DossierCase:
    return d.DossierCase(
        id=c.id,
        code=c.code,
        category=c.category,
        kind_label=c.kind_label,
        status_label=c.status_label,
        role_label=c.role_label,
        received_on=c.received_on.isoformat(),
        target_date=c.target_date.isoformat() if c.target_date else None,
        next_due=c.next_due.isoformat() if c.next_due else None,
        next_clock_label=c.next_clock_label,
        days_overdue=c.days_overdue,
        backlog=c.backlog,
    )


async def _sittings(db: AsyncSession, tenure_id: int, today: dt.date) -> list[d.DossierSitting]:
    rows = await sittings.future_sittings_of(db, tenure_id, today)
    booked = await booking_services.bookings_of_sittings(db, [s.id for s in rows])
    out = []
    for s in rows:
        live = booked.get(s.id, [])
        out.append(
            d.DossierSitting(
                id=s.id,
                day=s.day.isoformat(),
                rule_name=s.rule.name,
                venue_name=s.venue.name,
                booked=sum(1 for _, st in live if st == "booked"),
                waitlisted=sum(1 for _, st in live if st == "waitlisted"),
                booking_codes=[code for code, _ in live],
            )
        )
    return out


async def build_dossier(db: AsyncSession, handover: Handover, now: dt.datetime) -> d.Dossier:
    """The dossier from the live records now. Cases naming the departing official as
    accused are left out (they go to the discipline reviewer's view only)."""
    today = local_today(now)
    departing = await org.get_tenure(db, handover.tenure_id)
    receiver = await org.get_tenure(db, handover.receiver_tenure_id)
    scope = await case_scope(db, handover)
    found = await held.held_cases(db, departing.id, departing.person_id, today, scope)
    cases = [_case(c) for c in found]
    pending = await held.pending_assignments(db, [c.id for c in cases])
    figures = await held.tenure_figures(db, departing.id, scope)
    future = [] if scope is not None else await _sittings(db, departing.id, today)
    return d.Dossier(
        handover_id=handover.id,
        county=(await org.get_unit(db, handover.county_id)).name,
        reason_label=handover.reason,
        effective_date=handover.effective_date.isoformat(),
        departing=_party(departing),
        receiving=_party(receiver),
        interim=handover.interim,
        snapshot_at=now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        cases=d.overdue_first(cases),
        backlog=d.overdue_first(c for c in cases if c.backlog),
        sittings=future,
        assignments=[
            d.DossierAssignment(
                id=a.id,
                case_code=a.case_code,
                unit_name=a.unit_name,
                due_on=a.due_on.isoformat() if a.due_on else None,
                status_label=a.status_label,
            )
            for a in pending
        ],
        figures=d.Figures(**{f: getattr(figures, f) for f in d.Figures.__struct_fields__}),
        notes=d.Notes(
            key_people=handover.notes_key_people,
            risks=handover.notes_risks,
            unfinished=handover.notes_unfinished,
        ),
    )


async def signatures_of(db: AsyncSession, handover_id: int) -> list[HandoverSignature]:
    rows = await db.scalars(
        select(HandoverSignature)
        .where(HandoverSignature.handover_id == handover_id)
        .order_by(HandoverSignature.id)
    )
    return list(rows)


def stored_dossier(handover: Handover) -> d.Dossier | None:
    return d.load(handover.dossier) if handover.dossier else None


async def discipline_cases(db: AsyncSession, handover: Handover) -> list[tuple[int, str, str]]:
    """The open cases naming the departing official as accused: the discipline reviewer's
    view only, never the dossier."""
    return await held.cases_accusing(db, handover.person_id)


def ensure_conflict_free(handover: Handover, seen_sha256: str) -> None:
    if handover.pdf_sha256 != seen_sha256:
        raise Conflict(
            "您看到的交接书版本与当前待签版本不同（文件已更新），请重新打开交接书核对后再签。",
            slug="stale-document",
        )
