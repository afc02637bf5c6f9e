"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block writers."""

from typing import Any

from sqlalchemy import BigInteger, event, literal_column
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

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


async def current_tx(session: AsyncSession) -> int:
    """The writing transaction's id on PostgreSQL; 0 on SQLite, whose writes are serial."""
    if _dialect(session) != "postgresql":
        return 0
    query = select(literal_column("pg_current_xact_id()::text::bigint", BigInteger))
    return int((await session.exec(query)).one())


async def horizon(session: AsyncSession) -> int | None:
    """On PostgreSQL, the oldest transaction still running: every change with a smaller tx
    has committed (or rolled back) and none can appear below it later. None on SQLite."""
    if _dialect(session) != "postgresql":
        return None
    query = select(
        literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger)
    )
    return int((await session.exec(query)).one())


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"
