"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from rentguy_crm.config import PROJECT_ROOT, Settings, get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, so ids are BIGINT on Postgres and INTEGER there.
IdType = BigInteger().with_variant(Integer(), "sqlite")
# Table option for rows whose ids outlive them (the audit log, contact redirects, exports name them): SQLite hands
# a deleted highest id to the next row unless the table is AUTOINCREMENT; a merged-away or erased person's id must
# never become someone else's. Postgres sequences never reuse ids.
NEVER_REUSED_IDS: dict[str, object] = {"sqlite_autoincrement": True}
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class IdMixin:
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def resolve_database_url(url: str) -> str:
    """Make relative SQLite paths relative to the project root and make sure their folder exists."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database) if parsed.database.startswith("/") else PROJECT_ROOT / parsed.database
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    """The same database with a synchronous driver (Alembic offline, tooling)."""
    parsed = make_url(resolve_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Switch off the driver's own BEGIN handling; the "begin" listener below emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The execution option a read-only session sets so its SQLite transaction begins DEFERRED.
READ_ONLY_OPTION = "crm_read_only"


def _sqlite_begin(conn: Any) -> None:
    # SQLite allows one writer at a time. A transaction that starts DEFERRED, reads, and then writes cannot wait
    # for the lock when another connection committed in between (SQLITE_BUSY at once, busy_timeout or not), so
    # every transaction that may write takes the write lock at its start and waits its turn within busy_timeout.
    # Only sessions opened read-only start DEFERRED: WAL lets them read beside the writer without waiting.
    # Emitting BEGIN ourselves (the driver's own BEGIN handling is off) also makes SAVEPOINT work.
    read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str | None = None, *, pool: bool = True, **kwargs: Any) -> AsyncEngine:
    url = resolve_database_url(url or get_settings().database_url)
    # Statement parameters hold personal data (names, e-mail addresses): keep them out of exception text,
    # which ends up in logs and tracebacks.
    kwargs.setdefault("hide_parameters", True)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if not pool:
        kwargs.setdefault("poolclass", NullPool)
    else:
        settings = get_settings()
        kwargs.setdefault("pool_size", settings.database_pool_size)
        kwargs.setdefault("max_overflow", settings.database_max_overflow)
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """Owns the engine and hands out sessions. One per process (API or worker)."""

    def __init__(self, settings: Settings | None = None, url: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.url = resolve_database_url(url or self.settings.database_url)
        self.engine = create_engine(self.url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends and rolls back on error.

        On SQLite the transaction holds the write lock from its start (writers queue instead of failing);
        `read_only=True` is for sessions that never write (lists, status, GET requests): they read beside it.
        """
        async with self.sessionmaker() as session, session.begin():
            if read_only:
                await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield session

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.session(read_only=True)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def truncate_write_ahead_log(url: str | None = None) -> None:
    """SQLite: move the write-ahead log into the database file and empty it (`PRAGMA wal_checkpoint(TRUNCATE)`),
    so values just erased do not linger in `*.db-wal`; frames a running reader still needs stay until it moves on.
    A no-op on PostgreSQL."""
    db = Database(url=url)
    try:
        if db.engine.dialect.name == "sqlite":
            async with db.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except DBAPIError:  # best effort: a busy database is checkpointed at its next automatic checkpoint
        pass
    finally:
        await db.dispose()


@asynccontextmanager
async def one_off_session(url: str | None = None, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """A database, a session and a transaction for one command; everything is closed afterwards."""
    db = Database(url=url)
    try:
        async with db.session(read_only=read_only) as session:
            yield session
    finally:
        await db.dispose()
