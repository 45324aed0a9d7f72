"""Cases in the browser: a leader works through 我的包案 on a phone and records progress on
an overdue case; a supervisor drills down from the overdue board and reads the red/black
list by leader with its charts and CSV; a citizen tracks a case by its 诉求码 on a phone
and rates the written reply.

The server's "today" is the real date in Asia/Shanghai, so every date here is too."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    Locator,
    Page,
    ViewportSize,
    expect,
)

from app.core.clock import SHANGHAI
from app.core.identity import gb11643_check_char
from tests.e2e.test_admin_journey import sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "jiefang-demo"
MOBILE = "13900002468"
WRONG_LAST4 = "1357"
REPLY = "经实地核实，村道路灯已于本周全部修复，今后由村委会按月巡查。"
OVERDUE = re.compile(r"已逾期\d+天")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def resident_id(body: str) -> str:
    return body + gb11643_check_char(body)


def h1(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def card(page: Page, heading: str) -> Locator:
    """A section of the page, found by its heading."""
    return page.locator("section", has=page.get_by_role("heading", name=heading, exact=True))


@dataclass(frozen=True)
class StaffApi:
    """The JSON API with a staff member's Bearer token."""

    request: APIRequestContext
    base: str
    token: str

    @classmethod
    def signed_in(cls, request: APIRequestContext, base: str, username: str) -> StaffApi:
        answer = request.post(
            f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert answer.ok, answer.text()
        return cls(request, base, answer.json()["access_token"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.request.fetch(
            self.base + path,
            method=method,
            data=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.ok, f"{method} {path}: {answer.status} {answer.text()}"
        return answer.json()


@dataclass(frozen=True)
class Desk:
    """What the clerk takes from the organisation: a township and the 常务副县长's tenure
    (the demo's `leader`)."""

    township_id: int
    leader_tenure_id: int


def desk_of(api: StaffApi) -> Desk:
    county = api.call("GET", "/api/v1/units")[0]
    children = api.call("GET", f"/api/v1/units?parent_id={county['id']}")
    township = next(u for u in children if u["kind"] == "township")
    tenures = api.call("GET", f"/api/v1/units/{county['id']}/tenures?include_ended=false")
    leader = next(t for t in tenures if t["post_title"] == "常务副县长")
    return Desk(township["id"], leader["id"])


def register_petition(clerk: Page, base: str, desk: Desk) -> tuple[int, str]:
    """The clerk registers a petition that came in online on the intake page (the window's
    way; the JSON API does the same): its id and 诉求码."""
    clerk.goto(f"{base}/cases/new")
    expect(h1(clerk)).to_have_text("登记信访事项")
    clerk.get_by_label("信访形式").select_option("online")
    clerk.get_by_label("信访事项类型").select_option("suggestion")
    clerk.get_by_label("问题类别").fill("其他")
    clerk.get_by_label("主要内容").fill("反映村道路灯损坏多时无人维修，夜间出行不便。")
    clerk.get_by_label("属地单位").select_option(str(desk.township_id))
    clerk.locator("#f-p0_name").fill("林晓梅")
    clerk.locator("#f-p0_id_number").fill(resident_id("33082419850312041"))
    clerk.locator("#f-p0_mobile").fill(MOBILE)
    clerk.get_by_label("首接负责的领导").select_option(str(desk.leader_tenure_id))
    clerk.get_by_role("button", name="登记", exact=True).click()

    expect(clerk.locator(".alert-success")).to_contain_text("已登记信访事项，诉求码")
    code = h1(clerk).inner_text().split()[1]
    found = re.search(r"/cases/(\d+)$", clerk.url)
    assert found, clerk.url
    return int(found.group(1)), code


def replied_case(clerk: Page, base: str) -> tuple[int, str]:
    """A petition registered today by a petitioner whose mobile number we know, accepted
    and answered in writing (处理意见书) through the API."""
    api = StaffApi.signed_in(clerk.request, base, "clerk")
    case_id, code = register_petition(clerk, base, desk_of(api))
    on = today().isoformat()
    api.call("POST", f"/api/v1/cases/{case_id}/route", {"outcome": "accept", "on": on})
    step = {"status": "replied", "on": on, "text": REPLY}
    api.call("POST", f"/api/v1/cases/{case_id}/steps", step)
    return case_id, code


def look_up(page: Page, code: str, last4: str) -> None:
    page.get_by_role("textbox", name="诉求码").fill(code)
    page.get_by_label("手机号码后四位").fill(last4)
    page.get_by_role("button", name="查询").click()


@pytest.fixture
def clerk(browser: Browser, server_url: str) -> Iterator[Page]:
    """The window clerk, signed in at a desk-sized screen in a context of their own."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    sign_in(opened, server_url, "clerk")
    yield opened
    context.close()


# ---------------------------------------------------------------- the journeys


def test_a_leader_records_progress_on_an_overdue_case(page: Page, server_url: str) -> None:
    sign_in(page, server_url, "leader")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的包案").click()
    expect(h1(page)).to_have_text("我的包案")

    # Soonest deadline first: the demo's leader has overdue cases, so the list opens on
    # one, marked in words as well as in red.
    first = page.locator("ul.case-list > li").first
    expect(first).to_contain_text(OVERDUE)
    code = first.get_by_role("link").inner_text().strip()
    first.get_by_role("link").click()

    expect(h1(page)).to_contain_text(f"信访事项 {code}")
    expect(page.locator("ol.breadcrumb").get_by_role("link")).to_have_text("我的包案")
    expect(card(page, "法定期限")).to_contain_text(OVERDUE)

    day = today()
    note = f"{day.month}月{day.day}日走访核实，已约见信访人，协调村委会限期答复。"
    page.get_by_role("textbox", name="办理进展").fill(note)
    page.get_by_role("button", name="记录进展").click()

    expect(page.locator(".alert-success")).to_have_text("已记录办理进展。")
    latest = card(page, "办理过程").get_by_role("listitem").last
    expect(latest).to_contain_text("办理进展")
    expect(latest).to_contain_text(note)
    expect(latest).to_contain_text("内部")


def test_a_supervisor_drills_down_and_reads_the_red_black_list(page: Page, server_url: str) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, server_url, "supervisor")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="督查").click()
    expect(h1(page)).to_have_text("督查：超期与临期的包案事项")

    # The leader with the most overdue cases, and how many the board counts…
    row = card(page, "按包案领导").get_by_role("row").filter(has_text=re.compile(r"超期 \d+"))
    counted = re.search(r"超期 (\d+)", row.first.inner_text())
    assert counted, row.first.inner_text()
    leader = row.first.get_by_role("rowheader").inner_text().strip()
    row.first.get_by_role("link", name="查看案件").click()

    # …are the cases the drill-down marks overdue, under that leader's name.
    expect(h1(page)).to_have_text(f"{leader}包案的超期与临期事项")
    late = page.get_by_role("row").filter(has_text=re.compile(r"已超期 \d+ 日"))
    expect(late).to_have_count(int(counted.group(1)))
    expect(late.first.get_by_role("link")).to_have_text(re.compile(r"^[0-9A-Z]{10}$"))

    page.get_by_role("link", name="返回督查总览").click()
    page.get_by_role("navigation", name="督查").get_by_role("link", name="红黑榜").click()
    expect(h1(page)).to_contain_text("红黑榜")
    start = today() - dt.timedelta(days=90)
    page.get_by_label("排名对象").select_option(label="包案领导")
    page.get_by_label("起始日期").fill(start.isoformat())
    page.get_by_role("button", name="查看").click()

    expect(page).to_have_url(re.compile(r"[?&]by=leader"))
    expect(h1(page)).to_have_text(f"红黑榜（{start.isoformat()} 至 {today().isoformat()}）")
    expect(page.get_by_role("columnheader", name="领导", exact=True)).to_be_visible()
    top = page.get_by_role("table").get_by_role("row").nth(1)
    expect(top.get_by_role("cell").first).to_have_text("1")
    leader = top.get_by_role("rowheader").inner_text().strip()
    index_chart = page.get_by_role("img", name="综合指数")
    expect(index_chart).to_be_visible()
    expect(index_chart).to_contain_text(leader)
    expect(page.get_by_role("img", name="满意率")).to_be_visible()

    href = page.get_by_role("link", name="导出 CSV").get_attribute("href")
    assert href is not None and "by=leader" in href
    export = page.request.get(server_url + href)
    assert export.ok
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.body().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("名次,名称,榜单,综合指数,")
    assert any(line.startswith(f"1,{leader},") for line in lines[1:])


def test_a_citizen_tracks_a_case_and_is_not_satisfied(
    page: Page, clerk: Page, server_url: str
) -> None:
    case_id, code = replied_case(clerk, server_url)

    # A mistyped number gets the one message that tells nothing about the case.
    page.goto(f"{server_url}/track")
    expect(h1(page)).to_have_text("办理进度查询")
    look_up(page, code.lower(), WRONG_LAST4)
    expect(page.get_by_role("alert")).to_contain_text("诉求码与手机号后四位不匹配，请核对后再试。")
    expect(h1(page)).to_have_text("办理进度查询")
    expect(page.get_by_role("textbox", name="诉求码")).to_have_value(code.lower())

    look_up(page, code, MOBILE[-4:])
    expect(h1(page)).to_have_text("办理进度 已答复")
    expect(card(page, "当前状态")).to_contain_text(code)
    timeline = card(page, "办理过程")
    expect(timeline).to_contain_text("已登记")
    expect(timeline).to_contain_text(REPLY)

    page.get_by_label("不满意", exact=True).check()
    page.get_by_role("button", name="提交评价").click()

    expect(page.locator(".alert-success")).to_have_text(
        "感谢您的评价：不满意。我们已转督查部门跟踪。"
    )
    expect(card(page, "评价处理结果")).to_contain_text("您已评价：不满意。")
    expect(page.get_by_role("button", name="提交评价")).to_have_count(0)
    expect(timeline).to_contain_text("信访人评价：不满意")

    # The rating reached the staff: the case is flagged for the supervisors.
    clerk.goto(f"{server_url}/cases/{case_id}")
    expect(h1(clerk)).to_contain_text("信访人不满意，转督查")
