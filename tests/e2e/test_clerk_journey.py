"""The window on a phone-sized screen: a clerk books for a citizen who phones in and gets
the code and QR code; then registers a citizen who walks in to one of today's sittings
(the demo's rosters cover today), checks the walk-in in by the code on /queue, and the
venue's public board shows the queue number waiting to be called."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from app.core.identity import gb11643_check_char
from tests.e2e.test_admin_journey import sign_in
from tests.e2e.test_citizen_journey import first_listed

pytestmark = pytest.mark.e2e


def resident_id(body: str) -> str:
    return body + gb11643_check_char(body)


def open_booking(page: Page, base: str) -> None:
    page.goto(f"{base}/queue")
    page.get_by_role("link", name="电话预约、现场登记").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("电话预约、现场登记")


def first_sitting(page: Page, badge: str) -> Locator:
    return first_listed(page, lambda links: links.filter(has_text=badge), f"marked {badge!r}")


def fill_citizen(page: Page, name: str, mobile: str, id_number: str, summary: str) -> None:
    page.locator("#f-name").fill(name)
    page.locator("#f-mobile").fill(mobile)
    page.locator("#f-id_number").fill(id_number)
    page.locator("#f-topic").select_option(index=1)
    page.locator("#f-summary").fill(summary)


def test_a_clerk_books_by_phone_and_a_walk_in_reaches_the_board(
    page: Page, server_url: str
) -> None:
    sign_in(page, server_url, "clerk")
    open_booking(page, server_url)

    first_sitting(page, "电话预约：余").click()
    expect(page.get_by_role("heading", level=2, name="电话预约")).to_be_visible()
    fill_citizen(
        page, "陈小明", "13800138011", resident_id("33010219800101123"), "反映征地补偿问题"
    )
    page.locator("#f-slot input[type=radio]:not([disabled])").first.check()
    page.get_by_role("button", name="提交预约").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("预约凭证")
    code = page.locator(".booking-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{9}", code)
    expect(page.locator(".qr svg")).to_be_visible()
    expect(page.locator(".alert-success")).to_contain_text("确认短信已排入发送队列")
    expect(page.get_by_text("138****8011").first).to_be_visible()

    page.get_by_role("link", name="继续代群众预约").click()
    first_sitting(page, "可现场登记").click()
    fill_citizen(
        page, "周晓燕", "13800138012", resident_id("33010219800101124"), "反映拖欠工资问题"
    )
    page.get_by_role("button", name="登记并取号").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("现场登记")
    number = page.locator(".queue-number").inner_text().strip()
    assert re.fullmatch(r"\d+号", number)
    walk_in = page.locator(".booking-code").inner_text().strip()

    page.get_by_role("link", name="返回预约叫号").click()
    page.get_by_label("预约码").fill(walk_in.lower())
    page.get_by_role("button", name="签到并取号").click()
    expect(page.locator(".alert-success")).to_contain_text(f"周晓燕已签到，排队号：{number}")

    card = page.locator("section.queue", has_text="周晓燕")
    board = card.get_by_role("link", name="公共叫号屏").get_attribute("href")
    assert board is not None
    page.goto(server_url + board)
    waiting = page.locator("ol li", has_text="周*燕")
    expect(waiting).to_contain_text(number)
    expect(page.get_by_text("周晓燕")).to_have_count(0)
