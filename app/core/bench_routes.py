"""Benchmark-only routes, mounted only when `JIEFANG_BENCH_ENDPOINTS` is on
(`settings.bench_endpoints`); no deployment turns it on.

`POST /api/_bench/insert` is the floor a state-changing API request cannot go below: the
same middleware, guard and per-request transaction (the `db` dependency, so the same pool,
checkout check and commit) as the booking API, around one Core INSERT. `bench.booking`
compares bookings/s with it. The table is not part of the schema: the benchmark creates
`BENCH_INSERTS` in its scratch database before it starts the server.
"""

from __future__ import annotations

import datetime as dt

from litestar import Controller, post
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public

#: Not `Base.metadata`: migrations and the application's schema never see this table.
BENCH_METADATA = MetaData()
BENCH_INSERTS = Table(
    "bench_inserts",
    BENCH_METADATA,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


class BenchApi(Controller):
    path = "/api/_bench"
    include_in_schema = False

    @post("/insert", opt=public(), status_code=204)
    async def insert_one(self, db: AsyncSession) -> None:
        """One Core INSERT; the `db` dependency commits it after the handler."""
        await db.execute(insert(BENCH_INSERTS).values(at=dt.datetime.now(dt.UTC)))


ROUTES = [BenchApi]
