"""Reads without a Session: a statement made once and run many times (`reading.kept`) gives,
on PostgreSQL straight from asyncpg, the rows SQLAlchemy gives for it, values bound and
columns read the same way; when something listens for the statements SQLAlchemy runs, it
sees them."""

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, func, inspect, select, table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from store import Store, changes, communications, reading
from store.lifecycle import Kind, Origin, Status
from store.tables import Communication, UTCDateTime, filled
from tests.factories import create, engine_of

SHAPE = communications.Shape(
    "created_at", True, False, True, False, False, False, False, None, 3, postgres=True
)
PAGE = reading.kept(
    reading.ROWS.where(col(Communication.created_at) <= bindparam("before"))
    .order_by(col(Communication.created_at).desc(), col(Communication.id).desc())
    .limit(2)
)


async def through_sqlalchemy(store: Store, statement: Any, values: dict[str, Any]) -> list[Any]:
    async with engine_of(store).connect() as connection:
        return [tuple(row) for row in (await connection.execute(statement, values)).all()]


async def test_a_kept_statement_reads_what_sqlalchemy_reads(store: Store) -> None:
    """Rows by id and a page bound by a datetime: the same values, datetimes aware in UTC,
    content decoded."""
    made = [await create(store, Kind.IN_APP, name=f"m{i}") for i in range(3)]
    cases: list[tuple[Any, dict[str, Any]]] = [
        (communications._BY_ID, {"id": made[1].id}),
        (PAGE, {"before": datetime(2100, 1, 1, tzinfo=UTC)}),
        (
            communications._page_statement(SHAPE),
            {"after_value": made[2].created_at, "after_id": made[2].id},
        ),
    ]
    engine = engine_of(store)
    for statement, values in cases:
        if engine.dialect.name == "postgresql":  # straight to asyncpg, not SQLAlchemy again
            assert reading._plan(statement, engine.dialect) is not None
        rows = [tuple(row) for row in await reading.fetch(store, statement, values)]
        assert rows and rows == await through_sqlalchemy(store, statement, values)
    found = await communications.get(store, made[1].id)
    assert found.name == "m1" and found.created_at.tzinfo is not None
    assert isinstance(found.content, dict)


async def test_a_kept_statement_is_seen_by_who_listens_for_statements(store: Store) -> None:
    """A listener on the engine (traces, a test) sees a kept statement sent, as any other."""
    made = await create(store, Kind.IN_APP, name="seen")
    sent: list[str] = []

    def seen(*args: Any) -> None:
        sent.append(args[2])

    engines = reading.engines(store)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        assert (await communications.get(store, made.id)).name == "seen"
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert any("FROM communication" in statement for statement in sent)


async def test_a_filled_row_is_made_as_the_orm_makes_one(store: Store) -> None:
    """`filled` gives what the class manager's `new_instance` and the loader's fill give:
    the same attributes, pydantic's slots and an ORM state that is transient."""
    made = await create(store, Kind.IN_APP, name="m")
    columns = {k: v for k, v in made.__dict__.items() if k != "_sa_instance_state"}
    ours = filled(columns)
    theirs = Communication._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    theirs.__dict__.update(columns)
    assert ours.__dict__.keys() == theirs.__dict__.keys()
    assert ours.model_dump() == theirs.model_dump() == made.model_dump()
    assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__
    assert (ours.__pydantic_extra__, ours.__pydantic_private__) == (None, None)
    assert type(inspect(ours)) is type(inspect(theirs))
    assert inspect(ours).transient and inspect(ours).object is ours


@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    ),
    written=st.sampled_from(["as the store writes it", "with its offset", "with a T"]),
)
def test_a_datetime_on_sqlite_reads_back_as_the_same_instant_in_utc(
    when: datetime, written: str
) -> None:
    """SQLite keeps datetimes as text: the store's own (naive UTC, `process_bind_param`)
    and text naming an offset, as another writer may leave, both read as the instant they
    name, aware in UTC."""
    dialect = sqlite.dialect()
    utc = when.astimezone(UTC)
    text = {
        "as the store writes it": utc.replace(tzinfo=None).isoformat(" "),
        "with its offset": when.isoformat(" "),
        "with a T": utc.replace(tzinfo=None).isoformat(),
    }[written]
    read = UTCDateTime().result_processor(dialect, None)
    assert read is not None
    found = read(text)
    assert found == utc and found.tzinfo is UTC


async def test_a_quick_read_while_another_process_locks_the_file_waits_without_stopping_the_loop(
    tmp_path: Path,
) -> None:
    """On SQLite a quick read (a row by id, a page) runs on the event loop's own thread,
    where it must never wait: while another process holds the file's lock, it waits in the
    reads' threads instead, the loop going on meanwhile, and reads what that process wrote
    once it lets go."""
    path = tmp_path / "locked.db"
    with contextlib.closing(sqlite3.connect(path)) as setup:
        setup.executescript(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"
        )
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    reads = reading._sqlite(engine)
    assert reads is not None
    count = reading.kept(select(func.count()).select_from(table("t")), quick=True)
    plan = reading._plan(count, reads.engine.dialect)
    assert plan is not None and plan.quick
    # as a process that crashed leaves it for the next to recover; only then, since each
    # process's connection to a file in WAL mode keeps others from an exclusive lock
    locker = sqlite3.connect(path, isolation_level=None)
    locker.executescript(
        "PRAGMA locking_mode=EXCLUSIVE; BEGIN IMMEDIATE; INSERT INTO t VALUES (2);"
    )
    read = asyncio.create_task(reads.fetch(count, {}, plan))
    ticks = 0
    while ticks < 100:  # the loop goes on while the read waits for the lock
        await asyncio.sleep(0)
        ticks += 1
    assert not read.done()
    locker.execute("COMMIT")
    locker.close()
    assert await read == [[2]]
    assert await reads.fetch(count, {}, plan) == [[2]]  # and on the loop's thread again
    # which would have waited for the lock, had it been told to: the loop with it
    assert reads._here().execute("PRAGMA busy_timeout").fetchone() == (0,)
    await engine.dispose()


def test_every_page_but_a_search_is_quick() -> None:
    """A page walks an index's ranges and reads about as many rows as it returns, so it may
    run on the loop's thread; a search may test every row of the table first, so it may not."""
    dialect = sqlite.dialect()
    for search in (False, True):
        for arms in (None, ((Kind.EMAIL, Status.DRAFT, Origin.CAMPAIGN),)):
            shape = SHAPE._replace(search=search, arms=arms, postgres=False)
            plan = reading._plan(communications._page_statement(shape), dialect)
            assert plan is not None and plan.quick is not search


def test_the_streams_reads_on_sqlite_are_quick() -> None:
    """The tail reads the changes after its position once for every change written: along
    the (tx, seq) index, a page at most, on the loop's thread."""
    dialect = sqlite.dialect()
    for statement in changes._READS["sqlite"]:
        plan = reading._plan(statement, dialect)
        assert plan is not None and plan.quick
