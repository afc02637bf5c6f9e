"""What has committed in the whole database, in one cheap value: for a cache in one
process to tell whether anything was written since it stored a result, on any instance,
before that instance's notice arrives (schema/readcache.py).

On PostgreSQL the value is the current snapshot (`pg_current_snapshot()`): its xmin, xmax
and in-progress list change whenever any write transaction ends, on any instance, and
reading it touches no table. SQLite cannot say (None): it is the one-instance database.
"""

import asyncio

from sqlalchemy import text

from store import Store


async def mark(store: Store) -> str | None:
    """A value that differs once any write transaction has ended since it was read; None
    where the database cannot tell."""
    async with store.sessions() as session:
        if session.bind is None or session.bind.dialect.name != "postgresql":
            return None
        found = await session.execute(text("SELECT pg_current_snapshot()::text"))
        return str(found.scalar_one())


class Marks:
    """`mark()` for many callers at once: one read serves every caller that asked before it
    started, so a burst of requests costs one round trip, not one each. A caller never gets
    a value read before it asked, so whatever committed before it asked shows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiters: list[asyncio.Future[str | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._blind = False  # the database cannot tell: asking again would not help

    async def current(self) -> str | None:
        if self._blind:
            return None
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._task is None:
            self._task = asyncio.create_task(self._read())
        return await waiter

    async def _read(self) -> None:
        try:
            while self._waiters:
                waiters, self._waiters = self._waiters, []
                try:
                    value = await mark(self.store)
                    self._blind = value is None
                except Exception as error:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(value)
        finally:
            self._task = None
