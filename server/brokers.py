"""Broker backends for broadcaster that survive losing their connection.

broadcaster 0.3.1 has four faults on this stack, each handled here:
- `Broadcast.subscribe` registers a subscriber only after the backend's subscribe returns,
  and then replaces the channel's subscriber set: of several subscribers that arrive while
  the first subscribe is in flight, all but the last hear nothing (`Broadcast` below);
- its Redis backend delivers nothing with redis-py 8: its listener reads before any
  channel is subscribed, finds nothing to listen to and ends;
- when the Redis or PostgreSQL connection drops, its listener task dies silently and
  every subscriber waits forever;
- PostgreSQL NOTIFY refuses payloads over 8,000 bytes (store.feed keeps notices small).

`RedisBackend` and `PostgresBackend` implement broadcaster's backend interface. Each keeps
one listening connection in a supervising task that reconnects with capped exponential
backoff and subscribes again; after a reconnect it hands listeners a RESYNC message, so
they re-read the event table for whatever was published while it was away. Publishing
while the broker is down raises, and the caller (store.feed) logs it: the change is
committed and listeners catch up from the table. `healthy` feeds /readyz.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg
import broadcaster
import redis.asyncio as aioredis
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Subscriber
from redis.exceptions import RedisError

from server.settings import redact
from store.feed import RESYNC

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.1  # seconds before the first reconnect attempt
BACKOFF_MAX = 5.0
PING_EVERY = 5.0  # seconds between checks of an idle listening connection
SUBSCRIBE_WAIT = 2.0  # seconds a subscribe waits for the broker before going on without it


class Health(Protocol):
    @property
    def healthy(self) -> bool: ...


class AlwaysHealthy:
    healthy = True


class Broadcast(broadcaster.Broadcast):
    """broadcaster's Broadcast, with a subscribe that is safe for concurrent subscribers.

    Each subscriber joins the channel's set before anything is awaited, and each waits
    for the backend's subscribe, which returns at once when the broker listens already.
    """

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            await self._backend.subscribe(channel)
            yield Subscriber(queue)
        finally:
            queues = self._subscribers.get(channel, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(channel, None)
                await self._backend.unsubscribe(channel)
            await queue.put(None)


class _Supervised(BroadcastBackend):
    """What both backends share: the channel set, the queue, the reconnect loop."""

    name = "broker"

    def __init__(self, url: str) -> None:
        self.url = url
        self.healthy = False
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # the channel set changed: listen again
        self._active: dict[str, asyncio.Event] = {}  # set once the broker confirms a channel

    async def connect(self) -> None:
        self._task = asyncio.create_task(self._supervise())

    async def disconnect(self) -> None:
        # cancel until it ends: a cancellation that lands while redis-py is connecting can
        # be swallowed there, and the task then went on to wait for channels for ever
        while self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=0.1)

    async def subscribe(self, channel: str) -> None:
        """Returns once the broker listens on `channel` (or after SUBSCRIBE_WAIT if it is
        down), so a caller that reads the table next misses nothing published after it."""
        if channel not in self._channels:
            self._channels.add(channel)
            self._changed.set()
        with suppress(TimeoutError):
            async with asyncio.timeout(SUBSCRIBE_WAIT):
                await self._active.setdefault(channel, asyncio.Event()).wait()

    def _confirm(self, channels: set[str]) -> None:
        for channel in channels:
            self._active.setdefault(channel, asyncio.Event()).set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._changed.set()

    async def next_published(self) -> Event:
        return await self._events.get()

    async def _supervise(self) -> None:
        delay, connected_before = BACKOFF_FIRST, False
        while True:
            try:
                await self._open()
                self.healthy = True
                if connected_before:
                    log.warning(
                        "%s connection is back: listeners re-read the event table", self.name
                    )
                    for channel in self._channels:
                        self._events.put_nowait(Event(channel, RESYNC))
                connected_before, delay = True, BACKOFF_FIRST
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the connection is gone, however it went
                if not connected_before and delay == BACKOFF_FIRST:
                    log.warning(
                        "%s broker at %s is unreachable (%s); serving on, and /readyz answers "
                        "503, until it answers",
                        self.name,
                        redact(self.url),
                        error,
                    )
                elif self.healthy or delay == BACKOFF_FIRST:
                    log.warning("%s connection lost (%s); reconnecting", self.name, error)
            finally:
                self.healthy = False
                for active in self._active.values():
                    active.clear()
                await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _open(self) -> None:
        raise NotImplementedError

    async def _listen(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class RedisBackend(_Supervised):
    """Subscribes from the caller's task, reads from the supervising one.

    redis-py sends SUBSCRIBE without reading its reply, so a subscribe goes out on the
    listening connection at once while `_listen` waits in `get_message`; the reply comes
    back through `_listen`, which confirms the channel. Applying channel changes only
    between two reads, as an earlier version did, left a new channel unsubscribed for up to
    PING_EVERY while another one (the token channel) was already listened to: longer than
    SUBSCRIBE_WAIT, so a stream started before the broker listened and missed what
    committed meanwhile.
    """

    name = "Redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._client: aioredis.Redis = aioredis.from_url(url, socket_connect_timeout=2)
        self._listening: Any = None  # the pubsub of the open listening connection
        self._live = False  # `_listen` reads from it, so subscribe() may send on it

    async def subscribe(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.add(channel)  # first, so a reconnect meanwhile subscribes it too
            self._changed.set()
            if self._live:
                with suppress(RedisError, OSError):  # the line is going: `_listen` resubscribes
                    await self._listening.subscribe(channel)
        await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await super().unsubscribe(channel)
        self._active.pop(channel, None)
        if self._live:
            with suppress(RedisError, OSError):
                await self._listening.unsubscribe(channel)

    async def _open(self) -> None:
        self._listening = self._client.pubsub()
        await self._client.ping()

    async def _listen(self) -> None:
        pubsub = self._listening
        self._live = True  # from here on subscribe() sends too; a channel sent twice is harmless
        while True:
            if not pubsub.subscribed:  # redis-py cannot read before a first subscribe
                self._changed.clear()
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                else:
                    await self._idle()
                continue
            message = await pubsub.get_message(timeout=PING_EVERY)
            if message is None:  # a quiet line: make sure it is still there
                await pubsub.ping()
            elif message["type"] == "subscribe":
                self._confirm({_text(message["channel"])})
            elif message["type"] == "message":
                channel, data = message["channel"], message["data"]
                self._events.put_nowait(Event(_text(channel), _text(data)))

    async def _idle(self) -> None:
        """Nothing to listen to yet: wait for a channel, but keep checking the server."""
        try:
            async with asyncio.timeout(PING_EVERY):
                await self._changed.wait()
        except TimeoutError:
            await self._client.ping()

    async def _close(self) -> None:
        self._live = False
        if self._listening is not None:
            await self._listening.aclose()
            self._listening = None

    async def disconnect(self) -> None:
        await super().disconnect()
        await self._client.aclose()

    async def publish(self, channel: str, message: Any) -> None:
        for attempt in (1, 2):  # a pooled connection may have died with the last server
            try:
                await self._client.publish(channel, message)
                return
            except RedisError as error:
                if attempt == 2:
                    raise ConnectionError(f"Redis publish failed: {error}") from error


class PostgresBackend(_Supervised):
    """LISTEN/NOTIFY, for sites that run no Redis."""

    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        super().__init__(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        # one NOTIFY at a time on the publishing connection: asyncpg refuses a second
        # operation while one is in progress, and the refused one closed the connection
        # under the other, so both notices were lost
        self._publishing = asyncio.Lock()
        self._lost = asyncio.Event()

    async def _open(self) -> None:
        self._lost.clear()
        self._listener = await asyncpg.connect(self.url, timeout=2)
        self._listener.add_termination_listener(lambda _conn: self._lost.set())

    async def _listen(self) -> None:
        conn, subscribed = self._listener, set[str]()
        assert conn is not None
        while not self._lost.is_set():
            if self._changed.is_set() or not subscribed:
                self._changed.clear()
                wanted = set(self._channels)
                for channel in wanted - subscribed:
                    await conn.add_listener(channel, self._notified)
                for channel in subscribed - wanted:
                    await conn.remove_listener(channel, self._notified)
                subscribed = wanted
                self._confirm(subscribed)
            waits = [asyncio.ensure_future(e.wait()) for e in (self._changed, self._lost)]
            done, pending = await asyncio.wait(
                waits, timeout=PING_EVERY, return_when="FIRST_COMPLETED"
            )
            for waiting in pending:
                waiting.cancel()
            if not done:
                await conn.execute("SELECT 1")
        raise ConnectionError("PostgreSQL listening connection closed")

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._events.put_nowait(Event(channel, payload))

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None

    async def disconnect(self) -> None:
        await super().disconnect()
        if self._publisher is not None:
            self._publisher.terminate()

    async def publish(self, channel: str, message: Any) -> None:
        async with self._publishing:
            try:
                if self._publisher is None or self._publisher.is_closed():
                    self._publisher = await asyncpg.connect(self.url, timeout=2)
                await self._publisher.execute("SELECT pg_notify($1, $2)", channel, message)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                if self._publisher is not None:
                    self._publisher.terminate()
                    self._publisher = None
                raise ConnectionError(f"PostgreSQL NOTIFY failed: {error}") from error


def broadcast(url: str) -> tuple[Broadcast, Health]:
    """The broadcaster for COMMPULSE_BROADCAST_URL, and what tells whether it is up."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Broadcast(backend=MemoryBackend(url)), AlwaysHealthy()
    if scheme in ("redis", "rediss"):
        backend: _Supervised = RedisBackend(url)
    elif scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        backend = PostgresBackend(url)
    else:
        raise ValueError(
            f"COMMPULSE_BROADCAST_URL: no broker for {scheme!r} (memory, redis, postgresql)"
        )
    return Broadcast(backend=backend), backend


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
