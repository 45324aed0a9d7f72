"""Supervision (督查) and tracking (凭码跟踪) over HTTP, on SQLite and PostgreSQL.

Cases are made at the service desk (cases_setup.Desk); the supervisor, the leader and the
citizen then see them through the API and the pages: the overdue board names the late
clock and the owner, a supervisor accused in a case never sees it counted, the red/black
list ranks units and leaders by the documented rates and exports CSV and PDF, the daily
summary warns when the same problem comes from the same place again and again, and the
citizen follows a case with its code and the last four digits of the mobile number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.pdf import cjk_font
from app.core.personal_data import Secrets
from app.ownership import fact_services
from app.ownership import supervision_services as sv
from app.ownership.models import Case, RankingFact, RankingTotal
from app.ownership.workflow import CaseStatus, Outcome
from app.scheduling.models import OutboxMessage
from tests.integration.cases_setup import (
    MOBILE,
    RECEIVED,
    Desk,
    at,
    build_cases,
    intake,
    reception,
    resident,
)
from tests.integration.conftest import County, bearer
from tests.integration.sittings_setup import Factory, add_account, sign_in

Client = AsyncTestClient[Litestar]
S = CaseStatus


@pytest.fixture
def secrets(keys_dir: Path) -> Secrets:
    return Secrets(KeyRing(keys_dir))


@pytest.fixture
async def desk(factory: Factory, clock: FixedClock, county: County, secrets: Secrets) -> Desk:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    return Desk(factory, secrets, built, calendar)


def move_to(clock: FixedClock, day: dt.date) -> None:
    clock.advance(at(day) - clock.now())


async def overdue_and_soon(desk: Desk) -> tuple[int, int]:
    """A letter of 2 March nobody routed (route due 17 March) and one of 6 March (due 23)."""
    clerk = await desk.actor("clerk")
    late = await desk.register(clerk, intake(desk.c))
    sixth = dt.date(2026, 3, 6)
    soon = await desk.register(clerk, intake(desk.c, received_on=sixth), sixth)
    return late.id, soon.id


# ---------------------------------------------------------------- the overdue board


async def test_the_board_names_the_late_clock_and_the_owner(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    late, soon = await overdue_and_soon(desk)
    move_to(clock, dt.date(2026, 3, 20))
    headers = await bearer(client, "supervisor")

    board = (await client.get("/api/v1/supervision/overdue", headers=headers)).json()

    assert board["total"] == {"overdue": 1, "soon": 1, "late_clocks": {"route": 1}}
    [owner] = board["by_owner"]
    assert owner["name"] == "张建华" and owner["overdue"] == 1 and owner["soon"] == 1
    drill = await client.get(
        f"/api/v1/supervision/overdue/cases?owner={owner['id']}", headers=headers
    )
    assert [c["id"] for c in drill.json()] == [late, soon]
    assert [c["urgency"] for c in drill.json()] == ["red", "yellow"]


async def test_a_supervisor_accused_in_a_case_never_sees_it_counted(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    clerk = await desk.actor("clerk")
    await desk.register(clerk, intake(desk.c, accused_person_ids=[desk.c.li]))
    move_to(clock, dt.date(2026, 3, 20))

    other = await client.get(
        "/api/v1/supervision/overdue", headers=await bearer(client, "supervisor")
    )
    accused = await client.get(
        "/api/v1/supervision/overdue", headers=await bearer(client, "li_supervisor")
    )

    assert other.json()["total"]["overdue"] == 1
    assert accused.json()["total"] == {"overdue": 0, "soon": 0, "late_clocks": {}}


async def test_the_board_is_for_supervisors_only(client: Client, desk: Desk) -> None:
    response = await client.get(
        "/api/v1/supervision/overdue", headers=await bearer(client, "leader")
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_board_page_links_each_row_to_its_cases(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    await overdue_and_soon(desk)
    move_to(clock, dt.date(2026, 3, 20))
    await sign_in(client, "supervisor")

    page = await client.get("/supervision")

    assert page.status_code == 200
    assert (
        "张建华" in page.text and "超期 1" in page.text and "登记转送" in page.text
    ) or "route" not in page.text
    assert "/supervision/cases?owner=" in page.text


async def test_the_board_follows_a_case_to_its_new_owner_and_drops_it_once_finished(
    client: Client, desk: Desk, clock: FixedClock, factory: Factory
) -> None:
    _, soon = await overdue_and_soon(desk)
    moved = await client.post(
        "/api/v1/cases/reassign",
        json={"from_tenure_id": desk.c.zhang_tenure, "to_tenure_id": desk.c.wang_tenure},
        headers=await bearer(client, "admin"),
    )
    clerk = await desk.actor("clerk")
    await desk.route(clerk, soon, Outcome.not_accept, dt.date(2026, 3, 9), reason="不属于信访事项")
    move_to(clock, dt.date(2026, 3, 20))

    board = await client.get(
        "/api/v1/supervision/overdue", headers=await bearer(client, "supervisor")
    )

    assert moved.json() == {"moved": 2}
    body = board.json()
    assert [(o["name"], o["overdue"], o["soon"]) for o in body["by_owner"]] == [("王明", 1, 0)]
    assert body["total"] == {"overdue": 1, "soon": 0, "late_clocks": {"route": 1}}
    # One county: every row listed, no county rows.
    assert body["top"] is None and body["by_county"] == [] and body["owners_in_all"] == 1
    await desk.mirrors_agree()


async def test_a_board_over_several_counties_adds_each_county_and_cuts_the_lists(
    client: Client,
    desk: Desk,
    clock: FixedClock,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await overdue_and_soon(desk)  # 张建华: one overdue, one due soon
    clerk = await desk.actor("clerk")
    sixth = dt.date(2026, 3, 6)
    data = intake(desk.c, received_on=sixth, owner_tenure_id=desk.c.wang_tenure)
    await desk.register(clerk, data, sixth)  # 王明: one due soon
    await add_account(factory, clock, "province", Role.supervisor, None, None)
    monkeypatch.setattr(sv, "BOARD_TOP", 1)
    move_to(clock, dt.date(2026, 3, 20))

    board = await client.get(
        "/api/v1/supervision/overdue", headers=await bearer(client, "province")
    )
    await sign_in(client, "province")
    page = await client.get("/supervision")

    body = board.json()
    assert body["top"] == 1 and body["owners_in_all"] == 2
    assert [(o["name"], o["overdue"], o["soon"]) for o in body["by_owner"]] == [("张建华", 1, 1)]
    [county] = body["by_county"]
    assert (county["id"], county["overdue"], county["soon"]) == (desk.c.county.county, 1, 2)
    assert "共 2 个，列出超期最多的前 1 个" in page.text
    assert f"/supervision?county={desk.c.county.county}" in page.text


# ---------------------------------------------------------------- the red/black list


async def a_quarter_of_work(desk: Desk) -> Case:
    """Two cases accepted on time, one of them replied on time (returned), owned by 张建华."""
    clerk = await desk.actor("clerk")
    for _ in range(2):
        case = await desk.register(clerk, intake(desk.c))
        await desk.route(clerk, case.id, Outcome.accept, dt.date(2026, 3, 4))
    await desk.advance(clerk, case.id, S.replied, dt.date(2026, 3, 20), "经核实，已补发补偿款。")
    return case


async def test_the_list_ranks_by_the_documented_rates(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    await a_quarter_of_work(desk)
    move_to(clock, dt.date(2026, 3, 31))
    headers = await bearer(client, "supervisor")

    listed = await client.get(
        "/api/v1/supervision/ranking?by=leader&from=2026-01-01&to=2026-03-31", headers=headers
    )

    assert listed.status_code == 200, listed.text
    [row] = listed.json()["rows"]
    rates = {r["metric"]: (r["numerator"], r["denominator"]) for r in row["rates"]}
    assert row["name"] == "张建华" and row["rank"] == 1
    # (20 × 1 + 30 × 1 + 10 × 0) / 60: no rating yet, no reception; between the lists.
    assert row["score_per_mille"] == 833 and row["standing"] == "middle"
    assert rates["timely_acceptance"] == (2, 2)
    assert rates["on_time_reply"] == (1, 1)
    assert rates["participation"] == (0, 1)


async def kept_facts(factory: Factory) -> list[tuple[Any, ...]]:
    """The facts (board, key, case, metric, day, grade) and the non-zero monthly totals."""
    f, t = RankingFact, RankingTotal
    async with factory() as db:
        facts = await db.execute(select(f.board, f.key_id, f.case_id, f.metric, f.day, f.grade))
        totals = await db.execute(
            select(t.board, t.key_id, t.month, t.metric, t.grade, t.n).where(t.n != 0)
        )
        return sorted(tuple(r) for r in facts) + sorted(("total", *r) for r in totals)


async def test_the_list_by_leader_follows_ratings_and_cases_to_their_new_owner(
    client: Client, desk: Desk, clock: FixedClock, factory: Factory
) -> None:
    replied = await a_quarter_of_work(desk)
    move_to(clock, dt.date(2026, 3, 21))
    rated = await client.post(
        f"/api/v1/track/{replied.code}/evaluation",
        json={"evaluation": "satisfied"},
        headers={"X-Mobile-Last4": MOBILE[-4:]},
    )
    moved = await client.post(
        "/api/v1/cases/reassign",
        json={"from_tenure_id": desk.c.zhang_tenure, "to_tenure_id": desk.c.wang_tenure},
        headers=await bearer(client, "admin"),
    )
    move_to(clock, dt.date(2026, 3, 31))

    listed = await client.get(
        "/api/v1/supervision/ranking?by=leader&from=2026-01-01&to=2026-03-31",
        headers=await bearer(client, "supervisor"),
    )

    assert rated.status_code == 200 and moved.json() == {"moved": 2}
    [row] = listed.json()["rows"]
    rates = {r["metric"]: (r["numerator"], r["denominator"]) for r in row["rates"]}
    assert row["name"] == "王明"
    assert rates["timely_acceptance"] == (2, 2) and rates["on_time_reply"] == (1, 1)
    assert rates["participation"] == (1, 1) and rates["satisfaction"] == (1, 1)
    # Two acceptances, a reply's handling clock, the reply and its rating, all 王明's
    # now; what was kept step by step is what a rebuild from the cases writes.
    kept = await kept_facts(factory)
    assert {key for board, key, *_ in kept if board == "leader"} == {desk.c.wang}
    async with factory() as db, db.begin():
        assert await fact_services.rebuild(db) == 10  # 5 for the unit, 5 for 王明
    assert await kept_facts(factory) == kept
    # A period with ragged ends (2–31 January and 1–30 March read from the facts, February
    # from the totals) counts the same facts.
    ragged = await client.get(
        "/api/v1/supervision/ranking?by=leader&from=2026-01-02&to=2026-03-30",
        headers=await bearer(client, "supervisor"),
    )
    assert ragged.json()["rows"] == listed.json()["rows"]


async def test_decisions_made_at_once_are_all_counted_in_the_monthly_totals(
    client: Client, desk: Desk, clock: FixedClock, factory: Factory
) -> None:
    """Eight clerks' acceptances at the same moment add to the same totals (the county's
    unit and 张建华, March, timely): none is lost and none counted twice."""
    clerk = await desk.actor("clerk")
    cases = [await desk.register(clerk, intake(desk.c)) for _ in range(8)]
    await asyncio.gather(
        *(desk.route(clerk, c.id, Outcome.accept, dt.date(2026, 3, 4)) for c in cases)
    )
    move_to(clock, dt.date(2026, 3, 31))

    for by in ("unit", "leader"):
        listed = await client.get(
            f"/api/v1/supervision/ranking?by={by}&from=2026-01-01&to=2026-03-31",
            headers=await bearer(client, "supervisor"),
        )
        [row] = listed.json()["rows"]
        rates = {r["metric"]: (r["numerator"], r["denominator"]) for r in row["rates"]}
        assert rates["timely_acceptance"] == (8, 8)
    kept = await kept_facts(factory)
    async with factory() as db, db.begin():
        assert await fact_services.rebuild(db) == 16
    assert await kept_facts(factory) == kept


@pytest.mark.parametrize("by", ["unit", "leader"])
async def test_a_supervisor_accused_in_a_case_never_sees_it_in_the_list(
    client: Client, desk: Desk, clock: FixedClock, by: str
) -> None:
    clerk = await desk.actor("clerk")
    for accused in ([], [desk.c.li]):
        case = await desk.register(clerk, intake(desk.c, accused_person_ids=accused))
        await desk.route(clerk, case.id, Outcome.accept, dt.date(2026, 3, 4))
    move_to(clock, dt.date(2026, 3, 31))
    url = f"/api/v1/supervision/ranking?by={by}&from=2026-01-01&to=2026-03-31"

    acceptance = {}
    for who in ("supervisor", "li_supervisor"):
        listed = await client.get(url, headers=await bearer(client, who))
        assert listed.status_code == 200, listed.text
        [row] = listed.json()["rows"]
        rates = {r["metric"]: (r["numerator"], r["denominator"]) for r in row["rates"]}
        acceptance[who] = rates["timely_acceptance"]

    assert acceptance == {"supervisor": (2, 2), "li_supervisor": (1, 1)}


async def test_the_list_exports_csv_for_spreadsheets(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    await a_quarter_of_work(desk)
    move_to(clock, dt.date(2026, 3, 31))

    export = await client.get(
        "/api/v1/supervision/ranking.csv?by=unit&from=2026-01-01&to=2026-03-31",
        headers=await bearer(client, "supervisor"),
    )

    assert export.status_code == 200
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff名次,名称,榜单,综合指数,及时受理率")
    assert "东山镇" in text and "100.0%" in text


async def test_the_list_page_draws_its_charts_and_prints_as_pdf(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    await a_quarter_of_work(desk)
    move_to(clock, dt.date(2026, 3, 31))
    await sign_in(client, "supervisor")

    page = await client.get("/supervision/ranking?by=unit&from=2026-01-01&to=2026-03-31")

    assert page.status_code == 200 and page.text.count("<svg") == 6 and "东山镇" in page.text
    pdf = await client.get("/supervision/ranking.pdf?by=unit&from=2026-01-01&to=2026-03-31")
    if cjk_font() is None:
        assert pdf.status_code == 503 and "中文字体" in pdf.text
    else:
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_a_backwards_period_is_refused(client: Client, desk: Desk) -> None:
    response = await client.get(
        "/api/v1/supervision/ranking?from=2026-03-31&to=2026-01-01",
        headers=await bearer(client, "supervisor"),
    )
    assert response.status_code == 422 and "日期" in response.json()["detail"]


# ---------------------------------------------------------------- the daily summary


async def test_the_same_problem_from_the_same_place_raises_a_warning(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    clerk = await desk.actor("clerk")
    for day in (2, 4, 6):
        move_to(clock, dt.date(2026, 3, day))
        await desk.register(
            clerk, intake(desk.c, received_on=dt.date(2026, 3, day)), dt.date(2026, 3, day)
        )
    headers = await bearer(client, "supervisor")

    summary = (await client.get("/api/v1/supervision/daily?day=2026-03-06", headers=headers)).json()

    assert summary["registered"] == {"土地征收": 1}
    assert [(w["unit"], w["category"], w["cases"]) for w in summary["warnings"]] == [
        ("东山镇", "土地征收", 3)
    ]
    earlier = (await client.get("/api/v1/supervision/daily?day=2026-03-04", headers=headers)).json()
    assert earlier["warnings"] == []


# ---------------------------------------------------------------- tracking by code


async def test_the_citizen_tracks_with_the_code_and_the_last_four_digits(
    client: Client, desk: Desk
) -> None:
    case = await desk.register(await desk.actor("clerk"), intake(desk.c))

    found = await client.get(f"/api/v1/track/{case.code}", headers={"X-Mobile-Last4": MOBILE[-4:]})
    wrong = await client.get(f"/api/v1/track/{case.code}", headers={"X-Mobile-Last4": "0000"})
    unknown = await client.get("/api/v1/track/23456789AB", headers={"X-Mobile-Last4": MOBILE[-4:]})

    assert found.status_code == 200
    body = found.json()
    assert body["status_label"] == "已登记" and body["next_clock"] == "route"
    assert [e["title"] for e in body["timeline"]] == ["已登记"] and body["can_evaluate"] is False
    assert wrong.status_code == 404 and unknown.status_code in {404, 422}
    assert wrong.json()["detail"] == "诉求码与手机号后四位不匹配，请核对后再试。"


async def test_the_citizen_rates_the_reply_and_an_unsatisfied_rating_is_flagged(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    clerk = await desk.actor("clerk")
    case = await desk.accepted(intake(desk.c))
    await desk.advance(clerk, case.id, S.replied, dt.date(2026, 3, 20), "经核实，已补发。")
    move_to(clock, dt.date(2026, 3, 21))
    url, last4 = f"/api/v1/track/{case.code}", {"X-Mobile-Last4": MOBILE[-4:]}

    early = await client.post(f"{url}/evaluation", json={"evaluation": "bad"}, headers=last4)
    rated = await client.post(
        f"{url}/evaluation", json={"evaluation": "unsatisfied"}, headers=last4
    )
    again = await client.post(f"{url}/evaluation", json={"evaluation": "satisfied"}, headers=last4)

    assert early.status_code == 422
    assert rated.status_code == 200 and rated.json()["evaluation"] == "unsatisfied"
    assert again.status_code == 409
    assert (await desk.case(case.id)).flagged is True
    assert dt.date(2026, 3, 21) > RECEIVED


# ---------------------------------------------------------------- written notices


async def test_the_clerk_prints_the_acceptance_notice_with_its_code(
    client: Client, desk: Desk
) -> None:
    case = await desk.accepted(intake(desk.c))
    await sign_in(client, "clerk")

    page = await client.get(f"/cases/{case.id}")
    pdf = await client.get(f"/cases/{case.id}/notice.pdf")

    assert f'href="/cases/{case.id}/notice.pdf"' in page.text and "打印告知书" in page.text
    if cjk_font() is None:
        assert pdf.status_code == 503
    else:
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert f"gaozhishu-{case.code}.pdf" in pdf.headers["content-disposition"]


async def test_a_leader_who_may_not_read_the_case_gets_no_notice(
    client: Client, desk: Desk
) -> None:
    case = await desk.accepted(intake(desk.c))
    await sign_in(client, "wang")

    assert (await client.get(f"/cases/{case.id}/notice.pdf")).status_code == 404


# ---------------------------------------------------------------- online petitions


async def verified(client: Client, factory: Factory, mobile: str) -> str:
    assert (await client.post("/api/v1/otp", json={"mobile": mobile})).status_code == 202
    async with factory() as db:
        body = await db.scalar(
            select(OutboxMessage.body)
            .where(OutboxMessage.to_masked.endswith(mobile[-4:]), OutboxMessage.kind == "otp")
            .order_by(OutboxMessage.id.desc())
        )
    found = re.search(r"验证码(\d{6})", body or "")
    assert found, body
    answer = await client.post(
        "/api/v1/otp/verify", json={"mobile": mobile, "code": found.group(1)}
    )
    return str(answer.json()["citizen_token"])


def petition(desk: Desk, mobile: str, **changes: object) -> dict[str, object]:
    return {
        "name": "钱小红",
        "mobile": mobile,
        "id_type": "resident",
        "id_number": resident(31),
        "kind": "claim",
        "claim_item": 6,
        "category": "劳动社保",
        "summary": "反映在本镇企业务工被拖欠工资，请求协调支付。",
        "territorial_unit_id": desk.c.county.township,
        **changes,
    }


async def test_a_citizen_petitions_online_and_the_leader_on_duty_owns_it(
    client: Client, desk: Desk, factory: Factory, clock: FixedClock
) -> None:
    move_to(clock, dt.date(2026, 3, 5))
    mobile = "13700000031"
    token = await verified(client, factory, mobile)

    made = await client.post(
        "/api/v1/petitions", json=petition(desk, mobile), headers={"X-Citizen-Token": token}
    )

    assert made.status_code == 201, made.text
    code = made.json()["code"]
    async with factory() as db:
        case = await db.scalar(select(Case).where(Case.code == code))
        sms = await db.scalar(select(OutboxMessage.body).where(OutboxMessage.kind == "case"))
    assert case is not None and case.channel == "online" and case.received_on == dt.date(2026, 3, 5)
    # 张建华 sits at the county centre on 5 March: the petition is his first.
    assert await desk.owners(case.id) == [(desk.c.zhang, desk.c.zhang_tenure, "first")]
    assert sms is not None and code in sms
    tracked = await client.get(f"/api/v1/track/{code}", headers={"X-Mobile-Last4": "0031"})
    assert tracked.status_code == 200


async def test_an_online_petition_needs_the_verified_number_and_valid_papers(
    client: Client, desk: Desk, factory: Factory, clock: FixedClock
) -> None:
    move_to(clock, dt.date(2026, 3, 5))
    token = await verified(client, factory, "13700000032")
    headers = {"X-Citizen-Token": token}

    unproven = await client.post(
        "/api/v1/petitions", json=petition(desk, "13700000033"), headers=headers
    )
    anonymous = await client.post("/api/v1/petitions", json=petition(desk, "13700000032"))
    bad_id = await client.post(
        "/api/v1/petitions",
        json=petition(desk, "13700000032", id_number=resident(31)[:-1] + "0"),
        headers=headers,
    )

    assert unproven.status_code == 401 and anonymous.status_code == 401
    assert bad_id.status_code == 422 and "校验位" in bad_id.json()["detail"]
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(Case)) == 0


# ---------------------------------------------------------------- reassignment


async def test_reassigning_a_tenures_cases_lets_the_tenure_end(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    clerk = await desk.actor("clerk")
    first = await desk.register(clerk, intake(desk.c))
    second = await desk.register(clerk, intake(desk.c))
    admin = await bearer(client, "admin")
    end = {"end_date": "2026-03-10", "reason": "调任"}
    url = f"/api/v1/tenures/{desk.c.zhang_tenure}/end"

    refused = await client.post(url, json=end, headers=admin)
    moved = await client.post(
        "/api/v1/cases/reassign",
        json={"from_tenure_id": desk.c.zhang_tenure, "to_tenure_id": desk.c.wang_tenure},
        headers=admin,
    )
    ended = await client.post(url, json=end, headers=admin)

    assert refused.status_code == 409 and "包案的未办结信访事项 2 件" in refused.json()["detail"]
    assert moved.status_code == 200 and moved.json() == {"moved": 2}
    assert ended.status_code == 200, ended.text
    for case in (first, second):
        assert await desk.owners(case.id) == [(desk.c.wang, desk.c.wang_tenure, "first")]


async def test_only_supervisors_and_the_office_reassign(client: Client, desk: Desk) -> None:
    response = await client.post(
        "/api/v1/cases/reassign",
        json={"from_tenure_id": desk.c.zhang_tenure, "to_tenure_id": desk.c.wang_tenure},
        headers=await bearer(client, "clerk"),
    )
    assert response.status_code == 403


# ---------------------------------------------------------------- intake over the API


async def test_a_clerk_registers_a_letter_over_the_api(client: Client, desk: Desk) -> None:
    sent = {
        "channel": "letter",
        "kind": "claim",
        "claim_item": 6,
        "category": "土地征收",
        "summary": "反映征地补偿款至今未发放到户",
        "territorial_unit_id": desk.c.county.township,
        "received_on": "2026-03-02",
        "owner_tenure_id": desk.c.zhang_tenure,
        "petitioners": [
            {"name": "赵丽华", "id_type": "resident", "id_number": resident(17), "mobile": MOBILE}
        ],
    }
    clerk = await bearer(client, "clerk")

    made = await client.post("/api/v1/cases", json=sent, headers=clerk)
    bad = await client.post("/api/v1/cases", json={**sent, "kind": "rumour"}, headers=clerk)

    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "registered" and body["territorial_unit"] == "东山镇"
    assert [c["clock"] for c in body["clocks"]] == ["route", "accept"]
    assert body["petitioners"][0]["id_masked"].startswith("330")
    assert "explanation" in body["clocks"][0] and body["owners"][0]["role"] == "first"
    assert bad.status_code == 422 and bad.json()["type"] == "/problems/invalid-input"


async def test_a_reception_becomes_a_case_over_the_api(
    client: Client, desk: Desk, clock: FixedClock
) -> None:
    record = await reception(desk, 1)
    move_to(clock, dt.date(2026, 3, 5))  # the day of the reception

    made = await client.post(
        "/api/v1/cases/from-reception",
        json={"reception_id": record.id, "kind": "claim", "claim_item": 6},
        headers=await bearer(client, "clerk"),
    )

    assert made.status_code == 201, made.text
    assert made.json()["channel"] == "visit" and made.json()["owners"][0]["name"] == "张建华"
