"""Benchmarks: each prints its figure as a ratio to an anchor measured in the same run."""

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from server.runtime import runtime, upgrade
from server.settings import Settings
from store import Store


@asynccontextmanager
async def scratch_store() -> AsyncIterator[Store]:
    """The store on a fresh, migrated SQLite file, with the memory broker, as a server
    assembles it (server/runtime.py)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        await upgrade(settings)
        async with runtime(settings) as parts:
            yield parts.store
