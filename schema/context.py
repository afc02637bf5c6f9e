"""The context every resolver gets: built once per HTTP request or per websocket."""

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from schema.readcache import Stamp
from store import Store
from store.communications import get_many
from store.tables import Communication
from store.tokens import ApiRole


@dataclass
class Context:
    store: Store
    actor: str = "anonymous"  # who acts, for the history: the token's name
    role: ApiRole | None = None  # the token's role; None until a token is accepted
    rate: float | None = None  # the token's own operations a second, if it has one
    lease: timedelta = timedelta(seconds=60)  # claimRecipients' default lease
    stalled_after: timedelta = timedelta(seconds=60)  # SENDING with no progress this long
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None  # a websocket's connection_init payload
    idempotency_key: str | None = None  # an HTTP request's Idempotency-Key header
    webhook_allow_private: bool = False  # webhook URLs may name private or loopback hosts
    # the read cache's stamp, taken by server/reads.py before it found no cached answer: the
    # full path stores its result under it instead of reading the commit mark again
    read_stamp: Stamp | None = None

    @cached_property
    def communications_by_id(self) -> DataLoader[int, Communication | None]:
        # made on first use: most websockets never ask, and each of thousands of idle
        # subscribers' contexts would hold one (0.6 KiB)
        async def load(ids: list[int]) -> list[Communication | None]:
            found = await get_many(self.store, ids)
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load, cache=False)


Info = StrawberryInfo[Context, None]
