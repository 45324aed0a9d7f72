"""Rate limits on what citizens may ask for without an account (one-time codes, bookings,
lookups): fixed windows of counts per key, shared by every server process.

The counts live in the database (`rate_counters`, moved by a conditional UPDATE in the
request's transaction) or, when `JIEFANG_REDIS_URL` is set, in Redis (one INCR per request,
no row written to the database). A Redis that cannot be reached is not a reason to turn
citizens away or to stop limiting: the request is counted in the database instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import dialect_insert
from app.core.models import RateCounter

log = logging.getLogger("jiefang.rates")

#: Where a session finds the store its requests count in (`Session.info`); without it, the
#: database.
RATE_STORE: Final = "jiefang_rate_store"
#: Redis calls that take longer than this count in the database instead.
REDIS_TIMEOUT_SECONDS: Final = 0.5


@dataclasses.dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` requests of one key per `seconds`."""

    count: int
    seconds: int


def window_of(limit: Limit, now: dt.datetime) -> int:
    """The number of the fixed window `now` falls in (windows start at the Unix epoch)."""
    return int(now.timestamp()) // limit.seconds


class RateStore(Protocol):
    async def take(self, db: AsyncSession, key: str, limit: Limit, now: dt.datetime) -> bool:
        """Count one request of `key` in the current window; False when it is spent."""
        ...


class DatabaseRates:
    """Counts in `rate_counters`, inside the caller's transaction."""

    async def take(self, db: AsyncSession, key: str, limit: Limit, now: dt.datetime) -> bool:
        window = window_of(limit, now)
        await db.execute(
            dialect_insert(db)(RateCounter)
            .values(key=key, window=window, count=0)
            .on_conflict_do_nothing()
        )
        counted = await db.scalar(
            update(RateCounter)
            .where(
                RateCounter.key == key,
                RateCounter.window == window,
                RateCounter.count < limit.count,
            )
            .values(count=RateCounter.count + 1)
            .returning(RateCounter.count)
        )
        return counted is not None


DATABASE_RATES: Final = DatabaseRates()


class RedisRates:
    """Counts in Redis under `<deployment>:rate:<key>:<window>`, each key expiring with its
    window. A count is kept whatever becomes of the request, as the database's callers
    keep theirs for refused bookings."""

    def __init__(self, client: Redis, deployment: str) -> None:
        self.client, self.prefix = client, f"{deployment}:rate:"

    async def take(self, db: AsyncSession, key: str, limit: Limit, now: dt.datetime) -> bool:
        window = window_of(limit, now)
        name = f"{self.prefix}{key}:{window}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, limit.seconds, nx=True)
                count, _ = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            log.warning("Redis unreachable (%s); counting %s in the database", error, key)
            return await DATABASE_RATES.take(db, key, limit, now)
        return int(count) <= limit.count

    async def close(self) -> None:
        await self.client.aclose()


def redis_rates(url: str, deployment: str) -> RedisRates:
    """The store of a deployment with `JIEFANG_REDIS_URL` (connects at the first count)."""
    client = Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return RedisRates(client, deployment)


async def take(db: AsyncSession, key: str, limit: Limit, now: dt.datetime) -> bool:
    """Count one request of `key` in the store the session was made with."""
    store: RateStore = db.info.get(RATE_STORE, DATABASE_RATES)
    return await store.take(db, key, limit, now)
