"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block writers."""

from typing import Any

from sqlalchemy import event, func
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import tables  # registers the tables on SQLModel.metadata; StatusEvent below

Sessions = async_sessionmaker[AsyncSession]


def create_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


# Any constant would do: the key of the transaction-level advisory lock that orders the
# stream's writers on PostgreSQL (advisory locks are per database: other databases on the
# server never see it). Its bytes spell "cp.order".
STREAM_ORDER_LOCK = 0x63702E6F72646572


async def add_status_event(session: AsyncSession, event: tables.StatusEvent) -> None:
    """Add `event` as the last write of the session's transaction, which must commit next.

    Readers follow the stream by `seq` alone (store/changes.py), so a change must never
    commit after another one that got a larger `seq`. SQLite writes one transaction at a
    time. On PostgreSQL each writer takes one advisory lock before its `seq` is drawn and
    holds it until it commits, so `seq` order is commit order. The lock covers only the
    insert and the commit: everything else the transaction does ran before it. An earlier
    version instead read only below the oldest running transaction, which is server-wide:
    an idle transaction in any other database held every stream back.
    """
    if _dialect(session) == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(STREAM_ORDER_LOCK)))
    session.add(event)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"
