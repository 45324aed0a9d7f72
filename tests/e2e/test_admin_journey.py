"""An admin's journey through the organisation pages in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.e2e

NEW_CODE = "339921099"


def sign_in(page: Page, base: str, username: str = "admin", password: str = "jiefang-demo") -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好")


def open_county(page: Page) -> str:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="组织机构").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("组织机构")
    page.get_by_role("link", name="青溪县", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("青溪县")
    return page.url


def open_child_form(page: Page) -> Locator:
    """Open the "新增下级单位" form from the unit page's actions and return it."""
    page.get_by_role("navigation", name="管理操作").get_by_role("link", name="新增下级单位").click()
    form = page.locator("details", has=page.locator("summary", has_text="新增下级单位"))
    expect(form.get_by_label("单位类别")).to_be_visible()
    return form


def children_named(page: Page, name: str) -> int:
    section = page.locator("section", has=page.get_by_role("heading", name="下级单位"))
    return section.get_by_role("link", name=name, exact=True).count()


def test_admin_adds_a_township_and_is_refused_a_duplicate(page: Page, server_url: str) -> None:
    sign_in(page, server_url)
    county_url = open_county(page)

    form = open_child_form(page)
    form.get_by_label("单位类别").select_option("township")
    form.get_by_label("单位代码").fill(NEW_CODE)
    form.get_by_label("单位名称").fill("新安镇")
    form.get_by_role("button", name="新增单位").click()

    expect(page).to_have_url(county_url)
    expect(page.locator(".alert-success")).to_have_text(f"已新增下级单位：新安镇（{NEW_CODE}）。")
    assert children_named(page, "新安镇") == 1

    # A village cannot sit directly under a county: the form does not even offer it…
    form = open_child_form(page)
    offered = (
        form.get_by_label("单位类别")
        .locator("option")
        .evaluate_all("options => options.map(o => o.value)")
    )
    assert "village" not in offered
    assert "township" in offered

    # …so try the other refusal: a second unit with the code just used.
    form.get_by_label("单位类别").select_option("township")
    form.get_by_label("单位代码").fill(NEW_CODE)
    form.get_by_label("单位名称").fill("新安乡")
    with page.expect_response(re.compile(r"/children$")) as answer:
        form.get_by_role("button", name="新增单位").click()
    assert answer.value.status == 409
    refused = page.locator("details", has=page.locator("summary", has_text="新增下级单位"))
    expect(refused.locator(".form-errors")).to_contain_text(f"单位代码 {NEW_CODE} 已被使用。")
    expect(refused.get_by_label("单位名称")).to_have_value("新安乡")

    page.goto(county_url)
    assert children_named(page, "新安乡") == 0
    assert children_named(page, "新安镇") == 1


def test_signed_out_visit_goes_to_login(page: Page, server_url: str) -> None:
    page.goto(f"{server_url}/admin/org")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)admin(/|%2F)org$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("登录")
