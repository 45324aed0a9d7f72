"""The reviewers' 台账核验 page, on SQLite and PostgreSQL: who may open it, the overview,
verifying proof bundles, checking a saved checkpoint before and after a database
administrator rewrites history, looking up one entry, and downloading its bundle."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import FixedClock
from app.core.db import transaction
from app.ledger import bundle, merkle
from app.ledger import services as ledger
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.models import Ledger, LedgerCheckpoint, LedgerEntry, LedgerNode
from app.org import services as org
from app.org.rules import UnitKind
from app.org.schemas import UnitIn
from tests.integration.conftest import PASSWORD, SYSTEM, County

Client = AsyncTestClient[Litestar]
Factory = async_sessionmaker[AsyncSession]


# ---------------------------------------------------------------- helpers


async def sign_in(client: Client, username: str) -> str:
    """Sign in through the login form; returns the CSRF token for later posts."""
    await client.get("/login")
    token = client.cookies.get("jiefang_csrf")
    assert token
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/ledger", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code in {302, 303}, response.text
    return token


async def county_ledger(factory: Factory, county_id: int | None) -> Ledger:
    async with factory() as db:
        return await ledger.ledger_for_county(db, county_id)


async def sign(
    factory: Factory, ledger_id: int, keys_dir: Path, clock: FixedClock
) -> LedgerCheckpoint:
    async with transaction(factory) as db:
        made = await make_checkpoint(db, ledger_id, signer(keys_dir), clock.now())
    assert made is not None
    return made


async def proof_bundle(factory: Factory, ledger_id: int, seq: int) -> dict[str, Any]:
    async with factory() as db:
        found = await ledger.get_ledger(db, ledger_id)
        return await ledger.proof_bundle(db, found, seq)


async def add_village(factory: Factory, clock: FixedClock, county: County, code: str) -> None:
    async with transaction(factory) as db:
        await org.create_unit(
            db, SYSTEM, clock.now(), UnitIn(UnitKind.village, code, "下塘村", county.township)
        )


async def ledger_sizes(factory: Factory) -> list[int]:
    async with factory() as db:
        return [int(found.size) for found in await ledger.ledgers(db)]


async def as_dba(db: AsyncSession) -> None:
    """A superuser switches the append-only triggers off for their transaction."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SET LOCAL session_replication_role = replica"))


async def rewrite_node(factory: Factory, ledger_id: int, level: int, idx: int) -> None:
    """A database administrator overwrites one stored hash."""
    forged = b"\x5a" * merkle.HASH_SIZE
    async with transaction(factory) as db:
        await as_dba(db)
        if level == 0:
            statement = (
                update(LedgerEntry)
                .where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq == idx)
                .values(leaf_hash=forged)
            )
        else:
            statement = (
                update(LedgerNode)
                .where(
                    LedgerNode.ledger_id == ledger_id,
                    LedgerNode.level == level,
                    LedgerNode.idx == idx,
                )
                .values(hash=forged)
            )
        assert (await db.execute(statement)).rowcount == 1  # type: ignore[attr-defined]


async def rewrite_history(factory: Factory, ledger_id: int, seq: int) -> None:
    """A database administrator edits one entry and recomputes every hash above it, so the
    stored tree agrees with itself again; only a checkpoint kept elsewhere can tell."""
    async with transaction(factory) as db:
        await as_dba(db)
        entry = ledger.entry_json(await ledger.get_entry(db, ledger_id, seq))
        entry["payload"][next(iter(entry["payload"]))] = "改写后的内容"
        leaf = rfc8785.dumps(entry)
        await db.execute(
            update(LedgerEntry)
            .where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq == seq)
            .values(leaf=leaf, leaf_hash=merkle.leaf_hash(leaf), payload=entry["payload"])
        )
        hashes = [
            bytes(found)
            for found in await db.scalars(
                select(LedgerEntry.leaf_hash)
                .where(LedgerEntry.ledger_id == ledger_id)
                .order_by(LedgerEntry.seq)
            )
        ]
        for node in await db.scalars(select(LedgerNode).where(LedgerNode.ledger_id == ledger_id)):
            start = int(node.idx) << int(node.level)
            node.hash = merkle.root(hashes[start : start + (1 << int(node.level))])


async def truncate(factory: Factory, ledger_id: int, keep: int) -> None:
    """A database administrator deletes every entry from `keep` on."""
    async with transaction(factory) as db:
        await as_dba(db)
        await db.execute(
            delete(LedgerEntry).where(LedgerEntry.ledger_id == ledger_id, LedgerEntry.seq >= keep)
        )


def check_lines(html: str, outcome: str) -> list[str]:
    """The text of the ✓ (outcome "pass") or ✗ ("fail") lines of a verdict."""
    items = re.findall(rf'<li class="{outcome}">(.*?)</li>', html, flags=re.S)
    return [re.sub(r"<[^>]+>|\s+", "", item) for item in items]


async def post_bundle(client: Client, token: str, content: bytes) -> Any:
    return await client.post(
        "/ledger/bundle",
        files={"bundle_file": ("bundle.json", content, "application/json")},
        data={"_csrf_token": token},
    )


# ---------------------------------------------------------------- who may open it


async def test_a_reviewer_sees_the_page_with_every_ledger_and_its_checkpoint(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    admin = await county_ledger(factory, None)
    made = await sign(factory, mine.id, keys_dir, clock)
    await sign_in(client, "jiwei")

    response = await client.get("/ledger")

    assert response.status_code == 200
    html = response.text
    assert '<a href="/ledger" class="active" aria-current="page">台账核验</a>' in html
    assert mine.origin in html and admin.origin in html and "测试县" in html
    assert f'href="/api/v1/ledger/{mine.id}/checkpoint"' in html
    assert f"{made.size} 条" in html
    assert "2026-03-02 09:00:00" in html  # the checkpoint's time, in Beijing time
    assert 'href="/api/v1/ledger/key"' in html
    assert "以后任何人都可以用它核对" in html
    downloaded = await client.get(f"/api/v1/ledger/{mine.id}/checkpoint")
    assert downloaded.text == made.note


@pytest.mark.parametrize("username", ["clerk", "leader"])
async def test_staff_who_are_not_reviewers_are_refused(
    client: Client, county: County, username: str
) -> None:
    await sign_in(client, username)

    response = await client.get("/ledger")
    home = await client.get("/")

    assert response.status_code == 403
    assert "无权" in response.text
    assert 'href="/ledger"' not in home.text


async def test_a_stranger_is_sent_to_the_login_page(client: Client, county: County) -> None:
    response = await client.get("/ledger/entry?ledger=1&seq=0", follow_redirects=False)

    assert response.status_code in {302, 303}
    assert response.headers["location"].startswith("/login?next=/ledger/entry")


async def test_posting_without_the_csrf_token_is_refused(client: Client, county: County) -> None:
    await sign_in(client, "jiwei")

    response = await client.post("/ledger/checkpoint", data={"checkpoint_text": "x"})

    assert response.status_code == 403


# ---------------------------------------------------------------- proof bundles


async def test_an_uploaded_bundle_verifies_and_shows_its_checkpoint_and_entry(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    made = await sign(factory, mine.id, keys_dir, clock)
    proof = await proof_bundle(factory, mine.id, 1)
    token = await sign_in(client, "jiwei")

    response = await post_bundle(client, token, bundle.dumps(proof))

    assert response.status_code == 200
    html = response.text
    assert "✓ 验证通过" in html
    assert "该证明有效" in html
    assert check_lines(html, "fail") == []
    assert len(check_lines(html, "pass")) >= 10
    assert bytes(made.root).hex() in html
    assert proof["entry"]["action"] in html
    assert proof["entry"]["subject"]["id"] in html
    for value in proof["entry"]["payload"].values():
        assert str(value) in html
    assert f"/ledger/entry?ledger={mine.origin.replace('/', '%2F')}&amp;seq=1" in html


async def test_a_bundle_with_an_edited_payload_shows_the_failing_check(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    await sign(factory, mine.id, keys_dir, clock)
    proof = await proof_bundle(factory, mine.id, 1)
    edited = copy.deepcopy(proof)
    field = next(iter(edited["entry"]["payload"]))
    edited["entry"]["payload"][field] = "篡改后的内容"
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/bundle", data={"bundle_text": json.dumps(edited), "_csrf_token": token}
    )

    assert response.status_code == 200
    html = response.text
    assert "✗ 验证未通过" in html
    failed = check_lines(html, "fail")
    assert len(failed) == 1
    assert failed[0].startswith("✗未通过：" + bundle.LABEL_ENTRY)
    assert "篡改后的内容" in html  # shown, but flagged as what the bundle merely claims
    assert "不能作为依据" in html


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "请选择证明包文件，或把其内容粘贴到文本框中。"),
        (b"   \n", "请选择证明包文件，或把其内容粘贴到文本框中。"),
        (b"this is not a bundle", "不是有效的 JSON"),
        (b"\xff\xfe\x00garbage", "不是 UTF-8 编码"),
        (b'{"format": "' + b"x" * (1024 * 1024) + b'"}', "超过 1 MB"),
    ],
)
async def test_unreadable_bundles_are_refused_with_a_chinese_message(
    client: Client, county: County, factory: Factory, content: bytes, message: str
) -> None:
    before = await ledger_sizes(factory)
    token = await sign_in(client, "jiwei")

    response = await post_bundle(client, token, content)

    assert response.status_code == 422
    assert message in response.text
    assert "未能核验" in response.text
    assert await ledger_sizes(factory) == before


async def test_a_pasted_json_that_is_no_bundle_gets_a_verdict(
    client: Client, county: County
) -> None:
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/bundle", data={"bundle_text": '{"hello": 1}', "_csrf_token": token}
    )

    assert response.status_code == 200
    assert "✗ 验证未通过" in response.text
    assert bundle.LABEL_FORMAT in check_lines(response.text, "fail")[0]


async def test_a_file_and_a_pasted_text_at_once_are_refused(client: Client, county: County) -> None:
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/bundle",
        files={"bundle_file": ("b.json", b"{}", "application/json")},
        data={"bundle_text": "{}", "_csrf_token": token},
    )

    assert response.status_code == 422
    assert "不要两样都提供" in response.text


# ---------------------------------------------------------------- saved checkpoints


async def saved_and_grown(
    factory: Factory, county: County, keys_dir: Path, clock: FixedClock
) -> tuple[Ledger, LedgerCheckpoint, LedgerCheckpoint]:
    """The county ledger, a checkpoint the reviewer kept, and a later one."""
    mine = await county_ledger(factory, county.county)
    saved = await sign(factory, mine.id, keys_dir, clock)
    await add_village(factory, clock, county, "990001001202")
    await add_village(factory, clock, county, "990001001203")
    latest = await sign(factory, mine.id, keys_dir, clock)
    assert 0 < saved.size < latest.size
    return mine, saved, latest


async def check_saved(client: Client, token: str, note: str) -> Any:
    return await client.post(
        "/ledger/checkpoint", data={"checkpoint_text": note, "_csrf_token": token}
    )


CONSISTENT = "✓ 今天的台账与您保存的检查点一致"
INCONSISTENT = "✗ 今天的台账与您保存的检查点不一致"


async def test_an_untouched_ledger_is_consistent_with_a_saved_checkpoint(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    _, saved, latest = await saved_and_grown(factory, county, keys_dir, clock)
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/checkpoint",
        files={"checkpoint_file": ("saved.txt", saved.note.encode(), "text/plain")},
        data={"_csrf_token": token},
    )

    assert response.status_code == 200
    html = response.text
    assert CONSISTENT in html
    assert "不一致" not in html
    assert check_lines(html, "fail") == []
    assert f"您保存的前{saved.size}条记录" in check_lines(html, "pass")[1]
    assert bytes(saved.root).hex() in html
    assert bytes(latest.root).hex() in html  # names the latest checkpoint
    assert "测试县" in html


async def test_a_rewritten_stored_node_is_reported_against_a_saved_checkpoint(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine, saved, latest = await saved_and_grown(factory, county, keys_dir, clock)
    # The first stored node of the consistency proof between the two checkpoints.
    start, end = merkle.consistency_ranges(int(saved.size), int(latest.size))[0]
    level, idx = merkle.range_nodes(start, end)[0]
    await rewrite_node(factory, mine.id, level, idx)
    token = await sign_in(client, "jiwei")

    response = await check_saved(client, token, saved.note)

    assert response.status_code == 200
    assert CONSISTENT not in response.text
    assert check_lines(response.text, "fail")
    assert "不一致" in response.text or "其他部分有问题" in response.text


async def test_history_rewritten_with_every_hash_recomputed_is_inconsistent(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine, saved, _ = await saved_and_grown(factory, county, keys_dir, clock)
    await rewrite_history(factory, mine.id, 1)
    token = await sign_in(client, "jiwei")

    response = await check_saved(client, token, saved.note)

    assert response.status_code == 200
    assert INCONSISTENT in response.text
    assert "被改写" in response.text


async def test_a_log_truncated_below_a_saved_checkpoint_is_inconsistent(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine, saved, _ = await saved_and_grown(factory, county, keys_dir, clock)
    await truncate(factory, mine.id, int(saved.size) - 2)
    token = await sign_in(client, "jiwei")

    response = await check_saved(client, token, saved.note)

    assert response.status_code == 200
    assert INCONSISTENT in response.text
    assert "截断" in response.text


@pytest.mark.parametrize(
    ("note", "status", "message"),
    [
        ("", 422, "请选择检查点文件"),
        ("随便写的一段话", 200, "检查点未通过签名验证"),
    ],
)
async def test_bad_checkpoints_get_a_chinese_message(
    client: Client, county: County, note: str, status: int, message: str
) -> None:
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/checkpoint", data={"checkpoint_text": note, "_csrf_token": token}
    )

    assert response.status_code == status
    assert message in response.text


async def test_a_checkpoint_with_a_forged_root_fails_its_signature(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    made = await sign(factory, mine.id, keys_dir, clock)
    lines = made.note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    token = await sign_in(client, "jiwei")

    response = await client.post(
        "/ledger/checkpoint", data={"checkpoint_text": "\n".join(lines), "_csrf_token": token}
    )

    assert response.status_code == 200
    assert "✗ 检查点签名无效" in response.text
    assert "签名无效" in response.text


# ---------------------------------------------------------------- one entry


async def test_the_entry_view_shows_the_entry_and_its_inclusion_to_a_reviewer(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    await sign_in(client, "jiwei")

    early = await client.get(f"/ledger/entry?ledger={mine.id}&seq=0")

    assert early.status_code == 200
    assert "暂时无法核验" in early.text
    assert "bundle.json" not in early.text

    await sign(factory, mine.id, keys_dir, clock)
    response = await client.get(f"/ledger/entry?ledger={mine.id}&seq=0")

    assert response.status_code == 200
    html = response.text
    async with factory() as db:
        entry = ledger.entry_json(await ledger.get_entry(db, mine.id, 0))
    assert entry["action"] in html
    assert "包含证明通过" in html
    assert "操作内容" in html
    assert f'href="/ledger/{mine.id}/entries/0/bundle.json"' in html
    by_code = await client.get("/ledger/entry?ledger=990001&seq=0")
    assert "包含证明通过" in by_code.text


async def test_outside_their_scope_a_reviewer_sees_only_the_leaf_hash(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    admin = await county_ledger(factory, None)
    await sign(factory, admin.id, keys_dir, clock)
    async with factory() as db:
        row = await ledger.get_entry(db, admin.id, 0)
    await sign_in(client, "jiwei")

    response = await client.get(f"/ledger/entry?ledger={admin.id}&seq=0")
    download = await client.get(f"/ledger/{admin.id}/entries/0/bundle.json")

    assert response.status_code == 200
    assert bytes(row.leaf_hash).hex() in response.text
    assert "只显示这条记录的叶子哈希" in response.text
    assert "操作内容" not in response.text
    assert "包含证明通过" in response.text
    assert "bundle.json" not in response.text
    assert download.status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("ledger=&seq=0", 422, "请选择台账"),
        ("ledger={id}&seq=abc", 422, "记录序号应为从 0 开始的整数"),
        ("ledger={id}&seq=-1", 422, "记录序号应为从 0 开始的整数"),
        ("ledger={id}&seq=999999", 404, "没有序号为 999999 的记录"),
        ("ledger=9999&seq=0", 404, "台账 9999 不存在"),
    ],
)
async def test_a_bad_lookup_says_why_in_chinese(
    client: Client, county: County, factory: Factory, query: str, status: int, message: str
) -> None:
    mine = await county_ledger(factory, county.county)
    await sign_in(client, "jiwei")

    response = await client.get("/ledger/entry?" + query.format(id=mine.id))

    assert response.status_code == status
    assert message in response.text
    assert "未能查看" in response.text


async def test_the_downloaded_bundle_is_accepted_by_the_offline_checker(
    client: Client,
    county: County,
    factory: Factory,
    keys_dir: Path,
    clock: FixedClock,
) -> None:
    mine = await county_ledger(factory, county.county)
    await sign(factory, mine.id, keys_dir, clock)
    token = await sign_in(client, "jiwei")

    response = await client.get(f"/ledger/{mine.id}/entries/2/bundle.json")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "entry-2-bundle.json" in response.headers["content-disposition"]
    verdict = bundle.check_bundle(response.content, verifiers(keys_dir))
    assert verdict.ok, verdict.summary()
    assert verdict.entry is not None and verdict.entry["seq"] == 2
    uploaded = await post_bundle(client, token, response.content)
    assert "✓ 验证通过" in uploaded.text


async def test_a_bundle_of_an_entry_not_yet_in_a_checkpoint_is_refused_in_chinese(
    client: Client, county: County, factory: Factory
) -> None:
    mine = await county_ledger(factory, county.county)
    await sign_in(client, "jiwei")

    response = await client.get(f"/ledger/{mine.id}/entries/0/bundle.json")

    assert response.status_code in {404, 422}
    assert "检查点" in response.text
