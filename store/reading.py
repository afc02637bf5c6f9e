"""Reads on the API's hot path, one trip to the database each, with no ORM Session.

Through an AsyncSession one read of one row costs, on SQLite, five hand-offs to aiosqlite's
thread (cursor, execute, fetch, close, the session's rollback), each a wake-up of two
threads, and on both engines the ORM's work per row (identity map, instance state, load
events): more than the query itself. Here:
- a statement is Core (compiled once per shape: SQLAlchemy caches the compiled form);
- on SQLite it runs whole, fetch included, in one trip to a small pool of threads of its
  own, over plain sqlite3 connections to the same file. WAL: a read sees every commit that
  ended before it began, as the server's own connections do. A `kept` statement goes to
  the sqlite3 connection itself there, as on PostgreSQL below. An in-memory database, which
  another connection cannot see, takes the engine's own connections. A `quick` statement
  (a row by id, a page walking an index) runs on the event loop's own thread instead: the
  hand-off to a thread and back cost more than SQLite's work for it;
- on PostgreSQL asyncpg is asynchronous already: a pooled connection in autocommit, no
  Session. A statement made once and run again and again (`kept`: a row by id, a page's
  shape) is compiled for asyncpg once and sent on the pooled connection's driver itself:
  through SQLAlchemy's async layer each read was four hand-offs to a greenlet (connect,
  autocommit, execute, close) and its execution context and result objects, a third of a
  one-item read by py-spy. Its values are bound and its columns converted by the
  processors SQLAlchemy would use, and asyncpg alone, with no BEGIN, runs each statement
  in a transaction of its own, as AUTOCOMMIT does;
- a communication's row becomes a `Communication` filled from its columns without a
  Session (`communications()`): what an AsyncSession hands back once closed, less the
  identity key. Such a row is for reading: no code adds one to a session (writes go by id,
  store/writes.py).
"""

import asyncio
import contextlib
import sqlite3
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from queue import SimpleQueue
from threading import Thread, local
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Engine, Executable, Select, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util.concurrency import greenlet_spawn

from store import Store, tables
from store.database import on_sqlite_file, sqlite_file_engine, sqlite_pragmas
from store.tables import Communication, filled

ROWS: Select[Any] = select(*tables.COLUMNS)  # whole rows, for `communications()`
COLUMNS = tuple(c.key for c in tables.COLUMNS)  # a whole row's, in the order ROWS reads them
THREADS = 4  # SQLite reads at once: sqlite3 lets go of the GIL while it reads


class _SQLiteReads:
    """Plain sqlite3 connections to one file, used from `THREADS` threads. A read is handed
    to them on a queue and its rows handed back to the loop with one `call_soon_threadsafe`:
    through `run_in_executor` each read also made a concurrent Future (with its lock and
    condition) chained to an asyncio one: about 5% of a one-item miss by py-spy."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine: Engine = sqlite_file_engine(engine.url)
        self.jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self.started = False
        self.here = local()  # each event loop's thread's own connection, for quick reads
        self.opened: list[sqlite3.Connection] = []

    def close(self) -> None:
        for _ in range(THREADS if self.started else 0):
            self.jobs.put(None)
        for connection in self.opened:
            connection.close()
        self.engine.dispose()

    def quickly(self, plan: "_Plan", values: Mapping[str, Any]) -> list[list[Any]] | None:
        """A quick read's rows, read on this thread (the event loop's); None if SQLite is
        busy (a recovery, a lock another process holds), which a read in the threads waits
        out instead: this one must never make the loop wait.

        wrk, 32 connections on 1,000 rows, three runs each way in the same minutes on a busy
        machine: one communication by a different id each time 490-582 us of server CPU a
        request against 530-953 through the threads, a page of 50 3.9-4.8 ms against
        4.5-7.9: each read through the threads waited for two threads to be scheduled."""
        try:
            connection = self._here()
            records = connection.execute(plan.sql, plan.arguments(values)).fetchall()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            return None
        return [plan.row(record) for record in records]

    def _here(self) -> sqlite3.Connection:
        """This thread's connection, opened on its first quick read as the pool's are, with
        the server's pragmas, but waiting for no lock: neither opening it nor a read on it
        waits while SQLite is busy (`quickly`)."""
        connection: sqlite3.Connection | None = getattr(self.here, "connection", None)
        if connection is None:
            (database, *_), options = self.engine.dialect.create_connect_args(self.engine.url)
            connection = sqlite3.connect(database, **{**options, "timeout": 0.0})
            try:
                sqlite_pragmas(connection, None)
                connection.execute("PRAGMA busy_timeout=0")
            except BaseException:
                connection.close()
                raise
            self.here.connection = connection
            self.opened.append(connection)
        return connection

    async def fetch(
        self, statement: Executable, values: Mapping[str, Any], plan: "_Plan | None"
    ) -> Sequence[Sequence[Any]]:
        """Its rows; with a `plan`, run on the sqlite3 connection itself, past SQLAlchemy's
        execution and result (py-spy: most of a page's time in the reads' threads). A
        quick one runs here, unless SQLite is busy."""
        if plan is not None and plan.quick and (rows := self.quickly(plan, values)) is not None:
            return rows
        if not self.started:  # on the first read: a test that only watches starts none
            self.started = True
            for number in range(THREADS):  # daemons: a read left waiting never holds up exit
                Thread(target=self._serve, name=f"sqlite-reads-{number}", daemon=True).start()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Sequence[Sequence[Any]]] = loop.create_future()
        self.jobs.put((loop, done, statement, values, plan))
        return await done

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            loop, done, statement, values, plan = job
            try:
                with self.engine.connect() as connection:
                    if plan is None:
                        rows: Sequence[Sequence[Any]] = connection.execute(statement, values).all()
                    else:
                        driver = connection.connection.dbapi_connection
                        assert driver is not None
                        records = driver.execute(plan.sql, plan.arguments(values)).fetchall()
                        rows = [plan.row(record) for record in records]
            except BaseException as error:  # handed to the reader, raised there
                _hand_back(loop, done, None, error)
            else:
                _hand_back(loop, done, rows, None)


_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Sequence[Sequence[Any]]]",
    Executable,
    Mapping[str, Any],
    "_Plan | None",
]


def _hand_back(
    loop: asyncio.AbstractEventLoop,
    done: "asyncio.Future[Sequence[Sequence[Any]]]",
    rows: Sequence[Sequence[Any]] | None,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if done.cancelled():  # the reader went away meanwhile
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(rows or [])

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
        loop.call_soon_threadsafe(settle)


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


S = TypeVar("S", bound=Executable)
KEPT_MAX = 1_024  # statements kept with their asyncpg form: a page's shapes are bounded too
# by id: the statement, its plan for each dialect it ran on (None: it cannot have one), and
# whether it is quick
_KEPT: "OrderedDict[int, tuple[Executable, dict[str, _Plan | None], bool]]" = OrderedDict()


def kept(statement: S, *, quick: bool = False) -> S:
    """`statement`, marked as made once and run many times (a module's constant, a page's
    statement per shape): it is compiled for the driver on its first run on each engine
    (asyncpg, or sqlite3 in the reads' threads). Kept by identity, with the statement
    itself (an id is not reused while it is kept). An INSERT or UPDATE names every column
    it sets in the statement (`values`): the plan binds only the statement's parameters, and
    columns given only as an execution's values would be left out of it.

    A `quick` read touches about as many rows as it returns, walking an index (a row by
    id, a page with no search): on SQLite it runs on the event loop's thread, where a read
    that could scan a table (a search) must not."""
    _KEPT.setdefault(id(statement), (statement, {}, quick))
    while len(_KEPT) > KEPT_MAX:
        _KEPT.popitem(last=False)
    return statement


def limit(rows: int, *, postgres: bool) -> Any:
    """LIMIT `rows`: on PostgreSQL written into the statement rather than bound. A kept
    statement is prepared once per connection, and PostgreSQL plans a prepared statement
    anew for each run (a custom plan) until a plan for any values (a generic plan) costs
    no more: with LIMIT a parameter it cannot know a page is 21 rows, so the generic plan
    looked dear at 1,000,000 rows and every page was planned again, about 1 ms of a 1.7 ms
    page of one kind (0.7 ms with generic plans forced). Written in, the generic plan is
    the page's, and is kept. The limit is part of a page's shape, so the statements stay as
    few. SQLite's planner takes a limit it can see as a reason to read a small table by
    another index and sort: there it stays bound, as the plans it was checked with."""
    return literal_column(str(int(rows))) if postgres else rows


class _Plan(NamedTuple):
    """A kept statement as its driver runs it: its SQL, its parameters in order with the
    values they default to and how each is bound, and how each column is read."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    binds: tuple[Callable[[Any], Any] | None, ...]
    reads: tuple[tuple[int, Callable[[Any], Any]], ...]  # the columns that need converting
    quick: bool = False  # see `kept`

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        given = [values[n] if n in values else self.defaults[n] for n in self.names]
        return [v if bind is None else bind(v) for v, bind in zip(given, self.binds, strict=True)]

    def row(self, record: Sequence[Any]) -> list[Any]:
        """A record's values, converted where SQLAlchemy would: only the columns that need
        it are visited (a whole row is 30 columns, of which 7 datetimes, most of them NULL:
        every processor SQLAlchemy or this store has reads NULL as None, so it is not called
        for one; py-spy: the NULL datetimes' calls were a fifth of a page's conversions)."""
        values = list(record)
        for i, read in self.reads:
            value = values[i]
            if value is not None:
                values[i] = read(value)
        return values


def _plan(statement: Executable, dialect: Dialect) -> "_Plan | None":
    """A kept statement's plan, made on its first run; None when it is not kept or has
    what a plain compile cannot bind (an expanding IN, a parameter rendered literally)."""
    found = _KEPT.get(id(statement))
    if found is None:
        return None
    _, plans, quick = found
    if dialect.name not in plans:
        plans[dialect.name] = _compiled(statement, dialect, quick)
    _KEPT.move_to_end(id(statement))
    return plans[dialect.name]


def _compiled(statement: Executable, dialect: Dialect, quick: bool) -> "_Plan | None":
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())  # as rendered: `param_1` for a LIMIT's value
    parameters = [compiled.binds[n] for n in names]
    if (
        compiled.literal_execute_params
        or compiled.post_compile_params
        # a column's default SQLAlchemy computes at each execution (an INSERT that leaves
        # out a column with a default, an UPDATE's onupdate): the plan would bind nothing
        or compiled.insert_prefetch
        or compiled.update_prefetch
        # a value the caller gives is found by its parameter's name, as rendered
        or any(
            (p.required and p.key != n) or p.expanding
            for p, n in zip(parameters, names, strict=True)
        )
    ):
        return None
    processors = compiled._bind_processors
    return _Plan(
        sql=compiled.string,
        names=names,
        defaults={
            n: p.effective_value for p, n in zip(parameters, names, strict=True) if not p.required
        },
        binds=tuple(processors.get(n) for n in names),  # type: ignore[misc]
        reads=tuple(
            (i, read)
            for i, (_key, _name, _objects, kind) in enumerate(compiled._result_columns)
            if (read := kind._cached_result_processor(dialect, None)) is not None
        ),
        quick=quick,
    )


def execute(
    connection: Connection, statement: Executable, values: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """Every row a statement returns, run in the transaction of a synchronous `connection`
    (a write's steps, store/writes.py). A kept statement on a sqlite3 connection (the SQLite
    writer's thread) goes to the driver itself, as a read's does: through SQLAlchemy's
    execution and result each statement of a transition cost about as much Python as the
    rest of the writer's work, 13% of the GIL's time at 800 writes a second with 100
    subscribers (py-spy --gil), all of it in a thread the event loop waits on. Its errors
    are SQLAlchemy's, as the other way raises them (an IntegrityError names a taken slug)."""
    driver = connection.connection.dbapi_connection
    plan = (
        _plan(statement, connection.dialect)
        if isinstance(driver, sqlite3.Connection) and _unwatched(connection.engine)
        else None
    )
    if plan is None:
        return connection.execute(statement, values).all()
    arguments = plan.arguments(values)
    try:
        records = driver.execute(plan.sql, arguments).fetchall()
    except sqlite3.Error as error:
        raise DBAPIError.instance(plan.sql, arguments, error, sqlite3.Error) from error
    return [plan.row(record) for record in records]


async def fetch(
    store: Store, statement: Executable, values: Mapping[str, Any] | None = None
) -> Sequence[Sequence[Any]]:
    """Every row of a Core statement that reads, or that is a whole write in one statement
    (store/writes.py `move_alone`), with `values` for its bound parameters (a statement
    made once with `bindparam` skips building the expression per call)."""
    engine: AsyncEngine = store.sessions.kw["bind"]
    reads = _sqlite(engine)
    if reads is not None:
        sqlite = _plan(statement, reads.engine.dialect) if _unwatched(reads.engine) else None
        return await reads.fetch(statement, values or {}, sqlite)
    plan = _plan(statement, engine.dialect) if _direct(engine) else None
    if plan is not None:
        return await _fetch_asyncpg(engine, plan, values or {})
    async with engine.connect() as connection:
        # one SELECT needs no transaction of its own: without BEGIN and ROLLBACK around it
        # a read is one round trip, not three, and sees every commit that ended before it
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return (await connection.execute(statement, values or {})).all()


def _direct(engine: AsyncEngine) -> bool:
    """Whether kept statements go to asyncpg directly: on PostgreSQL, while nobody listens
    for the statements SQLAlchemy runs (`_unwatched`)."""
    return engine.dialect.name == "postgresql" and _unwatched(engine.sync_engine)


def _unwatched(engine: Engine) -> bool:
    """Whether nobody listens for the statements SQLAlchemy runs on `engine` (traces'
    spans, a test watching what is sent), who would not see those sent to the driver."""
    events = engine.dispatch
    return not (events.before_cursor_execute or events.after_cursor_execute)


async def _fetch_asyncpg(
    engine: AsyncEngine, plan: _Plan, values: Mapping[str, Any]
) -> list[list[Any]]:
    """A kept statement on a pooled connection's asyncpg driver: two hand-offs to the
    pool (its checkout and checkin may wait on the network), none for the statement."""
    arguments = plan.arguments(values)
    pooled = await engine.raw_connection()
    try:
        records = await pooled.driver_connection.fetch(plan.sql, *arguments)  # type: ignore[union-attr]
    except BaseException as error:
        if pooled.driver_connection.is_closed():  # type: ignore[union-attr]
            pooled.invalidate()  # as SQLAlchemy does on a disconnect: not back in the pool
        if isinstance(error, Exception):
            raise _as_sqlalchemy(engine, pooled, plan.sql, arguments, error) from error
        raise
    finally:
        await greenlet_spawn(pooled.close)
    return [plan.row(record) for record in records]


def _as_sqlalchemy(
    engine: AsyncEngine, pooled: Any, sql: str, arguments: list[Any], error: Exception
) -> Exception:
    """asyncpg's error as SQLAlchemy raises it for the same statement (an IntegrityError
    for a unique violation, say: a write that runs here, `writes.insert_alone`, names a
    taken slug that way), translated by SQLAlchemy's asyncpg adapter itself."""
    dbapi = engine.dialect.loaded_dbapi
    try:
        pooled.dbapi_connection._handle_exception(error)  # raises the DB-API's error
    except dbapi.Error as translated:
        return DBAPIError.instance(sql, arguments, translated, dbapi.Error)
    except Exception as other:  # not asyncpg's: as it came
        return other
    return error


async def communications(
    store: Store, statement: Executable, values: Mapping[str, Any] | None = None
) -> list[Communication]:
    """The communications a SELECT of whole rows (`ROWS.where(...)`) finds."""
    rows = await fetch(store, statement, values)
    return [filled(zip(COLUMNS, row, strict=True)) for row in rows]
