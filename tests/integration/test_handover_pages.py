"""离任交接 pages and API on SQLite and PostgreSQL, through HTTP as their users see them:
the office opens a handover on /handovers/new (each refusal shown in Chinese, nothing
saved), names the successor once appointed, the departing official writes the notes,
renders and signs, the successor and the office sign (a wrong PIN, a wrong password or the
wrong person signs nothing); who sees what (a reviewer nothing before the archive, a
leader who is neither party a 404); a case accusing the departing official never reaches
his page or PDF, only the discipline reviewer's; and the API's problem+json.

The county is the cases desk (tests/integration/cases_setup.py): 张建华 (`leader`) is
东山镇党委书记 — a post that requires a handover — and 副县长; 王明 (`wang`) 副县长 owns a case
accusing 张建华. Added here: 周新 (`zhou`), appointed 党委书记 from the effective date once
the handover announced 张建华's departure; 赵敏 (`banshi`), the office's signer; and a
组织部 reviewer (`zuzhi`). The app's clock is the fixtures' (Monday 2 March 2026, 09:00).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pdfplumber
import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.core.auth.access import Principal
from app.core.auth.models import Account, LoginAttempt
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import transaction
from app.core.holidays import calendar_for
from app.core.keys import KeyRing
from app.core.pdf import cjk_font
from app.core.personal_data import Secrets
from app.handover import services as handovers
from app.handover import sign_services as signing
from app.handover.models import Handover, HandoverSignature
from app.handover.workflow import HandoverStatus, Reason
from app.ledger.models import LedgerEntry
from app.org import services as org
from app.org.rules import ReceptionRole
from app.org.schemas import EndReason, PersonIn, PostIn, TenureEnd, TenureIn
from app.ownership.models import CaseOwner
from tests.integration.cases_setup import Cases, Desk, at, build_cases, intake
from tests.integration.conftest import PASSWORD, County, bearer
from tests.integration.sittings_setup import Factory, add_account, principal, sign_in

pytestmark = pytest.mark.skipif(cjk_font() is None, reason="no CJK font for the 交接书 PDF")

Client = AsyncTestClient[Litestar]
TODAY = dt.date(2026, 3, 2)
EFFECTIVE = dt.date(2026, 3, 16)
PIN = "135792"
PROBLEM = "application/problem+json"
SEEN = re.compile(r'name="seen_sha256" value="([0-9a-f]{64})"')


@dataclass(frozen=True)
class World:
    desk: Desk
    cases: Cases
    owned: list[str]  # codes of the three cases 张建华 owns as 党委书记
    accusing: str  # code of 王明's case accusing 张建华
    zhou: int  # 周新's person id
    banshi: int  # 赵敏's person id
    keys: signing.SigningKeys

    @property
    def factory(self) -> Factory:
        return self.desk.factory

    @property
    def departing(self) -> int:
        return self.cases.zhang_township_tenure

    @property
    def secretary_post(self) -> int:
        return self.cases.county.secretary_post


@pytest.fixture
async def world(factory: Factory, clock: FixedClock, county: County, keys_dir: Path) -> World:
    built = await build_cases(factory, clock, county)
    async with factory() as db:
        calendar = await calendar_for(db, county.county)
    desk = Desk(factory, Secrets(KeyRing(keys_dir)), built, calendar)
    admin = await principal(factory, clock, "admin")
    async with transaction(factory) as db:
        zhou = await org.create_person(
            db, admin, clock.now(), PersonIn("周新", "男", county.county)
        )
        zhao = await org.create_person(
            db, admin, clock.now(), PersonIn("赵敏", "女", county.county)
        )
    await add_account(factory, clock, "zhou", Role.leader, county.township, zhou.id)
    await add_account(factory, clock, "banshi", Role.office, county.county, zhao.id)
    await add_account(factory, clock, "zuzhi", Role.reviewer_organisation, county.county, None)
    clerk = await desk.actor("clerk")
    owned = [
        await desk.register(
            clerk, intake(built, owner_tenure_id=built.zhang_township_tenure, summary=f"事项{n}")
        )
        for n in range(3)
    ]
    accusing = await desk.register(
        clerk, intake(built, owner_tenure_id=built.wang_tenure, accused_person_ids=[built.zhang])
    )
    return World(
        desk,
        built,
        [c.code for c in owned],
        accusing.code,
        zhou.id,
        zhao.id,
        signing.SigningKeys.from_dir(keys_dir),
    )


# ---------------------------------------------------------------- helpers


async def post(client: Client, url: str, csrf: str, **data: object) -> Response:
    return await client.post(url, data={**data, "_csrf_token": csrf}, follow_redirects=False)


async def count(factory: Factory, model: type) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def actor(world: World, username: str) -> Principal:
    return await principal(world.factory, FixedClock(at(TODAY)), username)


async def open_interim(world: World) -> int:
    """The office opens 张建华's handover through the services, 王明 the interim receiver."""
    data = handovers.HandoverIn(
        world.departing, Reason.transfer, EFFECTIVE, world.cases.wang_tenure, True
    )
    async with transaction(world.factory) as db:
        opened = await handovers.open_handover(db, await actor(world, "office"), at(TODAY), data)
        return opened.id


async def appoint_zhou(world: World) -> int:
    """周新 takes the 党委书记 post from the effective date (possible once announced)."""
    admin = await actor(world, "admin")
    async with transaction(world.factory) as db:
        tenure = await org.appoint(
            db, admin, at(TODAY), TenureIn(world.zhou, world.secretary_post, EFFECTIVE)
        )
        return tenure.id


async def enrol(world: World, *usernames: str) -> None:
    for username in usernames:
        async with transaction(world.factory) as db:
            await signing.enrol(db, await actor(world, username), at(TODAY), world.keys, PIN)


async def ready(world: World) -> int:
    """Opened, 周新 named as successor, the 交接书 rendered, every signer enrolled."""
    handover_id = await open_interim(world)
    successor = await appoint_zhou(world)
    office = await actor(world, "office")
    async with transaction(world.factory) as db:
        data = handovers.ReceiverIn(successor, interim=False)
        await handovers.change_receiver(db, office, at(TODAY), handover_id, data)
    async with transaction(world.factory) as db:
        await signing.render(db, office, at(TODAY), handover_id, world.keys)
    await enrol(world, "leader", "zhou", "banshi")
    return handover_id


async def sign_as(world: World, username: str, handover_id: int) -> None:
    async with world.factory() as db:
        row = await db.get(Handover, handover_id)
        assert row is not None and row.pdf_sha256
        seen = row.pdf_sha256
    async with transaction(world.factory) as db:
        who = await actor(world, username)
        await signing.sign(db, who, at(TODAY), handover_id, world.keys, signing.SignIn(PIN, seen))


async def archived(world: World) -> int:
    handover_id = await ready(world)
    for username in ("leader", "zhou", "banshi"):
        await sign_as(world, username, handover_id)
    return handover_id


async def status_of(world: World, handover_id: int) -> str:
    async with world.factory() as db:
        row = await db.get(Handover, handover_id)
        assert row is not None
        return row.status


def pdf_text(data: bytes) -> str:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def seen_on(page: str) -> str:
    found = SEEN.search(page)
    assert found, "the signing form shows the document's SHA-256"
    return found.group(1)


# ---------------------------------------------------------------- the journey in pages


async def test_the_handover_goes_from_the_office_through_three_signatures_to_the_archive(
    client: Client, world: World
) -> None:
    csrf = await sign_in(client, "office")
    form = await client.get("/handovers/new")
    assert form.status_code == 200
    assert "张建华（东山镇党委书记）（须办理离任交接）" in form.text
    opened = await post(
        client,
        "/handovers/new",
        csrf,
        tenure_id=world.departing,
        reason="调任",
        effective_date=EFFECTIVE.isoformat(),
        receiver_tenure_id=world.cases.wang_tenure,
        interim="1",
    )
    assert opened.status_code == 303, opened.text
    url = opened.headers["location"]
    shown = await client.get(url)
    assert "已发起离任交接" in shown.text and "临时接收人" in shown.text
    assert all(code in shown.text for code in world.owned)

    successor = await appoint_zhou(world)
    changed = await post(client, f"{url}/receiver", csrf, receiver_tenure_id=successor)
    assert changed.status_code == 303, changed.text
    assert "接收方已改为周新（接任领导）" in (await client.get(url)).text

    csrf = await sign_in(client, "leader")
    noted = await post(
        client, f"{url}/notes", csrf, key_people="上塘村赵某，每月走访", risks="", unfinished=""
    )
    assert noted.status_code == 303, noted.text
    rendered = await post(client, f"{url}/render", csrf)
    assert rendered.status_code == 303, rendered.text
    page = (await client.get(url)).text
    assert "已生成交接书" in page and "上塘村赵某，每月走访" in page
    assert "设置签章密码" in page  # no signing PIN yet: the form sends him to set one

    key_page = await client.get(f"/signing-key?next={url}")
    assert key_page.status_code == 200 and "尚未设置签章密码" in key_page.text
    enrolled = await post(
        client, "/signing-key", csrf, password=PASSWORD, pin=PIN, pin_again=PIN, next=url
    )
    assert enrolled.status_code == 303 and enrolled.headers["location"] == url
    signed = await post(
        client,
        f"{url}/sign",
        csrf,
        password=PASSWORD,
        pin=PIN,
        seen_sha256=seen_on((await client.get(url)).text),
    )
    assert signed.status_code == 303, signed.text
    assert "现在等待接任领导签字" in (await client.get(url)).text

    await enrol(world, "zhou", "banshi")
    for username, expected in (("zhou", "现在等待组织/办公室签字"), ("banshi", "交接已归档")):
        csrf = await sign_in(client, username)
        seen = seen_on((await client.get(url)).text)
        done = await post(client, f"{url}/sign", csrf, password=PASSWORD, pin=PIN, seen_sha256=seen)
        assert done.status_code == 303, done.text
        assert expected in (await client.get(url)).text

    assert await status_of(world, int(url.rsplit("/", 1)[1])) == HandoverStatus.archived
    async with world.factory() as db:
        moved = await db.scalar(
            select(func.count())
            .select_from(CaseOwner)
            .where(CaseOwner.tenure_id == successor, CaseOwner.active.is_(True))
        )
    assert moved == 3
    listed = await client.get("/handovers")
    assert "已归档" in listed.text and 'href="/handovers"' in listed.text  # the menu entry


# ---------------------------------------------------------------- opening refused


@dataclass(frozen=True)
class Refusal:
    name: str
    message: str


async def ended_tenure(world: World) -> int:
    """李四's 乡镇长 tenure, ended last year."""
    admin = await actor(world, "admin")
    async with transaction(world.factory) as db:
        person = await org.create_person(
            db, admin, at(TODAY), PersonIn("李四", "男", world.cases.county.county)
        )
        tenure = await org.appoint(
            db,
            admin,
            at(TODAY),
            TenureIn(person.id, world.cases.county.deputy_post, dt.date(2024, 1, 2)),
        )
        await org.end_tenure(
            db, admin, at(TODAY), tenure.id, TenureEnd(dt.date(2025, 12, 31), EndReason.transfer)
        )
        return tenure.id


async def late_successor(world: World) -> tuple[int, int]:
    """A 机关党委书记 post held by two (not single-holder): 钱五 now, 孙六 from 1 May."""
    admin = await actor(world, "admin")
    unit = world.cases.county.department
    async with transaction(world.factory) as db:
        post_row = await org.create_post(
            db, admin, at(TODAY), PostIn(unit, "机关党委书记", ReceptionRole.none, False)
        )
        qian = await org.create_person(
            db, admin, at(TODAY), PersonIn("钱五", "男", world.cases.county.county)
        )
        sun = await org.create_person(
            db, admin, at(TODAY), PersonIn("孙六", "男", world.cases.county.county)
        )
        now_held = await org.appoint(
            db, admin, at(TODAY), TenureIn(qian.id, post_row.id, dt.date(2023, 5, 1))
        )
        later = await org.appoint(
            db, admin, at(TODAY), TenureIn(sun.id, post_row.id, dt.date(2026, 5, 1))
        )
        return now_held.id, later.id


async def refusal_form(world: World, case: str) -> dict[str, object]:
    base: dict[str, object] = {
        "tenure_id": world.departing,
        "reason": "调任",
        "effective_date": EFFECTIVE.isoformat(),
        "receiver_tenure_id": world.cases.wang_tenure,
        "interim": "1",
    }
    if case == "ended":
        base["tenure_id"] = await ended_tenure(world)
    elif case == "already_open":
        await open_interim(world)
    elif case == "past":
        base["effective_date"] = (TODAY - dt.timedelta(days=1)).isoformat()
    elif case == "self":
        base["receiver_tenure_id"] = world.cases.zhang_tenure
    elif case == "not_on_post":
        del base["interim"]
    elif case == "receiver_ended":
        base["receiver_tenure_id"] = await ended_tenure(world)
    elif case == "starts_late":
        departing, later = await late_successor(world)
        base.update(tenure_id=departing, receiver_tenure_id=later)
        del base["interim"]
    return base


REFUSALS = {
    "ended": "该任职已经结束，无需再办理离任交接",
    "already_open": "该任职已有一份正在办理的离任交接",
    "past": "离任日期不能早于发起交接的日期",
    "self": "接任人不能是离任领导本人",
    "not_on_post": "接任人未被任命到离任领导的同一职务",
    "receiver_ended": "接收人的任职在离任日期前已经结束",
    "starts_late": "接任人的任职须从离任日期（或更早）开始",
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_each_refusal_of_opening_is_shown_in_chinese_and_saves_nothing(
    client: Client, world: World, case: str
) -> None:
    form = await refusal_form(world, case)
    handovers_before = await count(world.factory, Handover)
    entries_before = await count(world.factory, LedgerEntry)
    csrf = await sign_in(client, "office")

    refused = await post(client, "/handovers/new", csrf, **form)

    assert refused.status_code == 422, refused.text
    assert REFUSALS[case] in refused.text
    assert "未能发起离任交接" in refused.text
    assert await count(world.factory, Handover) == handovers_before
    assert await count(world.factory, LedgerEntry) == entries_before


async def test_an_incomplete_opening_form_names_each_missing_field(
    client: Client, world: World
) -> None:
    csrf = await sign_in(client, "office")
    refused = await post(client, "/handovers/new", csrf, reason="", effective_date="3月16日")
    assert refused.status_code == 422
    for message in ("请选择离任领导的任职", "请选择离任原因", "离任日期格式不正确", "请选择接收方"):
        assert message in refused.text
    assert await count(world.factory, Handover) == 0


async def test_only_the_office_may_open_a_handover(client: Client, world: World) -> None:
    await sign_in(client, "leader")
    assert (await client.get("/handovers/new")).status_code == 403


# ---------------------------------------------------------------- signing refused


async def test_a_wrong_pin_signs_nothing(client: Client, world: World) -> None:
    handover_id = await ready(world)
    url = f"/handovers/{handover_id}"
    csrf = await sign_in(client, "leader")
    seen = seen_on((await client.get(url)).text)
    entries = await count(world.factory, LedgerEntry)

    refused = await post(
        client, f"{url}/sign", csrf, password=PASSWORD, pin="000000", seen_sha256=seen
    )

    assert refused.status_code == 422
    assert "签章密码不正确，未签字" in refused.text
    assert await status_of(world, handover_id) == HandoverStatus.rendered
    assert await count(world.factory, HandoverSignature) == 0
    assert await count(world.factory, LedgerEntry) == entries
    assert 'value="000000"' not in refused.text  # a PIN is never echoed back


async def test_a_wrong_password_signs_nothing_and_counts_as_a_failed_sign_in(
    client: Client, world: World
) -> None:
    handover_id = await ready(world)
    url = f"/handovers/{handover_id}"
    csrf = await sign_in(client, "leader")
    seen = seen_on((await client.get(url)).text)

    refused = await post(
        client, f"{url}/sign", csrf, password="not-my-password", pin=PIN, seen_sha256=seen
    )

    assert refused.status_code == 401
    assert "账号密码不正确，未签字" in refused.text
    assert await status_of(world, handover_id) == HandoverStatus.rendered
    async with world.factory() as db:
        failures = await db.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.username == "leader", LoginAttempt.succeeded.is_(False))
        )
    assert failures == 1


async def test_the_wrong_person_cannot_sign(client: Client, world: World) -> None:
    handover_id = await ready(world)
    url = f"/handovers/{handover_id}"
    async with world.factory() as db:
        row = await db.get(Handover, handover_id)
        assert row is not None and row.pdf_sha256
        seen = row.pdf_sha256
    csrf = await sign_in(client, "zhou")  # the successor, before the departing official
    page = await client.get(url)
    assert page.status_code == 200 and 'name="seen_sha256"' not in page.text
    assert "现在等待离任领导签字" in page.text

    refused = await post(client, f"{url}/sign", csrf, password=PASSWORD, pin=PIN, seen_sha256=seen)

    assert refused.status_code == 403
    assert "现在等待离任领导签字，您不能代签" in refused.text
    assert await count(world.factory, HandoverSignature) == 0

    csrf = await sign_in(client, "wang")  # neither party: the handover does not exist for him
    stranger = await post(client, f"{url}/sign", csrf, password=PASSWORD, pin=PIN, seen_sha256=seen)
    assert stranger.status_code == 404
    assert await status_of(world, handover_id) == HandoverStatus.rendered


async def test_a_late_archive_names_who_held_the_cases_in_between(
    client: Client, world: World, clock: FixedClock
) -> None:
    handover_id = await ready(world)
    await sign_as(world, "leader", handover_id)
    await sign_as(world, "zhou", handover_id)
    clock.advance(dt.timedelta(days=20))  # 22 March: the effective date (16 March) has passed
    url = f"/handovers/{handover_id}"
    csrf = await sign_in(client, "banshi")
    page = await client.get(url)
    assert "离任日期至今由谁负责这些信访事项" in page.text
    assert "张建华（离任领导）" in page.text and "周新（接任领导）" in page.text
    seen = seen_on(page.text)

    unnamed = await post(client, f"{url}/sign", csrf, password=PASSWORD, pin=PIN, seen_sha256=seen)
    assert unnamed.status_code == 422 and "离任日期已过" in unnamed.text
    assert await status_of(world, handover_id) == HandoverStatus.signed_receiving

    named = await post(
        client,
        f"{url}/sign",
        csrf,
        password=PASSWORD,
        pin=PIN,
        seen_sha256=seen,
        between_person_id=world.cases.zhang,
    )
    assert named.status_code == 303, named.text
    async with world.factory() as db:
        row = await db.get(Handover, handover_id)
    assert row is not None and row.status == HandoverStatus.archived
    assert row.between_person_id == world.cases.zhang


async def test_an_office_account_without_a_person_is_told_it_cannot_sign(
    client: Client, world: World
) -> None:
    handover_id = await ready(world)
    await sign_as(world, "leader", handover_id)
    await sign_as(world, "zhou", handover_id)
    await sign_in(client, "office")
    page = await client.get(f"/handovers/{handover_id}")
    assert "您的账号未关联人员" in page.text and 'name="seen_sha256"' not in page.text


async def test_the_office_withdraws_a_handover_before_it_is_archived(
    client: Client, world: World
) -> None:
    handover_id = await open_interim(world)
    url = f"/handovers/{handover_id}"
    csrf = await sign_in(client, "leader")
    assert "撤回离任交接" not in (await client.get(url)).text
    refused = await post(client, f"{url}/withdraw", csrf)
    assert refused.status_code == 403
    csrf = await sign_in(client, "office")
    withdrawn = await post(client, f"{url}/withdraw", csrf)
    assert withdrawn.status_code == 303
    page = (await client.get(url)).text
    assert "已撤回该离任交接" in page and "已撤回" in page and "撤回离任交接" not in page
    assert await status_of(world, handover_id) == HandoverStatus.withdrawn


# ---------------------------------------------------------------- who sees what


async def test_each_role_sees_only_what_it_may_before_the_archive(
    client: Client, world: World
) -> None:
    handover_id = await open_interim(world)
    url = f"/handovers/{handover_id}"
    for username in ("office", "leader", "wang"):  # 王明 is the interim receiver here
        await sign_in(client, username)
        assert (await client.get(url)).status_code == 200, username
        assert url in (await client.get("/handovers")).text, username
    for username in ("jiwei", "zuzhi", "zhou"):
        await sign_in(client, username)
        assert (await client.get(url)).status_code == 404, username
        assert (await client.get(f"{url}/document.pdf")).status_code == 404, username
        assert url not in (await client.get("/handovers")).text, username


async def test_after_the_archive_reviewers_see_it_and_a_leader_who_is_neither_party_does_not(
    client: Client, world: World
) -> None:
    handover_id = await archived(world)
    url = f"/handovers/{handover_id}"

    await sign_in(client, "wang")
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"{url}/document.pdf")).status_code == 404
    assert url not in (await client.get("/handovers/mine")).text

    await sign_in(client, "leader")
    mine = await client.get("/handovers/mine")
    assert url in mine.text and "我的离任交接" in mine.text

    entries = await count(world.factory, LedgerEntry)
    await sign_in(client, "zuzhi")
    listed = await client.get("/handovers")
    assert url in listed.text and "交接档案" in listed.text
    page = await client.get(url)
    assert page.status_code == 200 and "校验" in page.text and "已审阅" in page.text
    assert world.accusing not in page.text  # the organisation reviewer does not see it
    download = await client.get(f"{url}/document.pdf")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert await count(world.factory, LedgerEntry) == entries + 2  # read and download

    await sign_in(client, "jiwei")
    page = await client.get(url)
    assert "反映离任领导本人的信访事项（仅纪委可见）" in page.text
    assert world.accusing in page.text


async def test_a_departed_official_without_a_post_keeps_only_his_own_archived_copy(
    client: Client, world: World
) -> None:
    """§6 disables the account of an official left with no tenure; §7 lets him keep read
    access to his own archived handover: the disabled account signs in without any role
    and reaches that copy and nothing else."""
    admin = await actor(world, "admin")
    await world.desk.end_tenure(admin, world.cases.zhang_tenure, TODAY)  # no longer 副县长
    handover_id = await archived(world)
    url = f"/handovers/{handover_id}"
    async with world.factory() as db:
        account = await db.scalar(select(Account).where(Account.username == "leader"))
    assert account is not None and account.disabled

    await sign_in(client, "leader")
    home = (await client.get("/")).text
    assert "已停用" in home and 'href="/handovers/mine"' in home and 'href="/cases' not in home
    assert url in (await client.get("/handovers/mine")).text
    entries = await count(world.factory, LedgerEntry)
    assert (await client.get(url)).status_code == 200
    download = await client.get(f"{url}/document.pdf")
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    assert await count(world.factory, LedgerEntry) == entries + 2  # both accesses ledgered
    for elsewhere in ("/cases/mine", "/handovers/new", "/signing-key", "/rosters"):
        refused = await client.get(elsewhere)
        assert refused.status_code == 403, elsewhere
        assert "账号已停用，只能查阅本人的离任交接档案" in refused.text, elsewhere

    headers = await bearer(client, "leader")
    assert (await client.get(f"/api/v1/handovers/{handover_id}", headers=headers)).is_success
    key = await client.get("/api/v1/signing-key", headers=headers)
    assert key.status_code == 403 and key.headers["content-type"] == PROBLEM


async def test_a_reviewer_verifies_and_marks_the_archive_reviewed(
    client: Client, world: World
) -> None:
    handover_id = await archived(world)
    url = f"/handovers/{handover_id}"
    csrf = await sign_in(client, "jiwei")

    verified = await post(client, f"{url}/verify", csrf, checkpoint="")
    assert verified.status_code == 200, verified.text
    assert "校验通过" in verified.text, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", verified.text))[
        -2500:
    ]
    assert verified.text.count('class="ok"') == 5 and 'class="failed"' not in verified.text

    pasted = await post(client, f"{url}/verify", csrf, checkpoint="这不是检查点")
    assert "校验未通过" in pasted.text and "您提供的检查点无法验证" in pasted.text

    reviewed = await post(client, f"{url}/review", csrf, remark="已存档备查")
    assert reviewed.status_code == 303
    page = (await client.get(url)).text
    assert "已记录“已审阅”" in page and "已存档备查" in page
    again = await post(client, f"{url}/review", csrf, remark="再次")
    assert again.status_code == 409 and "您已以该身份审阅过本交接" in again.text


async def test_an_accused_officials_case_never_reaches_his_own_page_or_pdf(
    client: Client, world: World
) -> None:
    handover_id = await ready(world)
    url = f"/handovers/{handover_id}"
    await sign_in(client, "leader")

    page = await client.get(url)
    document = await client.get(f"{url}/document.pdf")

    assert all(code in page.text for code in world.owned)
    assert world.accusing not in page.text and "仅纪委可见" not in page.text
    assert document.status_code == 200
    text = pdf_text(document.content)
    assert all(code in text for code in world.owned)
    assert world.accusing not in text


# ---------------------------------------------------------------- the signing PIN page


async def test_the_signing_pin_needs_the_password_and_two_equal_entries(
    client: Client, world: World
) -> None:
    csrf = await sign_in(client, "leader")
    differ = await post(
        client, "/signing-key", csrf, password=PASSWORD, pin=PIN, pin_again="246802"
    )
    assert differ.status_code == 422 and "两次输入的签章密码不一致" in differ.text
    wrong = await post(client, "/signing-key", csrf, password="guess-1234", pin=PIN, pin_again=PIN)
    assert wrong.status_code == 401 and "账号密码不正确" in wrong.text
    short = await post(client, "/signing-key", csrf, password=PASSWORD, pin="123", pin_again="123")
    assert short.status_code == 422 and "签章密码至少需要 6 位" in short.text
    done = await post(client, "/signing-key", csrf, password=PASSWORD, pin=PIN, pin_again=PIN)
    assert done.status_code == 303 and done.headers["location"] == "/signing-key"
    shown = (await client.get("/signing-key")).text
    assert "已设置签章密码" in shown and "证书序列号" in shown

    await sign_in(client, "office")  # an account without a person has nothing to sign with
    assert "未关联人员" in (await client.get("/signing-key")).text


# ---------------------------------------------------------------- the API


def assert_problem(response: Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_the_api_answers_bad_input_with_problem_json(client: Client, world: World) -> None:
    office = await bearer(client, "office")
    api = "/api/v1/handovers"
    assert_problem(await client.post(api, json={}, headers=office), 422, "invalid-input")
    bad_reason = {
        "tenure_id": world.departing,
        "reason": "辞职",
        "effective_date": EFFECTIVE.isoformat(),
        "receiver_tenure_id": world.cases.wang_tenure,
        "interim": True,
    }
    assert_problem(await client.post(api, json=bad_reason, headers=office), 422, "invalid-input")
    past = {**bad_reason, "reason": "调任", "effective_date": "2026-03-01"}
    body = assert_problem(
        await client.post(api, json=past, headers=office), 422, "handover-refused"
    )
    assert "不能早于" in str(body["detail"])
    assert await count(world.factory, Handover) == 0

    leader = await bearer(client, "leader")
    assert_problem(
        await client.post(api, json={**past, "effective_date": "2026-03-16"}, headers=leader),
        403,
        "forbidden",
    )
    assert_problem(await client.get(f"{api}/999", headers=office), 404, "not-found")

    opened = await client.post(api, json={**past, "effective_date": "2026-03-16"}, headers=office)
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["status"] == "open" and len(body["dossier"]["cases"]) == 3
    assert world.accusing not in opened.text
    jiwei = await bearer(client, "jiwei")
    assert_problem(await client.get(f"{api}/{body['id']}", headers=jiwei), 404, "not-found")


async def test_the_api_signs_only_with_the_password_and_the_right_pin(
    client: Client, world: World
) -> None:
    handover_id = await ready(world)
    leader = await bearer(client, "leader")
    got = await client.get(f"/api/v1/handovers/{handover_id}", headers=leader)
    assert got.status_code == 200 and got.json()["awaited_step"] == "departing"
    seen = got.json()["pdf_sha256"]
    sign = f"/api/v1/handovers/{handover_id}/sign"

    body = {"password": "wrong-password", "pin": PIN, "seen_sha256": seen}
    assert_problem(await client.post(sign, json=body, headers=leader), 401, "invalid-credentials")
    body = {"password": PASSWORD, "pin": "000000", "seen_sha256": seen}
    assert_problem(await client.post(sign, json=body, headers=leader), 422, "wrong-pin")
    body = {"password": PASSWORD, "pin": PIN, "seen_sha256": "0" * 64}
    assert_problem(await client.post(sign, json=body, headers=leader), 409, "stale-document")
    assert_problem(await client.post(sign, json={"pin": PIN}, headers=leader), 422, "invalid-input")
    zhou = await bearer(client, "zhou")
    body = {"password": PASSWORD, "pin": PIN, "seen_sha256": seen}
    assert_problem(await client.post(sign, json=body, headers=zhou), 403, "forbidden")
    assert await count(world.factory, HandoverSignature) == 0

    signed = await client.post(sign, json=body, headers=leader)
    assert signed.status_code == 200, signed.text
    assert signed.json()["awaited_step"] == "receiving"
    assert [s["step"] for s in signed.json()["signatures"]] == ["departing"]


async def test_the_api_sets_a_signing_pin_and_marks_posts(client: Client, world: World) -> None:
    leader = await bearer(client, "leader")
    key = "/api/v1/signing-key"
    assert (await client.get(key, headers=leader)).json() == {
        "enrolled": False,
        "serial": None,
        "created_at": None,
    }
    short = {"password": PASSWORD, "pin": "12"}
    assert_problem(await client.put(key, json=short, headers=leader), 422, "invalid-input")
    wrong = {"password": "nope-nope", "pin": PIN}
    assert_problem(await client.put(key, json=wrong, headers=leader), 401, "invalid-credentials")
    done = await client.put(key, json={"password": PASSWORD, "pin": PIN}, headers=leader)
    assert done.status_code == 200 and done.json()["enrolled"] is True

    mark = f"/api/v1/posts/{world.cases.county.deputy_post}/handover-required"
    admin = await bearer(client, "admin")
    marked = await client.put(mark, json={"required": True}, headers=admin)
    assert marked.status_code == 200 and marked.json() == {
        "post_id": world.cases.county.deputy_post,
        "required": True,
    }
    assert_problem(
        await client.put(mark, json={"required": "yes"}, headers=admin), 422, "invalid-input"
    )
    assert_problem(
        await client.put(mark, json={"required": False}, headers=leader), 403, "forbidden"
    )


async def test_the_api_lets_reviewers_verify_download_and_review(
    client: Client, world: World
) -> None:
    handover_id = await archived(world)
    api = f"/api/v1/handovers/{handover_id}"
    jiwei = await bearer(client, "jiwei")
    listed = await client.get("/api/v1/handovers", headers=jiwei)
    assert [h["id"] for h in listed.json()] == [handover_id]

    verdict = await client.post(f"{api}/verify", json={}, headers=jiwei)
    assert verdict.status_code == 200, verdict.text
    body = verdict.json()
    assert body["ok"] is True and len(body["checks"]) == 5
    assert all(c["ok"] and c["label"] and c["detail"] for c in body["checks"])
    bad = await client.post(f"{api}/verify", json={"checkpoint": "garbage"}, headers=jiwei)
    assert bad.status_code == 200 and bad.json()["ok"] is False
    assert bad.json()["saved_checkpoint"] is True

    document = await client.get(f"{api}/document.pdf", headers=jiwei)
    assert document.status_code == 200 and document.content.startswith(b"%PDF")

    reviewed = await client.post(f"{api}/reviews", json={"remark": "存档"}, headers=jiwei)
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["verified_ok"] is False  # the last verification was the bad one
    reviews = await client.get(f"{api}/reviews", headers=jiwei)
    assert [r["remark"] for r in reviews.json()] == ["存档"]
    again = await client.post(f"{api}/reviews", json={"remark": "再次"}, headers=jiwei)
    assert_problem(again, 409, "duplicate")
    leader = await bearer(client, "leader")
    assert_problem(await client.post(f"{api}/reviews", json={}, headers=leader), 403, "forbidden")
    wang = await bearer(client, "wang")
    assert_problem(await client.get(f"{api}/reviews", headers=wang), 404, "not-found")
