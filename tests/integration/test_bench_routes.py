"""The benchmark-only insert endpoint exists only when JIEFANG_BENCH_ENDPOINTS turns it on,
and then writes exactly one row per request in the request's transaction."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.core.bench_routes import BENCH_INSERTS, BENCH_METADATA
from app.core.settings import Settings, load_settings

INSERT_PATH = "/api/_bench/insert"


def test_the_setting_is_off_unless_the_environment_turns_it_on() -> None:
    assert load_settings({}).bench_endpoints is False
    assert load_settings({"JIEFANG_BENCH_ENDPOINTS": "1"}).bench_endpoints is True


async def test_the_endpoint_is_absent_by_default(settings: Settings, engine: AsyncEngine) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.post(INSERT_PATH)
    assert response.status_code == 404, response.text


async def test_each_request_inserts_one_row_when_enabled(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(BENCH_METADATA.create_all)
    try:
        enabled = msgspec.structs.replace(settings, bench_endpoints=True)
        async with AsyncTestClient(app=create_app(enabled)) as client:
            statuses = [(await client.post(INSERT_PATH)).status_code for _ in range(3)]
        assert statuses == [204, 204, 204]
        async with engine.connect() as conn:
            rows = await conn.scalar(select(func.count()).select_from(BENCH_INSERTS))
        assert rows == 3
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(BENCH_METADATA.drop_all)
