"""Shared execution: subscribers with the same document, variables and role get the same
result for the same event, so the selection runs once per event for the group, and the
group's one serialized payload goes to every member, sent from one place.

Where the sharing sits, and why: as a cache of serialized payloads keyed by (group, event),
consulted by our subscription resolvers, filled by the websocket handlers
(server/websockets.py). Each subscriber keeps its own strawberry operation, so everything
that is per subscriber stays so and stays strawberry's: parsing, validation, the
depth/alias/token limits, permissions and the rate limit run for each subscribe, and each
subscriber keeps its own position in the stream (its own `after` replay, its own first
state of a communication). A group of operations with one executor (the other design)
would have had to re-create all of that: a late joiner's replay and first state differ
from the group's.

For each event the first member to reach it leads: it yields the value to graphql-core as
usual, strawberry executes it, and the handler serializes the result once, publishes the
payload here and sends it. The payload is by construction the one strawberry's
per-subscriber path makes; if the leader cannot finish (it was stopped, or making the value
failed) the others execute for themselves.

Members in step with the group ride along: once a member has sent the group's newest event
and another member that iterates on its own has sent it too, it stops iterating (its
stream let go, or, for a watched communication, kept as it is) and becomes a passenger.
Each payload the group publishes is then sent to every passenger straight away, from
where it is published: per event, one execution, one serialization, and a send per
socket, with no task, generator or queue of the passenger's waking. That is what makes
5,000 screens cost about what a raw broadcast costs; a member of its own costs a wake-up
of its task and its chain of generators per event, which at thousands of members was
10 times the sends themselves. A passenger also lets go of its execution (`Parked`):
strawberry's operation, graphql-core's execution context and the resolver's generators,
about 18 KiB a subscriber, most of what an idle one cost beyond its socket; its handler
keeps the operation registered and only its `Shared`. When the last member iterating on
its own stops, one passenger is released to drive the group again (the earliest boarded):
its handler runs its operation again, which goes on from the last event it was sent
(`resume`, or the watch it kept), so none is missed or sent twice, and publishes for the
others, which keep riding; if its run ends before it drives (an error, a stop), the next
is released (`finished`). Released all at once, 5,000 riders ran 5,000 operations again
in one burst (bench/release.py). When an event could not be made, one of those that
would miss it is released, the same way, to make it for the others (`_remake`). What a
subscribe counts and charges (rate, cost, the open subscriptions) is not counted again
(`again`).

Every member's payloads, whoever made them, go out through its own `Outbox`: sent at once
while its socket takes them, else queued, at most `limit` of them; past that the member is
dropped as the slow consumer it is (store.stream.Behind) and resumes with its cursor. No
member ever waits for its own socket, so one whose client stopped reading still iterates,
leads and publishes for its group (which may be riding along on it) until it is dropped:
a slow consumer slows nobody else.
"""

import asyncio
from collections import OrderedDict, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Hashable,
)
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

from strawberry.types import Info

from store.stream import QUEUE, Behind

T = TypeVar("T")
Key = Any  # an event's key: ordered, later events have greater keys
Events = AsyncIterator[tuple[Key, Callable[[], T]]]
FRAMES = 4_096  # payloads kept: a member further behind than this executes for itself


class Frames:
    """Serialized payloads by (group, event), the newest FRAMES of them, and the groups;
    `outbox`: payloads that may wait for one member's socket before it is dropped."""

    def __init__(self, size: int = FRAMES, outbox: int = QUEUE) -> None:
        self.size = size
        self.outbox = outbox
        self._payloads: OrderedDict[Hashable, asyncio.Future[str | None]] = OrderedDict()
        self._groups: dict[Hashable, Group] = {}

    def claim(self, group: "Group", key: Key) -> tuple[asyncio.Future[str | None], bool]:
        """The payload's future, and whether the caller is the first to ask (it leads)."""
        found = self._payloads.get((group.name, key))
        if found is not None and not (found.done() and found.result() is None):
            return found, False
        made: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._payloads[group.name, key] = made
        while len(self._payloads) > self.size:
            self._payloads.popitem(last=False)
        return made, True

    def group(self, name: Hashable) -> "Group":
        found = self._groups.get(name)
        if found is None:
            found = self._groups[name] = Group(name, self)
        return found

    def forget(self, group: "Group") -> None:
        if not group.active and not group.passengers and self._groups.get(group.name) is group:
            del self._groups[group.name]

    def finished(self, member: "Shared") -> None:
        """`member`'s operation ended for good (its handler is done with it): if it was
        released to drive its group and ended before it did, the next passenger drives."""
        group = self._groups.get(member.group)
        if group is None:
            return
        if group.driver is member:
            group.driver = None
        group.drive()
        self.forget(group)


class Outbox:
    """One member's payloads on their way to its socket: written at once while the socket
    has room, else queued, at most `limit` of them. One more, and the queue is dropped and
    `error` says the member fell behind; a send that fails (the socket is gone) sets it too.
    Posting never waits: the member goes on with its events whatever its socket does.

    `write`, where the socket offers it, puts a payload on the socket at once and says
    whether it did: the way nearly every payload goes (no coroutine, no ASGI message); when
    it cannot (the socket is full, closing, or speaks an extension), the payload takes
    `send`, the ASGI way, which waits for room or fails as the socket does. `write_all`
    puts several on the socket at once, as `write` would one by one (`post_all`)."""

    __slots__ = ("error", "limit", "send", "stopped", "waiting", "write", "write_all", "writing")

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        limit: int,
        write: Callable[[str], bool] | None = None,
        write_all: Callable[[tuple[str, ...]], bool] | None = None,
    ) -> None:
        self.send = send
        self.write = write
        self.write_all = write_all
        self.limit = limit
        self.writing: asyncio.Future[None] | None = None  # a send waiting for room
        # made on the first payload that has to wait: an empty deque is 0.7 KiB, and most
        # members' sockets always have room
        self.waiting: deque[str] | None = None
        self.error: Exception | None = None
        self.stopped: Callable[[Exception], None] | None = None  # told of `error`, once

    def post(self, payload: str) -> None:
        if self.error is not None:
            return
        if self.writing is None:  # nothing waits before it
            if self.write is not None and self.write(payload):
                return
            self.writing = eager(self._write(payload))
        elif self.waiting is None:
            self.waiting = deque((payload,))
        elif len(self.waiting) < self.limit:
            self.waiting.append(payload)
        else:
            self._stop(Behind(self.limit))

    def post_all(self, payloads: tuple[str, ...]) -> None:
        """`post` each payload, in order: in one write where the socket takes them all.
        That write goes out whole even past the socket's high-water mark, where one by one
        the rest would have queued here: a socket holds at most one turn's payloads more
        (the frames are one `bytes` for every socket of the group), and the next turn finds
        it full and queues, counting towards `limit` as before."""
        if self.error is not None:
            return
        if self.writing is None and self.write_all is not None and self.write_all(payloads):
            return
        for payload in payloads:
            self.post(payload)

    async def drained(self) -> None:
        """Once what was posted is written (or dropped): for what the operation sends itself."""
        while self.writing is not None:
            await asyncio.shield(self.writing)

    def behind(self) -> Behind | None:
        return self.error if isinstance(self.error, Behind) else None

    async def _write(self, payload: str) -> None:
        try:
            await self.send(payload)
            while self.waiting:
                await self.send(self.waiting.popleft())
            self.waiting = None
        except Exception as error:  # the socket is gone: strawberry ends the operation
            self._stop(error)
        finally:
            self.writing = None

    def _stop(self, error: Exception) -> None:
        self.waiting = None
        self.error = error
        if self.stopped is not None:
            self.stopped(error)


@dataclass(eq=False)
class Shared:
    """The root value a websocket handler gives each subscription it runs: which group it
    belongs to, where payloads are shared, and the outbox to its socket. It outlives the
    operation's executions: a member riding along lets go of its execution (`Parked`) and
    its handler runs the operation again, with the same `Shared`, once it is released."""

    group: Hashable
    frames: Frames
    outbox: Outbox
    # the event this operation executes for its group, and its payload's future
    leading: "tuple[Group, Key, asyncio.Future[str | None]] | None" = None
    last: Key = None  # the last event this operation sent
    passenger: "Passenger | None" = None  # riding along, its execution let go
    kept: "Events[Any] | None" = None  # events without `resume`, kept while it rides
    failed: Behind | None = None  # fell behind while riding: the next execution ends with it
    again: bool = False  # an execution after the first: its subscribe was counted and charged
    ends: list[Callable[[], None]] | None = None  # to call if it stops while riding along


class Parked(BaseException):
    """Raised by `deliver` through the operation's execution when its member boards as a
    passenger: strawberry's operation, graphql-core's execution and the resolver's
    generators unwind, and the websocket handler waits (`parked`) holding only the `Shared`,
    about 18 KiB less per subscriber. Not an Exception: nothing on the way may take it for
    an error of the operation and report it."""


def again(root_value: object) -> bool:
    """Whether an execution runs an operation again after it parked: what a subscribe
    counts and charges (its rate, its cost, the open subscriptions) was done the first time."""
    return isinstance(root_value, Shared) and root_value.again


def end(root_value: object, ended: Callable[[], None]) -> None:
    """Call `ended` when the subscription an execution ran ends: now, or, if its member
    parked, once it stops riding along without running again (the next execution ends it)."""
    if isinstance(root_value, Shared) and root_value.passenger is not None:
        root_value.ends = [*(root_value.ends or ()), ended]
    else:
        ended()


async def parked(shared: Shared) -> None:
    """Wait while the parked member rides along, until it is released; the next execution
    goes on from the last event it was sent (or ends with `Behind`). Cancelled (the client
    completed, the socket closed), it leaves the group and lets go of its kept events."""
    passenger = shared.passenger
    assert passenger is not None
    try:
        await passenger.released
    except Behind as behind:
        shared.failed = behind
    except BaseException:
        for ended in shared.ends or ():
            ended()
        if shared.kept is not None:
            await _close(shared.kept)
            shared.kept = None
        raise
    finally:
        passenger.release()
        shared.passenger = None
        shared.ends = None
    shared.last = passenger.last  # what it was sent is in its outbox, ahead of the rest
    shared.again = True


class Group:
    """One group's members in this process: those iterating on their own, and passengers."""

    def __init__(self, name: Hashable, frames: Frames) -> None:
        self.name = name
        self.frames = frames
        self.active: set[Shared] = set()
        self.passengers: dict[Passenger, None] = {}  # in boarding order
        self.newest: Key = None  # the newest event published
        self._at: dict[Key, int] = {}  # how many active members sent each event last
        self.driver: Shared | None = None  # released to drive the group, not in it yet
        self.pending: list[tuple[Key, str]] = []  # published this turn, for the passengers

    def join(self, member: Shared) -> None:
        if self.driver is member:
            self.driver = None
        self.active.add(member)
        self._move(member.last, 1)

    def leave(self, member: Shared) -> None:
        if member in self.active:
            self.active.discard(member)
            self._move(member.last, -1)
        self.drive()
        self.frames.forget(self)

    def drive(self) -> None:
        """With nobody iterating on its own, and none released to do so yet, release the
        earliest passenger: it runs its operation again and publishes for the others."""
        if self.active or self.driver is not None or not self.passengers:
            return
        self.carry()  # it goes on from the last event it was sent
        passenger = next(iter(self.passengers))
        self.driver = passenger.member
        passenger.release()

    def sent(self, member: Shared, key: Key) -> None:
        self._move(member.last, -1)
        member.last = key
        self._move(key, 1)

    def board(self, member: Shared) -> "Passenger | None":
        """A passenger, if `member` is in step with the group: it sent the newest event, and
        so did another member iterating on its own, which will go on to the next one. (The
        leader publishes its payload as it settles it, `lead`: members woken together, the
        watchers of one row, that take it at once are in step with `newest`.)"""
        if member.last is None or member.last != self.newest or self._at.get(member.last, 0) < 2:
            return None
        self.leave(member)
        passenger = Passenger(self, member, member.last)
        self.passengers[passenger] = None
        return passenger

    def published(self, key: Key, payload: str | None) -> None:
        """An event's payload was made: it goes to every passenger when this turn of the
        event loop ends (`carry`); or, if it could not be made, one of those who would miss
        it is released to make it for them all.

        Carried at the end of the turn, not at once: a read of the stream lands a group
        commit's changes, several at a time, and they are published in the same turn, so a
        passenger takes them in one call and its socket in one write. Carried one by one,
        each cost a chain of calls per subscriber (py-spy, bench.writes with 100
        subscribers: 15% of the event loop's time, of SQLite transitions)."""
        if payload is None:
            self.carry()  # who misses `key` is judged by what each was sent before it
            self._remake(key)
            return
        if self.newest is None or key > self.newest:
            self.newest = key
        if not self.passengers:
            return  # one boarding later in this turn has been sent this one (`board`)
        if not self.pending:  # the first of this turn: carried when it ends
            asyncio.get_running_loop().call_soon(self.carry)
        self.pending.append((key, payload))

    def carry(self) -> None:
        """Send what was published and not yet carried to every passenger, in order."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        payloads = tuple(payload for _, payload in pending)
        keys = [key for key, _ in pending]
        # in the order made, as nearly always: each passenger takes them all at once
        ordered = all(a < b for a, b in pairwise(keys))
        for passenger in list(self.passengers):
            if ordered and passenger.missing is None and passenger.last < keys[0]:
                passenger.take(keys[-1], payloads)
            else:
                for key, payload in pending:
                    passenger.carry(key, payload)

    def _remake(self, key: Key) -> None:
        """`key` could not be made: the earliest passenger that would miss it is released to
        make it (it runs its operation again from its last event) and to drive the group, as
        `drive` releases one; the others wait for its payload. Released all at once, every
        rider ran its operation again and read the table for itself: a burst of thousands
        of executions, for one failure. A passenger that is carried an event past the one it
        waits for (another member publishing ahead) is released then (`Passenger.carry`)."""
        waiting = [passenger for passenger in self.passengers if passenger.last < key]
        if not waiting:
            return
        for passenger in waiting:
            passenger.missing = key if passenger.missing is None else min(passenger.missing, key)
        first = waiting[0]
        if self.driver is None:
            self.driver = first.member
        first.release()

    def _move(self, key: Key, by: int) -> None:
        if key is None:
            return
        count = self._at.get(key, 0) + by
        if count:
            self._at[key] = count
        else:
            self._at.pop(key, None)


class Passenger:
    """A member riding along: the group's payloads go to its outbox as they are published."""

    __slots__ = ("group", "last", "member", "missing", "outbox", "released")

    def __init__(self, group: Group, member: Shared, last: Key) -> None:
        self.group = group
        self.member = member
        self.outbox = outbox = member.outbox
        self.last = last  # the last event sent to it
        self.missing: Key = None  # an event that could not be made, which it waits for
        self.released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        outbox.stopped = self.stop

    def take(self, last: Key, payloads: tuple[str, ...]) -> None:
        """Events after the last it was sent, up to `last`, none of them what it waits for."""
        if self.released.done():
            return
        self.last = last
        self.outbox.post_all(payloads)

    def carry(self, key: Key, payload: str) -> None:
        if key <= self.last or self.released.done():
            return
        if self.missing is not None and key > self.missing and self.member.kept is None:
            # past the event it waits for, in a stream where each one counts: it makes that
            # one itself (a watched row's newer state stands for the one it missed)
            self.release()
            return
        self.missing = None
        self.last = key
        self.outbox.post(payload)

    def stop(self, error: Exception) -> None:
        # fallen behind: the operation ends with it; the socket gone: the operation sees it
        # when strawberry ends it
        self.release(error if isinstance(error, Behind) else None)

    def release(self, error: Exception | None = None) -> None:
        self.group.passengers.pop(self, None)
        self.outbox.stopped = None
        if not self.released.done():
            if error is None:
                self.released.set_result(None)
            else:
                self.released.set_exception(error)


async def deliver(
    info: Info[Any, Any],
    events: Events[T],
    resume: Callable[[Key], Events[T]] | None = None,
) -> AsyncGenerator[T, None]:
    """What a subscription resolver yields for `events` (an event's key, and how to make
    the value graphql-core executes): shared when the handler set up sharing, else as is.
    Once the member rides along it raises `Parked`, and its handler runs the operation
    again when it is released: then it goes on after the last event it was sent, with
    `resume(key)` (the events after `key`), else with the `events` it kept while it rode
    along (they must not pile up: a watched communication's newest state), skipping what
    it was sent meanwhile. Raises `Behind` when the member's socket lets more than its
    outbox's limit of payloads wait."""
    shared = info.root_value if isinstance(info.root_value, Shared) else None
    if shared is None:
        try:
            async for _, make in events:
                yield make()
        finally:
            await _close(events)
        return
    if shared.again:  # after riding along: on from the last event sent, or its error
        events = await _again(shared, events, resume)
    group = shared.frames.group(shared.group)
    group.join(shared)
    try:
        async for key, make in events:
            if shared.last is not None and key <= shared.last:
                continue  # sent while riding along
            claimed, leads = shared.frames.claim(group, key)
            frame: asyncio.Future[str | None] | None = claimed
            if not leads:
                # the leader always settles it: with its payload once serialized, with
                # None when it stops first (the `finally` below); shielded, so a follower
                # stopped meanwhile leaves it alone for the others
                payload = claimed.result() if claimed.done() else await asyncio.shield(claimed)
                if payload is not None:
                    shared.outbox.post(payload)
                else:
                    frame = None  # the leader could not make it: execute for ourselves
            if leads or frame is None:
                shared.leading = None if frame is None else (group, key, frame)
                try:
                    yield make()
                finally:
                    lead(shared, None)  # unless its payload was made
                    shared.leading = None
            behind = shared.outbox.behind()
            if behind is not None:
                raise behind
            group.sent(shared, key)
            passenger = group.board(shared)
            if passenger is not None:
                if resume is not None:
                    await _close(events)
                shared.passenger = passenger
                shared.kept = None if resume is not None else events
                raise Parked
    finally:
        group.leave(shared)
        if shared.kept is not events:  # its own to close, unless kept while it rides along
            await _close(events)


def lead(shared: Shared, payload: str | None) -> None:
    """Settle the event `shared` executes for its group with its payload (None: it could not
    be made) and publish it at once. Not from the future's done-callback: that runs a loop
    round later, after members that found the future settled went on and could not see that
    they are in step with the group's newest event."""
    if shared.leading is None:
        return
    group, key, frame = shared.leading
    if not frame.done():
        frame.set_result(payload)
        group.published(key, payload)


async def _again(
    shared: Shared, events: Events[T], resume: Callable[[Key], Events[T]] | None
) -> Events[T]:
    """The events a member goes on with after it parked: after the last one it was sent
    (`resume`), or those it kept; the new execution's own are let go unread."""
    kept, shared.kept = shared.kept, None
    failed, shared.failed = shared.failed, None
    if failed is not None or kept is not None or resume is not None:
        await _close(events)
    if failed is not None:
        if kept is not None:
            await _close(kept)
        raise failed
    if kept is not None:
        return kept
    return events if resume is None or shared.last is None else resume(shared.last)


async def _close(events: AsyncIterator[Any]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def eager(coroutine: Coroutine[Any, Any, None]) -> asyncio.Future[None] | None:
    """Run `coroutine` now, until it first waits. None when it finished without waiting (a
    websocket send with room in its buffer, the usual case), else a task that finishes it.
    Python 3.12's eager tasks do this; on 3.11 a task per send would cost a loop round each."""
    try:
        waited = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_Rest(coroutine, waited))


class _Rest:
    """The rest of a coroutine that already waited once, for a task to run."""

    def __init__(self, coroutine: Coroutine[Any, Any, None], waited: Any) -> None:
        self.coroutine = coroutine
        self.waited = waited

    def __await__(self) -> Generator[Any, None, None]:
        waited = self.waited
        while True:
            try:
                yield waited
            except BaseException as error:  # the task cancels it: so is the coroutine
                try:
                    waited = self.coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waited = self.coroutine.send(None)
                except StopIteration:
                    return
