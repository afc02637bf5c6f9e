"""Strawberry's two websocket protocol handlers, hardened against messages of the wrong
shape (a JSON list, a payload that is no object), which would otherwise end the
connection without the protocol's answer; and the legacy protocol gets the same
connection_init deadline as graphql-transport-ws, and serves queries and mutations sent
with `start` (once: data, then complete), as subscriptions-transport-ws clients expect.
Messages nested too deep fail to decode (server/http.py): graphql-transport-ws closes
with 4400; the legacy protocol answers `connection_error`, as it does any message that is
not JSON (`Unparsable`).
An operation's `extensions` (its idempotency key) reach the task that runs it.

Both share subscription results (schema/sharing.py): each operation runs with a `Shared`
root value naming its group (document, variables, operation name, role); when it leads an
event, the payload strawberry made is serialized once, published to the group and sent;
the other members send that same payload as their own frame. Every result frame of an
operation goes through its outbox, which never makes the operation wait for its socket;
what strawberry sends itself for the operation (its error, its completion) waits until
the outbox is written, so it comes after the results, as it did. A member that rides along
lets go of its execution (schema/sharing.py, `Parked`): its operation stays registered, as
strawberry keeps it, and runs again when the member is released; once an operation ends
for good its group hears of it (`Frames.finished`), in case it was released to drive.

`commpulse serve` serves websockets with uvicorn's own protocols (`WSProtoProtocol`, or
`SansIOProtocol`, by COMMPULSE_WS_IMPLEMENTATION), whose socket writes of one turn of the
event loop leave together (`_Corked`), and which keep less on every socket for its life: a
list for the messages received, not an asyncio.Queue (`_Inbox`, `_Gate`), and on wsproto
slots for uvicorn's state and no handshake once it is answered. GraphQL's websockets skip
Starlette's stack of middleware and routing (`App`)."""

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol, cast

from graphql import GraphQLError, parse
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import CompleteMessage
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto.connection import ConnectionState
from wsproto.frame_protocol import FrameProtocol

from schema.context import Context
from schema.idempotency import OPERATION_EXTENSIONS
from schema.sharing import Frames, Outbox, Parked, Shared, lead, parked
from server.metrics import Metrics

INIT_TIMEOUT = 4408  # graphql-transport-ws' code, used for the legacy protocol too


def _well_formed(message: Any, operation: str) -> bool:
    """An object with a string `type`; an operation message also needs a string `id` and a
    payload object with a string `query`."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] != operation:
        return True
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("operationName"), str | None)
    )


def _runs_once(query: str, operation_name: str | None) -> bool:
    """A query or mutation (not a subscription). A document that does not parse, or names
    no such operation, goes the subscription way, which reports why."""
    try:
        kind = get_operation_type(parse(query, no_location=True), operation_name)
    except (GraphQLError, RuntimeError):
        return False
    return kind is not OperationType.SUBSCRIPTION


@contextlib.contextmanager
def operation_extensions(payload: Any) -> Iterator[None]:
    """The operation's `extensions` (its idempotency key) for the task that runs it:
    strawberry's handlers do not pass them on."""
    extensions = payload.get("extensions") if isinstance(payload, dict) else None
    if not isinstance(extensions, dict) and OPERATION_EXTENSIONS.get() is None:
        # nothing to carry: a value set would make the context the operation's task copies
        # one of its own (0.3 KiB for every subscription's life)
        yield
        return
    token = OPERATION_EXTENSIONS.set(extensions if isinstance(extensions, dict) else None)
    try:
        yield
    finally:
        OPERATION_EXTENSIONS.reset(token)


def _let_go(message: Any) -> None:
    """Empty a message once handled: strawberry's loop over the messages keeps the last one
    while it waits for the next, for the connection's life (what the operation needs it has
    taken: the query, the variables, the connection_init payload)."""
    if isinstance(message, dict):
        message.clear()


class View(Protocol):
    frames: Frames
    metrics: Metrics


def _share(
    handler: Any,
    operation_id: str,
    query: str,
    variables: object,
    operation_name: str | None,
    send: Callable[[str], Awaitable[None]],
    write: "_Written | None",
) -> Shared:
    context: Context = handler.context
    group = (query, json.dumps(variables, sort_keys=True), operation_name, context.role)
    frames = cast(View, handler.view).frames
    write_all = None if write is None else write.all
    shared = Shared(group, frames, Outbox(send, frames.outbox, write, write_all))
    handler.shared[operation_id] = shared
    return shared


# The frames made last: a group's members mostly share an operation id (a client's first
# subscription is "1"), so one member's frame is the others' too, and members whose sockets
# had to wait send the group's last few payloads in turn. (A few: each holds its payload.)
@functools.lru_cache(maxsize=32)
def _frame(operation_id: str, kind: str, payload: str) -> str:
    return f'{{"id":{json.dumps(operation_id)},"type":"{kind}","payload":{payload}}}'


# A server's unmasked text frames, with no extension, as wsproto writes them: one socket's
# are every other socket's
_FRAMES = FrameProtocol(client=False, extensions=[])


@functools.lru_cache(maxsize=32)
def _wire(operation_id: str, kind: str, payload: str) -> bytes:
    """`_frame` as a websocket frame, for a socket's `TEXT_FRAMES` writer."""
    return bytes(_FRAMES.send_data(_frame(operation_id, kind, payload), fin=True))


@functools.lru_cache(maxsize=32)
def _wire_all(operation_id: str, kind: str, payloads: tuple[str, ...]) -> bytes:
    """`_wire` of each payload, one after the other: what a group carries to its passengers
    at the end of a turn (schema.sharing `Group.carry`), made once for all of them."""
    return b"".join(_wire(operation_id, kind, payload) for payload in payloads)


# The scope's extension naming the socket's protocol when it takes such frames
# (`WSProtoProtocol.write_text`): the protocol itself, which the scope adds no object for
TEXT_FRAMES = "commpulse.text_frames"


class _Written:
    """An outbox's `write` for one operation's results (`Outbox.write`), on a socket that
    takes a frame made once for all the group's members (`TEXT_FRAMES`): a result the
    operation no longer sends (`handler.sends(key)`) is dropped, as its `send` drops it.
    Slots, not a closure: one for every subscriber, for its life."""

    __slots__ = ("handler", "key", "kind", "operation_id", "socket")

    def __init__(
        self, handler: "_Sending", key: Any, operation_id: str, kind: str, socket: "WSProtoProtocol"
    ) -> None:
        self.handler, self.key, self.operation_id, self.kind = handler, key, operation_id, kind
        self.socket = socket

    def __call__(self, payload: str) -> bool:
        if not self.handler.sends(self.key):
            return True
        return self.socket.write_text(_wire(self.operation_id, self.kind, payload))

    def all(self, payloads: tuple[str, ...]) -> bool:
        """`__call__` for each payload, in one write (`Outbox.write_all`)."""
        if not self.handler.sends(self.key):
            return True
        return self.socket.write_text(_wire_all(self.operation_id, self.kind, payloads))


class _Sending(Protocol):
    websocket: Any

    def sends(self, key: Any) -> bool: ...


def _written(handler: _Sending, key: Any, operation_id: str, kind: str) -> _Written | None:
    """`_Written` for an operation's results, if its socket offers `TEXT_FRAMES`."""
    extensions = handler.websocket.ws.scope.get("extensions") or {}
    socket: WSProtoProtocol | None = extensions.get(TEXT_FRAMES)
    return None if socket is None else _Written(handler, key, operation_id, kind, socket)


async def _post(handler: Any, message: Any, kind: str) -> bool:
    """Put a result of a sharing operation in its outbox, publishing its payload first if it
    executed it for its group; False for any other message, which the caller sends once
    the operation's outbox is written."""
    shared: Shared | None = handler.shared.get(message.get("id"))
    if shared is None:
        return False
    if message.get("type") != kind or shared.outbox.error is not None:
        await shared.outbox.drained()  # and then, say, why it was dropped
        return False
    payload = handler.view.encode_json(message["payload"])
    lead(shared, payload)  # the group's, if it executed it for them
    shared.outbox.post(payload)
    return True


async def _send(handler: Any, frame: str) -> None:
    # to Starlette's websocket, past strawberry's send_json and its encoding: the frame is
    # text already. A failure stops the outbox, and strawberry's own next send (the error or
    # completion it sends after the outbox, see _post) meets the disconnect as usual.
    await handler.websocket.ws.send({"type": "websocket.send", "text": frame})


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, Shared | None]):
    shared: dict[str, Shared]

    async def handle(self) -> None:
        self.shared = {}
        opened = cast(View, self.view).metrics.websockets
        opened.inc()
        try:
            await super().handle()
        finally:
            opened.dec()

    async def handle_message(self, message: Any) -> None:
        try:
            if not _well_formed(message, "subscribe"):
                await self.handle_invalid_message("Failed to parse message")
            elif message["type"] == "subscribe":
                with operation_extensions(message["payload"]):
                    await super().handle_message(message)  # its task copies the context
            else:
                await super().handle_message(message)
        finally:
            _let_go(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        # the deadline is met and its task cancelled: kept, the task would hold its
        # cancellation's traceback, and the frames in it, for the connection's life
        self.connection_init_timeout_task = None

    def sends(self, operation: Operation[Context, Shared | None]) -> bool:
        """Whether the operation still sends its results."""
        return not operation.completed and self.operations.get(operation.id) is operation

    async def run_operation(self, operation: Operation[Context, Shared | None]) -> None:
        async def send(payload: str) -> None:
            if self.sends(operation):
                await _send(self, _frame(operation.id, "next", payload))

        shared = _share(
            self,
            operation.id,
            operation.query,
            operation.variables,
            operation.operation_name,
            send,
            _written(self, operation, operation.id, "next"),
        )
        try:
            while True:
                # strawberry reads `self.root_value` when it starts the operation, before its
                # first await, so each operation gets its own
                self.root_value = shared
                try:
                    await super().run_operation(operation)
                    return
                except Parked:  # riding along: the operation stays registered
                    pass
                await parked(shared)  # out of the `except`: its traceback holds the execution
        finally:
            shared.frames.finished(shared)  # released to drive its group, it leaves that job
            if self.shared.get(operation.id) is shared:  # the id may have been reused already
                del self.shared[operation.id]

    async def send_message(self, message: Any) -> None:
        if not await _post(self, message, "next"):
            await super().send_message(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, Shared | None]):
    shared: dict[str, Shared]

    async def handle(self) -> None:
        self.shared = {}
        opened = cast(View, self.view).metrics.websockets
        opened.inc()
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            opened.dec()
            deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deadline

    def sends(self, operation_id: str) -> bool:
        """Whether the operation still sends its results."""
        return operation_id in self.tasks

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            await self.websocket.close(INIT_TIMEOUT, "Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        try:
            if isinstance(message, Unparsable):
                # the legacy protocol's answer to a message it cannot parse, which "does not
                # disconnect the client" (subscriptions-transport-ws, PROTOCOL.md); no 4400
                await self.send_message(
                    {"type": "connection_error", "payload": {"message": message}}
                )
            elif not _well_formed(message, "start"):
                await self.websocket.close(1002, "Failed to parse message")  # protocol error
            else:
                with operation_extensions(message.get("payload")):
                    await super().handle_message(message)
        finally:
            _let_go(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        if _runs_once(query, operation_name):
            await self._run_once(operation_id, query, operation_name, variables)
            return

        async def send(payload: str) -> None:
            if self.sends(operation_id):
                await _send(self, _frame(operation_id, "data", payload))

        write = _written(self, operation_id, operation_id, "data")
        shared = _share(self, operation_id, query, variables, operation_name, send, write)
        try:
            while True:
                self.root_value = shared  # read by strawberry before its first await
                try:
                    await super().handle_async_results(
                        operation_id, query, operation_name, variables
                    )
                    return
                except Parked:
                    # riding along: strawberry let go of the operation's task on the way out;
                    # it is still this one, which `stop` cancels
                    task = asyncio.current_task()
                    assert task is not None
                    self.tasks[operation_id] = task
                try:
                    await parked(shared)
                except asyncio.CancelledError:  # stopped: completed, as strawberry does
                    if self.tasks.get(operation_id) is task:
                        del self.tasks[operation_id]
                    await self.send_message(CompleteMessage(type="complete", id=operation_id))
                    return
        finally:
            shared.frames.finished(shared)
            if self.shared.get(operation_id) is shared:
                del self.shared[operation_id]

    async def send_message(self, message: Any) -> None:
        if not await _post(self, message, "data"):
            await super().send_message(message)

    async def _run_once(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """A query or mutation sent with `start`: data once, then complete."""
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=None,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


class Unparsable(str):
    """Why a websocket message could not be decoded (not JSON, or nested too deep)."""


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's, except that where it skips a message that does not decode (for the
    legacy protocol) it hands on `Unparsable`, which the legacy handler answers; and that
    while it waits for the next message it keeps neither the text nor the message it handed
    on last (strawberry's kept both for the connection's life)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                try:
                    decoded = self.view.decode_json(text)
                except json.JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
                    decoded = Unparsable(f"cannot read the message: {error.msg}")
                del text
                yield decoded
                del decoded
        except KeyError as error:  # a binary frame: strawberry closes 1002
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


class App(Starlette):
    """Starlette, except that a websocket to one of `sockets`' paths goes straight to its app.

    On the way through Starlette's own stack (the app's call, its error and exception
    middleware, the exception wrapper, the router and the route) each layer stays suspended
    for the connection's life, a frame each, and the exception middleware keeps a WebSocket
    of its own: about 3 KiB per idle subscriber (bench/fanout.py, BENCH_TRACEMALLOC). None of
    them acts on such a websocket: the error middleware hands websockets on untouched, and
    the exception handlers are for HTTPException and WebSocketException, which the GraphQL
    view does not raise on a websocket. Any other websocket path (or one under a root_path)
    takes the usual way."""

    def __init__(self, *, sockets: Mapping[str, ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # a coroutine function still (servers and test clients tell an ASGI 3 app by it):
        # its frame stands for the six it skips
        if scope["type"] == "websocket" and (app := self.sockets.get(scope["path"])):
            scope["app"] = self
            await app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


CORK = 8192  # bytes a socket holds back in a turn, at most: past that they leave at once


class _Turn:
    """The sockets of one event loop that hold frames back in this turn, flushed together
    when it ends: one callback for the turn, not one for every socket (an event goes to
    every subscriber in the same turn)."""

    __slots__ = ("loop", "scheduled", "sockets")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: list[_Corked] = []
        self.scheduled = False

    def hold(self, socket: "_Corked") -> None:
        self.sockets.append(socket)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        sockets, self.sockets, self.scheduled = self.sockets, [], False
        for socket in sockets:
            socket.flush()


_TURNS = threading.local()  # this thread's loop's `_Turn` (a test client runs one per thread)


def _turn(loop: asyncio.AbstractEventLoop) -> _Turn:
    turn: _Turn | None = getattr(_TURNS, "turn", None)
    if turn is None or turn.loop is not loop:
        turn = _TURNS.turn = _Turn(loop)
    return turn


class _Corked:
    """A socket's transport whose writes in one turn of the event loop leave in one write.

    A group commit lands several changes at once, and the stream hands them to every
    subscriber in the same turn: written one by one, that is a send() per frame per socket
    (py-spy: most of a frame's cost, the loopback's work done in the sender's system call);
    here a socket's frames of a turn go out together, in order, when the turn ends (`_Turn`),
    or as soon as CORK bytes wait: a burst (a read of hundreds of changes) would otherwise
    hold every frame of every socket in the process until the turn ends, where written at
    once they wait in the kernel's buffers (tests/e2e/test_fanout.py: RSS grew 7-17 MiB
    instead of 3 while 200 subscribers got 2,000 changes; 2-7 with a cork of 1 KiB). The
    most a turn holds back is CORK bytes a socket, 40 MiB at 5,000 subscribers. A cork of
    1 KiB (about 6 of bench.writes' `statusChanged` frames) sent a group commit of 20 or so
    changes in three or four writes a socket: at 100 subscribers and 700 writes a second
    the loop's system calls were 15% of the GIL's time (py-spy --gil). 8 KiB sends most
    groups in one: bench.writes went from 679-711 to 867-899 transitions a second in the
    same minutes, the loop's CPU a write from 0.75-0.78 ms to 0.64-0.65."""

    __slots__ = ("_pending", "_size", "_transport", "_turn")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._turn = _turn(loop)
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending, self._size = [data], len(data)
            self._turn.hold(self)
        else:
            self._pending.append(data)
            self._size += len(data)
        if self._size >= CORK:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending) if len(pending) > 1 else pending[0])

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Inbox:
    """As much of asyncio.Queue as uvicorn's protocols use for a socket's incoming messages
    (put_nowait, get, empty): a list and the readers waiting, instead of the Queue's three
    deques and an Event's fourth (1.5 KiB on every socket for its life, bench.tracemem)."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
                if self._items:  # cancelled when woken: the next reader takes it
                    self._wake()
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class _Gate:
    """asyncio.Event as uvicorn's protocols use it for `writable` (set, clear, wait), with
    no deque of its own (0.4 KiB on every socket): its writers wait only while the socket's
    buffer is full."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)


class _Corking:
    """A uvicorn websocket protocol whose transport is `_Corked`, with a lighter queue for
    what the socket receives and a lighter event for whether it can be written (`_Inbox`,
    `_Gate`): uvicorn's make them in `__init__` and only ever calls the methods these have."""

    loop: asyncio.AbstractEventLoop
    queue: Any
    writable: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()
        self.writable = _Gate()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        corked = (  # upgraded from `HttpProtocol`, it is corked already
            transport
            if isinstance(transport, _Corked)
            else _Corked(cast(asyncio.Transport, transport), self.loop)
        )
        super().connection_made(cast(asyncio.Transport, corked))  # type: ignore[misc]


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, corked: it writes a response's head and its body one
    after the other, each a send() of its own (py-spy: 7% of a write's loop at 800 writes
    a second); here they leave in one write, one packet, at the end of the turn. A socket
    upgraded to a websocket keeps its corked transport (`_Corking`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        corked = _Corked(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, corked))


class WSProtoProtocol(_Corking, WSProtocol):
    """uvicorn's wsproto protocol, corked (COMMPULSE_WS_IMPLEMENTATION wsproto, the default:
    the lightest per socket). Its state lives in slots: uvicorn sets 33 attributes, and
    CPython (3.11) shares the keys of a class's instance dicts only up to 30, so past that
    every socket had a dict of its own (1.5 KiB). And once the handshake's answer is written
    the socket keeps only wsproto's connection, not the handshake (h11's state, the request's
    headers: about 2 KiB) that `WSConnection` holds on to: see `start_keepalive`."""

    __slots__ = (
        *("config", "app", "loop", "logger", "root_path", "asgi_version", "app_state"),
        *("connections", "tasks", "default_headers", "transport", "server", "client"),
        *("scheme", "queue", "handshake_complete", "close_sent", "disconnected"),
        *("close_timer", "close_timeout", "response_started", "conn", "read_paused"),
        *("writable", "ping_interval", "ping_timeout", "ping_timer", "pong_timer"),
        *("pending_ping_payload", "ping_sent_at", "last_ping_rtt", "buffer", "scope"),
    )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if not self.config.ws_per_message_deflate:  # no extension to apply to a frame
            extensions = cast(dict[str, object], self.scope["extensions"])
            extensions[TEXT_FRAMES] = self

    def write_text(self, frame: bytes) -> bool:
        """Write a text frame made already (`_wire`) at once, if the socket is open and has
        room; False leaves it to the ASGI send, which waits for room or fails as it must."""
        if (
            self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.state is not ConnectionState.OPEN
        ):
            return False
        self.transport.write(frame)
        return True

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after writing the handshake's answer (accepted);
        # wsproto's Connection answers everything uvicorn then asks of its WSConnection
        # (send, receive_data, events, state), without the finished handshake
        super().start_keepalive()
        if (connection := getattr(self.conn, "connection", None)) is not None:
            self.conn = connection


class SansIOProtocol(_Corking, WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol (the one uvicorn picks by itself), corked
    (COMMPULSE_WS_IMPLEMENTATION websockets-sansio)."""
