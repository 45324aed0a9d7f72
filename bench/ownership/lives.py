"""A county's cases, each lived step by step as the case services would have taken it —
registration, routing, 包案, 交办, extension, reply, evaluation, review, closing — but
written as rows and ledger drafts instead of through the services, which would take hours.

Each step mirrors its service: the clocks it stops and starts come from the transition
table (`workflow.step`), due dates from `deadlines.due_date` on the national calendar
(the county has no local rest days), `next_due`/`next_clock` mirror the earliest running
clock of the case itself as `clock_services.refresh_next` does, the timeline event and
the ledger payload are those the service writes. A step is taken only if its moment is
not after the horizon (the moment the generation started); what has not happened yet
leaves the case in its current status with its clocks running, which is how cases become
overdue: their step was late, or has not been taken.

Pure: org and the case list in, rows and drafts out; random from a seeded generator.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from app.core.clock import SHANGHAI
from app.core.codes import ALPHABET, make_code
from app.core.identity import IdType, gb11643_check_char
from app.core.personal_data import Secrets
from app.core.workdays import WorkCalendar
from app.ledger.rules import citizen_actor, system_actor
from app.ownership import deadlines, workflow
from app.ownership.assignment_services import (
    ASSIGN_ROLE_LABELS,
    ASSIGNMENT_ANSWERED,
    ASSIGNMENT_STATUS_LABELS,
    CASE_ASSIGNED,
    AssignmentStatus,
    AssignRole,
)
from app.ownership.clock_services import CLOCK_RECOMPUTED
from app.ownership.models import Case
from app.ownership.owner_services import OWNER_ASSUMED
from app.ownership.petitioners import PetitionerIn, SealedPetitioner, seal
from app.ownership.services import (
    CASE_BACKLOG,
    CASE_CODE_BODY,
    CASE_NOTED,
    CASE_REGISTERED,
    CASE_STEPPED,
    CLOSING_JOB,
    handles_on_clock,
)
from app.ownership.track_services import CASE_EVALUATED
from app.ownership.workflow import CaseStatus, Channel, Evaluation, Kind, Outcome
from bench.ownership.org import CountyOrg, Draft, Official, UnitRow
from bench.roster.names import FEMALE_GIVEN, MALE_GIVEN, SURNAMES

PROFILE: Final = "zhejiang-2016"  # JIEFANG_JURISDICTION=zhejiang, the default
ACTOR: Final = system_actor("bench.ownership")  # the bureau's steps, made by the generator
CLOSER: Final = system_actor(CLOSING_JOB)
S = CaseStatus
RUNNING, STOPPED, SUPERSEDED = "running", "stopped", "superseded"

#: What happens how often (weights or probabilities).
CHANNELS: Final = {
    Channel.visit: 35,
    Channel.online: 25,
    Channel.letter: 18,
    Channel.phone: 16,
    Channel.email: 5,
    Channel.fax: 1,
}
KINDS: Final = {Kind.claim: 75, Kind.suggestion: 10, Kind.accusation: 15}
OUTCOMES: Final = {
    Outcome.accept: 74,
    Outcome.assign: 6,
    Outcome.transfer: 4,
    Outcome.not_accept: 6,
    Outcome.redirect: 5,
    Outcome.not_re_accept: 5,
}
EVALUATIONS: Final = {
    Evaluation.satisfied: 75,
    Evaluation.basically: 15,
    Evaluation.unsatisfied: 10,
}
VERY_LATE_ROUTING = 0.01  # routed 20–60 days after receipt (due in 5 working days)
LATE_ROUTING = 0.06  # 6–14 days
APPOINTED = 0.35  # a 包案 leader named after acceptance
CO_OWNED = 0.3  # of those, with a co-owner (the subject department's head)
ASSIGNED = 0.45  # 交办 to the territorial township or the subject department
REPORTED = 0.85
IN_PROGRESS = 0.5  # of the unassigned: marked 办理中
PROGRESS_NOTE = 0.4
WITHDRAWN = 0.03  # 息访办结 before a reply
EXTENDED = 0.06
VERY_LATE_REPLY = 0.04  # replied 60–150 days after acceptance (due in 30, or 60 extended)
LATE_REPLY = 0.08  # 32–50 days (extended: 91–110)
EVALUATED = 0.72
REVIEWED = 0.05
LATE_REVIEW = 0.06
RECHECKED = 0.2
CLOSED_BY_STAFF = 0.3  # of satisfied replies: 答复后办结 instead of waiting for the lapse
BACKLOG = 0.3  # of cases still unanswered 90 days after receipt
REPEAT_PETITIONER = 0.15

CATEGORIES: Final = {
    "土地征收": (16, "反映村里土地征收补偿款未按协议足额发放，请求核实并补发。"),
    "劳动社保": (18, "反映在本地企业务工被拖欠工资三个月，请求协调支付。"),
    "城建住房": (16, "反映小区违章搭建影响采光和消防通道，请求依法处理。"),
    "涉法涉诉": (9, "对邻里宅基地纠纷的调解结果有异议，请求重新调处。"),
    "生态环境": (8, "反映附近养殖场污水直排河道，气味严重，请求整治。"),
    "教育医疗": (7, "反映子女入学片区划分不合理，请求调整。"),
    "民政救助": (6, "反映家庭困难申请低保未获批准，请求复核。"),
    "交通运输": (5, "反映村道破损严重、客运班车停运，请求修复并恢复班次。"),
    "农业农村": (6, "反映土地流转租金未按时支付，请求协调。"),
    "其他": (9, "反映村道路灯损坏多时无人维修，夜间出行不便。"),
}
REPLY = "经调查核实，已督促有关单位依法依规处理，具体意见见处理意见书。"
REVIEW_OPINION = "复查认为原处理意见正确，予以维持。"
RECHECK_OPINION = "复核认为复查意见正确，予以维持，信访事项终结。"
PROGRESS = "已约谈信访人并会同属地乡镇现场核实，正在协调处理。"
EXTENSION_REASON = "涉及多个部门，需进一步调查核实。"
ASSIGNMENT_REPLY = "已按交办要求调查处理，处理情况已书面报告。"
LAPSED = "期满未请求复查复核，信访事项终结"
REDIRECT_REASON = "依法应通过其他法定途径解决。"


@functools.lru_cache(maxsize=1)
def calendar() -> WorkCalendar:
    return WorkCalendar.china()


@functools.cache
def due(name: str, start: dt.date, extension_days: int | None = None) -> deadlines.Deadline:
    return deadlines.due_date(calendar(), PROFILE, name, start, extension_days=extension_days)


def case_code(case_id: int) -> str:
    """A 诉求码 unique to the case: its id through a bijection of [0, 31^9), as the body's
    characters, and the check character of `make_code`."""
    n = len(ALPHABET)
    x = (case_id * 7_368_787 + 11_117) % n**CASE_CODE_BODY
    digits = []
    for _ in range(CASE_CODE_BODY):
        x, d = divmod(x, n)
        digits.append(d)
    return make_code(bytes(digits), CASE_CODE_BODY)


def shanghai_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SHANGHAI).date()


# --------------------------------------------------------------------------- rows


@dataclass(slots=True)
class Clock:
    id: int
    name: str
    start: dt.date
    due: dt.date
    provisional: bool
    created_at: dt.datetime
    extension_days: int = 0
    state: str = RUNNING
    stopped_on: dt.date | None = None
    reason: str | None = None
    assignment_id: int | None = None

    def payload(self) -> dict[str, str]:
        return {"clock": self.name, "start": self.start.isoformat(), "due": self.due.isoformat()}


@dataclass(slots=True)
class Assignment:
    id: int
    unit: UnitRow
    role: AssignRole
    assigned_on: dt.date
    due: dt.date
    object_due: dt.date
    at: dt.datetime
    status: AssignmentStatus = AssignmentStatus.assigned
    reported_at: dt.datetime | None = None
    reply: str | None = None
    replied_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


CASE_COLUMNS: Final = (
    "id",
    "county_id",
    "code",
    "national_no",
    "channel",
    "kind",
    "claim_item",
    "category",
    "summary",
    "territorial_unit_id",
    "status",
    "profile",
    "received_on",
    "reception_id",
    "first_case_id",
    "outcome",
    "outcome_body",
    "outcome_reason",
    "routed_on",
    "accepted_on",
    "replied_on",
    "delivered_on",
    "closed_on",
    "reply",
    "evaluation",
    "evaluated_at",
    "flagged",
    "backlog",
    "next_due",
    "next_clock",
    "registered_by",
    "created_at",
    "updated_at",
)
PETITIONER_COLUMNS: Final = (
    "id",
    "case_id",
    "ordinal",
    "name",
    "id_type",
    "id_hash",
    "id_enc",
    "id_masked",
    "mobile_hash",
    "mobile_enc",
)
CASE_UNIT_COLUMNS: Final = ("case_id", "unit_id", "role")
ACCUSED_COLUMNS: Final = ("case_id", "person_id")
OWNER_COLUMNS: Final = (
    "id",
    "case_id",
    "county_id",
    "person_id",
    "tenure_id",
    "role",
    "active",
    "target_date",
    "assumed_at",
    "assumed_by",
    "renounced_at",
    "renounce_reason",
)
CLOCK_COLUMNS: Final = (
    "id",
    "case_id",
    "county_id",
    "assignment_id",
    "name",
    "start",
    "due",
    "extension_days",
    "paused_days",
    "provisional",
    "state",
    "stopped_on",
    "reason",
    "created_at",
)
ASSIGNMENT_COLUMNS: Final = (
    "id",
    "case_id",
    "county_id",
    "unit_id",
    "role",
    "status",
    "assigned_on",
    "due",
    "object_due",
    "objection",
    "reported_at",
    "reply",
    "replied_at",
    "assigned_by",
    "updated_at",
)
EVENT_COLUMNS: Final = (
    "id",
    "case_id",
    "at",
    "on",
    "kind",
    "title",
    "text",
    "public",
    "account_id",
)

#: table -> columns; each stage row ends with `sort_at` (when the row was first written).
TABLES: Final = {
    "cases": CASE_COLUMNS,
    "case_petitioners": PETITIONER_COLUMNS,
    "case_units": CASE_UNIT_COLUMNS,
    "case_accused": ACCUSED_COLUMNS,
    "case_owners": OWNER_COLUMNS,
    "case_assignments": ASSIGNMENT_COLUMNS,
    "case_clocks": CLOCK_COLUMNS,
    "case_events": EVENT_COLUMNS,
}


@dataclass
class Written:
    """What a county's cases wrote: stage rows per table, ledger drafts, and counts."""

    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in TABLES}
    )
    drafts: list[tuple[dt.datetime, int, int, Draft]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the county


@dataclass
class Citizens:
    """The county's petitioners, sealed once each (`petitioners.seal`); some petition
    again."""

    secrets: Secrets
    address: str
    today: dt.date
    rng: random.Random
    sealed: list[SealedPetitioner] = field(default_factory=list)

    def draw(self) -> SealedPetitioner:
        if self.sealed and self.rng.random() < REPEAT_PETITIONER:
            return self.rng.choice(self.sealed)
        rng = self.rng
        born = dt.date(1945, 1, 1) + dt.timedelta(days=rng.randint(0, 20_000))
        body = f"{self.address}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        given = FEMALE_GIVEN if rng.random() < 0.4 else MALE_GIVEN
        name = rng.choice(SURNAMES) + rng.choice(given)
        mobile = (
            f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}" if rng.random() < 0.9 else ""
        )
        person = PetitionerIn(name, IdType.resident, body + gb11643_check_char(body), mobile)
        sealed = seal(self.secrets, person, self.today)
        self.sealed.append(sealed)
        return sealed


@dataclass
class County:
    """A county's org as the generator uses it, its id counters and what it wrote."""

    org: CountyOrg
    id_base: int
    horizon: dt.datetime
    rng: random.Random
    citizens: Citizens
    written: Written = field(default_factory=Written)
    last_id: dict[str, int] = field(default_factory=dict)
    accepted: list[tuple[dt.date, int]] = field(default_factory=list)
    lead_weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        order = list(range(len(self.org.leaders)))
        self.rng.shuffle(order)
        weights = [0.0] * len(order)
        for rank, k in enumerate(order):
            weights[k] = 1 / (rank + 1) ** 0.9
        self.lead_weights = weights

    def next_id(self, table: str) -> int:
        """Ids from the county's own block: unique, and increasing within every case."""
        self.last_id[table] = self.last_id.get(table, 0) + 1
        return self.id_base + self.last_id[table]

    @property
    def today(self) -> dt.date:
        return shanghai_day(self.horizon)

    def earlier_accepted(self, day: dt.date) -> int | None:
        """A case of this county accepted before `day` (the first case a repeat repeats)."""
        found = [case for accepted, case in self.accepted[-300:] if accepted < day]
        return self.rng.choice(found) if found else None


def live_county(
    org: CountyOrg,
    cases: Sequence[tuple[int, dt.datetime]],
    id_base: int,
    horizon: dt.datetime,
    secrets: Secrets,
    seed: int,
) -> Written:
    """Every case of the county, in the order received; `cases` is (case id, received at)."""
    rng = random.Random(seed)
    citizens = Citizens(secrets, org.code, shanghai_day(horizon), rng)
    county = County(org, id_base, horizon, rng, citizens)
    for case_id, received in cases:
        life = Life(county, case_id, received)
        life.live()
        life.flush()
    return county.written


# --------------------------------------------------------------------------- one case


class Beyond(Exception):
    """The next step would happen after the horizon: the case stays as it is."""


class Life:
    def __init__(self, county: County, case_id: int, received: dt.datetime) -> None:
        self.county, self.rng, self.id = county, county.rng, case_id
        self.received = received
        self.last = received
        self.ledgered = 0
        self.f: dict[str, Any] = {c: None for c in CASE_COLUMNS}
        self.clocks: list[Clock] = []
        self.owners: list[list[Any]] = []
        self.assignment: Assignment | None = None
        self.subjects: list[UnitRow] = []
        self.accused_units: list[UnitRow] = []
        self.accused_persons: list[int] = []
        self.mobile_hash = ""
        self.backlog_drawn = False

    # ------------------------------------------------------------------ moments

    def moment(self, day: dt.date, *, night: bool = False) -> dt.datetime:
        """A moment of `day` (office hours; `night`: when the nightly jobs run) after the
        case's last step; Beyond when it is after the horizon."""
        day = max(day, shanghai_day(self.last))
        minute = self.rng.randint(30, 90) if night else self.rng.randint(510, 1050)
        at = dt.datetime.combine(day, dt.time(), SHANGHAI) + dt.timedelta(minutes=minute)
        at = at.astimezone(dt.UTC)
        if at <= self.last:
            at = self.last + dt.timedelta(seconds=self.rng.randint(1, 600))
        if at > self.county.horizon:
            raise Beyond
        self.last = at
        return at

    def later(self, day: dt.date, low: int, high: int) -> dt.date:
        return day + dt.timedelta(days=self.rng.randint(low, high))

    # ------------------------------------------------------------------ writing

    def ledger(
        self, at: dt.datetime, action: str, payload: dict[str, Any], actor: Any = ACTOR
    ) -> None:
        draft = Draft(at, actor, action, "case", str(self.id), payload)
        self.county.written.drafts.append((at, self.id, self.ledgered, draft))
        self.ledgered += 1

    def event(
        self,
        at: dt.datetime,
        kind: str,
        title: str,
        text: str | None = None,
        *,
        public: bool = True,
        on: dt.date | None = None,
    ) -> int:
        event_id = self.county.next_id("case_events")
        row = (event_id, self.id, at, on or shanghai_day(at), kind, title, text, public, None, at)
        self.county.written.rows["case_events"].append(row)
        return event_id

    def start(
        self, names: Sequence[str], on: dt.date, at: dt.datetime, assignment: int | None = None
    ) -> list[Clock]:
        started = []
        for name in names:
            d = due(name, on)
            clock = Clock(self.county.next_id("case_clocks"), name, on, d.due, d.provisional, at)
            clock.assignment_id = assignment
            self.clocks.append(clock)
            started.append(clock)
        return started

    def running(self) -> list[Clock]:
        return sorted((c for c in self.clocks if c.state == RUNNING), key=lambda c: (c.due, c.id))

    def stop(self, names: frozenset[str], on: dt.date) -> list[Clock]:
        stopped = [c for c in self.running() if c.name in names]
        for clock in stopped:
            clock.state, clock.stopped_on = STOPPED, on
        return stopped

    def refresh_next(self) -> None:
        own = [c for c in self.running() if c.assignment_id is None]
        self.f["next_due"] = own[0].due if own else None
        self.f["next_clock"] = own[0].name if own else None

    def assume(
        self, at: dt.datetime, official: Official, role: str, target: dt.date | None = None
    ) -> None:
        owner_id = self.county.next_id("case_owners")
        self.owners.append(
            [
                owner_id,
                self.id,
                self.county.org.id,
                official.person_id,
                official.tenure_id,
                role,
                True,
                target,
                at,
                None,
                None,
                None,
            ]
        )
        payload = {
            "person": official.person_id,
            "tenure": official.tenure_id,
            "role": role,
            "target_date": target.isoformat() if target else None,
        }
        self.ledger(at, OWNER_ASSUMED, payload)

    def step(
        self,
        at: dt.datetime,
        target: CaseStatus,
        on: dt.date,
        *,
        outcome: Outcome | None = None,
        clocks_from: dt.date | None = None,
        actor: Any = ACTOR,
    ) -> None:
        """`services._step`: stop and start the step's clocks, ledger it."""
        current = CaseStatus(self.f["status"])
        rule = workflow.step(current, target)
        stopped = self.stop(rule.stops, on)
        on_clock = handles_on_clock(cast(Case, self))  # it reads the three properties below
        names = tuple(c for c in rule.starts if c != "handle" or on_clock)
        started = self.start(names, clocks_from or on, at)
        self.f["status"] = str(target)
        self.f["updated_at"] = at
        if target in workflow.FINISHED:
            self.f["closed_on"] = on
        self.refresh_next()
        payload = {
            "from_status": str(current),
            "to_status": str(target),
            "on": on.isoformat(),
            "outcome": str(outcome) if outcome else None,
            "first_case": self.f["first_case_id"],
            "clocks_stopped": sorted({c.name for c in stopped}),
            "clocks_started": [c.payload() for c in started],
        }
        self.ledger(at, CASE_STEPPED, payload, actor)

    # attributes `handles_on_clock` reads
    @property
    def profile(self) -> str:
        return PROFILE

    @property
    def kind(self) -> str:
        return str(self.f["kind"])

    @property
    def claim_item(self) -> int | None:
        item: int | None = self.f["claim_item"]
        return item

    # ------------------------------------------------------------------ the life

    def live(self) -> None:
        try:
            self.register()
            self.route()
        except Beyond:
            pass
        self.designate_backlog(None)

    def pick(self, weights: dict[Any, int]) -> Any:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def register(self) -> None:
        rng, org, f = self.rng, self.county.org, self.f
        at = self.received
        day = shanghai_day(at)
        kind = self.pick(KINDS)
        channel = self.pick(CHANNELS)
        category = rng.choices(list(CATEGORIES), [w for w, _ in CATEGORIES.values()])[0]
        territorial = self.territorial()
        self.subjects = rng.sample(org.departments, rng.choice((0, 1, 1, 1, 2)))
        if kind is Kind.accusation:
            self.accuse()
        f.update(
            id=self.id,
            county_id=org.id,
            code=case_code(self.id),
            channel=str(channel),
            kind=str(kind),
            claim_item=(6 if rng.random() < 0.8 else rng.randint(1, 5))
            if kind is Kind.claim
            else None,
            category=category,
            summary=CATEGORIES[category][1],
            territorial_unit_id=territorial.id,
            status=str(S.registered),
            profile=PROFILE,
            received_on=day,
            flagged=False,
            backlog=False,
            created_at=at,
            updated_at=at,
        )
        petitioners = [
            self.county.citizens.draw()
            for _ in range(1 if rng.random() < 0.9 else rng.randint(2, 5))
        ]
        self.write_parties(petitioners)
        started = self.start(("route", "accept"), day, at)
        self.refresh_next()
        self.ledger(
            at,
            CASE_REGISTERED,
            {
                "code": f["code"],
                "channel": f["channel"],
                "kind": f["kind"],
                "claim_item": f["claim_item"],
                "territorial_unit": territorial.id,
                "subject_units": sorted({u.id for u in self.subjects}),
                "accused_count": len(self.accused_persons) + len(self.accused_units),
                "petitioners": len(petitioners),
                "received_on": day.isoformat(),
                "profile": PROFILE,
                "reception": None,
                "national_no": None,
                "clocks_started": [c.payload() for c in started],
            },
        )
        self.event(at, "registered", "已登记")
        self.assume(at, self.first_owner(channel, territorial), "first")

    def territorial(self) -> UnitRow:
        org, roll = self.county.org, self.rng.random()
        if roll < 0.6:
            return self.rng.choice(org.villages)
        if roll < 0.9:
            return self.rng.choice(org.townships)
        return self.rng.choice(org.departments)

    def accuse(self) -> None:
        rng, org = self.rng, self.county.org
        if rng.random() < 0.4:
            self.accused_persons = [rng.choice(org.others).person_id]
        if rng.random() < 0.2:
            candidates = [d for d in org.departments if d not in self.subjects]
            self.accused_units = [rng.choice(candidates)]

    def write_parties(self, petitioners: list[SealedPetitioner]) -> None:
        rows, at = self.county.written.rows, self.received
        for unit in self.subjects:
            rows["case_units"].append((self.id, unit.id, "subject", at))
        for unit in sorted(self.accused_units, key=lambda u: u.id):
            rows["case_units"].append((self.id, unit.id, "accused", at))
        for person in sorted(self.accused_persons):
            rows["case_accused"].append((self.id, person, at))
        for ordinal, p in enumerate(petitioners):
            rows["case_petitioners"].append(
                (
                    self.county.next_id("case_petitioners"),
                    self.id,
                    ordinal,
                    p.name,
                    p.id_type,
                    p.id_hash,
                    p.id_enc,
                    p.id_masked,
                    p.mobile_hash,
                    p.mobile_enc,
                    at,
                )
            )
        self.mobile_hash = next((p.mobile_hash for p in petitioners if p.mobile_hash), "")

    def may_own(self, official: Official) -> bool:
        """`recusal.may_own`: not accused, personally or through the post's unit."""
        return official.person_id not in self.accused_persons and all(
            official.unit_id != u.id for u in self.accused_units
        )

    def first_owner(self, channel: Channel, territorial: UnitRow) -> Official:
        """首接负责: the leader who received a visit (a county leader at the centre, or a
        township leader on a 三个一 day); otherwise the leader the clerk names."""
        rng, org = self.rng, self.county.org
        township = org.township_of(territorial.id)
        if township is None:  # a county department's matter
            head = org.department_heads[territorial.id]
            if channel is not Channel.visit and self.may_own(head):
                return head
            return rng.choice(org.leaders)
        if channel is Channel.visit and rng.random() < 0.45:
            return rng.choice(org.leaders)
        main = org.township_main[township]
        return rng.choices(main, [5, 4, 1][: len(main)])[0]

    def lead(self, exclude: set[int]) -> Official:
        org = self.county.org
        while True:
            official = self.rng.choices(org.leaders, self.county.lead_weights)[0]
            if official.person_id not in exclude:
                return official

    def route(self) -> None:
        rng = self.rng
        received = self.f["received_on"]
        roll = rng.random()
        if roll < VERY_LATE_ROUTING:
            on = self.later(received, 20, 60)
        elif roll < VERY_LATE_ROUTING + LATE_ROUTING:
            on = self.later(received, 6, 14)
        else:
            on = self.later(received, 0, 4)
        outcome = self.pick(OUTCOMES)
        first = self.county.earlier_accepted(on) if outcome is Outcome.not_re_accept else None
        if outcome is Outcome.not_re_accept and first is None:
            outcome = Outcome.not_accept
        self.decide(self.moment(on), outcome, on, first)
        if outcome is Outcome.assign:
            on = self.later(on, 0, 3)
            self.decide(self.moment(on), Outcome.accept, on, None)
        elif outcome is Outcome.transfer:
            on = self.later(on, 1, 5)
            self.advance(self.moment(on), S.closed, on, "已转送有权处理机关。")
            return
        if self.f["status"] == S.accepted:
            self.county.accepted.append((on, self.id))
            self.handle()

    def decide(self, at: dt.datetime, outcome: Outcome, on: dt.date, first: int | None) -> None:
        """`services.route`: a routing decision and its written notice."""
        f = self.f
        body = ""
        if outcome in workflow.NAMES_A_BODY:
            body = self.rng.choice(self.county.org.departments).name
        reason = REDIRECT_REASON if outcome in workflow.NEEDS_REASON else ""
        f["outcome"], f["outcome_body"] = str(outcome), body or None
        f["outcome_reason"], f["first_case_id"] = reason or None, first
        if outcome in {Outcome.transfer, Outcome.assign}:
            f["routed_on"] = on
        if outcome is Outcome.accept:
            f["accepted_on"] = on
        self.step(at, workflow.OUTCOME_STATUS[outcome], on, outcome=outcome)
        text = "；".join(p for p in (body, reason) if p) or workflow.OUTCOME_LABELS[outcome]
        self.event(at, f"notice.{outcome}", f"{workflow.OUTCOME_LABELS[outcome]}告知", text)

    def advance(
        self,
        at: dt.datetime,
        target: CaseStatus,
        on: dt.date,
        text: str = "",
        delivered: dt.date | None = None,
    ) -> None:
        """`services.advance`: one step after routing."""
        delivered = delivered or on
        if target is S.replied:
            self.f.update(reply=text, replied_on=on, delivered_on=delivered)
        self.step(at, target, on, clocks_from=delivered)
        label = workflow.STATUS_LABELS[target]
        self.event(at, f"status.{target}", label, text or None, on=on)

    def handle(self) -> None:
        rng, accepted = self.rng, self.f["accepted_on"]
        if rng.random() < APPOINTED:
            self.appoint(self.later(accepted, 1, 3))
        if rng.random() < ASSIGNED:
            self.assign(self.later(accepted, 1, 5))
        elif rng.random() < IN_PROGRESS:
            on = self.later(accepted, 1, 5)
            self.advance(self.moment(on), S.in_progress, on)
        if rng.random() < PROGRESS_NOTE:
            self.note(self.later(accepted, 5, 15))
        if rng.random() < WITHDRAWN:
            on = self.later(accepted, 5, 20)
            self.answer_assignment(on)
            self.advance(self.moment(on), S.closed, on, "信访人撤回信访请求，息访办结。")
            return
        extended = rng.random() < EXTENDED
        if extended:
            self.extend(self.later(accepted, 20, 27))
        roll = rng.random()
        if roll < VERY_LATE_REPLY:
            reply = self.later(accepted, 95, 170) if extended else self.later(accepted, 60, 150)
        elif roll < VERY_LATE_REPLY + LATE_REPLY:
            reply = self.later(accepted, 91, 110) if extended else self.later(accepted, 32, 50)
        else:
            reply = self.later(accepted, 35, 85) if extended else self.later(accepted, 8, 28)
        self.designate_backlog(reply)
        self.answer_assignment(reply)
        self.reply(reply)

    def appoint(self, day: dt.date) -> None:
        """`services.appoint`: a 包案 leader (another person than the first owner) with a
        target date, and maybe the subject department's head as co-owner."""
        at = self.moment(day)
        first = {o[3] for o in self.owners}
        exclude = first | set(self.accused_persons)
        lead = self.lead(exclude)
        self.assume(at, lead, "lead", self.later(shanghai_day(at), 20, 40))
        heads = self.county.org.department_heads
        if self.subjects and self.rng.random() < CO_OWNED:
            co = heads[self.subjects[0].id]
            if co.person_id not in first and self.may_own(co):
                self.assume(at, co, "co")
        self.event(at, "owner", "确定包案领导")

    def assign(self, day: dt.date) -> None:
        """`assignment_services.assign`: to the territorial township (or the subject
        department), due in 15–25 days; the unit may object for 5 working days."""
        at = self.moment(day)
        today = shanghai_day(at)
        org = self.county.org
        township = org.township_of(self.f["territorial_unit_id"])
        if township is not None:
            unit, role = next(t for t in org.townships if t.id == township), AssignRole.territorial
        elif self.subjects:
            unit, role = self.subjects[0], AssignRole.subject
        else:
            return
        if self.f["status"] == S.accepted:
            self.step(at, S.in_progress, today)
            self.event(at, f"status.{S.in_progress}", workflow.STATUS_LABELS[S.in_progress])
        row = Assignment(
            self.county.next_id("case_assignments"),
            unit,
            role,
            today,
            self.later(today, 15, 25),
            due("object", today).due,
            at,
            updated_at=at,
        )
        self.assignment = row
        self.start(("object",), today, at, assignment=row.id)
        self.refresh_next()
        payload = {
            "assignment": row.id,
            "unit": unit.id,
            "role": str(role),
            "due": row.due.isoformat(),
            "object_due": row.object_due.isoformat(),
        }
        self.ledger(at, CASE_ASSIGNED, payload)
        self.event(at, "assigned", f"交办{unit.name}（{ASSIGN_ROLE_LABELS[role]}）")
        if self.rng.random() < REPORTED:
            self.answer(self.moment(self.later(today, 1, 4)), AssignmentStatus.reported)

    def answer(self, at: dt.datetime, status: AssignmentStatus) -> None:
        """`assignment_services.answer`: the unit reports back or replies."""
        row = self.assignment
        assert row is not None
        row.status, row.updated_at = status, at
        if status is AssignmentStatus.reported:
            row.reported_at = at
        else:
            row.reply, row.replied_at = ASSIGNMENT_REPLY, at
        today = shanghai_day(at)
        for clock in self.running():
            if clock.assignment_id == row.id:
                clock.state, clock.stopped_on = STOPPED, today
        self.refresh_next()
        payload = {"assignment": row.id, "unit": row.unit.id, "status": str(status)}
        self.ledger(at, ASSIGNMENT_ANSWERED, payload)
        self.event(at, f"assignment.{status}", f"{row.unit.name}{ASSIGNMENT_STATUS_LABELS[status]}")

    def answer_assignment(self, before: dt.date) -> None:
        """The assigned unit replies a few days before the case is answered."""
        row = self.assignment
        if row is None or row.status is AssignmentStatus.replied or self.rng.random() < 0.3:
            return
        self.answer(self.moment(self.later(before, -5, -1)), AssignmentStatus.replied)

    def note(self, day: dt.date) -> None:
        """`services.note_progress`: a progress note (ledgered with its event id)."""
        at = self.moment(day)
        public = self.rng.random() < 0.7
        event_id = self.event(at, "progress", "办理进展", PROGRESS, public=public)
        self.ledger(at, CASE_NOTED, {"event": event_id, "public": public})

    def extend(self, day: dt.date) -> None:
        """`services.extend` → `clock_services.recompute`: the handling period becomes
        30 + 30 days from the same acceptance."""
        handle = [c for c in self.running() if c.name == "handle"]
        if not handle or self.f["status"] not in {S.accepted, S.in_progress}:
            return
        at, old, days = self.moment(day), handle[0], 30
        d = due("extend", old.start, days)
        old.state = SUPERSEDED
        new = Clock(
            self.county.next_id("case_clocks"), "extend", old.start, d.due, d.provisional, at
        )
        new.extension_days, new.reason = d.extension_days, "extension"
        self.clocks.append(new)
        payload = {
            "clock": "extend",
            "start": new.start.isoformat(),
            "old_due": old.due.isoformat(),
            "due": new.due.isoformat(),
            "cause": "extension",
            "extension_days": d.extension_days,
            "paused_days": d.paused_days,
            "provisional": d.provisional,
        }
        self.ledger(at, CLOCK_RECOMPUTED, payload)
        self.refresh_next()
        self.event(at, "extended", f"延期办理 {days} 日", EXTENSION_REASON)

    def reply(self, on: dt.date) -> None:
        """处理意见书, recorded once delivered; then evaluation, review, closing."""
        rng = self.rng
        delivered = self.later(on, 0, 2)
        self.advance(self.moment(delivered), S.replied, on, REPLY, delivered)
        evaluation = None
        if self.mobile_hash and rng.random() < EVALUATED:  # rated by code + mobile
            evaluation = self.pick(EVALUATIONS)
            self.evaluate(self.moment(self.later(delivered, 1, 10)), evaluation)
        if rng.random() < REVIEWED:
            self.review(delivered)
            return
        if (
            evaluation is not Evaluation.unsatisfied
            and evaluation
            and rng.random() < CLOSED_BY_STAFF
        ):
            on = self.later(shanghai_day(self.last), 0, 3)
            self.advance(self.moment(on), S.closed, on)
            return
        self.lapse("review_request")

    def evaluate(self, at: dt.datetime, evaluation: Evaluation) -> None:
        """`track_services.evaluate`: the petitioner's rating, once."""
        flagged = evaluation is Evaluation.unsatisfied
        self.f.update(evaluation=str(evaluation), evaluated_at=at, flagged=flagged, updated_at=at)
        payload = {"evaluation": str(evaluation), "flagged": flagged}
        self.ledger(at, CASE_EVALUATED, payload, citizen_actor(self.mobile_hash))
        self.event(at, "evaluated", f"信访人评价：{workflow.EVALUATION_LABELS[evaluation]}")

    def review(self, delivered: dt.date) -> None:
        rng = self.rng
        asked = self.later(delivered, 5, 25)
        self.advance(self.moment(asked), S.review_requested, asked)
        late = rng.random() < LATE_REVIEW
        reviewed = self.later(asked, 31, 45) if late else self.later(asked, 10, 28)
        self.advance(self.moment(reviewed), S.reviewed, reviewed, REVIEW_OPINION)
        if rng.random() >= RECHECKED:
            self.lapse("recheck_request")
            return
        asked = self.later(reviewed, 5, 25)
        self.advance(self.moment(asked), S.recheck_requested, asked)
        rechecked = self.later(asked, 10, 28)
        self.advance(self.moment(rechecked), S.rechecked, rechecked, RECHECK_OPINION)
        on = self.later(rechecked, 0, 3)
        self.advance(self.moment(on), S.closed, on)

    def lapse(self, clock_name: str) -> None:
        """`services.close_lapsed`, the nightly job: the day after the window ran out."""
        clock = next(c for c in self.running() if c.name == clock_name)
        day = clock.due + dt.timedelta(days=1)
        at = self.moment(day, night=True)
        self.step(at, S.closed, shanghai_day(at), actor=CLOSER)
        self.event(at, "status.closed", LAPSED)

    def designate_backlog(self, before: dt.date | None) -> None:
        """`services.designate_backlog`: a supervisor marks some cases still unanswered
        90–120 days after receipt as 积案 (if that comes `before` their next step)."""
        f = self.f
        pending = {S.registered, S.routed, S.accepted, S.in_progress}
        if self.backlog_drawn or f["status"] not in pending:
            return
        self.backlog_drawn = True
        day = max(self.later(f["received_on"], 90, 120), shanghai_day(self.last))
        if self.rng.random() >= BACKLOG or (before is not None and day >= before):
            return
        try:
            at = self.moment(day)
        except Beyond:
            return
        f.update(backlog=True, updated_at=at)
        self.ledger(at, CASE_BACKLOG, {"on": shanghai_day(at).isoformat()})
        self.event(at, "backlog", "认定为积案", public=False)

    # ------------------------------------------------------------------ rows

    def flush(self) -> None:
        written, f = self.county.written, self.f
        rows = written.rows
        rows["cases"].append((*(f[c] for c in CASE_COLUMNS), f["created_at"]))
        for o in self.owners:
            rows["case_owners"].append((*o, o[8]))
        county = self.county.org.id
        for c in self.clocks:
            rows["case_clocks"].append(
                (
                    c.id,
                    self.id,
                    county,
                    c.assignment_id,
                    c.name,
                    c.start,
                    c.due,
                    c.extension_days,
                    0,
                    c.provisional,
                    c.state,
                    c.stopped_on,
                    c.reason,
                    c.created_at,
                    c.created_at,
                )
            )
        a = self.assignment
        if a is not None:
            rows["case_assignments"].append(
                (
                    a.id,
                    self.id,
                    county,
                    a.unit.id,
                    str(a.role),
                    str(a.status),
                    a.assigned_on,
                    a.due,
                    a.object_due,
                    None,
                    a.reported_at,
                    a.reply,
                    a.replied_at,
                    None,
                    a.updated_at,
                    a.at,
                )
            )
        written.statuses[f["status"]] = written.statuses.get(f["status"], 0) + 1
