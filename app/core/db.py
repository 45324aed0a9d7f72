"""One async engine per process, one session (one transaction) per request or job.

SQLite is opened so that every transaction is `BEGIN IMMEDIATE`: a writer that would lose
waits on `busy_timeout` and then gets a clean answer, never "database is locked" halfway
through a request. Units of work that only read may use `read_only_factory` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, DateTime, Integer, MetaData, any_, event, exc, literal
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from app.core.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out — also on SQLite, which keeps no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def dialect_insert(db: AsyncSession) -> Any:
    """The session's dialect's INSERT, for `ON CONFLICT` (both dialects have it)."""
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


def among_ids(db: AsyncSession, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids` for lists of thousands: on PostgreSQL one array parameter (`= ANY`),
    not a bind parameter per id, which SQLAlchemy would compile and send one by one."""
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


def _make_sqlite_immediate(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == AUTOCOMMIT:
            return  # one_statement_factory: each statement is its own transaction
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # deferred: no write lock (read_only_factory)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings, *, pool: bool = True) -> AsyncEngine:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            settings.database_url, poolclass=NullPool if not pool else None
        )
        _make_sqlite_immediate(engine)
        return engine
    if not pool:
        return create_async_engine(settings.database_url, poolclass=NullPool)
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_use_lifo=True,  # the idle connections are the spare ones, not all of them
    )
    _check_on_checkout(engine)
    return engine


#: A pooled connection is replaced once it is this old (idle timeouts of firewalls and
#: proxies), and pinged before use when it sat unused for longer than `PING_AFTER_IDLE_SECONDS`.
POOL_RECYCLE_SECONDS = 1800
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "jiefang_idle_since"


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Hand out only live connections, without SQLAlchemy's `pool_pre_ping` round trips.

    With asyncpg, `pool_pre_ping` costs `BEGIN; ; ROLLBACK` — three round trips — on every
    checkout (bench/README.md). Instead: a connection the server closed (a restart, an
    administrator's `pg_terminate_backend`) is already seen as closed by asyncpg, since
    the server says so before it hangs up — that check costs nothing; one that sat idle
    for a while is pinged, as pre-ping would; a connection that fails anyway makes
    SQLAlchemy invalidate the pool, so one request fails instead of every later one.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None:  # a new connection
            return
        if record.driver_connection.is_closed():
            raise exc.DisconnectionError("the server closed this pooled connection")
        if time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as error:
                raise exc.InvalidatePoolError("ping failed") from error


def session_factory(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """`info` is copied into every session's `Session.info` (e.g. where rate limits count)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)


#: Execution option marking the connections of `read_only_factory`.
READ_ONLY = "jiefang_read_only"


def read_only_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work that only read, still one transaction each.

    PostgreSQL begins their transaction `READ ONLY` (asyncpg sends it with the `BEGIN`, no
    extra round trip), so a write in one fails instead of committing. SQLite begins it
    deferred: it takes no write lock, so a reader never queues behind a writer for up to
    `busy_timeout`, and in WAL mode it reads the last committed state. A write there is
    not refused up front (it may fail with "database is locked" under contention), so
    only code that reads belongs here; the PostgreSQL runs of the tests would refuse it."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return session_factory(engine.execution_options(**options))


AUTOCOMMIT = "AUTOCOMMIT"


def one_statement_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for a read that is one statement, such as the guard's principal lookup.

    They run in autocommit: one statement reads one consistent snapshot by itself, so the
    transaction around it bought nothing and cost the `BEGIN` and `ROLLBACK` round trips
    on PostgreSQL and the write lock of `BEGIN IMMEDIATE` on SQLite. A unit of work of
    more than one statement belongs in `transaction` or `read_only_factory`."""
    return session_factory(engine.execution_options(isolation_level=AUTOCOMMIT))


@contextlib.asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit when the work succeeds, roll back when anything raised.

    Used as the request dependency (Litestar throws the handler's exception into it) and by
    jobs and commands, so every unit of work is exactly one transaction.

    Not `async with factory()`: its exit runs `close()` in a task of its own behind
    `asyncio.shield`, on every unit of work. Only the way out after a failure talks to the
    database (ROLLBACK) and needs shielding from a cancellation; after a commit, closing
    just forgets the session (about 6 % of a one-entry transaction's CPU, bench/README.md).
    Commit and close run in one trip into SQLAlchemy's greenlet instead of two.
    """
    session = factory()
    try:
        yield session
        await session.run_sync(_commit_and_close)
    except BaseException:
        await asyncio.shield(_discard(session))
        raise


def _commit_and_close(session: Session) -> None:
    session.commit()
    session.close()


async def _discard(session: AsyncSession) -> None:
    """Roll back and hand the connection back to the pool, even when cancelled meanwhile."""
    try:
        await session.rollback()
    finally:
        await session.close()
