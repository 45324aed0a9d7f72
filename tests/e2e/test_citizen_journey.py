"""A citizen books a face-to-face meeting on a phone: picks a sitting, verifies the mobile
number with the code the SMS outbox received, books, gets the code, QR code and .ics
invitation, and cancels."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.test_admin_journey import sign_in

pytestmark = pytest.mark.e2e

MOBILE = "13800138000"
RESIDENT_ID = "11010519491231002X"  # the standard's own example, valid check digit


MORE_PAGES = 10


def first_listed(page: Page, narrow: Callable[[Locator], Locator], what: str) -> Locator:
    """The first sitting on the list that `narrow` keeps, following "更多" if need be."""
    for _ in range(MORE_PAGES):
        found = narrow(page.locator("a.sitting-link"))
        if found.count():
            return found.first
        more = page.get_by_role("link", name="更多接访安排")
        if not more.count():
            break
        more.click()
    pytest.fail(f"no sitting {what} in the booking window")


def bookable_sitting(page: Page, base: str) -> str:
    """The first sitting whose online booking is still open. After 17:00 on a Monday,
    Tuesday's village sittings alone (all closed by then) fill the first page."""
    page.goto(f"{base}/yuyue")
    expect(page.locator("a.sitting-link").first).to_be_visible()
    found = first_listed(
        page, lambda links: links.filter(has_not_text="截止").filter(has_not_text="约满"), "open"
    )
    href = found.get_attribute("href")
    assert href is not None
    return base + href


def code_from_outbox(browser: Browser, base: str) -> str:
    """What the SMS said, read where the built-in sender delivers: the admin's outbox."""
    context = browser.new_context(locale="zh-CN")
    staff = context.new_page()
    sign_in(staff, base)
    staff.goto(f"{base}/outbox")
    row = staff.locator("tr", has_text=MOBILE[:3] + "****" + MOBILE[-4:]).first
    found = re.search(r"验证码(\d{6})", row.inner_text())
    context.close()
    assert found, "the one-time code reached the outbox"
    return found.group(1)


def test_a_citizen_books_online_and_cancels(page: Page, browser: Browser, server_url: str) -> None:
    page.goto(bookable_sitting(page, server_url))
    page.get_by_label("手机号码").fill(MOBILE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".alert-success")).to_contain_text("验证码已发送至")

    page.get_by_label("短信验证码").fill(code_from_outbox(browser, server_url))
    page.get_by_role("button", name="验证", exact=True).click()
    expect(page.get_by_text("已验证", exact=True)).to_be_visible()

    page.locator("#f-name").fill("陈小明")
    page.locator("#f-id_number").fill(RESIDENT_ID)
    page.locator("#f-topic").select_option(index=1)
    page.locator("#f-summary").fill("反映村道修缮资金使用问题")
    page.locator("#f-slot input[type=radio]").first.check()
    page.get_by_role("button", name="提交预约").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("预约凭证")
    code = page.locator(".booking-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{9}", code)
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.get_by_text("110***********002X")).to_be_visible()
    invite = page.request.get(f"{server_url}/yuyue/bookings/{code}/invite.ics")
    assert invite.ok and f"UID:booking-{code}@" in invite.text()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="取消预约").click()
    expect(page.get_by_text("本预约已取消")).to_be_visible()
    cancelled = page.request.get(f"{server_url}/yuyue/bookings/{code}/invite.ics").text()
    assert "STATUS:CANCELLED" in cancelled and "SEQUENCE:1" in cancelled
