"""The system of record: tables, queries and the lifecycle rules that writes obey."""

from dataclasses import dataclass

from store.database import Sessions
from store.feed import Feed


@dataclass(frozen=True)
class Store:
    """What every store function needs: sessions for the database, the feed for notices."""

    sessions: Sessions
    feed: Feed
