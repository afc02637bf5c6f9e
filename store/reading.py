"""Reads on the API's hot path, one trip to the database each, with no ORM Session.

Through an AsyncSession one read of one row costs, on SQLite, five hand-offs to aiosqlite's
thread (cursor, execute, fetch, close, the session's rollback), each a wake-up of two
threads, and on both engines the ORM's work per row (identity map, instance state, load
events): more than the query itself. Here:
- a statement is Core (compiled once per shape: SQLAlchemy caches the compiled form);
- on SQLite it runs whole, fetch included, in one trip to a small pool of threads of its
  own, over plain sqlite3 connections to the same file. WAL: a read sees every commit that
  ended before it began, as the server's own connections do. An in-memory database, which
  another connection cannot see, takes the engine's own connections;
- on PostgreSQL asyncpg is asynchronous already: a pooled connection in autocommit, no
  Session;
- a communication's row becomes a `Communication` filled from its columns without a
  Session (`communications()`): what an AsyncSession hands back once closed, less the
  identity key. Such a row is for reading: no code adds one to a session (writes go by id,
  store/writes.py).
"""

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, Executable, Row, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from store import Store
from store.database import on_sqlite_file, per_loop, sqlite_file_engine
from store.tables import Communication, filled

COMMUNICATION: Table = Communication.__table__  # type: ignore[attr-defined]
ROWS: Select[Any] = select(COMMUNICATION)  # whole rows, for `communications()`
THREADS = 4  # SQLite reads at once: sqlite3 lets go of the GIL while it reads


class _SQLiteReads:
    """Plain sqlite3 connections to one file, used from `THREADS` threads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine: Engine = sqlite_file_engine(engine.url)
        self.threads = ThreadPoolExecutor(THREADS, thread_name_prefix="sqlite-reads")

    def close(self) -> None:
        self.threads.shutdown(wait=False)
        self.engine.dispose()

    def fetch(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Row[Any]]:
        with self.engine.connect() as connection:
            return connection.execute(statement, values).all()


_SQLITE: "weakref.WeakKeyDictionary[Any, _SQLiteReads]" = weakref.WeakKeyDictionary()


def _sqlite(engine: AsyncEngine) -> _SQLiteReads | None:
    """The reads of a SQLite file's engine, made on first use and closed with the engine;
    None for another database or one in memory."""
    if not on_sqlite_file(engine):
        return None
    reads = _SQLITE.get(engine.sync_engine)
    if reads is None:
        reads = _SQLITE[engine.sync_engine] = _SQLiteReads(engine)
        weakref.finalize(engine.sync_engine, reads.close)
    return reads


def engines(store: Store) -> list[Engine]:
    """Every engine a store's statements run on: its own and, on a SQLite file, that of its
    reads (for a test that watches the statements sent)."""
    engine: AsyncEngine = store.sessions.kw["bind"]
    reads = _sqlite(engine)
    return [engine.sync_engine, *([reads.engine] if reads is not None else [])]


async def fetch(
    store: Store, statement: Executable, values: Mapping[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """Every row of a Core statement that reads, with `values` for its bound parameters
    (a statement made once with `bindparam` skips building the expression per call)."""
    engine: AsyncEngine = store.sessions.kw["bind"]
    reads = _sqlite(engine)
    if reads is not None:
        return await asyncio.get_running_loop().run_in_executor(
            reads.threads, reads.fetch, statement, values or {}
        )
    async with _gate(engine), engine.connect() as connection:
        # one SELECT needs no transaction of its own: without BEGIN and ROLLBACK around it
        # a read is one round trip, not three, and sees every commit that ended before it
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return (await connection.execute(statement, values or {})).all()


def _gate(engine: AsyncEngine) -> asyncio.Semaphore:
    """Reads at once on one engine: as many as the pool keeps open. Past that, a read waits
    for one of those connections rather than opening one more that the pool closes on
    return: under 32 clients py-spy found 11% of a read in asyncpg's connect (TLS attempt,
    .pgpass, codecs), for connections used once. Writes still may open more."""
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 5
    return per_loop(engine, "reads", lambda: asyncio.Semaphore(max(1, size)))


async def communications(
    store: Store, statement: Executable, values: Mapping[str, Any] | None = None
) -> list[Communication]:
    """The communications a SELECT of whole rows (`ROWS.where(...)`) finds."""
    rows = await fetch(store, statement, values)
    columns = rows[0]._fields if rows else ()  # the same for every row (a property: made anew)
    return [filled(zip(columns, row, strict=True)) for row in rows]
