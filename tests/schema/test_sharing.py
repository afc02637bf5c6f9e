"""Shared execution in one process: members of a group that reach an event together (the
watchers of one communication, woken by one read of its row) ride along after it; and who
drives a group riding along when its executing member leaves: one rider at a time, the
earliest boarded, and the next if that one ends before it drives."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

from schema.sharing import Frames, Group, Outbox, Parked, Passenger, Shared, deliver, lead

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


async def turn_ends() -> None:
    """Once this turn of the event loop has ended: what a group published in it has been
    carried to its passengers (`Group.carry`, called soon when the first was published)."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.call_soon(ended.set_result, None)
    await ended


def _member(frames: Frames, sent: list[str]) -> Shared:
    async def send(payload: str) -> None:
        sent.append(payload)

    return Shared("group", frames, Outbox(send, 10))


def _ride(group: Group, member: Shared) -> Passenger:
    passenger = group.board(member)
    assert passenger is not None
    member.passenger = passenger
    return passenger


async def test_one_rider_at_a_time_takes_over() -> None:
    frames = Frames()
    group = frames.group("group")
    sent: dict[str, list[str]] = {name: [] for name in "abcd"}
    a, b, c, d = (_member(frames, sent[name]) for name in "abcd")
    for member in (a, b, c, d):
        group.join(member)
    group.published(1, "one")
    for member in (a, b, c, d):
        group.sent(member, 1)
    riders = [_ride(group, member) for member in (b, c, d)]  # `a` goes on executing

    group.leave(a)  # the executing member leaves: the earliest rider is released, only it
    assert [r.released.done() for r in riders] == [True, False, False]

    frames.finished(b)  # its operation ended before it drove: the next one takes over
    assert [r.released.done() for r in riders] == [True, True, False]

    group.join(c)  # it runs again from its last event and publishes for the one left riding
    group.published(2, "two")
    assert sent["d"] == []  # carried when the turn ends
    await turn_ends()
    assert not riders[2].released.done()
    assert sent["d"] == ["two"]
    assert sent["b"] == sent["c"] == []  # they send their own, from their own executions


async def test_one_rider_makes_an_event_its_executor_could_not() -> None:
    """The member executing for the group could not make an event (it was stopped halfway):
    one rider, the earliest boarded, is released to make it and drive the group, and the
    others wait for its payload (all of them released was a burst of executions); a rider
    that the group carries past the event it waits for is released to make that one itself."""
    frames = Frames()
    group = frames.group("group")
    sent: dict[str, list[str]] = {name: [] for name in "abcde"}
    a, b, c, d, e = (_member(frames, sent[name]) for name in "abcde")
    for member in (a, b, c, d, e):
        group.join(member)
    group.published(1, "one")
    for member in (a, b, c, d, e):
        group.sent(member, 1)
    riders = [_ride(group, member) for member in (b, c, d)]  # `a` and `e` go on executing

    group.published(2, None)  # `a` could not make it
    assert [r.released.done() for r in riders] == [True, False, False]
    group.leave(a)  # ...and leaves: `e` still executes, `b` is on its way to drive
    assert [r.released.done() for r in riders] == [True, False, False]

    group.join(b)  # it runs again from its last event, makes the missed one, publishes it
    group.published(2, "two")
    await turn_ends()
    assert [r.released.done() for r in riders] == [True, False, False]
    assert sent["c"] == sent["d"] == ["two"]

    group.published(3, None)  # `b` could not make the next one either: `c` makes it
    assert [r.released.done() for r in riders] == [True, True, False]
    group.published(4, "four")  # `e` published the one after first: `d` makes both itself
    await turn_ends()
    assert [r.released.done() for r in riders] == [True, True, True]
    assert sent["d"] == ["two"]


async def test_what_a_turn_publishes_reaches_each_passenger_in_one_write() -> None:
    """A read of the stream lands several changes in one turn: each passenger's socket gets
    them in one write, in order, once; a passenger already sent some gets only the rest."""
    frames = Frames()
    group = frames.group("group")
    writes: dict[str, list[tuple[str, ...]]] = {name: [] for name in "abc"}

    def member(name: str) -> Shared:
        async def send(payload: str) -> None:
            writes[name].append((payload,))

        def write(payload: str) -> bool:
            writes[name].append((payload,))
            return True

        def write_all(payloads: tuple[str, ...]) -> bool:
            writes[name].append(payloads)
            return True

        return Shared("group", frames, Outbox(send, 10, write, write_all))

    a, b, c = (member(name) for name in "abc")
    for each in (a, b, c):
        group.join(each)
    group.published(1, "one")
    for each in (a, b, c):
        group.sent(each, 1)
    riders = {name: _ride(group, each) for name, each in (("b", b), ("c", c))}
    riders["c"].last = 2  # `c` was sent the second already (it made it itself, say)

    for key, payload in ((2, "two"), (3, "three"), (4, "four")):
        group.published(key, payload)
    assert writes["b"] == writes["c"] == []
    await turn_ends()
    assert writes["b"] == [("two", "three", "four")]
    assert writes["c"] == [("three",), ("four",)]
    assert riders["b"].last == riders["c"].last == 4
    assert writes["a"] == []  # it executes for itself, and sends its own
