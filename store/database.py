"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block writers."""

import asyncio
import sqlite3
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy
from aiosqlite.context import contextmanager
from sqlalchemy import URL, BigInteger, Connection, Engine, event, literal_column, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")


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


# The longest statement asyncpg keeps prepared on a connection, in characters; its default,
# 15 KiB, left out a page of communications filtered by origin (58 KiB: one range of an
# index for each of 48 kinds and statuses, store/communications.py `_merged`), so each such
# page was prepared and planned again: 13 ms a page, at 1,000 rows as at 1,000,000, where
# kept it takes under 2. The longest page, every status named, is 117 KiB.
STATEMENT_MAX = 128 * 1024


def create_engine(url: str, pool_size: int = 30) -> AsyncEngine:
    """An engine for `url`. On PostgreSQL, at most `pool_size` connections, each kept open
    once opened: a request finding them all in use waits for one. (Connections opened past
    a smaller pool, as SQLAlchemy's overflow, are closed as they come back: with 32 clients
    writing (bench/writes.py) 20 kept and 10 of overflow opened and closed connections all
    the time, their handshakes and statements prepared again at 5-10% of the event loop's
    samples (py-spy), for the same 30 at most.) SQLite's pool is SQLAlchemy's default."""
    if url.startswith("postgresql"):
        engine = create_async_engine(
            url,
            connect_args={
                "timeout": CONNECT_TIMEOUT,
                "max_cacheable_statement_size": STATEMENT_MAX,
            },
            pool_size=pool_size,
            max_overflow=0,
        )
    else:
        # A session ends its own transaction (commit, or rollback on close), so the pool's
        # second rollback on return is a wasted trip to aiosqlite's thread, once per session
        path = make_url(url).database or ":memory:"
        on_file = path != ":memory:"
        connect = {"async_creator": partial(_connect_sqlite, path)} if on_file else {}
        engine = create_async_engine(url, pool_reset_on_return=None, **connect)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
    return engine


class _Cursor(aiosqlite.Cursor):
    """aiosqlite's cursor in one trip to the connection's thread per statement instead of
    four. aiosqlite sends making the cursor, executing, fetching and closing to its thread
    one at a time, and each trip is a thread wake-up and an event-loop wake-up: on a busy
    machine they cost more than SQLite's own work (py-spy: most of a transition's time in
    the store). Here the rows come back with the execution, and making and closing a cursor
    (which touch no table) happen in place; the connection is opened with
    check_same_thread=False, and SQLAlchemy runs one statement at a time per connection."""

    _rows: deque[Any] | None = None

    def _run(self, sql: str, parameters: Any) -> deque[Any] | None:
        self._cursor.execute(sql, parameters)
        return deque(self._cursor.fetchall()) if self._cursor.description else None

    async def execute(self, sql: str, parameters: Any = None) -> "_Cursor":
        given = () if parameters is None else parameters
        self._rows = await self._execute(self._run, sql, given)  # type: ignore[no-untyped-call]
        return self

    async def executemany(self, sql: str, parameters: Any) -> "_Cursor":
        self._rows = None
        await super().executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Any:
        if self._rows is None:
            return await super().fetchmany(size)
        count = min(len(self._rows), self.arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Any:
        if self._rows is None:
            return await super().fetchall()
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows = None
        self._cursor.close()


class _Connection(aiosqlite.Connection):
    @contextmanager  # awaited, or entered with `async with`, as aiosqlite's own
    async def cursor(self) -> aiosqlite.Cursor:
        return _Cursor(self, self._conn.cursor())


async def _connect_sqlite(path: str) -> aiosqlite.Connection:
    connection = _Connection(partial(sqlite3.connect, path, check_same_thread=False), 64)
    connection._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
    return await connection


MMAP_SIZE = 1 << 30  # bytes of a SQLite file its connections map: see sqlite_pragmas


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # a statement that fires a trigger (status_count's, created_day's: migration 0008) keeps
    # a statement journal, in a temporary file by default: 35-45 us more per INSERT on this
    # machine, about 7 us in memory
    cursor.execute("PRAGMA temp_store=MEMORY")
    # reads map the file's first GiB instead of copying each page out of the system's cache
    # into SQLite's (2 MB a connection): a page of communications in name order, its rows
    # scattered over a file of 1,000,000 of them (933 MB), took 1.44-1.61 x a page at
    # 1,000 rows at the median, and 1.37 x mapped (bench/large_lists.py)
    cursor.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
    cursor.close()


def sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


# SQLite lets one transaction write at a time. Left to themselves, this process's writers
# would each take a pooled connection and poll the file lock with busy_timeout's backoff
# (sleeps of up to 100 ms); queued on one writer per engine they run back to back.
GROUP_MAX = 256  # writes sharing one SQLite commit, at most


class _Writer:
    """The one writer of this process to one SQLite file: the lock its writers queue on,
    and the group commit of `write`.

    Writes queued while a group commits go together in the next one: one transaction, one
    trip to the writer's thread, one commit, each write under a SAVEPOINT of its own so one
    that raises is undone alone and the others commit. On a loaded machine each trip to a
    thread and back costs about a millisecond of waiting, far more than SQLite's work for a
    transition (a few tens of microseconds), and a turn of three or four trips per write
    held the file for all of them: one trip per group is what lets writes keep up.

    The thread has a synchronous engine on the same file of its own (WAL: readers go on
    reading while it writes); `BEGIN IMMEDIATE` takes the write lock at the start, so a
    writer of another process waits there (busy_timeout), never half way through. Made
    per event loop, as an asyncio.Lock cannot move between loops."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()
        self._url = engine.url
        self._queue: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None
        self._engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def submit(self, work: Callable[[Connection], T]) -> T:
        done: asyncio.Future[T] = self.loop.create_future()
        self._queue.append((work, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="commpulse sqlite writer")
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                async with self.lock:
                    group = [(w, f) for w, f in self._queue[:GROUP_MAX] if not f.cancelled()]
                    del self._queue[:GROUP_MAX]
                    if not group:
                        continue
                    try:
                        outcomes = await self.loop.run_in_executor(
                            self._executor(), self._commit, [w for w, _ in group]
                        )
                    except Exception as error:  # the commit itself failed: none landed
                        outcomes = [_Failed(error)] * len(group)
                for (_, done), outcome in zip(group, outcomes, strict=True):
                    if done.done():
                        continue
                    if isinstance(outcome, _Failed):
                        done.set_exception(outcome.error)
                    else:
                        done.set_result(outcome)
        finally:
            self._draining = None

    def _commit(self, works: list[Callable[[Connection], Any]]) -> list[Any]:
        """In the writer's thread: every work in one transaction, each in a savepoint."""
        outcomes: list[Any] = []
        with self._sync().connect() as connection, connection.begin():
            # the savepoints go to the driver itself: SQLAlchemy's begin_nested compiles its
            # SAVEPOINT and RELEASE anew each time (py-spy: a fifth of the writer's time)
            driver = connection.connection.dbapi_connection
            assert driver is not None
            savepoints = driver.cursor()
            for work in works:
                savepoints.execute("SAVEPOINT write")
                try:
                    outcomes.append(work(connection))
                except Exception as error:
                    savepoints.execute("ROLLBACK TO write")
                    outcomes.append(_Failed(error))
                savepoints.execute("RELEASE write")
        return outcomes

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="commpulse sqlite writer")
        return self._thread

    def _sync(self) -> Engine:
        if self._engine is None:
            engine = sqlite_file_engine(self._url, pool_size=1)
            event.listen(engine, "connect", _driver_transactions)
            event.listen(engine, "begin", _begin_immediate)
            self._engine = engine
        return self._engine

    def close(self, *_: Any) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


@dataclass(frozen=True)
class _Failed:
    error: Exception


def _driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, begins transactions: savepoints need it
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


_WRITERS: "weakref.WeakKeyDictionary[Any, _Writer]" = weakref.WeakKeyDictionary()


def _writer(engine: AsyncEngine) -> _Writer:
    found = _WRITERS.get(engine.sync_engine)
    if found is None or found.loop is not asyncio.get_running_loop():
        if found is not None:
            found.close()
        found = _WRITERS[engine.sync_engine] = _Writer(engine)
        event.listen(engine.sync_engine, "engine_disposed", found.close)
    return found


def on_sqlite_file(engine: AsyncEngine) -> bool:
    """Whether `engine` is on a SQLite file, which connections of its own (the writer's
    thread, the reads' threads) can open too; a database in memory is its connection's."""
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    in_memory = in_memory or engine.url.query.get("mode") == "memory"
    return engine.dialect.name == "sqlite" and not in_memory


def sqlite_file_engine(url: URL, **options: Any) -> Engine:
    """A synchronous engine on the SQLite file of `url`, with the server's pragmas."""
    engine = sqlalchemy.create_engine(url.set(drivername="sqlite"), **options)
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


async def write(factory: Sessions, work: Callable[[Connection], T]) -> T:
    """Run `work` in a write transaction of its own and commit it; its result. If it raises,
    nothing it wrote stays.

    `work` is synchronous (the steps of store/writes.py), so that it can run where the
    database is: on SQLite in the writer's thread, in a group commit with the writes queued
    beside it; on PostgreSQL through `run_sync` on a connection of its own (rows lock one by
    one there, so writers of different rows run side by side, and PostgreSQL groups the
    commits' flushes itself)."""
    engine: AsyncEngine = factory.kw["bind"]
    if on_sqlite_file(engine):
        return await _writer(engine).submit(work)
    async with engine.connect() as connection, connection.begin():
        return await connection.run_sync(work)


def on_postgresql(factory: Sessions) -> bool:
    """Whether the store's database is PostgreSQL (else SQLite)."""
    engine: AsyncEngine = factory.kw["bind"]
    return engine.dialect.name == "postgresql"


def alone(factory: Sessions) -> bool:
    """Whether a whole write may be one statement run in no transaction of its own, as a
    read is (store/writes.py `move_alone`, `insert_alone`): on PostgreSQL."""
    return on_postgresql(factory)


@asynccontextmanager
async def writing(factory: Sessions) -> AsyncIterator[AsyncSession]:
    """A session for a write transaction made of async steps (delivery work). On SQLite, it
    waits for its turn with the writer, so it and the group commits run one after another.
    Each such transaction's first statement writes (a compare-and-set or an INSERT), so it
    takes the file's write lock at once, as BEGIN IMMEDIATE would, without a statement of
    its own: a writer of another process then waits at the start (busy_timeout), never half
    way through. Never open one inside another, nor call `write` inside one: the second
    would wait for the first. On PostgreSQL, a plain session."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "sqlite":
        async with factory() as session:
            yield session
        return
    # the next writer goes in as soon as this one is done, before this session's close
    async with factory() as session, _writer(engine).lock:
        yield session


async def current_tx(session: AsyncSession) -> int:
    """The writing transaction's id on PostgreSQL; 0 on SQLite, whose writes are serial."""
    if _dialect(session) != "postgresql":
        return 0
    query = select(literal_column("pg_current_xact_id()::text::bigint", BigInteger))
    return int((await session.exec(query)).one())


# The horizon, as a common table expression `horizon(below)` for the statement that reads
# below it (store/changes.py): a transaction id below which every change of this database
# has committed (or rolled back), and below which none can appear later. It is taken from
# that statement's own snapshot (`pg_current_snapshot()`, the one its SELECT reads with), so
# the horizon and the read are one statement, one round trip, in no transaction of their
# own:
# - every id at or above the snapshot's xmax is unseen: the horizon is at most the xmax;
# - every id below the xmax and not in the snapshot's list of running ones (`xip`) had
#   ended when the snapshot was taken, so the read sees its changes;
# - so the horizon is the oldest id of that list, leaving out only transactions of other
#   databases, which write nothing here: those pg_stat_activity (read after the snapshot,
#   and readable by every role) still shows running in another database. One that ended
#   between the two is of no known database and holds the horizon back for this read only.
# So a transaction left open in another database on the same server (an idle psql, another
# application) holds nothing back, as when the horizon was a statement of its own. Ids are
# 64-bit (xid8) here; pg_stat_activity's `backend_xid` is the same id's low 32 bits.
HORIZON = """
    horizon AS (
        SELECT least(
            pg_snapshot_xmax(now.s)::text::bigint,
            (SELECT min(x::text::bigint) FROM pg_snapshot_xip(now.s) AS x
             WHERE x::text::bigint % 4294967296 NOT IN (
                 SELECT backend_xid::text::bigint FROM pg_stat_activity
                 WHERE backend_xid IS NOT NULL
                 AND datname IS DISTINCT FROM current_database()))
        ) AS below
        FROM (SELECT pg_current_snapshot() AS s) AS now
    )
"""


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"
