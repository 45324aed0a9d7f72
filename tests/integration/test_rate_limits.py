"""Citizens' rate limits counted in Redis when a deployment configures it
(JIEFANG_REDIS_URL): shared by every server process, nothing written to the database, and
still enforced — in the database — when Redis cannot be reached.

Runs when JIEFANG_TEST_REDIS_URL names a Redis database this run may empty (CI sets it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.core.clock import FixedClock
from app.core.db import session_factory
from app.core.models import RateCounter
from app.core.settings import Settings
from tests.integration.conftest import County

REDIS_URL = os.environ.get("JIEFANG_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="JIEFANG_TEST_REDIS_URL is not set")

#: Nothing listens on port 1: connecting is refused at once.
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def _with_redis(settings: Settings, url: str) -> Settings:
    return msgspec.structs.replace(settings, redis_url=url)


async def _codes_asked(client: AsyncTestClient[Litestar], mobile: str, times: int) -> list[int]:
    return [
        (await client.post("/api/v1/otp", json={"mobile": mobile})).status_code
        for _ in range(times)
    ]


async def _counted_in_database(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as db:
        return int(await db.scalar(select(func.coalesce(func.sum(RateCounter.count), 0))) or 0)


async def test_codes_are_limited_in_redis_and_nothing_is_counted_in_the_database(
    settings: Settings, clock: FixedClock, county: County, engine: AsyncEngine, redis: Redis
) -> None:
    app = create_app(_with_redis(settings, REDIS_URL), clock=clock)
    async with AsyncTestClient(app=app) as client:
        assert await _codes_asked(client, "13900000051", 6) == [202] * 5 + [429]
        refused = await client.post("/api/v1/otp", json={"mobile": "13900000051"})
    assert refused.status_code == 429
    assert "过于频繁" in refused.json()["detail"]
    assert await _counted_in_database(engine) == 0
    keys = [k.decode() async for k in redis.scan_iter(f"{settings.deployment}:rate:otp:*")]
    assert len(keys) == 2  # one per number, one per address
    assert all(0 < ttl <= 3600 for ttl in [await redis.ttl(k) for k in keys])


async def test_two_server_processes_share_one_count(
    settings: Settings, clock: FixedClock, county: County, engine: AsyncEngine, redis: Redis
) -> None:
    first = create_app(_with_redis(settings, REDIS_URL), clock=clock)
    second = create_app(_with_redis(settings, REDIS_URL), clock=clock)
    async with AsyncTestClient(app=first) as one, AsyncTestClient(app=second) as other:
        assert await _codes_asked(one, "13900000052", 3) == [202] * 3
        assert await _codes_asked(other, "13900000052", 3) == [202] * 2 + [429]


async def test_without_redis_the_limits_hold_in_the_database(
    settings: Settings, clock: FixedClock, county: County, engine: AsyncEngine
) -> None:
    app = create_app(_with_redis(settings, UNREACHABLE), clock=clock)
    async with AsyncTestClient(app=app) as client:
        assert await _codes_asked(client, "13900000053", 6) == [202] * 5 + [429]
    # the number's count stops at its limit; the address's counts the refused request too
    assert await _counted_in_database(engine) == 5 + 6
