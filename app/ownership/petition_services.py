"""网上信访: a citizen submits a petition through the online form (信息网络), after proving
the mobile number with a one-time code. The case is registered like a clerk's intake; as no
leader received it in person, the county leader on duty that day (县领导365坐班接访) owns it
first, and the petitioner gets the 诉求码 by SMS.

《浙江省信访条例》第二条: 信访人通过 … 网络 … 等形式 … 提出建议、意见或者投诉请求.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import system_principal
from app.core.errors import NotAuthenticated, RuleViolation
from app.core.identity import IdType
from app.core.personal_data import Secrets
from app.core.rates import Limit
from app.org import services as org
from app.ownership import services
from app.ownership.models import Case
from app.ownership.petitioners import PetitionerIn
from app.ownership.workflow import Channel, Kind
from app.scheduling import citizen_services as citizens
from app.scheduling import services as scheduling
from app.scheduling.booking_services import normalise_mobile

JOB = "petition.online"
#: Petitions one number or one address may submit per day.
PER_MOBILE = Limit(5, 86400)
PER_IP = Limit(20, 86400)


@dataclass(frozen=True, slots=True)
class OnlinePetition:
    name: str
    mobile: str
    id_type: IdType
    id_number: str
    kind: Kind
    category: str
    summary: str
    territorial_unit_id: int
    claim_item: int | None = None


def _proven(secrets: Secrets, mobile: str, citizen: str) -> str:
    number = normalise_mobile(mobile)
    if not hmac.compare_digest(secrets.ref("mobile", number), citizen):
        raise NotAuthenticated("网上提交须先用短信验证码验证该手机号。")
    return number


async def submit(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    citizen: str,
    ip: str,
    data: OnlinePetition,
    profile: str,
) -> Case:
    """Register an online petition for the citizen whose verified number hashes to
    `citizen`; refused (and nothing stored but the rate counters) on any rule."""
    number = _proven(secrets, data.mobile, citizen)
    await citizens.require(db, f"petition:ip:{ip}", PER_IP, now, "网上提交信访事项")
    await citizens.require(db, f"petition:mobile:{citizen}", PER_MOBILE, now, "该手机号提交")
    # The counts stay even when the petition is refused: only the savepoint rolls back.
    async with db.begin_nested():
        return await _register(db, secrets, now, number, data, profile)


async def _register(
    db: AsyncSession,
    secrets: Secrets,
    now: dt.datetime,
    number: str,
    data: OnlinePetition,
    profile: str,
) -> Case:
    unit = await org.get_unit(db, data.territorial_unit_id)
    county_id = unit.county_id or unit.id
    day = services.today_of(now)
    owner = await scheduling.duty_tenure(db, county_id, day)
    if owner is None:
        raise RuleViolation("本县尚未安排县领导坐班接访，暂不能网上提交，请来电或来访反映。")
    intake = services.Intake(
        channel=Channel.online,
        kind=data.kind,
        category=data.category,
        summary=data.summary,
        territorial_unit_id=unit.id,
        received_on=day,
        profile=profile,
        petitioners=[PetitionerIn(data.name, data.id_type, data.id_number, number)],
        claim_item=data.claim_item,
        owner_tenure_id=owner,
    )
    case = await services.register(db, system_principal(JOB), now, secrets, None, intake)
    body = (
        f"【信访】您的信访事项已登记，诉求码{case.code}。可凭诉求码和本手机号后四位查询办理进度。"
    )
    await citizens.queue_message(
        db,
        secrets,
        now,
        key=f"case:{case.id}:registered",
        kind="case",
        mobile=number,
        body=body,
        county_id=case.county_id,
    )
    return case
