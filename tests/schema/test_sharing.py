"""Shared execution in one process: members of a group that reach an event together (the
watchers of one communication, woken by one read of its row) ride along after it."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

from schema.sharing import Frames, Outbox, Parked, Shared, deliver, lead

MEMBERS = 5
SAFETY = 10  # seconds; only so that a lost payload fails the test instead of hanging it


class Row:
    """One row that changes, and wakes all of its watchers at once (as store/stream.py's
    watched rows do)."""

    def __init__(self) -> None:
        self.serial = 0
        self.changed = asyncio.Event()

    def change(self) -> None:
        self.serial += 1
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def events(self) -> AsyncIterator[tuple[int, Callable[[], str]]]:
        seen = 0
        while True:
            while self.serial == seen:
                await self.changed.wait()
            seen = self.serial
            yield seen, partial(str.format, "row {}", seen)


async def member(shared: Shared, row: Row) -> None:
    """What the websocket handler does with each value its operation yields: publish it for
    the group when it executed it, and send it; riding along, its execution ends and the
    group's payloads reach its outbox (server/websockets.py)."""
    with contextlib.suppress(Parked):
        async for payload in deliver(SimpleNamespace(root_value=shared), row.events()):  # type: ignore[arg-type]
            lead(shared, payload)
            shared.outbox.post(payload)


async def test_members_woken_together_ride_along() -> None:
    """Members that all wake for the same event send it once each, and all but one ride along
    after it: the next events wake one member's task, not each member's."""
    frames, row = Frames(), Row()
    got: list[list[str]] = [[] for _ in range(MEMBERS)]
    arrived = asyncio.Condition()

    def sender(i: int) -> Callable[[str], Any]:
        async def send(payload: str) -> None:
            got[i].append(payload)
            async with arrived:
                arrived.notify_all()

        return send

    async def sent(count: int) -> None:
        async with asyncio.timeout(SAFETY), arrived:
            await arrived.wait_for(lambda: all(len(g) == count for g in got))

    members = [Shared("group", frames, Outbox(sender(i), limit=10)) for i in range(MEMBERS)]
    tasks = [asyncio.create_task(member(shared, row)) for shared in members]
    try:
        for count in range(1, 4):
            row.change()
            await sent(count)
            group = frames.group("group")
            assert (len(group.active), len(group.passengers)) == (1, MEMBERS - 1)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert got == [["row 1", "row 2", "row 3"]] * MEMBERS
