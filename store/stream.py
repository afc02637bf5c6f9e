"""One reader of the status-change stream per process, shared by every subscriber.

A subscriber used to read the event table itself after every notice, and a watcher of one
communication its row, so one change cost one query per subscriber and thousands of
subscribers emptied the connection pool. Here one `Stream` per store (per process) does
the database work, and what it costs does not grow with the number of subscribers:

- After each notice, or the safety poll, the reader reads the table once from its own
  position with `changes.changes_after` (the one read primitive; it only reads below the
  horizon, so a position once passed stays passed) and hands each change to every
  subscriber whose filter wants it, through that subscriber's bounded queue.
- The newest changes stay in a bounded tail in memory. A subscriber resuming from inside
  the tail is served from it; one from further back reads its backlog from the table in
  pages, then joins the live stream. Joining is one synchronous step: no change can slip
  between the last one it read and the first one it is handed, and none comes twice,
  because a subscriber is only handed changes after its own position.
- A communication's watchers share one read of its row per coalescing window (at once on
  a status change, at most once per window for counters), and each watcher is given only
  the newest row, so a slow watcher skips intermediate states instead of piling them up.
"""

import asyncio
import bisect
import itertools
import logging
import math
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from store import Store, changes, communications, deliveries
from store.changes import Position
from store.coalesce import Coalesced
from store.errors import Refused, not_found
from store.feed import Change, Notice, Resync, Touch
from store.tables import Communication

T = TypeVar("T")

PAGE = 500  # changes per read of the table
TAIL = 10_000  # recent changes kept in memory for resuming subscribers
QUEUE = 1_000  # changes waiting for one subscriber before it is dropped as too slow
COALESCE = 0.25  # seconds: a watched communication's counters are read at most this often
POLL_WAITING = 0.05  # seconds: read again this soon when changes wait behind the horizon
POLL_SAFETY = 5.0  # seconds: read again after this long without a notice, whatever happens
RETRY = 1.0  # seconds before trying again after the database or the broker failed

log = logging.getLogger(__name__)
_serials = itertools.count(1)  # one numbering of watched rows for the whole process


class Behind(Exception):
    """A subscriber took its changes too slowly: more than `limit` waited for it. It was
    handed everything up to the point it fell behind; it resumes from the last one it got."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the subscriber fell more than {limit} changes behind and was dropped; "
            "subscribe again with `after` set to the last cursor received"
        )
        self.limit = limit


class _Subscriber:
    __slots__ = ("behind", "limit", "position", "queue", "wake", "wanted")

    def __init__(self, wanted: Callable[[Change], bool], position: Position, limit: int) -> None:
        self.wanted = wanted
        self.position = position  # the last change it was offered: it is offered only later ones
        self.limit = limit
        self.queue: deque[Change] = deque()
        self.wake = asyncio.Event()
        self.behind = False

    def offer(self, change: Change) -> bool:
        """Queue the change if wanted; False when the queue is full (the subscriber is dropped)."""
        if change.position <= self.position:
            return True
        self.position = change.position
        if not self.wanted(change):
            return True
        if len(self.queue) >= self.limit:
            self.behind = True
        else:
            self.queue.append(change)
        self.wake.set()
        return not self.behind


class _Watched:
    """One watched communication: its newest row, shared by all of its watchers."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.row: Communication | None = None  # None: missing or deleted (once loaded)
        self.serial = 0  # which row this is; a new number whenever `row` changes
        self.loaded = asyncio.Event()
        self.changed = asyncio.Event()  # set, and replaced, when `row` changes
        self.watchers = 0
        self.last = -math.inf  # loop time of the last read
        self.due: asyncio.TimerHandle | None = None
        self.reading: asyncio.Task[None] | None = None
        self.again: bool | None = None  # read again after this one: urgently (True) or not
        self.closed = False


class Stream:
    def __init__(
        self,
        store: Store,
        *,
        tail: int = TAIL,
        queue: int = QUEUE,
        period: float = COALESCE,
        page: int = PAGE,
    ) -> None:
        self.store = store
        self.page = page
        self.tail_limit = tail
        self.queue_limit = queue
        self.period = period
        self.position: Position = (0, 0)  # the newest change read
        self.floor: Position = (0, 0)  # the tail holds the changes after this, up to `position`
        self.tail: deque[Change] = deque()
        self._subscribers: set[_Subscriber] = set()
        self._watched: dict[int, _Watched] = {}
        self._holders = 0
        self._task: asyncio.Task[None] | None = None
        self._reads: set[asyncio.Future[Any]] = set()  # the reader's, in flight
        self.idle = asyncio.Event()  # set while no reader runs and none of its reads is left
        self.idle.set()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        # the stream's newest position, read after the caller asked (so a new subscriber gets
        # nothing that committed before it subscribed, as a reader of its own would): one
        # read serves every subscriber that asked while the previous read ran
        self._head = Coalesced(lambda: changes.head(store))

    # --- running -------------------------------------------------------------------------

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Keep the reader running (started on the first holder, stopped after the last)."""
        await self._take()
        try:
            yield
        finally:
            await self._let_go()

    async def _take(self) -> None:
        self._holders += 1
        self.idle.clear()
        try:
            if self._task is None:
                self._ready = asyncio.Event()
                self._task = asyncio.create_task(self._run(), name="commpulse stream reader")
            await self._ready.wait()
        except BaseException:
            await self._let_go()
            raise

    async def _let_go(self) -> None:
        self._holders -= 1
        if self._holders == 0 and self._task is not None:
            # a holder that comes while this one waits for the reader to end starts a
            # reader of its own, and its watched rows are its own: nothing here touches
            # them. Rows watched before are gone already: each watcher holds the stream,
            # and the last to leave a row cancels its timer (watch)
            task, self._task = self._task, None
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            # the reader stops at once, but a read in flight, the reader's or a watched
            # row's, ends first (_finished); asyncio.wait, not gather: a holder cancelled
            # meanwhile leaves the read alone
            if self._reads:
                await asyncio.wait(self._reads)
        if self._holders == 0 and self._task is None:
            self.idle.set()

    async def _finished(self, read: Awaitable[T]) -> T:
        """A read of the stream's (the reader's, or a watched row's), run to its end even
        when the reader is stopped halfway or the row's last watcher leaves.

        The reader is cancelled when its last holder leaves, often in the middle of a read
        (a change's notice wakes it just as a dashboard closes). Cancelled inside a read, a
        read can lose its pooled connection (SQLAlchemy's async session did; a read of
        store/reading.py gives it back through a greenlet that a cancel can cut short),
        neither in use nor back in the pool: "non-checked-in connection" when the collector
        finds it.
        Shielded, the read goes on to its end while the reader stops; `hold` waits for it,
        and `idle` is set only after it, so whoever closes the store can wait for that."""
        future = asyncio.ensure_future(read)
        self._reads.add(future)
        future.add_done_callback(self._reads.discard)
        return await asyncio.shield(future)

    async def _run(self) -> None:
        fresh = True
        while True:
            try:
                async with self.store.feed.listen() as notices:
                    pumping = asyncio.create_task(self._pump(notices))
                    try:
                        if fresh:  # listening already, so nothing after `head` is missed
                            self.position = self.floor = await self._finished(
                                changes.head(self.store)
                            )
                            self.tail.clear()
                            fresh = False
                        else:  # notices may have been lost while not listening
                            self._notice(Resync())
                        self._ready.set()
                        await self._read_forever()
                    finally:
                        pumping.cancel()
            except Exception as error:
                log.warning("stream reader: %s; again in %ss", error, RETRY)
                await asyncio.sleep(RETRY)

    async def _pump(self, notices: AsyncIterator[Notice]) -> None:
        async for notice in notices:
            self._notice(notice)

    def _notice(self, notice: Notice) -> None:
        urgent = not isinstance(notice, Touch)
        if notice.communication_id is None:  # a Resync: for everyone
            targets = list(self._watched.values())
        else:
            found = self._watched.get(notice.communication_id)
            targets = [] if found is None else [found]
        # a watched row first: its one-row read goes out before the table's read below
        for watched in targets:
            self._schedule(watched, urgent)
        if urgent:
            self._wake.set()

    async def _read_forever(self) -> None:
        while True:
            self._wake.clear()
            found, waiting = await self._finished(
                changes.changes_after(self.store, self.position, limit=self.page)
            )
            self._publish(found)
            if len(found) == self.page:
                continue
            with suppress(TimeoutError):
                async with asyncio.timeout(POLL_WAITING if waiting else POLL_SAFETY):
                    await self._wake.wait()

    def _publish(self, found: list[Change]) -> None:
        for change in found:
            if change.position <= self.position:
                continue
            self.position = change.position
            self.tail.append(change)
            if len(self.tail) > self.tail_limit:
                self.floor = self.tail.popleft().position
            dropped = [s for s in self._subscribers if not s.offer(change)]
            self._subscribers.difference_update(dropped)

    # --- the status-change stream ----------------------------------------------------------

    async def changes(
        self, after: Position | None, wanted: Callable[[Change], bool]
    ) -> AsyncGenerator[Change, None]:
        """The changes after `after` (None: from now on) that `wanted` keeps, in stream order:
        the backlog first (from the table, then from the tail), then live ones. Raises
        `Behind` when the consumer lets more than the queue's worth of changes wait."""
        async with self.hold():
            position = await self._head() if after is None else after
            while position < self.position:  # catching up; never waits for the reader
                if position >= self.floor:  # inside the tail
                    start = bisect.bisect_right(self.tail, position, key=_position)
                    batch = list(itertools.islice(self.tail, start, start + self.page))
                else:
                    batch, _ = await changes.changes_after(self.store, position, limit=self.page)
                    if not batch:
                        break
                for change in batch:
                    position = change.position
                    if wanted(change):
                        yield change
            # caught up: from here on the reader hands over whatever comes after `position`
            subscriber = _Subscriber(wanted, position, self.queue_limit)
            self._subscribers.add(subscriber)
            try:
                while True:
                    while subscriber.queue:
                        yield subscriber.queue.popleft()
                    if subscriber.behind:
                        raise Behind(self.queue_limit)
                    subscriber.wake.clear()
                    await subscriber.wake.wait()
            finally:
                self._subscribers.discard(subscriber)

    # --- watched communications ----------------------------------------------------------

    def watch(self, pk: int | None) -> "Watch":
        """One communication now, then again whenever it changed: `(serial, row)`, where the
        serial names that row for the whole process (so results made from it can be shared).
        Raises NOT_FOUND first if there is no such communication; ends when it is deleted.
        Close it (`aclose`) once done, unless it ended: it is not a generator."""
        return Watch(self, pk)

    async def _join(self, pk: int) -> _Watched:
        await self._take()
        watched = self._watched.get(pk)
        if watched is None:
            watched = self._watched[pk] = _Watched(pk)
            self._schedule(watched, urgent=True)
        watched.watchers += 1
        return watched

    async def _leave(self, watched: _Watched) -> None:
        watched.watchers -= 1
        if watched.watchers == 0:
            # nothing of the row outlives its last watcher but a read in flight, left to
            # end (_finished): the stream's last holder waits for it
            watched.closed = True
            del self._watched[watched.pk]
            if watched.due is not None:
                watched.due.cancel()
        await self._let_go()

    def _schedule(self, watched: _Watched, urgent: bool) -> None:
        """Read the row now (urgent) or once the coalescing window since the last read ends."""
        if watched.closed:
            return
        if watched.reading is not None:
            watched.again = urgent or bool(watched.again)
            return
        loop = asyncio.get_running_loop()
        at = loop.time() if urgent else max(loop.time(), watched.last + self.period)
        if watched.due is not None:
            if watched.due.when() <= at:
                return
            watched.due.cancel()
            watched.due = None
        if at <= loop.time():  # now, not after another turn of the loop
            self._read(watched)
        else:
            watched.due = loop.call_at(at, self._read, watched)

    def _read(self, watched: _Watched) -> None:
        watched.due = None
        if not watched.closed:
            watched.reading = asyncio.create_task(self._load(watched))

    async def _load(self, watched: _Watched) -> None:
        watched.last = asyncio.get_running_loop().time()
        try:
            try:
                read = communications.get(self.store, watched.pk)
                row: Communication | None = await self._finished(read)
            except Refused:
                row = None
        except Exception as error:
            log.warning("could not read communication %s: %s", watched.pk, error)
            watched.again = bool(watched.again)  # try again (after the window unless urgent)
        else:
            if not watched.loaded.is_set() or _state(row) != _state(watched.row):
                watched.row, watched.serial = row, next(_serials)
                changed, watched.changed = watched.changed, asyncio.Event()
                changed.set()
            watched.loaded.set()
        finally:
            watched.reading = None
            again, watched.again = watched.again, None
            if again is not None:
                self._schedule(watched, again)


class Watch:
    """`Stream.watch`: an object rather than a generator, so that a watch kept while its
    watcher rides along (schema/sharing.py) costs a few references, not a chain of frames
    (about 1.5 KiB each)."""

    __slots__ = ("_done", "_pk", "_seen", "_stream", "_watched")

    def __init__(self, stream: Stream, pk: int | None) -> None:
        self._stream = stream
        self._pk = pk
        self._watched: _Watched | None = None  # joined, until closed
        self._seen = 0  # the serial of the row it gave last
        self._done = False

    def __aiter__(self) -> "Watch":
        return self

    async def __anext__(self) -> tuple[int, Communication]:
        if self._done:
            raise StopAsyncIteration
        try:
            watched = self._watched
            if watched is None:
                if self._pk is None:
                    raise not_found(self._pk)
                watched = self._watched = await self._stream._join(self._pk)
                await watched.loaded.wait()
                if watched.row is None:
                    raise not_found(self._pk)
            else:
                while watched.serial == self._seen:
                    await watched.changed.wait()
                if watched.row is None:
                    raise StopAsyncIteration
            self._seen = watched.serial
            return watched.serial, watched.row
        except BaseException:  # ended, failed or cancelled: as a generator would, it is done
            await self.aclose()
            raise

    async def aclose(self) -> None:
        self._done = True
        watched, self._watched = self._watched, None
        if watched is not None:
            await self._stream._leave(watched)


def _position(change: Change) -> Position:
    return change.position


def _state(row: Communication | None) -> tuple[object, ...] | None:
    if row is None:
        return None
    return (
        row.version,
        row.status,
        row.pending_count,
        row.handed_off_count,
        row.sent_count,
        row.not_sent_count,
        row.shown_count,
        row.clicked_count,
        *deliveries.after_counts(row).values(),
    )


_streams: "WeakKeyDictionary[Store, Stream]" = WeakKeyDictionary()


def of(store: Store) -> Stream:
    """The store's one stream in this process (made with the defaults on first use)."""
    found = _streams.get(store)
    if found is None:
        found = _streams[store] = Stream(store)
    return found


@asynccontextmanager
async def serving(store: Store, *, tail: int = TAIL, queue: int = QUEUE) -> AsyncIterator[Stream]:
    """For a server's lifespan: the store's stream with these limits, read all along (so the
    tail serves resuming subscribers even while nobody else subscribes)."""
    stream = _streams[store] = Stream(store, tail=tail, queue=queue)
    async with stream.hold():
        yield stream
