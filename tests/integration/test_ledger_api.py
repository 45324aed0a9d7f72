"""The ledger API, on SQLite and PostgreSQL: anyone can check checkpoints and proofs with
the served key; whole entries are for reviewers and admins of the ledger's county."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core import db as db_module
from app.core.db import read_only_factory, session_factory, transaction
from app.ledger import merkle
from app.ledger.bundle import check_bundle
from app.ledger.cache import ProofCache
from app.ledger.checkpoints import make_checkpoint, signer, verifiers
from app.ledger.note import Checkpoint, Verifier, open_checkpoint
from tests.integration.conftest import County, bearer

Client = AsyncTestClient[Litestar]
API = "/api/v1/ledger"
HASH_ONLY = {"ledger", "origin", "seq", "leaf_hash"}


async def ledgers(client: Client) -> dict[int | None, dict[str, Any]]:
    """The listed ledgers by county id (None: the administration ledger)."""
    response = await client.get(API)
    assert response.status_code == 200
    return {item["county_id"]: item for item in response.json()}


async def served_key(client: Client) -> Verifier:
    response = await client.get(f"{API}/key")
    assert response.status_code == 200
    return Verifier.from_string(response.text.strip())


async def sign_now(client: Client, ledger_id: int, username: str = "admin") -> dict[str, Any]:
    response = await client.post(
        f"{API}/{ledger_id}/checkpoint", headers=await bearer(client, username)
    )
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    return made


async def latest_checkpoint(client: Client, ledger_id: int, origin: str) -> Checkpoint:
    response = await client.get(f"{API}/{ledger_id}/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return open_checkpoint(response.text, [await served_key(client)], origin)


async def add_township(client: Client, county: County, code: str) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "admin"),
        json={
            "kind": "township",
            "code": code,
            "name": f"镇{code[-3:]}",
            "parent_id": county.county,
        },
    )
    assert response.status_code == 201, response.text


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


# ---------------------------------------------------------------- the ledgers and the key


async def test_the_list_shows_the_admin_and_county_ledgers_with_their_sizes(
    client: Client, county: County
) -> None:
    listed = await ledgers(client)
    assert set(listed) == {None, county.county, county.other_county}
    assert listed[None]["origin"].endswith("/admin")
    assert listed[county.county]["origin"].endswith("/990001")
    assert listed[county.other_county]["origin"].endswith("/990002")
    assert all(item["checkpoint_size"] is None for item in listed.values())
    assert all(item["size"] > 0 for item in listed.values())

    before = listed[county.county]["size"]
    await add_township(client, county, "990001031")
    assert (await ledgers(client))[county.county]["size"] == before + 1


async def test_the_served_key_is_the_current_checkpoint_verifier(
    client: Client, keys_dir: Path
) -> None:
    response = await client.get(f"{API}/key")
    assert response.headers["content-type"].startswith("text/plain")
    key = Verifier.from_string(response.text.strip())
    assert key == verifiers(keys_dir)[0]
    assert response.text.strip() == verifiers(keys_dir)[0].to_string()
    every = (await client.get(f"{API}/keys")).text.splitlines()
    assert every[0] == key.to_string()


# ---------------------------------------------------------------- checkpoints and proofs


async def test_an_admin_signs_a_checkpoint_that_anyone_checks_with_the_served_key(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    made = await sign_now(client, mine["id"])
    assert made["created"] is True and made["size"] == mine["size"]

    checkpoint = await latest_checkpoint(client, mine["id"], mine["origin"])
    assert checkpoint.size == mine["size"]
    assert (await ledgers(client))[county.county]["checkpoint_size"] == mine["size"]
    again = await sign_now(client, mine["id"])
    assert again["created"] is False and again["size"] == mine["size"]


async def test_every_entry_has_an_inclusion_proof_against_the_signed_root(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    checkpoint = await latest_checkpoint(client, mine["id"], mine["origin"])
    for seq in range(checkpoint.size):
        response = await client.get(f"{API}/{mine['id']}/entries/{seq}/proof")
        assert response.status_code == 200, response.text
        proof = response.json()
        assert (proof["index"], proof["tree_size"]) == (seq, checkpoint.size)
        assert bytes.fromhex(proof["root"]) == checkpoint.root
        assert merkle.verify_inclusion(
            seq,
            checkpoint.size,
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["inclusion_path"]],
            checkpoint.root,
        ), seq


async def test_two_checkpoints_are_proven_consistent(client: Client, county: County) -> None:
    mine = (await ledgers(client))[county.county]
    key = await served_key(client)
    old = await sign_now(client, mine["id"])
    await add_township(client, county, "990001041")
    await add_township(client, county, "990001042")
    new = await sign_now(client, mine["id"])
    assert new["size"] == old["size"] + 2
    old_root = open_checkpoint(old["checkpoint"], [key], mine["origin"]).root
    new_root = open_checkpoint(new["checkpoint"], [key], mine["origin"]).root

    for query in (f"from={old['size']}&to={new['size']}", f"from={old['size']}"):
        response = await client.get(f"{API}/{mine['id']}/consistency?{query}")
        assert response.status_code == 200, response.text
        proof = response.json()
        assert (proof["old_size"], proof["new_size"]) == (old["size"], new["size"])
        assert merkle.verify_consistency(
            old["size"],
            new["size"],
            old_root,
            new_root,
            [bytes.fromhex(h) for h in proof["consistency_path"]],
        )


# ---------------------------------------------------------------- who reads whole entries


async def test_reviewers_and_admins_of_the_county_read_the_entry_that_was_hashed(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    for username in ("jiwei", "admin", "root"):
        headers = await bearer(client, username)
        for seq in range(mine["size"]):
            response = await client.get(f"{API}/{mine['id']}/entries/{seq}", headers=headers)
            assert response.status_code == 200
            shown = response.json()
            entry = shown["entry"]
            assert (entry["seq"], entry["log"]) == (seq, mine["origin"])
            assert merkle.leaf_hash(rfc8785.dumps(entry)).hex() == shown["leaf_hash"]


async def test_everybody_else_sees_only_the_leaf_hash(client: Client, county: County) -> None:
    mine = (await ledgers(client))[county.county]
    url = f"{API}/{mine['id']}/entries/0"
    anonymous = await client.get(url)
    assert anonymous.status_code == 200
    assert set(anonymous.json()) == HASH_ONLY
    for username in ("neighbour", "clerk", "towner", "leader"):
        response = await client.get(url, headers=await bearer(client, username))
        assert response.status_code == 200
        assert set(response.json()) == HASH_ONLY, username
        assert response.json()["leaf_hash"] == anonymous.json()["leaf_hash"]


async def test_the_admin_ledger_entries_are_for_deployment_wide_admins_only(
    client: Client, county: County
) -> None:
    admin_ledger = (await ledgers(client))[None]
    url = f"{API}/{admin_ledger['id']}/entries/0"
    assert "entry" in (await client.get(url, headers=await bearer(client, "root"))).json()
    assert "entry" not in (await client.get(url, headers=await bearer(client, "admin"))).json()


async def test_a_reviewer_downloads_a_bundle_that_verifies_offline(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    response = await client.get(
        f"{API}/{mine['id']}/entries/7/bundle", headers=await bearer(client, "jiwei")
    )
    assert response.status_code == 200, response.text
    verdict = check_bundle(response.content, [await served_key(client)])
    assert verdict.ok, verdict.summary()
    assert verdict.entry is not None and verdict.entry["seq"] == 7
    assert verdict.checkpoint is not None and verdict.checkpoint.size == mine["size"]


async def test_a_bundle_is_refused_outside_the_reviewers_scope(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    url = f"{API}/{mine['id']}/entries/7/bundle"
    assert_problem(await client.get(url), 401)
    refused = assert_problem(await client.get(url, headers=await bearer(client, "neighbour")), 403)
    assert refused["type"] == "/problems/out-of-scope"
    assert_problem(await client.get(url, headers=await bearer(client, "clerk")), 403)


# ---------------------------------------------------------------- problems


async def test_an_unknown_ledger_or_entry_is_a_404_problem(client: Client, county: County) -> None:
    for url in (f"{API}/9999/checkpoint", f"{API}/9999/entries/0", f"{API}/9999/entries/0/proof"):
        problem = assert_problem(await client.get(url), 404)
        assert problem["type"] == "/problems/not-found"
        assert "台账 9999 不存在" in problem["detail"]
    mine = (await ledgers(client))[county.county]
    missing = assert_problem(await client.get(f"{API}/{mine['id']}/entries/100000"), 404)
    assert "100000" in missing["detail"]
    unsigned = assert_problem(await client.get(f"{API}/{mine['id']}/entries/0/proof"), 404)
    assert "检查点" in unsigned["detail"]


async def test_a_proof_for_an_entry_newer_than_the_checkpoint_is_a_422_in_chinese(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    made = await sign_now(client, mine["id"])
    await add_township(client, county, "990001051")
    response = await client.get(f"{API}/{mine['id']}/entries/{made['size']}/proof")
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/rule-violation"
    assert f"第 {made['size']} 条记录晚于大小为 {made['size']} 的检查点" in problem["detail"]


async def test_a_consistency_proof_running_backwards_is_a_422(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    old = await sign_now(client, mine["id"])
    await add_township(client, county, "990001061")
    new = await sign_now(client, mine["id"])
    response = await client.get(
        f"{API}/{mine['id']}/consistency?from={new['size']}&to={old['size']}"
    )
    problem = assert_problem(response, 422)
    assert "不能晚于" in problem["detail"]


async def test_only_an_admin_of_the_ledger_signs_a_checkpoint(
    client: Client, county: County
) -> None:
    listed = await ledgers(client)
    mine, admin_ledger = listed[county.county]["id"], listed[None]["id"]
    assert_problem(await client.post(f"{API}/{mine}/checkpoint"), 401)
    for username in ("clerk", "jiwei", "leader"):
        response = await client.post(
            f"{API}/{mine}/checkpoint", headers=await bearer(client, username)
        )
        assert_problem(response, 403)
    for username, ledger_id in (("neighbour", mine), ("towner", mine), ("admin", admin_ledger)):
        response = await client.post(
            f"{API}/{ledger_id}/checkpoint", headers=await bearer(client, username)
        )
        assert assert_problem(response, 403)["type"] == "/problems/out-of-scope"
    assert all(item["checkpoint_size"] is None for item in (await ledgers(client)).values())
    assert (await sign_now(client, admin_ledger, "root"))["created"] is True


# ---------------------------------------------------------------- remembered checkpoints, HTTP caching


def proof_url(ledger_id: int, seq: int, size: int | None = None) -> str:
    return f"{API}/{ledger_id}/entries/{seq}/proof" + (f"?size={size}" if size else "")


def app_cache(client: Client) -> ProofCache:
    cache = client.app.state.runtime.extras.get("ledger.proof_cache")
    assert isinstance(cache, ProofCache)
    return cache


async def sign_elsewhere(
    factory: async_sessionmaker[AsyncSession], keys_dir: Path, ledger_id: int
) -> int:
    """A checkpoint signed outside this app (a worker process, the CLI)."""
    async with transaction(factory) as db:
        made = await make_checkpoint(
            db, ledger_id, signer(keys_dir), dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
        )
    assert made is not None
    return int(made.size)


async def test_a_checkpoint_signed_through_the_api_is_used_by_the_next_proof(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    first = await sign_now(client, mine["id"])
    assert (await client.get(proof_url(mine["id"], 0))).json()["tree_size"] == first["size"]
    await add_township(client, county, "990001071")
    second = await sign_now(client, mine["id"])
    assert second["size"] == first["size"] + 1

    proof = (await client.get(proof_url(mine["id"], 0))).json()
    assert (proof["tree_size"], proof["checkpoint"]) == (second["size"], second["checkpoint"])


async def test_a_checkpoint_signed_elsewhere_is_used_once_the_remembered_one_expires(
    client: Client,
    county: County,
    factory: async_sessionmaker[AsyncSession],
    keys_dir: Path,
) -> None:
    mine = (await ledgers(client))[county.county]
    first = await sign_now(client, mine["id"])
    now = [1000.0]
    app_cache(client).monotonic = lambda: now[0]
    assert (await client.get(proof_url(mine["id"], 0))).json()["tree_size"] == first["size"]
    await add_township(client, county, "990001072")
    second = await sign_elsewhere(factory, keys_dir, mine["id"])

    # Within the second the latest is remembered, any signed checkpoint is a valid answer …
    assert (await client.get(proof_url(mine["id"], 0))).json()["tree_size"] == first["size"]
    # … but an entry newer than the remembered checkpoint is never refused because of it,
    newest = await client.get(proof_url(mine["id"], second - 1))
    assert newest.status_code == 200, newest.text
    assert newest.json()["tree_size"] == second
    # and once the second is over every proof is against the new checkpoint.
    now[0] += 1.5
    assert (await client.get(proof_url(mine["id"], 0))).json()["tree_size"] == second


async def test_a_ledger_without_a_checkpoint_answers_as_soon_as_one_is_signed(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    assert_problem(await client.get(proof_url(mine["id"], 0)), 404)
    made = await sign_now(client, mine["id"])
    response = await client.get(proof_url(mine["id"], 0))
    assert response.status_code == 200, response.text
    assert response.json()["tree_size"] == made["size"]


async def test_a_proof_against_an_explicit_size_never_changes_and_is_cacheable_for_good(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    old = await sign_now(client, mine["id"])
    url = proof_url(mine["id"], 3, old["size"])
    before = await client.get(url)
    assert before.status_code == 200, before.text
    assert before.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert before.headers["etag"].startswith('"')

    await add_township(client, county, "990001073")
    await sign_now(client, mine["id"])
    after = await client.get(url)
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]
    assert after.json()["checkpoint"] == old["checkpoint"]


async def test_a_matching_etag_is_answered_304_and_a_new_checkpoint_changes_it(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    url = proof_url(mine["id"], 2)
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    assert (await client.get(url, headers={"If-None-Match": '"other"'})).status_code == 200
    other_entry = await client.get(proof_url(mine["id"], 1), headers={"If-None-Match": etag})
    assert other_entry.status_code == 200

    await add_township(client, county, "990001074")
    await sign_now(client, mine["id"])
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["tree_size"] == first.json()["tree_size"] + 1


async def test_the_same_proof_reads_alike_with_and_without_the_explicit_size(
    client: Client, county: County
) -> None:
    mine = (await ledgers(client))[county.county]
    made = await sign_now(client, mine["id"])
    latest = await client.get(proof_url(mine["id"], 5))
    explicit = await client.get(proof_url(mine["id"], 5, made["size"]))
    assert latest.content == explicit.content
    assert latest.headers["etag"] == explicit.headers["etag"]


async def test_errors_are_not_marked_cacheable(client: Client, county: County) -> None:
    mine = (await ledgers(client))[county.county]
    made = await sign_now(client, mine["id"])
    for url in (proof_url(mine["id"], made["size"]), proof_url(mine["id"], 0, made["size"] + 5)):
        response = await client.get(url)
        assert response.status_code in (404, 422)
        assert "etag" not in response.headers
        assert "immutable" not in response.headers.get("cache-control", "")


# ---------------------------------------------------------------- pooled connections (PostgreSQL)


async def test_a_proof_is_answered_after_the_server_closed_the_pooled_connection(
    client: Client, county: County, engine: AsyncEngine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("connection pool checks concern PostgreSQL")
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    assert (await client.get(proof_url(mine["id"], 1))).status_code == 200
    async with engine.connect() as conn:  # as a restart or an administrator would
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert killed
    await asyncio.sleep(0.3)  # the server's goodbye reaches the app's event loop
    for seq in range(3):
        response = await client.get(proof_url(mine["id"], seq))
        assert response.status_code == 200, response.text


async def test_a_connection_idle_for_long_is_pinged_and_replaced_when_the_ping_fails(
    client: Client, county: County, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("connection pool checks concern PostgreSQL")
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    assert (await client.get(proof_url(mine["id"], 1))).status_code == 200
    pings: list[object] = []
    app_dialect = client.app.state.runtime.engine.dialect

    def failing_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        raise ConnectionError("no answer")

    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", -1.0)
    monkeypatch.setattr(app_dialect, "do_ping", failing_ping)
    response = await client.get(proof_url(mine["id"], 2))
    assert response.status_code == 200, response.text
    assert pings  # the idle connection was pinged, and the pool replaced it


# ---------------------------------------------------------------- read-only transactions


async def test_a_proof_is_answered_while_a_writer_holds_its_transaction_open(
    client: Client, county: County, factory: async_sessionmaker[AsyncSession]
) -> None:
    mine = (await ledgers(client))[county.county]
    await sign_now(client, mine["id"])
    async with transaction(factory) as writer:  # on SQLite: BEGIN IMMEDIATE, the write lock
        await writer.execute(
            text("UPDATE units SET name = name WHERE id = :id"), {"id": county.county}
        )
        response = await client.get(proof_url(mine["id"], 4))
        assert response.status_code == 200, response.text
        assert response.json()["index"] == 4


async def test_a_read_only_transaction_refuses_writes_on_postgresql(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no read-only transactions; its read-only ones are deferred")
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with transaction(read_only_factory(engine)) as db:
            await db.execute(text("UPDATE units SET name = name"))
    async with transaction(session_factory(engine)) as db:  # the pool's connections write again
        await db.execute(text("UPDATE units SET name = name"))
