"""An admin's roster journey in a real browser: a county leader falls ill for two weeks,
the admin marks the absence, re-plans with one click, sees exactly which sittings change
and publishes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_admin_journey import sign_in

pytestmark = pytest.mark.e2e

COUNTY_RULE = "县领导坐班接访"
SOLVE_SECONDS = 90_000


def next_month(today: dt.date) -> dt.date:
    return dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)


def first_county_sitting(page: Page, base: str, month: dt.date) -> tuple[dt.date, str]:
    """The first county-leader sitting of a month in the published roster."""
    page.goto(f"{base}/rosters/month?month={month:%Y-%m}&person=all")
    cell = page.locator("td:not(.other-month)", has=page.locator(".s-rule", has_text=COUNTY_RULE))
    first = cell.first
    day = int(first.locator(".day-no").inner_text())
    item = first.locator("li", has=page.locator(".s-rule", has_text=COUNTY_RULE)).first
    return month.replace(day=day), item.locator(".s-person").inner_text()


def mark_away(page: Page, base: str, person: str, first: dt.date, last: dt.date) -> None:
    page.goto(f"{base}/rosters/unavailability")
    form = page.locator("#add")
    form.get_by_label("人员").select_option(label=person)
    form.get_by_label("开始日期").fill(first.isoformat())
    form.get_by_label("结束日期").fill(last.isoformat())
    form.get_by_label("原因").select_option("请假")
    form.get_by_role("button", name="登记").click()
    expect(page.locator(".alert-success")).to_be_visible()


def test_admin_replans_after_a_leader_falls_ill_and_publishes(page: Page, server_url: str) -> None:
    sign_in(page, server_url)
    month = next_month(dt.date.today())
    day, leader = first_county_sitting(page, server_url, month)
    last = day + dt.timedelta(days=13)
    mark_away(page, server_url, leader, day, last)

    page.goto(f"{server_url}/rosters")
    page.get_by_role("button", name="按最新变化调整排班").click()
    expect(page).to_have_url(re.compile(r"/rosters/\d+$"))
    diff = page.locator("#diff")
    expect(diff).to_be_visible(timeout=SOLVE_SECONDS)
    expect(page.get_by_role("heading", name=re.compile("求解结果"))).to_contain_text("最优")

    removed = diff.locator("table.change-removed tbody tr")
    added = diff.locator("table.change-added tbody tr")
    assert removed.count() >= 1 and removed.count() == added.count()
    for row in removed.all():
        cells = row.locator("td").all_inner_texts()
        held = dt.date.fromisoformat(cells[0].split()[0])
        assert day <= held <= last and cells[2] == leader, cells
    expect(removed.first.locator("td").first).to_contain_text(day.isoformat())
    assert all(leader not in text for text in added.all_inner_texts())

    page.once("dialog", lambda dialog: dialog.accept())
    diff.get_by_role("button", name="发布排班").click()
    expect(page.locator(".alert-success")).to_be_visible()

    page.goto(f"{server_url}/rosters/month?month={month:%Y-%m}&person=all")
    cell = page.locator("td:not(.other-month)").nth(day.day - 1)
    expect(cell.locator(".day-no")).to_have_text(str(day.day))
    expect(cell).not_to_contain_text(leader)
