"""A realistic dossier of one departing official, made from a seed (no database).

500 open cases by default, as a busy 乡镇党委书记 holds at the end of a long tenure: most
lead-owned, some co-owned; 8 % overdue on some clock, 5 % 积案; one pending assignment (交办)
for every fourth case; a sitting every week for three months with a day's bookings
on each; and the notes a departing official writes (a few paragraphs each).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from app.core.codes import make_code
from app.handover.dossier import (
    Anchor,
    Dossier,
    DossierAssignment,
    DossierCase,
    DossierSitting,
    Figures,
    Notes,
    Party,
    digest,
)

DAY = dt.date(2026, 3, 31)
CATEGORIES = (
    "征地拆迁",
    "劳动社保",
    "城乡建设",
    "农村农业",
    "环境保护",
    "教育卫生",
    "交通运输",
    "民政救助",
    "涉法涉诉",
    "国土资源",
    "企业改制",
    "物业管理",
)
KINDS = ("建议意见类", "检举控告类", "申诉求决类")
STATUSES = ("已受理", "办理中", "已转送/交办", "已答复", "复查中", "复核中")
ROLES = ("包案领导", "包案领导", "包案领导", "首接领导", "协同包案")
CLOCKS = ("办理期限", "延长办理期限", "受理告知", "复查意见", "复核意见")
UNITS = ("县人力社保局", "县自然资源和规划局", "县住建局", "县农业农村局", "县生态环境分局")
VENUES = ("城关镇信访接待室", "城关镇党群服务中心")


def _code(rng: random.Random) -> str:
    return make_code(rng.randbytes(8))


def _case(rng: random.Random, i: int) -> DossierCase:
    received = DAY - dt.timedelta(days=rng.randint(5, 700))
    overdue = rng.random() < 0.08
    due = (
        DAY - dt.timedelta(days=rng.randint(1, 90))
        if overdue
        else DAY + dt.timedelta(days=rng.randint(0, 60))
    )
    return DossierCase(
        id=10_000 + i,
        code=_code(rng),
        category=rng.choice(CATEGORIES),
        kind_label=rng.choice(KINDS),
        status_label=rng.choice(STATUSES),
        role_label=rng.choice(ROLES),
        received_on=received.isoformat(),
        target_date=(received + dt.timedelta(days=90)).isoformat(),
        next_due=due.isoformat(),
        next_clock_label=rng.choice(CLOCKS),
        days_overdue=(DAY - due).days if overdue else 0,
        backlog=rng.random() < 0.05,
    )


def _sitting(rng: random.Random, week: int) -> DossierSitting:
    booked = rng.randint(2, 8)
    return DossierSitting(
        id=500 + week,
        day=(DAY + dt.timedelta(days=7 * week + 2)).isoformat(),
        rule_name="党委书记接访日",
        venue_name=rng.choice(VENUES),
        booked=booked,
        waitlisted=rng.randint(0, 2),
        booking_codes=[make_code(rng.randbytes(8), 8) for _ in range(booked)],
    )


NOTE = (
    "{0}村{1}组群众反映的{2}问题涉及人数较多，已多次到县、市信访，需持续关注；"
    "相关部门已出具初步处理意见，但群众对补偿标准仍有异议，建议接任领导到任后一个月内"
    "约见信访人当面沟通，并与县{2}主管部门共同研究化解方案。"
)


def _notes(rng: random.Random) -> Notes:
    def text(n: int) -> str:
        return "\n".join(
            NOTE.format(rng.choice("东南西北"), rng.randint(1, 9), rng.choice(CATEGORIES))
            for _ in range(n)
        )

    return Notes(key_people=text(4), risks=text(3), unfinished=text(5))


def official_dossier(cases: int = 500, seed: int = 7) -> Dossier:
    """One departing 城关镇党委书记 with `cases` open cases (deterministic for a seed)."""
    rng = random.Random(seed)
    listed = [_case(rng, i) for i in range(cases)]
    assignments = [
        DossierAssignment(
            id=900 + i,
            case_code=c.code,
            unit_name=rng.choice(UNITS),
            due_on=c.next_due,
            status_label=rng.choice(("待签收", "办理中", "待审核")),
        )
        for i, c in enumerate(listed[::4])
    ]
    return Dossier(
        handover_id=42,
        county="云江县",
        reason_label="调任",
        effective_date=(DAY + dt.timedelta(days=10)).isoformat(),
        departing=Party(person_id=1, name="王建国", tenure_id=11, post="城关镇党委书记"),
        receiving=Party(person_id=2, name="李卫东", tenure_id=12, post="城关镇党委书记"),
        interim=False,
        snapshot_at="2026-03-31T06:30:00.000000Z",
        cases=listed,
        backlog=[c for c in listed if c.backlog],
        sittings=[_sitting(rng, week) for week in range(13)],
        assignments=assignments,
        figures=Figures(
            received=cases * 3,
            resolved=cases * 2,
            replied=cases * 2 + 40,
            replied_on_time=cases * 2 + 11,
            evaluated=cases + 200,
            satisfied=cases + 150,
        ),
        notes=_notes(rng),
    )


def anchor_of(dossier: Dossier) -> Anchor:
    """The anchor the footer prints: the dossier's hash and a plausible checkpoint."""
    return Anchor(
        dossier_sha256=digest(dossier),
        origin="yunjiang/330824",
        checkpoint_size=123_457,
        checkpoint_root=hashlib.sha256(b"checkpoint").hexdigest(),
    )
