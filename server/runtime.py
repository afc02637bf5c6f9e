"""The parts every entry point needs, assembled in one place: the engine, the broker and the
store over them. The app's lifespan, the CLI, the seed and the benchmarks all open one
`runtime`, so none of them can drift to another broker or another way to check the
database (the seed once used broadcaster's own Redis backend; see server/brokers.py)."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncEngine

from server import brokers
from server.settings import Settings
from store import Store, migrate
from store.database import create_engine, sessions
from store.feed import Feed


@dataclass(frozen=True)
class Runtime:
    engine: AsyncEngine
    broker: brokers.Health  # feeds /readyz and the broker gauge
    store: Store


@asynccontextmanager
async def runtime(
    settings: Settings, feed: Callable[[Broadcast], Feed] = Feed
) -> AsyncIterator[Runtime]:
    """Open the database (refusing one that is unreachable or not migrated: NotMigrated,
    DatabaseUnavailable) and the broker; close both on the way out. `feed` wraps the
    broadcast for the store (the app counts and traces what goes through it)."""
    async with database(settings) as engine:
        await migrate.check(engine)
        broadcast, broker = brokers.broadcast(settings.broadcast_url)
        async with broadcast:
            yield Runtime(engine, broker, Store(sessions(engine), feed(broadcast)))


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine alone, for what needs no broker (migrating, the check before serving)."""
    engine = create_engine(settings.database_url, settings.database_pool_size)
    try:
        yield engine
    finally:
        await engine.dispose()


async def check(settings: Settings) -> None:
    """What a starting server checks first: the database answers and is migrated."""
    async with database(settings) as engine:
        await migrate.check(engine)


async def upgrade(settings: Settings) -> str:
    """Bring the database to the newest revision; the revision it is at then."""
    async with database(settings) as engine:
        await migrate.upgrade(engine)
        return await migrate.current(engine) or "none"
