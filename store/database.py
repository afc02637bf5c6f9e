"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block writers."""

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import BigInteger, event, literal_column, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

Sessions = async_sessionmaker[AsyncSession]


CONNECT_TIMEOUT = 10  # seconds to open a PostgreSQL connection: a wrong host fails, not hangs


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached: it is down, or the URL names the wrong place."""


async def reachable(engine: AsyncEngine) -> None:
    """Connect once, or raise DatabaseUnavailable saying where and why."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, TimeoutError, DBAPIError) as error:
        cause = error.orig if isinstance(error, DBAPIError) else error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot reach the database at {where}: {reason}") from None


def create_engine(url: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An engine for `url`. On PostgreSQL, `pool_size` connections stay open and up to
    `max_overflow` more are opened under load; SQLite's pool is SQLAlchemy's default."""
    if url.startswith("postgresql"):
        engine = create_async_engine(
            url,
            connect_args={"timeout": CONNECT_TIMEOUT},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
    else:
        # A session ends its own transaction (commit, or rollback on close), so the pool's
        # second rollback on return is a wasted trip to aiosqlite's thread, once per session
        engine = create_async_engine(url, pool_reset_on_return=None)
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


# SQLite lets one transaction write at a time. Left to themselves, this process's writers
# would each take a pooled connection and poll the file lock with busy_timeout's backoff
# (sleeps of up to 100 ms); queued on one asyncio lock per engine they run back to back.
def _writer_lock(engine: AsyncEngine) -> asyncio.Lock:
    return per_loop(engine, "writers", asyncio.Lock)


_PER_LOOP: "weakref.WeakKeyDictionary[Any, dict[str, tuple[asyncio.AbstractEventLoop, Any]]]" = (
    weakref.WeakKeyDictionary()
)
T = TypeVar("T")


def per_loop(engine: AsyncEngine, name: str, make: Callable[[], T]) -> T:
    """One `make()` per engine, name and event loop: an asyncio lock or semaphore cannot
    move between loops (tests run one per module)."""
    loop = asyncio.get_running_loop()
    kept = _PER_LOOP.setdefault(engine.sync_engine, {})
    held = kept.get(name)
    if held is None or held[0] is not loop:
        held = kept[name] = (loop, make())
    found: T = held[1]
    return found


@asynccontextmanager
async def writing(factory: Sessions) -> AsyncIterator[AsyncSession]:
    """A session for a write transaction. On SQLite, writers of this process queue here
    for their turn. Each write transaction's first statement writes (a compare-and-set or
    an INSERT), so it takes the file's write lock at once, as BEGIN IMMEDIATE would, without
    a statement of its own: a writer of another process then waits at the start
    (busy_timeout), never half way through. Never open one inside another: the second
    would wait for the first. On PostgreSQL, a plain session: rows lock one by one, so
    writers of different rows run side by side."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        async with factory() as session:
            yield session
        return
    # the next writer goes in as soon as this one is done, before this session's close
    async with factory() as session, _writer_lock(engine):
        yield session


async def current_tx(session: AsyncSession) -> int:
    """The writing transaction's id on PostgreSQL; 0 on SQLite, whose writes are serial."""
    if _dialect(session) != "postgresql":
        return 0
    query = select(literal_column("pg_current_xact_id()::text::bigint", BigInteger))
    return int((await session.exec(query)).one())


# The oldest transaction still running in this database, as a full 64-bit id. Every
# session's `backend_xid` in pg_stat_activity is readable without any extra privilege;
# it holds the 32-bit id, widened here against the snapshot's xmax (running ids are always
# within 2^31 of it). The xmax bounds the result too: a transaction being given its id
# right now, not yet shown in pg_stat_activity, gets one at or above the xmax.
_HORIZON = text(
    """
    SELECT least(xmax, min(xmax - ((xmax % 4294967296 - xid + 6442450944) % 4294967296
                                   - 2147483648)))
    FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) AS now
    LEFT JOIN (SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
               WHERE datname = current_database() AND backend_xid IS NOT NULL) AS running
    ON true
    GROUP BY xmax
    """
)


async def horizon(session: AsyncSession) -> int | None:
    """On PostgreSQL, a transaction id below which every change of this database has
    committed (or rolled back), and below which none can appear later. None on SQLite.

    It must come from a statement of its own, run before the read it guards: a read's
    snapshot then sees everything that ended before the horizon was taken. Only this
    database's transactions count, so a transaction left open in another database on the
    same server (an idle psql session, another application) holds nothing back.
    """
    if _dialect(session) != "postgresql":
        return None
    connection = await session.connection()
    return int((await connection.execute(_HORIZON)).scalar_one())


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"
