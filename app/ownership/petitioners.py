"""Petitioners of a case (people or organisations), their numbers sealed as bookings seal
them: the identity number checked (GB 11643, 统一社会信用代码 …), encrypted, matched by
keyed hash and shown masked; the mobile number, when given, likewise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import RuleViolation
from app.core.identity import IdType, identity_problem, mask, normalise
from app.core.personal_data import Secrets
from app.ownership.models import CasePetitioner
from app.scheduling.booking_services import normalise_mobile

NAME_MAX = 64
#: 《信访工作条例》第二十条 allows at most 5 representatives; a case names at most 10.
PETITIONERS_MAX = 10


@dataclass(frozen=True, slots=True)
class PetitionerIn:
    name: str
    id_type: IdType
    id_number: str
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class SealedPetitioner:
    """A petitioner whose numbers are already sealed (taken over from a booking)."""

    name: str
    id_type: str
    id_hash: str
    id_enc: bytes
    id_masked: str
    mobile_hash: str | None
    mobile_enc: bytes | None


def _checked(p: PetitionerIn, today: dt.date) -> tuple[str, str]:
    name = p.name.strip()
    if not name or len(name) > NAME_MAX:
        raise RuleViolation(
            f"请填写信访人姓名或单位名称（不超过{NAME_MAX}字）。", slug="invalid-input"
        )
    problem = identity_problem(p.id_type, p.id_number, today=today)
    if problem:
        raise RuleViolation(f"{name}：{problem}。", slug="invalid-input")
    return name, normalise(p.id_type, p.id_number)


def seal(secrets: Secrets, p: PetitionerIn, today: dt.date) -> SealedPetitioner:
    name, number = _checked(p, today)
    mobile = normalise_mobile(p.mobile) if p.mobile.strip() else ""
    return SealedPetitioner(
        name=name,
        id_type=str(p.id_type),
        id_hash=secrets.ref(str(p.id_type), number),
        id_enc=secrets.seal(number),
        id_masked=mask(p.id_type, number),
        mobile_hash=secrets.ref("mobile", mobile) if mobile else None,
        mobile_enc=secrets.seal(mobile) if mobile else None,
    )


async def add_sealed(
    db: AsyncSession, case_id: int, petitioners: Sequence[SealedPetitioner]
) -> int:
    for ordinal, p in enumerate(petitioners):
        db.add(
            CasePetitioner(
                case_id=case_id,
                ordinal=ordinal,
                name=p.name,
                id_type=p.id_type,
                id_hash=p.id_hash,
                id_enc=p.id_enc,
                id_masked=p.id_masked,
                mobile_hash=p.mobile_hash,
                mobile_enc=p.mobile_enc,
            )
        )
    await db.flush()
    return len(petitioners)


async def add_petitioners(
    db: AsyncSession,
    secrets: Secrets,
    case_id: int,
    petitioners: Sequence[PetitionerIn | SealedPetitioner],
    today: dt.date,
) -> int:
    if len(petitioners) > PETITIONERS_MAX:
        raise RuleViolation(
            f"一件信访事项最多登记 {PETITIONERS_MAX} 名信访人。", slug="invalid-input"
        )
    sealed = [
        p if isinstance(p, SealedPetitioner) else seal(secrets, p, today) for p in petitioners
    ]
    return await add_sealed(db, case_id, sealed)


async def petitioners_of(db: AsyncSession, case_id: int) -> list[CasePetitioner]:
    rows = await db.scalars(
        select(CasePetitioner)
        .where(CasePetitioner.case_id == case_id)
        .order_by(CasePetitioner.ordinal)
    )
    return list(rows)


def mobile_matches(secrets: Secrets, rows: Sequence[CasePetitioner], last4: str) -> bool:
    """True when one petitioner's mobile number ends in `last4` (the tracking check)."""
    if len(last4) != 4 or not last4.isdigit():
        return False
    return any(
        r.mobile_enc is not None and secrets.open(r.mobile_enc).endswith(last4) for r in rows
    )
