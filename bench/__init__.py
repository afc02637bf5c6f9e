"""Benchmarks: each prints its figure as a ratio to an anchor measured in the same run."""

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from server.runtime import Runtime, runtime, upgrade
from server.settings import Settings
from store import Store


@asynccontextmanager
async def scratch(postgres: str | None = None) -> AsyncIterator[Runtime]:
    """A fresh, migrated database with the memory broker, assembled as a server assembles it
    (server/runtime.py): a SQLite file, or with `postgres` (a server URL such as
    postgresql://postgres@127.0.0.1:5432/postgres) a database made here and dropped after."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            async with _opened(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}") as parts:
                yield parts
        return
    name = f"commpulse_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        async with _opened(f"{postgres.rsplit('/', 1)[0]}/{name}") as parts:
            yield parts
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


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
