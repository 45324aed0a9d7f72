"""信访事项 and 包案 at the service level, on SQLite and PostgreSQL.

A clerk registers a letter of 第三十一条第六项 on Monday 2 March 2026: it gets its 诉求码,
its route and accept clocks and 张建华 as first owner (首接负责); the ledger gets
identifiers and dates, never the petitioner or the summary. Routing stops those clocks and
starts handling (national: item 6 only; Zhejiang: always); the whole path runs to closing
with each clock's due date as `deadlines.due_date` gives it; an extension is granted once
and within the profile's maximum. A supervisor appoints the 包案 leader; an accused official
never owns or sees the case; an owner's tenure cannot end while it holds an open case unless
the case moves in the same transaction. A reception that needs a case opens one (走访).
Every refusal raises a DomainError with its slug and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.clock import FixedClock
from app.core.codes import code_is_valid
from app.core.errors import DomainError
from app.core.holidays import calendar_for
from app.core.identity import RESIDENT_CHECK_MESSAGE, IdType, mask
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ownership.clock_services import PETITIONERS_CLOCKS
from app.ownership.petitioners import petitioners_of
from app.ownership.services import FromReception
from app.ownership.workflow import CaseStatus, Kind, Outcome
from app.scheduling.schemas import ReceptionOutcome
from tests.integration.cases_setup import (
    ID_NUMBER,
    MOBILE,
    NATIONAL,
    PETITIONER,
    RAISED,
    RECEIVED,
    SUMMARY,
    ZHEJIANG,
    Cases,
    Desk,
    build_cases,
    intake,
    petitioner,
    reception,
    wrong_check,
)
from tests.integration.conftest import County
from tests.integration.sittings_setup import DAY, Factory, entries
from tests.integration.test_booking_services import resident as booked_resident

S = CaseStatus
ACCEPTED = dt.date(2026, 3, 4)
MOBILE_OF_BOOKER = "13900000001"


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def desk(factory: Factory, clock: FixedClock, county: County, secrets: Secrets) -> Desk:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    return Desk(factory, secrets, built, calendar)


def day(month: int, d: int) -> dt.date:
    return dt.date(2026, month, d)


async def entries_of(desk: Desk, case_id: int, action: str) -> list[tuple[str, dict[str, Any]]]:
    return [(a, p) for a, p in await entries(desk.factory, "case", case_id) if a == action]


# ---------------------------------------------------------------- registering


async def test_registering_gives_a_code_two_running_clocks_and_the_first_owner(
    desk: Desk,
) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))

    assert len(case.code) == 10 and code_is_valid(case.code, 9)
    stored = await desk.case(case.id)
    assert (stored.status, stored.channel, stored.received_on) == ("registered", "letter", RECEIVED)
    route, accept = desk.due(NATIONAL, "route", RECEIVED), desk.due(NATIONAL, "accept", RECEIVED)
    assert route == accept == day(3, 17)  # 15 calendar days, the start day not counted
    assert await desk.running(case.id) == {"route": route, "accept": accept}
    assert (stored.next_clock, stored.next_due) == ("route", route)
    assert await desk.owners(case.id) == [(desk.c.zhang, desk.c.zhang_tenure, "first")]
    assert await desk.actions(case.id) == ["case.registered", "case.owner.assumed"]


async def test_the_registration_entry_names_identifiers_and_dates_only(desk: Desk) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))
    payload = await desk.last_entry(case.id, "case.registered")
    assert payload["code"] == case.code
    assert (payload["kind"], payload["claim_item"], payload["petitioners"]) == ("claim", 6, 1)
    assert payload["subject_units"] == [desk.c.county.department]
    assert payload["clocks_started"] == [
        {"clock": "route", "start": "2026-03-02", "due": "2026-03-17"},
        {"clock": "accept", "start": "2026-03-02", "due": "2026-03-17"},
    ]


async def test_the_ledger_never_holds_the_petitioner_the_accused_or_the_summary(
    desk: Desk, secrets: Secrets, keys_dir: Path
) -> None:
    data = intake(desk.c, accused_person_ids=[desk.c.li], owner_tenure_id=desk.c.wang_tenure)
    case = await desk.register(await desk.actor("clerk"), data)

    assert (await desk.last_entry(case.id, "case.registered"))["accused_count"] == 1
    for leaf in await desk.leaves(case.id):
        for secret in (PETITIONER, ID_NUMBER, MOBILE, MOBILE[-4:] + '"', SUMMARY, "李秀英"):
            assert secret not in leaf
    async with desk.factory() as db:
        (row,) = await petitioners_of(db, case.id)
    assert row.id_masked == mask(IdType.resident, ID_NUMBER) and ID_NUMBER not in row.id_masked
    assert row.mobile_enc is not None and secrets.open(row.mobile_enc) == MOBILE
    assert secrets.open(row.id_enc) == ID_NUMBER
    await desk.ledger_verifies(keys_dir)


Changes = Callable[[Cases], dict[str, Any]]
TOMORROW = RECEIVED + dt.timedelta(days=1)

REFUSALS = [
    pytest.param(
        lambda c: {"summary": "  "}, "invalid-input", "请填写信访事项的主要内容", id="no-summary"
    ),
    pytest.param(
        lambda c: {"claim_item": None}, "invalid-input", "第三十一条的项次", id="claim-no-item"
    ),
    pytest.param(
        lambda c: {"kind": Kind.suggestion}, "invalid-input", "只有申诉求决类", id="item-no-claim"
    ),
    pytest.param(
        lambda c: {"received_on": TOMORROW}, "invalid-dates", "不能晚于今天", id="received-later"
    ),
    pytest.param(
        lambda c: {"petitioners": [petitioner(id_number=wrong_check(ID_NUMBER))]},
        "invalid-input",
        RESIDENT_CHECK_MESSAGE,
        id="id-check-digit",
    ),
    pytest.param(
        lambda c: {"petitioners": []}, "invalid-input", "至少登记一名信访人", id="no-petitioner"
    ),
    pytest.param(
        lambda c: {"subject_unit_ids": [c.county.other_township]},
        "invalid-input",
        "属事单位须是本县的单位",
        id="subject-elsewhere",
    ),
    pytest.param(
        lambda c: {"accused_unit_ids": [c.county.other_county]},
        "invalid-input",
        "被反映单位须是本县的单位",
        id="accused-unit-elsewhere",
    ),
    pytest.param(
        lambda c: {"owner_tenure_id": None},
        "invalid-input",
        "请指定负责该信访事项的领导",
        id="no-owner",
    ),
    pytest.param(
        lambda c: {"accused_person_ids": [c.zhang]},
        "recused",
        "张建华是该信访事项的被反映人",
        id="owner-accused",
    ),
    pytest.param(
        lambda c: {
            "owner_tenure_id": c.zhang_township_tenure,
            "accused_unit_ids": [c.county.township],
        },
        "recused",
        "须回避，不能包案",
        id="owners-unit-accused",
    ),
]


@pytest.mark.parametrize(("changes", "slug", "message"), REFUSALS)
async def test_registration_refusals_change_nothing(
    desk: Desk, changes: Changes, slug: str, message: str
) -> None:
    clerk = await desk.actor("clerk")
    refusal = await desk.refused(desk.register, clerk, intake(desk.c, **changes(desk.c)))
    assert refusal.instance_slug == slug and message in refusal.detail
    assert (await desk.snapshot()).cases == []


async def test_only_the_bureau_of_the_county_registers(desk: Desk) -> None:
    leader = await desk.refused(desk.register, await desk.actor("leader"), intake(desk.c))
    assert leader.instance_slug == "forbidden"
    elsewhere = intake(desk.c, territorial_unit_id=desk.c.county.other_township)
    clerk = await desk.refused(desk.register, await desk.actor("clerk"), elsewhere)
    assert clerk.instance_slug == "out-of-scope"


# ---------------------------------------------------------------- routing


async def test_accepting_an_item_six_claim_starts_the_60_day_handling_clock(desk: Desk) -> None:
    case = await desk.accepted(intake(desk.c), ACCEPTED)

    stored = await desk.case(case.id)
    assert (stored.status, stored.outcome, stored.accepted_on) == ("accepted", "accept", ACCEPTED)
    handle = desk.due(NATIONAL, "handle", ACCEPTED)
    assert await desk.running(case.id) == {"handle": handle}
    assert (stored.next_clock, stored.next_due) == ("handle", handle)
    clocks = await desk.clocks(case.id)
    assert clocks[("route", "stopped")].stopped_on == ACCEPTED
    assert clocks[("accept", "stopped")].stopped_on == ACCEPTED
    payload = await desk.last_entry(case.id, "case.status.changed")
    assert (payload["from_status"], payload["to_status"]) == ("registered", "accepted")
    assert payload["clocks_stopped"] == ["accept", "route"]
    assert payload["clocks_started"] == [
        {"clock": "handle", "start": "2026-03-04", "due": handle.isoformat()}
    ]


async def test_nationally_other_kinds_run_no_handling_clock_once_accepted(desk: Desk) -> None:
    data = intake(desk.c, kind=Kind.suggestion, claim_item=None)
    case = await desk.accepted(data, ACCEPTED)
    assert await desk.running(case.id) == {}
    stored = await desk.case(case.id)
    assert (stored.status, stored.next_clock, stored.next_due) == ("accepted", None, None)


async def test_in_zhejiang_every_accepted_case_runs_the_30_day_handling_clock(desk: Desk) -> None:
    data = intake(desk.c, kind=Kind.suggestion, claim_item=None, profile=ZHEJIANG)
    case = await desk.register(await desk.actor("clerk"), data)
    route = desk.due(ZHEJIANG, "route", RECEIVED)
    assert route == day(3, 9)  # five working days from Monday 2 March
    assert await desk.running(case.id) == {"route": route, "accept": route}

    await desk.route(await desk.actor("clerk"), case.id, Outcome.accept, ACCEPTED)
    assert await desk.running(case.id) == {"handle": desk.due(ZHEJIANG, "handle", ACCEPTED)}


async def test_not_accepting_needs_a_reason_and_finishes_the_case(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    refusal = await desk.refused(desk.route, clerk, case.id, Outcome.not_accept, ACCEPTED)
    assert refusal.instance_slug == "invalid-input" and "请写明理由" in refusal.detail

    await desk.route(clerk, case.id, Outcome.not_accept, ACCEPTED, reason="已经人民法院判决")
    stored = await desk.case(case.id)
    assert (stored.status, stored.closed_on) == ("not_accepted", ACCEPTED)
    assert stored.outcome_reason == "已经人民法院判决"
    assert await desk.running(case.id) == {} and stored.next_due is None


async def test_a_transfer_names_the_body_and_restarts_the_accept_clock(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    refusal = await desk.refused(desk.route, clerk, case.id, Outcome.transfer, ACCEPTED)
    assert refusal.instance_slug == "invalid-input" and "有权处理的机关" in refusal.detail

    await desk.route(clerk, case.id, Outcome.transfer, ACCEPTED, body="县自然资源局")
    stored = await desk.case(case.id)
    assert (stored.status, stored.routed_on, stored.outcome_body) == (
        "routed",
        ACCEPTED,
        "县自然资源局",
    )
    assert await desk.running(case.id) == {"accept": desk.due(NATIONAL, "accept", ACCEPTED)}


async def test_a_repeat_is_not_re_accepted_and_linked_to_the_first_case(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    first = await desk.accepted(intake(desk.c), ACCEPTED)
    repeat = await desk.register(clerk, intake(desk.c), day(3, 5))

    await desk.route(
        clerk,
        repeat.id,
        Outcome.not_re_accept,
        day(3, 5),
        reason="同一事项已受理办理中",
        first_case_code=first.code.lower(),
    )
    stored = await desk.case(repeat.id)
    assert (stored.status, stored.first_case_id) == ("not_re_accepted", first.id)
    assert (await desk.last_entry(repeat.id, "case.status.changed"))["first_case"] == first.id


async def test_a_repeat_of_an_unknown_or_unaccepted_case_is_refused(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    earlier = await desk.register(clerk, intake(desk.c))
    repeat = await desk.register(clerk, intake(desk.c))
    for code, message in (("ABCDEFGHJK", "首件信访事项的诉求码"), (earlier.code, "尚未受理")):
        refusal = await desk.refused(
            desk.route,
            clerk,
            repeat.id,
            Outcome.not_re_accept,
            ACCEPTED,
            reason="重复信访",
            first_case_code=code,
        )
        assert message in refusal.detail
    assert (await desk.case(repeat.id)).status == "registered"


async def test_routing_before_receipt_or_after_today_is_refused(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    before = RECEIVED - dt.timedelta(days=1)
    refusal = await desk.refused(desk.route, clerk, case.id, Outcome.accept, before)
    assert refusal.instance_slug == "invalid-dates"


async def test_an_illegal_step_is_refused_and_changes_nothing(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    refusal = await desk.refused(
        desk.advance, clerk, case.id, S.replied, ACCEPTED, "处理意见：予以支持"
    )
    assert refusal.instance_slug == "illegal-transition"
    assert "不能改为“已答复”" in refusal.detail
    stored = await desk.case(case.id)
    assert (stored.status, stored.reply, stored.replied_on) == ("registered", None, None)


async def test_a_step_dated_before_the_previous_step_is_refused(desk: Desk) -> None:
    case = await desk.accepted(intake(desk.c), day(3, 10))
    clerk = await desk.actor("clerk")
    refusal = await desk.refused(desk.advance, clerk, case.id, S.replied, day(3, 3), "意见书")
    assert refusal.instance_slug == "invalid-dates"
    assert refusal.detail == "日期须在上一步的日期（2026-03-10）与今天之间。"


async def test_a_review_opinion_dated_before_the_request_is_refused(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c), ACCEPTED)
    await desk.advance(clerk, case.id, S.replied, day(4, 20), "处理意见书", day(4, 23))
    await desk.advance(clerk, case.id, S.review_requested, day(5, 11))
    refusal = await desk.refused(desk.advance, clerk, case.id, S.reviewed, day(5, 1), "复查意见")
    assert refusal.instance_slug == "invalid-dates"


# ---------------------------------------------------------------- the whole path


#: (step, its day, the written opinion, delivered on, the clock left running and its start)
PATH: list[tuple[CaseStatus, dt.date, str, dt.date | None, str | None, dt.date | None]] = [
    (S.in_progress, day(3, 5), "", None, "handle", ACCEPTED),
    (S.replied, day(4, 20), "处理意见书", day(4, 23), "review_request", day(4, 23)),
    (S.review_requested, day(5, 11), "", None, "review_decision", day(5, 11)),
    (S.reviewed, day(6, 1), "复查意见书", day(6, 3), "recheck_request", day(6, 3)),
    (S.recheck_requested, day(6, 22), "", None, "recheck_decision", day(6, 22)),
    (S.rechecked, day(7, 10), "复核意见书", None, None, None),
    (S.closed, day(7, 15), "", None, None, None),
]


async def test_a_case_walks_the_whole_path_with_each_clock_on_its_due_date(
    desk: Desk, keys_dir: Path
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c), ACCEPTED)
    for target, on, text, delivered, clock, start in PATH:
        await desk.advance(clerk, case.id, target, on, text, delivered)

        stored = await desk.case(case.id)
        due = desk.due(NATIONAL, clock, start) if clock and start else None
        assert stored.status == target
        assert await desk.running(case.id) == ({clock: due} if clock else {})
        # The windows to ask for a review or recheck are the petitioner's, not the
        # owners': the case row (their lists, the board) does not mark them.
        owners_clock = clock if clock not in PETITIONERS_CLOCKS else None
        assert (stored.next_clock, stored.next_due) == (owners_clock, owners_clock and due)

    stored = await desk.case(case.id)
    assert (stored.replied_on, stored.delivered_on) == (day(4, 20), day(4, 23))
    assert stored.closed_on == day(7, 15)
    steps = [p["to_status"] for _, p in await entries_of(desk, case.id, "case.status.changed")]
    assert steps == ["accepted", *(str(step[0]) for step in PATH)]
    await desk.ledger_verifies(keys_dir)


async def test_the_owning_leader_replies_but_another_leader_may_not(desk: Desk) -> None:
    case = await desk.accepted(intake(desk.c), ACCEPTED)
    wang = await desk.refused(
        desk.advance, await desk.actor("wang"), case.id, S.in_progress, day(3, 5)
    )
    assert wang.instance_slug == "forbidden"

    leader = await desk.actor("leader")
    await desk.advance(leader, case.id, S.replied, day(3, 20), "处理意见书")
    assert (await desk.case(case.id)).status == "replied"
    review = await desk.refused(desk.advance, leader, case.id, S.review_requested, day(3, 25))
    assert review.instance_slug == "forbidden"


# ---------------------------------------------------------------- extension


async def test_an_extension_runs_from_acceptance_and_is_granted_once(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c), ACCEPTED)
    handle = desk.due(NATIONAL, "handle", ACCEPTED)

    await desk.extend(clerk, case.id, 20, day(4, 20))

    extended = desk.due(NATIONAL, "extend", ACCEPTED, extension_days=20)
    assert extended > handle
    assert await desk.running(case.id) == {"extend": extended}
    assert ("handle", "superseded") in await desk.clocks(case.id)
    stored = await desk.case(case.id)
    assert (stored.next_clock, stored.next_due) == ("extend", extended)
    assert await desk.last_entry(case.id, "case.clock.recomputed") == {
        "clock": "extend",
        "start": "2026-03-04",
        "old_due": handle.isoformat(),
        "due": extended.isoformat(),
        "cause": "extension",
        "extension_days": 20,
        "paused_days": 0,
        "provisional": False,
    }
    again = await desk.refused(desk.extend, clerk, case.id, 5, day(4, 21))
    assert again.instance_slug == "illegal-transition"
    assert again.detail == "办理期限只能延长一次。"


@pytest.mark.parametrize(("profile", "most"), [(NATIONAL, 30), (ZHEJIANG, 60)])
async def test_an_extension_beyond_the_profiles_maximum_is_refused(
    desk: Desk, profile: str, most: int
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c, profile=profile), ACCEPTED)
    refusal = await desk.refused(desk.extend, clerk, case.id, most + 1, day(3, 20))
    assert refusal.instance_slug == "invalid-input" and f"0 至 {most} 日" in refusal.detail

    await desk.extend(clerk, case.id, most, day(3, 20))
    due = desk.due(profile, "extend", ACCEPTED, extension_days=most)
    assert await desk.running(case.id) == {"extend": due}


async def test_only_a_case_being_handled_can_be_extended(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    refusal = await desk.refused(desk.extend, clerk, case.id, 10, RECEIVED)
    assert refusal.instance_slug == "illegal-transition"


async def test_an_extension_of_no_days_is_refused(desk: Desk) -> None:
    case = await desk.accepted(intake(desk.c), ACCEPTED)
    refusal = await desk.refused(desk.extend, await desk.actor("clerk"), case.id, 0, day(3, 20))
    assert refusal.instance_slug == "invalid-input" and "至少为1日" in refusal.detail


# ---------------------------------------------------------------- progress and backlog

PROGRESS = "已约谈东山镇，补偿款将于本月底前发放"


async def test_the_owner_notes_progress_and_the_ledger_keeps_only_its_number(desk: Desk) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))
    event = await desk.note(await desk.actor("leader"), case.id, PROGRESS)

    assert (event.kind, event.text, event.public) == ("progress", PROGRESS, True)
    noted = await desk.last_entry(case.id, "case.progress.noted")
    assert noted == {"event": event.id, "public": True}
    assert all(PROGRESS not in leaf for leaf in await desk.leaves(case.id))
    stranger = await desk.refused(desk.note, await desk.actor("wang"), case.id, PROGRESS)
    assert stranger.instance_slug == "forbidden"


async def test_a_finished_case_takes_no_progress_notes(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    await desk.route(clerk, case.id, Outcome.not_accept, ACCEPTED, reason="不属于信访事项")
    refusal = await desk.refused(desk.note, await desk.actor("leader"), case.id, PROGRESS)
    assert refusal.detail == "该信访事项已经办结。"


async def test_a_supervisor_designates_an_open_case_as_backlog_once(desk: Desk) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))
    supervisor = await desk.actor("supervisor")

    await desk.backlog(supervisor, case.id)

    assert (await desk.case(case.id)).backlog is True
    assert await desk.last_entry(case.id, "case.backlog.designated") == {"on": "2026-03-05"}
    again = await desk.refused(desk.backlog, supervisor, case.id)
    assert "尚未认定" in again.detail


async def test_an_accused_supervisor_cannot_designate_the_case(desk: Desk) -> None:
    data = intake(desk.c, accused_person_ids=[desk.c.li])
    case = await desk.register(await desk.actor("clerk"), data)
    refusal = await desk.refused(desk.backlog, await desk.actor("li_supervisor"), case.id)
    assert refusal.instance_slug == "not-found"


# ---------------------------------------------------------------- ownership (包案)


async def test_appointing_a_lead_with_a_target_date_and_co_owners(desk: Desk) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))
    target = day(4, 30)

    await desk.appoint(
        await desk.actor("supervisor"), case.id, c.wang_tenure, target, [c.li_tenure]
    )

    assert await desk.owners(case.id) == [
        (c.zhang, c.zhang_tenure, "first"),
        (c.wang, c.wang_tenure, "lead"),
        (c.li, c.li_tenure, "co"),
    ]
    assumed = [p for a, p in await entries_of(desk, case.id, "case.owner.assumed")]
    assert [(p["person"], p["role"], p["target_date"]) for p in assumed] == [
        (c.zhang, "first", None),
        (c.wang, "lead", "2026-04-30"),
        (c.li, "co", None),
    ]


async def test_a_new_lead_replaces_the_previous_one(desk: Desk) -> None:
    c = desk.c
    supervisor = await desk.actor("supervisor")
    case = await desk.register(await desk.actor("clerk"), intake(c))
    await desk.appoint(supervisor, case.id, c.wang_tenure, day(4, 30))

    await desk.appoint(supervisor, case.id, c.li_tenure, day(5, 15))

    assert await desk.owners(case.id) == [
        (c.zhang, c.zhang_tenure, "first"),
        (c.li, c.li_tenure, "lead"),
    ]
    assert await desk.last_entry(case.id, "case.owner.renounced") == {
        "person": c.wang,
        "tenure": c.wang_tenure,
        "role": "lead",
        "cause": "reassigned",
    }


async def test_the_first_owner_appointed_lead_owns_it_once(desk: Desk) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))
    await desk.appoint(await desk.actor("office"), case.id, c.zhang_tenure, day(4, 30))
    assert await desk.owners(case.id) == [(c.zhang, c.zhang_tenure, "lead")]


async def test_an_accused_official_is_never_appointed(desk: Desk) -> None:
    c = desk.c
    supervisor = await desk.actor("supervisor")
    case = await desk.register(await desk.actor("clerk"), intake(c, accused_person_ids=[c.wang]))
    target = day(4, 30)
    as_lead = await desk.refused(desk.appoint, supervisor, case.id, c.wang_tenure, target)
    as_co = await desk.refused(
        desk.appoint, supervisor, case.id, c.li_tenure, target, [c.wang_tenure]
    )
    assert as_lead.instance_slug == as_co.instance_slug == "recused"
    assert "王明是该信访事项的被反映人" in as_co.detail
    assert await desk.owners(case.id) == [(c.zhang, c.zhang_tenure, "first")]


async def test_the_last_answering_owner_cannot_renounce_but_a_co_owner_can(desk: Desk) -> None:
    c = desk.c
    supervisor = await desk.actor("supervisor")
    case = await desk.register(await desk.actor("clerk"), intake(c))
    alone = await desk.refused(desk.renounce, supervisor, case.id, c.zhang)
    assert "不能没有包案领导" in alone.detail

    await desk.appoint(supervisor, case.id, c.wang_tenure, day(4, 30), [c.li_tenure])
    await desk.renounce(supervisor, case.id, c.li)
    await desk.renounce(supervisor, case.id, c.zhang)
    last = await desk.refused(desk.renounce, supervisor, case.id, c.wang)
    assert last.instance_slug == "rule-violation"
    assert await desk.owners(case.id) == [(c.wang, c.wang_tenure, "lead")]


async def test_an_owners_tenure_cannot_end_while_its_case_is_open(desk: Desk) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))
    admin = await desk.actor("admin")
    refusal = await desk.refused(desk.end_tenure, admin, desk.c.zhang_tenure, day(3, 10))
    assert refusal.instance_slug == "tenure-referenced"
    assert refusal.extra["references"] == ["包案的未办结信访事项 1 件"]
    assert await desk.owners(case.id) == [(desk.c.zhang, desk.c.zhang_tenure, "first")]


async def test_the_tenure_ends_once_its_cases_moved_in_the_same_transaction(
    desk: Desk, keys_dir: Path
) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))

    ended = await desk.end_tenure(
        await desk.actor("admin"), c.zhang_tenure, day(3, 10), c.wang_tenure
    )

    assert ended.end_date == day(3, 10)
    assert await desk.owners(case.id) == [(c.wang, c.wang_tenure, "first")]
    renounced = await desk.last_entry(case.id, "case.owner.renounced")
    assert (renounced["person"], renounced["cause"]) == (c.zhang, "handover")
    await desk.ledger_verifies(keys_dir)


async def test_an_official_keeps_the_case_through_another_of_their_posts(desk: Desk) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))
    admin = await desk.actor("admin")
    await desk.end_tenure(admin, c.zhang_tenure, day(3, 10), c.zhang_township_tenure)
    assert await desk.owners(case.id) == [(c.zhang, c.zhang_township_tenure, "first")]


async def test_a_finished_case_no_longer_holds_its_owners_tenure(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    await desk.route(clerk, case.id, Outcome.not_accept, ACCEPTED, reason="不属于信访事项")
    ended = await desk.end_tenure(await desk.actor("admin"), desk.c.zhang_tenure, day(3, 10))
    assert ended.end_date == day(3, 10)


# ---------------------------------------------------------------- recusal and visibility


async def test_the_accused_never_see_the_case_even_as_supervisors(desk: Desk) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c, accused_person_ids=[c.li]))
    with pytest.raises(DomainError) as hidden:
        await desk.read(await desk.actor("li_supervisor"), case.id)
    assert hidden.value.instance_slug == "not-found"
    assert hidden.value.detail == "找不到该信访事项。"
    assert (await desk.read(await desk.actor("supervisor"), case.id)).id == case.id


async def test_an_official_holding_a_post_at_an_accused_unit_speaks_for_it(desk: Desk) -> None:
    c = desk.c
    clerk, li = await desk.actor("clerk"), await desk.actor("li_supervisor")
    owner = {"owner_tenure_id": c.wang_tenure}
    village = await desk.register(clerk, intake(c, accused_unit_ids=[c.county.village], **owner))
    township = await desk.register(clerk, intake(c, accused_unit_ids=[c.county.township], **owner))
    with pytest.raises(DomainError, match="找不到该信访事项"):
        await desk.read(li, village.id)  # 李秀英 is 上塘村党支部书记
    assert (await desk.read(li, township.id)).id == township.id
    assert (await desk.read(await desk.actor("supervisor"), village.id)).id == village.id


async def test_a_leader_sees_only_the_cases_they_own(desk: Desk) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))
    assert (await desk.read(await desk.actor("leader"), case.id)).id == case.id
    with pytest.raises(DomainError) as hidden:
        await desk.read(await desk.actor("wang"), case.id)
    assert hidden.value.instance_slug == "not-found"

    await desk.appoint(await desk.actor("supervisor"), case.id, c.wang_tenure, day(4, 30))
    assert (await desk.read(await desk.actor("wang"), case.id)).id == case.id


async def test_clerks_see_the_cases_of_their_own_county_only(desk: Desk) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))
    assert (await desk.read(await desk.actor("clerk"), case.id)).id == case.id
    with pytest.raises(DomainError) as hidden:
        await desk.read(await desk.actor("far_clerk"), case.id)
    assert hidden.value.instance_slug == "not-found"


# ---------------------------------------------------------------- from a reception


async def test_a_reception_needing_a_case_becomes_a_visit_owned_by_the_receiving_leader(
    desk: Desk, keys_dir: Path
) -> None:
    record = await reception(desk, 1)

    case = await desk.open_from(
        await desk.actor("clerk"), record.id, FromReception(Kind.suggestion)
    )

    stored = await desk.case(case.id)
    assert (stored.channel, stored.summary, stored.received_on) == ("visit", RAISED, DAY)
    assert (stored.reception_id, stored.status, stored.category) == (
        record.id,
        "registered",
        "土地征收",
    )
    assert stored.territorial_unit_id == desk.c.county.county
    assert await desk.owners(case.id) == [(desk.c.zhang, desk.c.zhang_tenure, "first")]
    assert await desk.running(case.id) == {
        "route": desk.due(NATIONAL, "route", DAY),
        "accept": desk.due(NATIONAL, "accept", DAY),
    }
    async with desk.factory() as db:
        (who,) = await petitioners_of(db, case.id)
    assert (who.name, who.id_masked) == ("陈小明", mask(IdType.resident, booked_resident(1)))
    assert who.mobile_enc is not None and desk.secrets.open(who.mobile_enc) == MOBILE_OF_BOOKER
    assert (await desk.last_entry(case.id, "case.registered"))["reception"] == record.id
    await desk.ledger_verifies(keys_dir)


async def test_a_reception_resolved_on_the_spot_opens_no_case(desk: Desk) -> None:
    record = await reception(desk, 1, ReceptionOutcome.resolved)
    refusal = await desk.refused(
        desk.open_from, await desk.actor("clerk"), record.id, FromReception(Kind.suggestion)
    )
    assert refusal.detail == "该接访记录为当场答复办结，不需要立案。"


async def test_a_reception_opens_one_case_only(desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    record = await reception(desk, 1)
    await desk.open_from(clerk, record.id, FromReception(Kind.suggestion))
    again = await desk.refused(desk.open_from, clerk, record.id, FromReception(Kind.suggestion))
    assert again.instance_slug == "duplicate"


async def test_an_accused_receiving_leader_hands_the_case_to_another_owner(desk: Desk) -> None:
    c = desk.c
    clerk = await desk.actor("clerk")
    record = await reception(desk, 1)
    accusing = FromReception(Kind.accusation, accused_person_ids=[c.zhang])
    refusal = await desk.refused(desk.open_from, clerk, record.id, accusing)
    assert refusal.instance_slug == "recused" and "须回避" in refusal.detail

    named = FromReception(
        Kind.accusation, accused_person_ids=[c.zhang], owner_tenure_id=c.wang_tenure
    )
    case = await desk.open_from(clerk, record.id, named)
    assert await desk.owners(case.id) == [(c.wang, c.wang_tenure, "first")]
    with pytest.raises(DomainError, match="找不到该信访事项"):
        await desk.read(await desk.actor("leader"), case.id)


# ---------------------------------------------------------------- the Shanghai day


async def test_a_tenure_that_ended_yesterday_in_shanghai_cannot_take_a_case(desk: Desk) -> None:
    c = desk.c
    await desk.end_tenure(await desk.actor("admin"), c.li_tenure, day(3, 9))
    just_after_midnight = dt.datetime(2026, 3, 9, 16, 30, tzinfo=dt.UTC)  # 10 March 00:30
    data = intake(c, owner_tenure_id=c.li_tenure, received_on=day(3, 10))
    clerk = await desk.actor("clerk")
    refusal = await desk.refused(desk.register_at, clerk, data, just_after_midnight)
    assert "已于 2026-03-09 结束" in refusal.detail
