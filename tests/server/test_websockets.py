"""The websocket transport under `commpulse serve`: a socket's writes of one turn of the event
loop leave in one write, in order, and none is lost or sent after the socket closed; what a
socket receives reaches the app in order, and a writer waits while the socket is full; a
frame made once for many sockets reaches each client as its message, and is left to the ASGI
send while a socket is full, closing or compressing."""

import asyncio
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.server import ServerState
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from server.websockets import (
    CORK,
    TEXT_FRAMES,
    HttpProtocol,
    WSProtoProtocol,
    _Corked,
    _Gate,
    _Inbox,
    _wire,
)


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info {name}"


async def _turn_ended() -> None:
    """Once the callbacks scheduled so far have run (the loop runs them in order)."""
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, None)
    await done


def _corked() -> tuple[_Corked, Transport]:
    transport = Transport()
    return _Corked(cast(asyncio.Transport, transport), asyncio.get_running_loop()), transport


async def test_frames_of_one_turn_leave_in_one_write_in_order() -> None:
    """Three frames written in one turn reach the socket as one write, in order; a frame of
    the next turn as a write of its own."""
    corked, transport = _corked()
    for frame in (b"one", b"two", b"three"):
        corked.write(frame)
    assert transport.written == []
    await _turn_ended()
    assert transport.written == [b"onetwothree"]
    corked.write(b"four")
    await _turn_ended()
    assert transport.written == [b"onetwothree", b"four"]


async def test_close_sends_what_was_written_first() -> None:
    """Closing in the same turn sends the frames written before (a close frame, say) and then
    closes; nothing is written after."""
    corked, transport = _corked()
    corked.write(b"last frame")
    corked.close()
    assert transport.written == [b"last frame"] and transport.closed
    await _turn_ended()
    assert transport.written == [b"last frame"]


async def test_a_socket_closed_meanwhile_gets_nothing() -> None:
    """Frames pending when the connection went away are dropped, not written to it."""
    corked, transport = _corked()
    corked.write(b"frame")
    transport.close()
    await _turn_ended()
    assert transport.written == []
    assert corked.is_closing() and corked.get_extra_info("peername") == "info peername"


async def test_a_burst_leaves_once_it_fills_the_cork() -> None:
    """Frames past CORK bytes in one turn leave at once, in order, instead of all waiting in
    the process until the turn ends; the rest of the turn's frames follow at its end."""
    corked, transport = _corked()
    frame = b"x" * (CORK // 4)
    for _ in range(5):
        corked.write(frame)
    assert transport.written == [frame * 4]
    await _turn_ended()
    assert transport.written == [frame * 4, frame]


async def test_received_messages_reach_the_app_in_order() -> None:
    """Messages queued before and while the app waits come out in the order they arrived."""
    inbox = _Inbox()
    inbox.put_nowait("connect")
    assert not inbox.empty() and await inbox.get() == "connect"
    reading = asyncio.create_task(inbox.get())
    await _turn_ended()
    inbox.put_nowait("one")
    inbox.put_nowait("two")
    assert await reading == "one" and await inbox.get() == "two" and inbox.empty()


async def test_a_reader_cancelled_when_woken_leaves_the_message_to_the_next() -> None:
    """A reader cancelled in the turn a message woke it does not lose the message."""
    inbox = _Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await _turn_ended()
    inbox.put_nowait("message")
    first.cancel()
    assert await second == "message"
    assert first.cancelled()


async def test_writers_wait_while_the_socket_is_full() -> None:
    """Once the transport pauses writing, every writer waits until it resumes."""
    gate = _Gate()
    assert await gate.wait()
    gate.clear()
    writers = [asyncio.create_task(gate.wait()) for _ in range(2)]
    await _turn_ended()
    assert not any(w.done() for w in writers) and not gate.is_set()
    gate.set()
    assert await asyncio.gather(*writers) == [True, True]


async def test_every_socket_written_in_a_turn_is_flushed_when_it_ends() -> None:
    """The sockets an event reaches in one turn each get their frames, once, when it ends;
    one that filled its cork meanwhile gets the rest of the turn's then too."""
    (first, one), (second, two) = _corked(), _corked()
    first.write(b"a")
    second.write(b"b" * CORK)  # leaves at once
    second.write(b"c")
    first.write(b"d")
    assert one.written == [] and two.written == [b"b" * CORK]
    await _turn_ended()
    assert one.written == [b"ad"] and two.written == [b"b" * CORK, b"c"]
    await _turn_ended()
    assert one.written == [b"ad"] and two.written == [b"b" * CORK, b"c"]


class _Socket(Transport):
    """A transport that can pause its protocol's writing, as a full socket does."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 4000) if name in ("peername", "sockname") else None

    def set_write_buffer_limits(self, *_: Any) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _accepted(deflate: bool) -> tuple[Any, _Socket, WSConnection, asyncio.Event]:
    """A server protocol as `commpulse serve` makes it, its socket, the client's end, and
    an event that ends the app; the handshake answered."""
    accepted, ended = asyncio.Event(), asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        await ended.wait()

    config = Config(app, ws="wsproto", ws_per_message_deflate=deflate, lifespan="off")
    protocol = WSProtoProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    socket = _Socket()
    protocol.connection_made(cast(asyncio.Transport, socket))
    client = WSConnection(ConnectionType.CLIENT)
    offer = [PerMessageDeflate()] if deflate else []
    protocol.data_received(client.send(Request(host="test", target="/", extensions=offer)))
    await accepted.wait()
    await _turn_ended()
    client.receive_data(b"".join(socket.written))
    assert any(isinstance(event, AcceptConnection) for event in client.events())
    socket.written.clear()
    return protocol, socket, client, ended


async def test_a_frame_made_once_reaches_the_client_as_the_message() -> None:
    """A text frame made once (`_wire`) and handed to a socket is the message the client
    reads, as the ASGI send would have written it."""
    protocol, socket, client, ended = await _accepted(deflate=False)
    write_text = protocol.scope["extensions"][TEXT_FRAMES].write_text
    assert write_text(_wire("1", "next", '{"data":{"n":1}}'))
    assert write_text(_wire("1", "next", '{"data":{"n":2}}'))
    await _turn_ended()
    client.receive_data(b"".join(socket.written))
    assert [e.data for e in client.events() if isinstance(e, TextMessage)] == [
        '{"id":"1","type":"next","payload":{"data":{"n":1}}}',
        '{"id":"1","type":"next","payload":{"data":{"n":2}}}',
    ]
    ended.set()


async def test_a_full_or_closed_socket_leaves_the_frame_to_the_asgi_send() -> None:
    """While the socket is full, or once it is closing, a frame is not written: the caller
    takes the ASGI way, which waits for room or fails."""
    protocol, _, _, ended = await _accepted(deflate=False)
    write_text = protocol.scope["extensions"][TEXT_FRAMES].write_text
    protocol.pause_writing()
    assert not write_text(_wire("1", "next", "{}"))
    protocol.resume_writing()
    assert write_text(_wire("1", "next", "{}"))
    await protocol.send({"type": "websocket.close", "code": 1000})
    assert not write_text(_wire("1", "next", "{}"))
    ended.set()


async def test_a_compressing_socket_offers_no_frames_made_once() -> None:
    """With permessage-deflate on, every frame is compressed for its socket: no writer."""
    protocol, _, _, ended = await _accepted(deflate=True)
    assert TEXT_FRAMES not in protocol.scope["extensions"]
    ended.set()


async def test_a_responses_head_and_body_leave_in_one_write() -> None:
    """An HTTP response, which uvicorn writes as its head and then its body, reaches the
    socket as one write, whole; the next request on the connection is answered too."""
    answered = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        answered.set()

    config = Config(app, http="httptools", lifespan="off")
    config.load()
    protocol = HttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    socket = _Socket()
    protocol.connection_made(cast(asyncio.Transport, socket))
    for _ in range(2):
        answered.clear()
        socket.written.clear()
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        await answered.wait()
        await _turn_ended()
        [response] = socket.written
        assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"\r\n\r\nok")
    protocol.connection_lost(None)
