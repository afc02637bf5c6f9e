"""What has committed in the whole database, in one cheap value: for a cache in one
process to tell whether anything was written since it stored a result, on any instance,
before that instance's notice arrives (schema/readcache.py).

On PostgreSQL the value is the current snapshot (`pg_current_snapshot()`): its xmin, xmax
and in-progress list change whenever any write transaction ends, on any instance, and
reading it touches no table. SQLite cannot say (None): it is the one-instance database.
"""

from sqlalchemy import text

from store import Store, reading
from store.coalesce import Coalesced
from store.database import on_postgresql

_SNAPSHOT = text("SELECT pg_current_snapshot()::text")


async def mark(store: Store) -> str | None:
    """A value that differs once any write transaction has ended since it was read; None
    where the database cannot tell."""
    if not on_postgresql(store.sessions):
        return None
    return str((await reading.fetch(store, _SNAPSHOT))[0][0])  # one round trip, no BEGIN


class Marks:
    """`mark()` for many callers at once (store/coalesce.py): a burst of requests costs one
    round trip, and a caller never gets a value read before it asked."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._read = Coalesced(lambda: mark(store))
        self._blind = False  # the database cannot tell: asking again would not help

    async def current(self) -> str | None:
        if self._blind:
            return None
        value = await self._read()
        self._blind = value is None
        return value
