"""Benchmarks: each prints its figure as a ratio to an anchor measured in the same run."""

import contextlib
import itertools
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from server.runtime import Runtime, runtime, upgrade
from server.settings import Settings
from store import Store


async def postgres_execute(server: str, statement: str) -> None:
    """One statement on a PostgreSQL server, such as CREATE or DROP DATABASE (`server` is a
    URL, with or without SQLAlchemy's `+asyncpg`)."""
    connection = await asyncpg.connect(server.replace("+asyncpg", ""), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def py_spy(pid: int, name: str) -> list[str] | None:
    """The command that records process `pid` with py-spy (from the venv: the test extra has
    it) into BENCH_PROFILE/NAME-PID.txt, when BENCH_PROFILE names a directory; BENCH_PYSPY
    gives py-spy's options ("--nonblocking" unless set: sampling does not pause the server,
    so the figures stay as they are; "--gil" samples only the thread holding the GIL)."""
    directory = os.environ.get("BENCH_PROFILE")
    if not directory:
        return None
    output = Path(directory) / f"{name}-{pid}.txt"
    spy = Path(sys.executable).parent / "py-spy"
    options = os.environ.get("BENCH_PYSPY", "--nonblocking").split()
    record = ["record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(output)]
    return [str(spy), *record, *options]


# on a shared machine each user may keep to a range of ports: COMMPULSE_BENCH_PORTS=9100-9199
PORTS = os.environ.get("COMMPULSE_BENCH_PORTS", "")
_first, _, _last = (PORTS or "0").partition("-")
_ports = itertools.cycle(range(int(_first), int(_last or _first) + 1))


def free_port() -> int:
    """A loopback port nobody listens on: any the system picks or, with COMMPULSE_BENCH_PORTS
    (first-last), the next free one after those handed out before."""
    for candidate in itertools.islice(_ports, 1000):
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(("127.0.0.1", candidate))
            port: int = sock.getsockname()[1]
            return port
    raise SystemExit(f"no free port in COMMPULSE_BENCH_PORTS={PORTS}")


def database_name() -> str:
    """A new database's name, after COMMPULSE_DB_PREFIX (default commpulse) so that people
    sharing a server can tell theirs apart."""
    return f"{os.environ.get('COMMPULSE_DB_PREFIX', 'commpulse')}_bench_{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def throwaway_database(postgres: str | None = None) -> AsyncIterator[str]:
    """The URL of a new, empty database: a SQLite file in a folder removed after, or with
    `postgres` (a server URL such as postgresql://postgres@127.0.0.1:5432/postgres) a
    database made on that server and dropped after (`database_name`)."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        return
    name = database_name()
    await postgres_execute(postgres, f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        await postgres_execute(postgres, f'DROP DATABASE "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch(postgres: str | None = None) -> AsyncIterator[Runtime]:
    """A fresh, migrated database (`throwaway_database`) with the memory broker, assembled as
    a server assembles it (server/runtime.py)."""
    async with throwaway_database(postgres) as url, _opened(url) as parts:
        yield parts


@asynccontextmanager
async def scratch_store(postgres: str | None = None) -> AsyncIterator[Store]:
    async with scratch(postgres) as parts:
        yield parts.store


@asynccontextmanager
async def _opened(database_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=database_url)
    await upgrade(settings)
    async with runtime(settings) as parts:
        yield parts
