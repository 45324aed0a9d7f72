"""A departure handover (信访工作离任交接) in a real browser, start to archive: the office
opens it for a township 党委书记 and names the successor once appointed; the departing
official writes the notes, generates the 交接书 and signs; the successor and the office
sign; a 纪委 reviewer verifies it (every check ✓) and marks it reviewed, then downloads the
PDF, whose text has the document's headings and every listed case code. Each signer sets a
signing PIN first on /signing-key.

The journey archives a handover and re-plans sittings, so it runs on a server of its own
(the demo county, plus the accounts and cases seeded below through the services); the
shared demo server stays as the other journeys expect it. The server's "today" is the real
date in Asia/Shanghai.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pdfplumber
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import services as auth
from app.core.auth.access import Principal, system_principal
from app.core.auth.models import Account
from app.core.auth.roles import Role
from app.core.clock import SHANGHAI
from app.core.db import create_engine, session_factory, transaction
from app.core.holidays import calendar_for
from app.core.identity import IdType, gb11643_check_char
from app.core.keys import KeyRing
from app.core.personal_data import Secrets
from app.core.settings import load_settings
from app.handover.models import Handover
from app.handover.workflow import UNDER_WAY
from app.org import services as org
from app.org.models import Post, Tenure, Unit
from app.org.schemas import PersonIn
from app.ownership import services as cases
from app.ownership.petitioners import PetitionerIn
from app.ownership.workflow import Channel, Kind
from tests.e2e.conftest import (
    JIEFANG,
    STARTUP_SECONDS,
    _environment,
    _free_port,
    _jiefang,
    _wait_until_up,
)

pytestmark = pytest.mark.e2e

PASSWORD = "jiefang-demo"
PINS = {"shuji": "720415", "jieren": "830526", "bangongshi": "940637"}
NOTES = "上塘片区征地户三户，每月走访一次；村道改造补偿未发放到位，须跟进。"
REMARK = "已核对交接书与台账，存档备查。"
HEADINGS = (
    "信访工作离任交接书",
    "一、交接基本情况",
    "二、包案信访事项",
    "三、积案",
    "四、待办交办事项",
    "五、今后接访安排及预约",
    "六、任期信访工作情况",
    "七、重点人员、风险隐患、未尽事项",
    "八、签字",
)
CODE = re.compile(r"^[0-9A-Z]{10}$")


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


# ---------------------------------------------------------------- seeding the county


@dataclass(frozen=True)
class Seeded:
    departing_tenure: int  # a township 党委书记 who also holds another post
    departing_name: str
    post_id: int
    interim_tenure: int  # the same township's head: the interim receiver at opening
    successor_person: int
    successor_name: str
    codes: list[str]  # the cases registered for the departing secretary


async def _secretary(db: AsyncSession) -> Tenure:
    """A township 党委书记 with a second open tenure (兼人大主席), so the account stays in
    use after the archive, and with no handover under way."""
    busy = select(Handover.tenure_id).where(Handover.status.in_([str(s) for s in UNDER_WAY]))
    candidates = await db.scalars(
        select(Tenure)
        .join(Post, Post.id == Tenure.post_id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(
            Post.title == "党委书记",
            Unit.kind == "township",
            Tenure.end_date.is_(None),
            Tenure.id.not_in(busy),
        )
        .order_by(Tenure.id)
    )
    for tenure in list(candidates):
        if len(await org.open_tenures_of(db, tenure.person_id)) >= 2:
            return tenure
    raise AssertionError("the demo county has a township secretary with two posts")


async def _head_of(db: AsyncSession, unit_id: int, not_person: int) -> Tenure:
    found = await db.scalar(
        select(Tenure)
        .join(Post, Post.id == Tenure.post_id)
        .where(
            Post.unit_id == unit_id,
            Tenure.end_date.is_(None),
            Tenure.person_id != not_person,
        )
        .order_by(Post.id)
    )
    assert found is not None
    return found


async def _account(
    db: AsyncSession, username: str, role: Role, scope: int, person: int, name: str
) -> None:
    await auth.create_account(
        db,
        system_principal("e2e"),
        dt.datetime.now(dt.UTC),
        username=username,
        password=PASSWORD,
        display_name=name,
        roles=[role],
        scope_unit_id=scope,
        person_id=person,
    )


async def _clerk(db: AsyncSession) -> Principal:
    account = await db.scalar(select(Account).where(Account.username == "clerk"))
    assert account is not None
    found = await auth.principal_for(db, account.id, dt.datetime.now(dt.UTC))
    assert found is not None
    return found


def _petitioner(n: int) -> PetitionerIn:
    body = f"33082419800512{n:03d}"
    return PetitionerIn(f"方志{n}", IdType.resident, body + gb11643_check_char(body), "")


async def _register(db: AsyncSession, keys_dir: Path, tenure: Tenure, n: int) -> str:
    unit = tenure.post.unit
    intake = cases.Intake(
        channel=Channel.letter,
        kind=Kind.suggestion,
        category="其他",
        summary=f"反映村里第{n + 1}处道路破损，请求修复。",
        territorial_unit_id=unit.id,
        received_on=today(),
        profile="national-2022",
        petitioners=[_petitioner(n)],
        owner_tenure_id=tenure.id,
    )
    case = await cases.register(
        db,
        await _clerk(db),
        dt.datetime.now(dt.UTC),
        Secrets(KeyRing(keys_dir)),
        await calendar_for(db, unit.county_id),
        intake,
    )
    return case.code


async def seed(var_dir: Path) -> Seeded:
    settings = load_settings({"JIEFANG_VAR_DIR": str(var_dir)})
    engine = create_engine(settings)
    system, now = system_principal("e2e"), dt.datetime.now(dt.UTC)
    try:
        async with transaction(session_factory(engine)) as db:
            departing = await _secretary(db)
            unit = departing.post.unit
            county = unit.county_id or unit.id
            head = await _head_of(db, unit.id, departing.person_id)
            successor = await org.create_person(db, system, now, PersonIn("陆志远", "男", county))
            signer = await org.create_person(db, system, now, PersonIn("顾文静", "女", county))
            await _account(db, "shuji", Role.leader, county, departing.person_id, "离任书记")
            await _account(db, "jieren", Role.leader, county, successor.id, "接任书记")
            await _account(db, "bangongshi", Role.office, county, signer.id, "县委办 顾文静")
            codes = [await _register(db, settings.keys_dir, departing, n) for n in range(3)]
            return Seeded(
                departing.id,
                departing.person.name,
                departing.post_id,
                head.id,
                successor.id,
                successor.name,
                codes,
            )
    finally:
        await engine.dispose()


def seed_in_thread(var_dir: Path) -> Seeded:
    """Playwright's sync driver keeps an event loop of its own: seed in another thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, seed(var_dir)).result()


# ---------------------------------------------------------------- a server of its own


@dataclass(frozen=True)
class Site:
    base: str
    env: dict[str, str]
    seeded: Seeded


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    var_dir = tmp_path_factory.mktemp("jiefang-handover")
    env = _environment(var_dir)
    _jiefang(env, "keys", "init")
    _jiefang(env, "db", "upgrade")
    _jiefang(env, "demo", "load")
    seeded = seed_in_thread(var_dir)
    port = _free_port()
    log = var_dir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(JIEFANG), "serve", "--host", "127.0.0.1", "--port", str(port), "--with-worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{base}/login", log)
        yield Site(base, env, seeded)
    finally:
        server.terminate()
        try:
            server.wait(timeout=STARTUP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---------------------------------------------------------------- people at their screens


@pytest.fixture
def desks(browser: Browser) -> Iterator[dict[str, Page]]:
    """One desk-sized browser context per person (no shared cookies)."""
    contexts: list[BrowserContext] = []
    pages: dict[str, Page] = {}
    for who in ("bangongshi", "shuji", "jieren", "jiwei"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.set_default_timeout(30_000)
        contexts.append(context)
        pages[who] = context.new_page()
    yield pages
    for context in contexts:
        context.close()


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好")


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=label).click()


def set_pin(page: Page, username: str) -> None:
    """On /signing-key: the account password again, the PIN twice; a page that sent the
    signer here gets them back."""
    expect(page.get_by_role("heading", level=1)).to_have_text("签章密码")
    page.locator("#f-password").fill(PASSWORD)
    page.locator("#f-pin").fill(PINS[username])
    page.locator("#f-pin_again").fill(PINS[username])
    page.get_by_role("button", name="保存签章密码").click()
    expect(page.locator(".alert-success")).to_contain_text("已设置签章密码")


def sign_document(page: Page, username: str, submit: str = "签字") -> None:
    """The signing form: the SHA-256 shown is the one submitted; password and PIN again."""
    form = page.locator("section#form-sign")
    shown = form.locator("#seen-sha256").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", shown)
    assert form.locator("input[name=seen_sha256]").get_attribute("value") == shown
    form.locator("#f-password").fill(PASSWORD)
    form.locator("#f-pin").fill(PINS[username])
    form.get_by_role("button", name=submit, exact=True).click()


def dossier(page: Page) -> Locator:
    return page.locator("section", has=page.locator("#h-dossier"))


def open_own(page: Page, label: str, name: str) -> None:
    nav(page, label)
    page.get_by_role("row", name=re.compile(name)).get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("离任交接 第")


# ---------------------------------------------------------------- the journey


def appoint_successor(page: Page, site: Site, effective: dt.date) -> int:
    """The county admin appoints the successor to the post from the effective date (the
    opening announced the secretary's departure, so the single-holder post allows it)."""
    answer = page.request.post(
        f"{site.base}/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}
    )
    assert answer.ok, answer.text()
    token = answer.json()["access_token"]
    made = page.request.post(
        f"{site.base}/api/v1/tenures",
        data={
            "person_id": site.seeded.successor_person,
            "post_id": site.seeded.post_id,
            "start_date": effective.isoformat(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.ok, made.text()
    tenure: int = made.json()["id"]
    return tenure


def office_opens(page: Page, site: Site, effective: dt.date) -> str:
    sign_in(page, site.base, "bangongshi")
    nav(page, "离任交接")
    page.get_by_role("link", name="发起离任交接").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("发起离任交接")
    page.get_by_label("离任领导").select_option(str(site.seeded.departing_tenure))
    page.get_by_label("离任原因").select_option("调任")
    page.get_by_label("离任日期").fill(effective.isoformat())
    page.get_by_label("接收方").select_option(str(site.seeded.interim_tenure))
    page.get_by_label("接任领导尚未任命").check()
    page.get_by_role("button", name="发起离任交接").click()
    expect(page.locator(".alert-success")).to_contain_text("已发起离任交接")
    for code in site.seeded.codes:
        expect(dossier(page)).to_contain_text(code)
    return page.url


def office_names_the_successor(page: Page, successor_tenure: int, name: str) -> None:
    page.reload()
    form = page.locator("section#form-receiver")
    form.get_by_label("新的接收方").select_option(str(successor_tenure))
    form.get_by_role("button", name="更换接收方").click()
    expect(page.locator(".alert-success")).to_contain_text(f"接收方已改为{name}（接任领导）")


def departing_writes_and_signs(page: Page, site: Site, url: str) -> None:
    sign_in(page, site.base, "shuji")
    open_own(page, "我的离任交接", site.seeded.departing_name)
    assert page.url == url
    page.get_by_label("重点人员").fill(NOTES)
    page.get_by_role("button", name="保存交接事项").click()
    expect(page.locator(".alert-success")).to_contain_text("已保存交接事项")
    page.get_by_role("button", name="生成交接书").click()
    expect(page.locator(".alert-success")).to_contain_text("已生成交接书")
    signing = page.locator("section#form-sign")
    expect(signing).to_contain_text("您还没有设置签章密码")
    signing.get_by_role("link", name="设置签章密码").click()
    set_pin(page, "shuji")  # and back to the handover
    assert page.url == url
    expect(page.locator("section#form-sign")).to_contain_text("待签文件 SHA-256")
    sign_document(page, "shuji")
    expect(page.locator(".alert-success")).to_contain_text("现在等待接任领导签字")


def successor_signs(page: Page, site: Site) -> None:
    sign_in(page, site.base, "jieren")
    nav(page, "签章密码")
    set_pin(page, "jieren")
    open_own(page, "我的离任交接", site.seeded.departing_name)
    expect(dossier(page)).to_contain_text(NOTES)
    sign_document(page, "jieren")
    expect(page.locator(".alert-success")).to_contain_text("现在等待组织/办公室签字")


def office_signs(page: Page, url: str) -> None:
    nav(page, "签章密码")
    set_pin(page, "bangongshi")
    page.goto(url)
    sign_document(page, "bangongshi", submit="签字并归档")
    expect(page.locator(".alert-success")).to_contain_text("交接已归档：3 件包案事项已移交")
    expect(page.get_by_role("heading", level=1)).to_contain_text("已归档")


def reviewer_verifies_and_reviews(page: Page, site: Site, url: str) -> list[str]:
    sign_in(page, site.base, "jiwei")
    nav(page, "交接档案")
    page.locator(f'a[href="{url.removeprefix(site.base)}"]').click()
    codes = [c.strip() for c in page.locator(".case-code").all_inner_texts()]
    assert set(site.seeded.codes) <= set(codes)
    verify = page.locator("section#verify")
    verify.get_by_role("button", name="校验").click()
    expect(page.locator("#h-verdict")).to_have_text("校验通过")
    checks = page.locator("ul.checks > li")
    expect(checks).to_have_count(5)
    for n in range(5):
        expect(checks.nth(n)).to_contain_text("✓")
        expect(checks.nth(n)).not_to_contain_text("✗")
    expect(page.locator("ul.checks")).not_to_contain_text("待检查点覆盖")
    review = page.locator("section#review")
    review.get_by_label("审阅意见").fill(REMARK)
    review.get_by_role("button", name="已审阅").click()
    expect(page.locator(".alert-success")).to_contain_text("已记录“已审阅”")
    expect(page.locator("section#review")).to_contain_text(REMARK)
    return codes


def downloaded_text(page: Page, tmp_path: Path) -> str:
    with page.expect_download() as download:
        page.get_by_role("link", name="下载交接书（PDF）").click()
    saved = tmp_path / "jiaojieshu.pdf"
    download.value.save_as(saved)
    with pdfplumber.open(io.BytesIO(saved.read_bytes())) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages)


def test_a_township_secretary_hands_over_and_the_discipline_reviewer_verifies(
    site: Site, desks: dict[str, Page], tmp_path: Path
) -> None:
    effective = today() + dt.timedelta(days=14)
    office = desks["bangongshi"]

    url = office_opens(office, site, effective)
    successor_tenure = appoint_successor(office, site, effective)
    office_names_the_successor(office, successor_tenure, site.seeded.successor_name)
    departing_writes_and_signs(desks["shuji"], site, url)
    successor_signs(desks["jieren"], site)
    office_signs(office, url)
    # The archive's entries are signed into a checkpoint, as the worker does periodically.
    _jiefang(site.env, "ledger", "checkpoint")

    reviewer = desks["jiwei"]
    codes = reviewer_verifies_and_reviews(reviewer, site, url)
    text = downloaded_text(reviewer, tmp_path)
    for heading in HEADINGS:
        assert heading in text, heading
    assert codes and all(CODE.match(code) for code in codes)
    for code in codes:
        assert code in text, code
