"""A discipline reviewer checks the demo county's ledger in a real browser: looks up an
entry, downloads its offline proof bundle and the latest checkpoint, and has both verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_admin_journey import sign_in

pytestmark = pytest.mark.e2e


def open_ledger_page(page: Page) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="台账核验").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("台账核验")


def test_a_reviewer_proves_an_entry_and_checks_a_saved_checkpoint(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    sign_in(page, server_url, "jiwei")
    open_ledger_page(page)

    entry_form = page.locator("section#entry")
    county = entry_form.locator("option", has_text="/339921").get_attribute("value")
    assert county is not None
    entry_form.get_by_label("台账").select_option(county)
    entry_form.get_by_label("记录序号").fill("0")
    entry_form.get_by_role("button", name="查看记录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("查看记录")
    expect(page.locator("main")).to_contain_text("org.unit.created")
    expect(page.locator("section", has_text="是否包含在最新检查点中")).to_contain_text("✓")

    with page.expect_download() as bundle_download:
        page.get_by_role("link", name="下载离线证明包").click()
    bundle = tmp_path / "bundle.json"
    bundle_download.value.save_as(bundle)

    open_ledger_page(page)
    with page.expect_download() as checkpoint_download:
        page.locator("article", has_text="/339921").get_by_role(
            "link", name="下载最新检查点"
        ).click()
    checkpoint = tmp_path / "checkpoint.txt"
    checkpoint_download.value.save_as(checkpoint)

    page.locator("section#bundle").get_by_label("上传证明包文件").set_input_files(bundle)
    page.locator("section#bundle").get_by_role("button", name="核验证明包").click()
    expect(page.get_by_role("heading", name="验证通过")).to_be_visible()
    expect(page.locator("main")).to_contain_text("该证明有效")

    open_ledger_page(page)
    page.locator("section#checkpoint").get_by_label("上传检查点文件").set_input_files(checkpoint)
    page.locator("section#checkpoint").get_by_role("button", name="核对检查点").click()
    expect(page.locator("main")).to_contain_text("一致")
