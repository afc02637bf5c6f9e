"""Shared execution: subscribers with the same document, variables and role get the same
result for the same event, so the selection runs once per event for the group and every
member gets the same serialized payload.

Where the sharing sits, and why: as a cache of serialized payloads keyed by (document,
variables, operation name, role, event), consulted by our subscription resolvers, filled
by the websocket handlers (server/websockets.py). Each subscriber keeps its own
strawberry operation, so everything that is per subscriber stays so and stays strawberry's:
parsing, validation, the depth/alias/token limits, permissions and the rate limit run for
each subscribe, and each subscriber keeps its own position in the stream (its own `after`
replay, its own first state of a communication) and its own backpressure. Only the work
per event is shared. A group of operations with one executor (the other design) would
have had to re-create all of that: a late joiner's replay and first state differ from the
group's.

For each event the first member to reach it leads: it yields the value to graphql-core as
usual, strawberry executes it, and the handler serializes the result once, publishes the
payload here and sends it. The other members wait for that payload and send it as their
own frame without executing anything. So the payload is by construction the one
strawberry's per-subscriber path makes; if the leader cannot finish (it was stopped, or
making the value failed) the others execute for themselves.
"""

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from strawberry.types import Info

T = TypeVar("T")
FRAMES = 4_096  # payloads kept: a member further behind than this executes for itself


class Frames:
    """Serialized payloads by (group, event), the newest FRAMES of them."""

    def __init__(self, size: int = FRAMES) -> None:
        self.size = size
        self._payloads: OrderedDict[Hashable, asyncio.Future[str | None]] = OrderedDict()

    def claim(self, key: Hashable) -> tuple[asyncio.Future[str | None], bool]:
        """The payload's future, and whether the caller is the first to ask (it leads)."""
        found = self._payloads.get(key)
        if found is not None and not (found.done() and found.result() is None):
            return found, False
        made: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._payloads[key] = made
        while len(self._payloads) > self.size:
            self._payloads.popitem(last=False)
        return made, True


@dataclass
class Shared:
    """The root value a websocket handler gives each subscription it runs: which group it
    belongs to, where payloads are shared, and how to send one as this operation's frame."""

    group: Hashable
    frames: Frames
    send: Callable[[str], Awaitable[None]]
    leading: asyncio.Future[str | None] | None = None  # the event this operation executes


async def deliver(
    info: Info[Any, Any], events: AsyncIterator[tuple[Hashable, Callable[[], T]]]
) -> AsyncGenerator[T, None]:
    """What a subscription resolver yields for `events` (an event's key, and how to make
    the value graphql-core executes): shared when the handler set up sharing, else as is."""
    shared = info.root_value if isinstance(info.root_value, Shared) else None
    async for key, make in events:
        if shared is None:
            yield make()
            continue
        claimed, lead = shared.frames.claim((shared.group, key))
        frame: asyncio.Future[str | None] | None = claimed
        if not lead:
            # the leader always settles it: with its payload once serialized, with None when it
            # stops first (the `finally` below); shielded, so a follower stopped meanwhile
            # leaves it alone for the others
            payload = claimed.result() if claimed.done() else await asyncio.shield(claimed)
            if payload is not None:
                await shared.send(payload)
                continue
            frame = None  # the leader could not make it: execute for ourselves
        shared.leading = frame
        try:
            yield make()
        finally:
            shared.leading = None
            if frame is not None and not frame.done():
                frame.set_result(None)
