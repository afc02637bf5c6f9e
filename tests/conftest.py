"""Shared fixtures: a store on each real database engine, with the memory broker.

`store` runs every test that takes it twice: on a SQLite file and on PostgreSQL;
`module_store` does the same for a module whose tests share one database per engine.
Both get their schema from the Alembic migrations, once per session: a migrated template
file is copied for SQLite; PostgreSQL gets a database of its own for the session, emptied
(rows deleted, numbering restarted) whenever a store is opened on it. PostgreSQL is found
at COMMPULSE_TEST_POSTGRES (default: the CI service); without it the PostgreSQL runs are
skipped, except under CI=true, where that is a failure.
"""

import asyncio
import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import pytest_asyncio
from broadcaster import Broadcast
from hypothesis import HealthCheck, settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from store import Store, migrate, stream
from store.database import create_engine, sessions
from store.feed import Feed

# Generated inputs get no time limit per example: `make test` runs two test processes on two
# cores beside their servers, where a 200 ms deadline (or the slow-generation check) fails at
# random. Timing belongs to bench/; an example that never ends still fails on pytest-timeout.
settings.register_profile("commpulse", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("commpulse")

POSTGRES = os.environ.get("COMMPULSE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = os.environ.get("COMMPULSE_DB_PREFIX", "commpulse")  # of the databases made here
ENGINES = ["sqlite", "postgresql"]
T = TypeVar("T")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even while a test's loop is running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "commpulse.db"
    run(_migrate(sqlite_url(path)))
    return path


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must have it running", pytrace=False)
    pytest.skip(message)


async def postgres_admin(statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(POSTGRES, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL to make databases on; skips (fails under CI) when it is away."""
    try:
        run(postgres_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable("PostgreSQL", error)
    return POSTGRES


@pytest.fixture
def new_postgres_database(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (no migrations), dropped after it."""
    name = f"{PREFIX}_test_{uuid.uuid4().hex[:12]}"
    run(postgres_admin(f'CREATE DATABASE "{name}"'))
    yield asyncpg_url(postgres_server.rsplit("/", 1)[0] + f"/{name}")
    run(postgres_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test session's own, dropped at the end."""
    name = f"{PREFIX}_test_{uuid.uuid4().hex[:12]}"
    run(postgres_admin(f'CREATE DATABASE "{name}"'))
    url = asyncpg_url(postgres_server.rsplit("/", 1)[0] + f"/{name}")
    run(_migrate(url))
    yield url
    run(postgres_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


# Children first, so that foreign keys never stop a delete. DELETE, not TRUNCATE: on
# tables this small it is about ten times faster, and it runs on the store's own engine.
# status_count last: deleting communications adds to it (its triggers, migration 0008).
_EMPTY = sorted(
    (f"DELETE FROM {table.name}" for table in reversed(SQLModel.metadata.sorted_tables)),
    key=lambda statement: statement.endswith(" status_count"),
)
_RESTART_NUMBERING = (
    "SELECT setval(oid, 1, false) FROM pg_class"
    " WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
)


async def _empty_postgres(engine: AsyncEngine) -> None:
    """Delete every row and restart every id and seq at 1, as in a new database."""
    async with engine.begin() as conn:
        for statement in [*_EMPTY, _RESTART_NUMBERING]:
            await conn.execute(text(statement))


@asynccontextmanager
async def open_store(request: pytest.FixtureRequest, directory: Path) -> AsyncIterator[Store]:
    """A store on an empty, migrated database of the engine `request` is parametrised with."""
    if request.param == "sqlite":
        path = directory / "commpulse.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = create_engine(sqlite_url(path))
    else:
        engine = create_engine(request.getfixturevalue("postgres_database"))
        await _empty_postgres(engine)
    try:
        async with Broadcast("memory://") as broadcast:
            store = Store(sessions(engine), Feed(broadcast))
            yield store
            await _stream_stopped(store)
    finally:
        await engine.dispose()


async def _stream_stopped(store: Store) -> None:
    """Wait until the store's stream reader has stopped, its last read ended, before the
    store closes. A test that closes a subscription made with strawberry's Schema.subscribe
    (0.341) lets go of it at once, but strawberry's generator leaves graphql-core's, and so
    the resolver's and the stream's hold, to the collector's finalizer, a task of the loop's
    that may run after the test: closed under that read, the engine leaves its connection
    to the collector ("non-checked-in connection"). A test still holding the stream at its
    end (a bug of the test) is not waited for beyond _STREAM_SAFETY."""
    idle = stream.of(store).idle
    if idle.is_set():
        return
    # a generator left in a reference cycle (a result's error keeps its traceback's frames)
    # reaches the finalizer only when the collector runs: collect now, not in 10 seconds
    # (only then: a collection at every test's end cost the suite a minute)
    gc.collect()
    with suppress(TimeoutError):
        async with asyncio.timeout(_STREAM_SAFETY):
            await idle.wait()


_STREAM_SAFETY = 10  # seconds


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store of the test's own, on an empty database."""
    async with open_store(request, tmp_path) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=ENGINES)
async def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    """A store the tests of one module share (on the module's event loop), empty at first.

    For modules with very many cases that each make their own communications; they must
    not rely on the database being empty. A module uses this or `store`, never both: on
    PostgreSQL opening a `store` empties the database the module's store is on.
    """
    async with open_store(request, tmp_path_factory.mktemp("module")) as opened:
        yield opened


@pytest.fixture(params=ENGINES)
def unmigrated_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database of the test's own with no tables at all, on each engine."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "commpulse.db")
    url: str = request.getfixturevalue("new_postgres_database")
    return url
