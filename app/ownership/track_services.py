"""凭码跟踪: a petitioner follows a case by its 诉求码 and the last four digits of the mobile
number given at intake, sees the public timeline and the next deadline, and rates the reply
(满意 / 基本满意 / 不满意). An unknown code and a wrong number get the same answer, so a
lookup never reveals whether a code exists; lookups are rate limited per address.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.codes import code_is_valid, normalise_code
from app.core.errors import NotFound, RuleViolation
from app.core.personal_data import Secrets
from app.ledger import services as ledger
from app.ledger.rules import citizen_actor, ledger_action
from app.ownership import clock_services as clocks
from app.ownership import fact_services
from app.ownership.models import Case, CaseClock, CaseEvent, CasePetitioner
from app.ownership.petitioners import petitioners_of
from app.ownership.services import CASE_CODE_BODY, add_event
from app.ownership.workflow import EVALUATION_LABELS, CaseStatus, Evaluation

HOW_TO_TRACK = "请牢记诉求码，可凭诉求码和手机号后四位在“凭诉求码查询办理进度”页面查询办理进度。"
NO_MATCH = "诉求码与手机号后四位不匹配，请核对后再试。"
BAD_CODE = "诉求码有误（共10位，请检查是否输错），请核对后再试。"
#: Once a written opinion has been delivered the petitioner may rate it.
EVALUABLE = frozenset(
    {
        CaseStatus.replied,
        CaseStatus.review_requested,
        CaseStatus.reviewed,
        CaseStatus.recheck_requested,
        CaseStatus.rechecked,
        CaseStatus.closed,
    }
)

CASE_EVALUATED = ledger_action(
    "case.evaluated",
    "case",
    "信访人评价处理结果（不满意的转督查）",
    evaluation="satisfied 满意 / basically 基本满意 / unsatisfied 不满意",
    flagged="是否转督查",
)


@dataclass(frozen=True, slots=True)
class Tracking:
    case: Case
    events: list[CaseEvent]
    running: list[CaseClock]

    @property
    def can_evaluate(self) -> bool:
        return (
            self.case.evaluation is None
            and self.case.replied_on is not None
            and (self.case.status in EVALUABLE)
        )


async def _matching(
    db: AsyncSession, secrets: Secrets, raw_code: str, last4: str
) -> tuple[Case, CasePetitioner]:
    code = normalise_code(raw_code)
    if not code_is_valid(code, CASE_CODE_BODY):
        raise RuleViolation(BAD_CODE, slug="invalid-input")
    case = await db.scalar(select(Case).where(Case.code == code))
    rows = await petitioners_of(db, case.id) if case is not None else []
    for row in rows:
        mobile = secrets.open(row.mobile_enc) if row.mobile_enc is not None else ""
        if len(last4) == 4 and mobile and hmac.compare_digest(mobile[-4:], last4):
            assert case is not None
            return case, row
    raise NotFound(NO_MATCH)


async def track(db: AsyncSession, secrets: Secrets, code: str, last4: str) -> Tracking:
    case, _ = await _matching(db, secrets, code, last4.strip())
    events = await db.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.public.is_(True))
        .order_by(CaseEvent.at, CaseEvent.id)
    )
    return Tracking(case, list(events), await clocks.running(db, case.id))


async def evaluate(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    code: str,
    last4: str,
    evaluation: Evaluation,
) -> Case:
    """The petitioner's rating of the written reply, once; 不满意 flags the case for the
    supervisors' attention."""
    case, petitioner = await _matching(db, secrets, code, last4.strip())
    tracking = Tracking(case, [], [])
    if not tracking.can_evaluate:
        if case.evaluation is not None:
            raise RuleViolation("该信访事项已经评价过了。", slug="duplicate")
        raise RuleViolation("收到书面答复后才能评价。")
    case.evaluation = str(evaluation)
    case.evaluated_at = now
    case.flagged = evaluation is Evaluation.unsatisfied
    case.updated_at = now
    await fact_services.refresh(db, case)
    await ledger.append(
        db,
        county=case.county_id,
        actor=citizen_actor(petitioner.mobile_hash or ""),
        action=CASE_EVALUATED,
        subject=("case", case.id),
        at=now,
        payload={"evaluation": str(evaluation), "flagged": case.flagged},
    )
    title = f"信访人评价：{EVALUATION_LABELS[evaluation]}"
    await add_event(db, case, now, "evaluated", title, None, None)
    return case
