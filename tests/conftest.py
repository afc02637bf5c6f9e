"""Shared fixtures: a store on a real SQLite file with the memory broker."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broadcaster import Broadcast

from store import Store
from store.database import create_engine, create_schema, sessions
from store.feed import Feed


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'commpulse.db'}")
    await create_schema(engine)
    async with Broadcast("memory://") as broadcast:
        yield Store(sessions(engine), Feed(broadcast))
    await engine.dispose()
