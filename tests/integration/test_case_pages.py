"""信访事项 pages on SQLite and PostgreSQL, through HTTP as their users see them: a leader's
我的包案 with its red and yellow marks and a progress note; a clerk registering a letter on
/cases/new and accepting it; an invalid identity number refused in Chinese with nothing
registered; the accused answered "not found" everywhere; a unit handler reporting back on
/assignments; and a citizen following the case on /track with the code and the mobile
number's last four digits, then rating the reply.

The set-up is the cases desk (tests/integration/cases_setup.py): 张建华 (`leader`) and 王明
(`wang`) are 副县长, 李秀英 (`li_supervisor`, a supervisor account) 上塘村党支部书记; the
app's clock is the fixtures' FixedClock (Monday 2 March 2026, 09:00 Shanghai), moved forward
where a deadline must have passed.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.codes import make_code
from app.core.errors import DomainError
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.ownership import read_services
from app.ownership.models import Case, CaseAssignment, CaseEvent
from app.ownership.services import CASE_CODE_BODY
from app.ownership.track_services import NO_MATCH
from app.ownership.workflow import CaseStatus, Outcome
from app.scheduling import citizen_services as citizens
from tests.integration.cases_setup import (
    ID_NUMBER,
    MOBILE,
    PETITIONER,
    RAISED,
    RECEIVED,
    SUMMARY,
    Cases,
    Desk,
    build_cases,
    intake,
    reception,
    wrong_check,
)
from tests.integration.conftest import County, bearer
from tests.integration.sittings_setup import Factory, add_account, sign_in

Client = AsyncTestClient[Litestar]
NOTE = "已约谈镇村干部，补偿款本周内发放到户"
REPLY = "经调查核实，补偿款已于3月发放到户，诉求已解决"


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def cases(factory: Factory, clock: FixedClock, county: County) -> Cases:
    return await build_cases(factory, clock, county)


@pytest.fixture
async def desk(factory: Factory, secrets: Secrets, cases: Cases) -> Desk:
    async with factory() as db:
        calendar = await calendar_for(db, cases.county.county)
    return Desk(factory, secrets, cases, calendar)


async def case_count(factory: Factory) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(Case)) or 0)


async def post(client: Client, url: str, csrf: str, **data: object) -> Response:
    return await client.post(url, data={**data, "_csrf_token": csrf}, follow_redirects=False)


# ---------------------------------------------------------------- 我的包案


async def test_a_leader_sees_an_overdue_case_in_red_and_records_progress(
    client: Client, clock: FixedClock, desk: Desk, factory: Factory
) -> None:
    clerk = await desk.actor("clerk")
    late = await desk.register(clerk, intake(desk.c))  # 登记转送 due 17 March
    soon_day = dt.date(2026, 3, 12)
    soon = await desk.register(clerk, intake(desk.c, received_on=soon_day), soon_day)  # 27 March
    clock.advance(dt.timedelta(days=23))  # Wednesday 25 March
    csrf = await sign_in(client, "leader")

    mine = await client.get("/cases/mine")

    assert mine.status_code == 200
    text = mine.text
    assert text.index(late.code) < text.index(soon.code)
    assert "已逾期8天" in text and "2天后到期" in text
    assert "登记转送" in text and "首接领导" in text and "东山镇" in text
    assert 'href="/cases/mine"' in text  # the menu entry

    sent = await client.post(
        f"/cases/{late.id}/progress",
        data={"text": NOTE, "public": "1", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/cases/{late.id}"
    shown = await client.get(f"/cases/{late.id}")
    assert shown.status_code == 200
    assert NOTE in shown.text and "已记录办理进展" in shown.text
    assert "case.progress.noted" in await desk.actions(late.id)
    assert shown.headers["cache-control"] == "no-store"


async def test_a_leader_pages_through_many_cases_with_the_counts_over_all_of_them(
    client: Client, clock: FixedClock, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = await desk.actor("clerk")
    days = [RECEIVED + dt.timedelta(days=n) for n in (0, 1, 10)]  # 登记转送 due 17, 18, 27 March
    made = [await desk.register(clerk, intake(desk.c, received_on=d), d) for d in days]
    clock.advance(dt.timedelta(days=23))  # Wednesday 25 March: two overdue, one due soon
    monkeypatch.setattr(read_services, "MY_PAGE_SIZE", 2)
    await sign_in(client, "leader")

    first = await client.get("/cases/mine")
    second = await client.get("/cases/mine", params={"page": 2})

    assert first.status_code == second.status_code == 200
    for shown in (first.text, second.text):
        assert "共 <strong>3</strong> 件" in shown
        assert "已逾期 2 件" in shown and "5 天内到期 1 件" in shown
    assert made[0].code in first.text and made[1].code in first.text
    assert made[2].code not in first.text and 'href="/cases/mine?page=2"' in first.text
    assert made[2].code in second.text and made[0].code not in second.text
    assert "第 2 / 2 页" in second.text and 'rel="prev"' in second.text

    headers = await bearer(client, "leader")
    api = await client.get("/api/v1/my/cases", params={"size": 2}, headers=headers)
    assert api.status_code == 200, api.text
    body = api.json()
    assert (body["total"], body["overdue"], body["due_soon"], body["pages"]) == (3, 2, 1, 2)
    assert [c["code"] for c in body["cases"]] == [made[0].code, made[1].code]
    assert [c["urgency"] for c in body["cases"]] == ["red", "red"]
    last = await client.get("/api/v1/my/cases", params={"page": 7, "size": 2}, headers=headers)
    assert last.json()["page"] == 2 and [c["code"] for c in last.json()["cases"]] == [made[2].code]
    too_big = await client.get("/api/v1/my/cases", params={"size": 1000}, headers=headers)
    assert too_big.status_code == 422


async def test_my_cases_drop_a_finished_case_and_follow_a_moved_one_to_its_new_owner(
    client: Client, desk: Desk
) -> None:
    clerk = await desk.actor("clerk")
    kept = await desk.register(clerk, intake(desk.c))
    finished = await desk.register(clerk, intake(desk.c))
    await desk.route(clerk, finished.id, Outcome.not_accept, RECEIVED, reason="不属于信访事项")
    zhang, wang = await bearer(client, "leader"), await bearer(client, "wang")

    before = (await client.get("/api/v1/my/cases", headers=zhang)).json()
    moved = await client.post(
        "/api/v1/cases/reassign",
        json={"from_tenure_id": desk.c.zhang_tenure, "to_tenure_id": desk.c.wang_tenure},
        headers=await bearer(client, "admin"),
    )
    left = (await client.get("/api/v1/my/cases", headers=zhang)).json()
    taken = (await client.get("/api/v1/my/cases", headers=wang)).json()

    assert [c["code"] for c in before["cases"]] == [kept.code] and before["total"] == 1
    assert moved.json() == {"moved": 1}
    assert left["cases"] == [] and left["total"] == 0
    assert [c["code"] for c in taken["cases"]] == [kept.code] and taken["total"] == 1
    await desk.mirrors_agree()


async def test_a_refused_form_shows_why_and_changes_nothing(
    client: Client, desk: Desk, factory: Factory
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    csrf = await sign_in(client, "leader")
    before = await desk.snapshot()

    empty = await client.post(f"/cases/{case.id}/progress", data={"text": " ", "_csrf_token": csrf})
    assert empty.status_code == 422 and "请填写办理进展" in empty.text

    routing = await client.post(
        f"/cases/{case.id}/route",
        data={"outcome": "accept", "on": RECEIVED.isoformat(), "_csrf_token": csrf},
    )
    assert routing.status_code == 403 and "不能处理信访事项" in routing.text
    assert f'action="/cases/{case.id}/route"' not in routing.text  # not the leader's form
    assert await desk.snapshot() == before


# ---------------------------------------------------------------- intake and routing


def letter(c: Cases, **changes: object) -> dict[str, object]:
    return {
        "channel": "letter",
        "kind": "claim",
        "claim_item": "6",
        "category": "土地征收",
        "summary": SUMMARY,
        "territorial_unit_id": str(c.county.township),
        "subject_unit_ids": [str(c.county.department)],
        "received_on": RECEIVED.isoformat(),
        "p0_name": PETITIONER,
        "p0_id_type": "resident",
        "p0_id_number": ID_NUMBER,
        "p0_mobile": MOBILE,
        "owner_tenure_id": str(c.zhang_tenure),
        **changes,
    }


async def test_a_clerk_registers_a_letter_and_accepts_it(
    client: Client, desk: Desk, factory: Factory
) -> None:
    csrf = await sign_in(client, "clerk")
    form = await client.get("/cases/new")
    assert form.status_code == 200 and "登记信访事项" in form.text and "东山镇" in form.text

    made = await client.post(
        "/cases/new", data={**letter(desk.c), "_csrf_token": csrf}, follow_redirects=False
    )

    assert made.status_code == 303, made.text
    url = made.headers["location"]
    shown = await client.get(url)
    assert shown.status_code == 200
    async with factory() as db:
        case = await db.scalar(select(Case))
    assert case is not None and case.status == "registered" and url == f"/cases/{case.id}"
    page = shown.text
    assert f"已登记信访事项，诉求码 {case.code}" in page
    assert PETITIONER in page and "330***********" in page
    assert ID_NUMBER not in page and MOBILE not in page
    assert "登记转送" in page and "受理告知" in page and "张建华" in page
    assert "开始的当日不计入" in page or "不计入" in page  # the clock explained

    accepted = await client.post(
        f"{url}/route",
        data={"outcome": "accept", "on": RECEIVED.isoformat(), "_csrf_token": csrf},
        follow_redirects=False,
    )

    assert accepted.status_code == 303, accepted.text
    after = await client.get(url)
    assert "已受理" in after.text and "办理期限" in after.text
    assert (await desk.case(case.id)).status == "accepted"
    assert "受理告知" in after.text  # the notice on the timeline


async def test_an_invalid_identity_number_is_refused_and_nothing_is_registered(
    client: Client, desk: Desk, factory: Factory
) -> None:
    csrf = await sign_in(client, "clerk")
    before = await desk.snapshot()

    refused = await client.post(
        "/cases/new",
        data={**letter(desk.c, p0_id_number=wrong_check(ID_NUMBER)), "_csrf_token": csrf},
    )

    assert refused.status_code == 422
    assert f"{PETITIONER}：身份证号码校验位不正确，请核对。" in refused.text
    assert SUMMARY in refused.text  # what was typed comes back
    assert await case_count(factory) == 0 and await desk.snapshot() == before

    missing = await client.post(
        "/cases/new", data={**letter(desk.c, received_on="", channel=""), "_csrf_token": csrf}
    )
    assert missing.status_code == 422
    assert "请填写收到日期。" in missing.text and "请选择信访形式。" in missing.text
    assert await case_count(factory) == 0


async def test_a_reception_record_becomes_a_case_owned_by_the_receiving_leader(
    client: Client, clock: FixedClock, desk: Desk, factory: Factory
) -> None:
    record = await reception(desk, 3)
    clock.advance(dt.timedelta(days=3))  # the day of the sitting, 5 March
    csrf = await sign_in(client, "clerk")

    form = await client.get("/cases/new", params={"reception": record.id})
    assert form.status_code == 200
    assert RAISED in form.text and "张建华" in form.text and "接访记录转为信访事项" in form.text
    made = await post(client, "/cases/new", csrf, reception=record.id, kind="claim", claim_item=6)

    assert made.status_code == 303, made.text
    async with factory() as db:
        case = await db.scalar(select(Case).where(Case.reception_id == record.id))
    assert case is not None and case.channel == "visit"
    assert made.headers["location"] == f"/cases/{case.id}"
    assert [role for _, _, role in await desk.owners(case.id)] == ["first"]
    again = await client.get("/cases/new", params={"reception": record.id})
    assert "该接访记录已登记为信访事项" in again.text
    twice = await post(client, "/cases/new", csrf, reception=record.id, kind="claim", claim_item=6)
    assert twice.status_code == 409 and await case_count(factory) == 1


async def test_a_supervisor_appoints_a_leader_whose_list_shows_the_target_date(
    client: Client, desk: Desk
) -> None:
    c = desk.c
    case = await desk.register(await desk.actor("clerk"), intake(c))
    csrf = await sign_in(client, "supervisor")
    shown = await client.get(f"/cases/{case.id}")
    assert "确定包案领导" in shown.text and "认定积案" in shown.text
    assert f'action="/cases/{case.id}/route"' not in shown.text  # the bureau's form

    appointed = await post(
        client, f"/cases/{case.id}/owners", csrf, tenure_id=c.wang_tenure, target_date="2026-04-30"
    )
    backlog = await post(client, f"/cases/{case.id}/backlog", csrf)

    assert appointed.status_code == backlog.status_code == 303
    assert (await desk.case(case.id)).backlog
    await sign_in(client, "wang")
    mine = await client.get("/cases/mine")
    assert case.code in mine.text and "包案领导" in mine.text and "2026年4月30日" in mine.text
    assert "积案" in mine.text


# ---------------------------------------------------------------- recusal


async def test_the_accused_get_not_found_and_no_list_shows_the_case(
    client: Client, desk: Desk, factory: Factory
) -> None:
    c = desk.c
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(c, accused_person_ids=[c.wang, c.li]))
    await desk.route(clerk, case.id, Outcome.accept, RECEIVED)
    unknown = make_code(os.urandom(16), CASE_CODE_BODY)

    for username in ("wang", "li_supervisor"):
        csrf = await sign_in(client, username)
        assert (await client.get(f"/cases/{case.id}")).status_code == 404
        found = await client.get("/cases", params={"code": case.code})
        nowhere = await client.get("/cases", params={"code": unknown})
        assert found.status_code == nowhere.status_code == 404
        assert found.text.replace(case.code, "?") == nowhere.text.replace(unknown, "?")
        noted = await post(client, f"/cases/{case.id}/progress", csrf, text=NOTE)
        assert noted.status_code == 404
        if username == "wang":
            mine = await client.get("/cases/mine")
            assert mine.status_code == 200 and case.code not in mine.text

    await sign_in(client, "supervisor")
    assert (await client.get(f"/cases/{case.id}")).status_code == 200
    assert NOTE not in (await client.get(f"/cases/{case.id}")).text


async def test_a_leader_speaking_for_an_accused_unit_never_sees_the_case_listed(
    client: Client, desk: Desk
) -> None:
    """张建华 is also 东山镇党委书记: a case accusing 东山镇 is not his to see, whichever of
    his tenures it would be owned through."""
    c = desk.c
    clerk = await desk.actor("clerk")
    data = intake(c, accused_unit_ids=[c.county.township], territorial_unit_id=c.county.street)
    try:
        case = await desk.register(clerk, data)
    except DomainError as refused:  # ownership refused for every post of the owner
        assert refused.instance_slug == "recused"
        return
    await sign_in(client, "leader")

    assert (await client.get(f"/cases/{case.id}")).status_code == 404
    mine = await client.get("/cases/mine")
    assert mine.status_code == 200 and case.code not in mine.text


# ---------------------------------------------------------------- 交办事项


async def test_a_unit_handler_reports_back_on_the_assignments_page(
    client: Client, clock: FixedClock, desk: Desk, factory: Factory
) -> None:
    c = desk.c
    await add_account(factory, clock, "handler", Role.unit_handler, c.county.township, None)
    case = await desk.accepted(intake(c), on=RECEIVED)
    csrf = await sign_in(client, "clerk")
    assigned = await post(
        client,
        f"/cases/{case.id}/assign",
        csrf,
        unit_id=c.county.township,
        role="territorial",
        due="2026-03-20",
    )
    assert assigned.status_code == 303
    async with factory() as db:
        row = await db.scalar(select(CaseAssignment))
    assert row is not None

    csrf = await sign_in(client, "handler")
    listed = await client.get("/assignments")
    assert listed.status_code == 200
    assert case.code in listed.text and "待报到" in listed.text and "属地" in listed.text
    assert (await client.get(f"/cases/{case.id}")).status_code == 200

    reported = await post(client, f"/assignments/{row.id}", csrf, answer="reported")

    assert reported.status_code == 303
    after = await client.get("/assignments")
    assert "已报到办理" in after.text and "已报到" in after.text
    async with factory() as db:
        again = await db.get(CaseAssignment, row.id)
    assert again is not None and again.status == "reported" and again.reported_at is not None
    assert "case.assignment.answered" in await desk.actions(case.id)

    late = await post(
        client, f"/assignments/{row.id}", csrf, answer="objected", text="不属本镇职责"
    )
    assert late.status_code == 422
    assert "当前为“已报到办理”" in late.text


# ---------------------------------------------------------------- 凭码查询


async def track(client: Client, code: str, last4: str) -> Response:
    await client.get("/track")
    token = client.cookies.get("jiefang_csrf")
    return await client.post(
        "/track", data={"code": code, "last4": last4, "_csrf_token": token}, follow_redirects=False
    )


async def test_a_citizen_tracks_the_case_and_rates_the_reply(
    client: Client, desk: Desk, factory: Factory
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    await desk.route(clerk, case.id, Outcome.accept, RECEIVED)

    found = await track(client, case.code.lower(), MOBILE[-4:])
    assert found.status_code == 303
    assert found.headers["location"] == f"/track/{case.code}"
    shown = await client.get(f"/track/{case.code}")
    assert shown.status_code == 200
    assert "已受理" in shown.text and "受理告知" in shown.text and "办理期限" in shown.text
    assert "提交评价" not in shown.text and PETITIONER not in shown.text

    wrong = await track(client, case.code, "9999")
    unknown = await track(client, make_code(os.urandom(16), CASE_CODE_BODY), MOBILE[-4:])
    assert wrong.status_code == unknown.status_code == 404
    assert NO_MATCH in wrong.text and NO_MATCH in unknown.text

    await desk.advance(clerk, case.id, CaseStatus.replied, RECEIVED, REPLY, RECEIVED)
    replied = await client.get(f"/track/{case.code}")
    assert "提交评价" in replied.text and REPLY in replied.text

    token = client.cookies.get("jiefang_csrf")
    rated = await client.post(
        f"/track/{case.code}/evaluation",
        data={"evaluation": "unsatisfied", "_csrf_token": token},
        follow_redirects=False,
    )

    assert rated.status_code == 303
    stored = await desk.case(case.id)
    assert stored.evaluation == "unsatisfied" and stored.flagged
    after = await client.get(f"/track/{case.code}")
    assert "您已评价：不满意" in after.text and "提交评价" not in after.text
    twice = await client.post(
        f"/track/{case.code}/evaluation", data={"evaluation": "satisfied", "_csrf_token": token}
    )
    assert twice.status_code == 409 and "已经评价过了" in twice.text
    assert [a for a in await desk.actions(case.id) if a == "case.evaluated"] == ["case.evaluated"]


async def test_internal_notes_stay_off_the_citizens_page(
    client: Client, desk: Desk, factory: Factory
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    csrf = await sign_in(client, "clerk")
    await post(client, f"/cases/{case.id}/progress", csrf, text="内部：信访人情绪激动")
    await post(client, f"/cases/{case.id}/progress", csrf, text=NOTE, public="1")
    client.cookies.clear()

    await track(client, case.code, MOBILE[-4:])
    shown = await client.get(f"/track/{case.code}")

    assert NOTE in shown.text and "情绪激动" not in shown.text
    async with factory() as db:
        public = await db.scalars(
            select(CaseEvent.public).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "progress"
            )
        )
        assert sorted(public) == [False, True]


async def test_lookups_are_limited_per_address(client: Client, desk: Desk) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.register(clerk, intake(desk.c))
    for _ in range(citizens.LOOKUP_PER_IP.count):
        assert (await track(client, case.code, "9999")).status_code == 404

    limited = await track(client, case.code, MOBILE[-4:])

    assert limited.status_code == 429
    assert "查询过于频繁" in limited.text
