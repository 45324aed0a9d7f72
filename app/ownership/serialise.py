"""Cases as the API shows them: rows and read models in, Structs out."""

from __future__ import annotations

import datetime as dt

from app.ownership import assignment_services as assignments
from app.ownership import deadlines, owner_services
from app.ownership import workflow as wf
from app.ownership.models import Case, CaseAssignment, CaseEvent, CaseOwner
from app.ownership.read_services import WARN_DAYS, CaseSheet, ClockView, OwnedCase
from app.ownership.schemas import (
    AssignmentOut,
    CaseBrief,
    CaseOut,
    ClockOut,
    EventOut,
    OwnerOut,
    PetitionerOut,
    SkippedDayOut,
    TrackOut,
)
from app.ownership.track_services import Tracking

HOW_TO_EVALUATE = (
    "收到书面答复后，可凭诉求码和手机号后四位对处理结果评价：满意、基本满意或不满意；"
    "不满意的将转督查部门跟踪。"
)


def clock_label(name: str | None, profile: str = "national-2022") -> str | None:
    if name is None:
        return None
    return deadlines.PROFILES[profile].rule(deadlines.ClockName(name)).label


def clock_out(view: ClockView) -> ClockOut:
    row, d = view.row, view.deadline
    return ClockOut(
        clock=row.name,
        label=d.rule.label,
        state=row.state,
        start=row.start,
        due=row.due,
        overdue=view.overdue,
        provisional=row.provisional,
        extension_days=row.extension_days,
        paused_days=row.paused_days,
        article=d.article,
        explanation=d.explanation,
        rest_days_skipped=[
            SkippedDayOut(i.day, deadlines.day_name(i)) for i in d.rest_days_skipped
        ],
        stopped_on=row.stopped_on,
        assignment_id=row.assignment_id,
    )


def assignment_out(row: CaseAssignment) -> AssignmentOut:
    status = assignments.AssignmentStatus(row.status)
    return AssignmentOut(
        id=row.id,
        case_id=row.case_id,
        unit_id=row.unit_id,
        unit=row.unit.name,
        role=row.role,
        status=row.status,
        status_label=assignments.ASSIGNMENT_STATUS_LABELS[status],
        assigned_on=row.assigned_on,
        due=row.due,
        object_due=row.object_due,
        objection=row.objection,
        reply=row.reply,
    )


def event_out(row: CaseEvent) -> EventOut:
    return EventOut(on=row.on, at=row.at, kind=row.kind, title=row.title, text=row.text)


def case_out(sheet: CaseSheet) -> CaseOut:
    case = sheet.case
    return CaseOut(
        id=case.id,
        code=case.code,
        status=case.status,
        status_label=wf.STATUS_LABELS[wf.CaseStatus(case.status)],
        channel=case.channel,
        kind=case.kind,
        claim_item=case.claim_item,
        category=case.category,
        summary=case.summary,
        territorial_unit_id=case.territorial_unit_id,
        territorial_unit=case.territorial_unit.name,
        received_on=case.received_on,
        profile=case.profile,
        next_due=case.next_due,
        next_clock=case.next_clock,
        backlog=case.backlog,
        flagged=case.flagged,
        evaluation=case.evaluation,
        national_no=case.national_no,
        first_case_id=case.first_case_id,
        outcome=case.outcome,
        petitioners=[PetitionerOut(p.name, p.id_type, p.id_masked) for p in sheet.petitioners],
        owners=[
            OwnerOut(
                person_id=o.person_id,
                name=o.tenure.person.name,
                tenure_id=o.tenure_id,
                post=f"{o.tenure.post.unit.name}{o.tenure.post.title}",
                role=o.role,
                role_label=owner_services.OWNER_ROLE_LABELS[owner_services.OwnerRole(o.role)],
                target_date=o.target_date,
            )
            for o in sheet.owners
        ],
        clocks=[clock_out(c) for c in sheet.clocks],
        assignments=[assignment_out(a) for a in sheet.assignments],
        events=[event_out(e) for e in sheet.events],
        allowed_next=[str(s) for s in sheet.allowed_next],
    )


def brief_out(owned: OwnedCase, today: dt.date) -> CaseBrief:
    return case_brief(owned.case, today, owned.owner)


def track_out(found: Tracking) -> TrackOut:
    case = found.case
    return TrackOut(
        code=case.code,
        status=case.status,
        status_label=wf.STATUS_LABELS[wf.CaseStatus(case.status)],
        received_on=case.received_on,
        next_due=case.next_due,
        next_clock=case.next_clock,
        next_clock_label=clock_label(case.next_clock, case.profile),
        timeline=[event_out(e) for e in found.events],
        can_evaluate=found.can_evaluate,
        evaluation=case.evaluation,
        how_to_evaluate=HOW_TO_EVALUATE,
    )


def case_brief(case: Case, today: dt.date, owner: CaseOwner | None = None) -> CaseBrief:
    urgency = (
        deadlines.urgency(case.next_due, today, WARN_DAYS)
        if case.next_due
        else deadlines.Urgency.ok
    )
    return CaseBrief(
        id=case.id,
        code=case.code,
        status=case.status,
        status_label=wf.STATUS_LABELS[wf.CaseStatus(case.status)],
        category=case.category,
        territorial_unit=case.territorial_unit.name,
        next_due=case.next_due,
        next_clock=case.next_clock,
        urgency=str(urgency),
        backlog=case.backlog,
        target_date=owner.target_date if owner else None,
        role=owner.role if owner else None,
    )
