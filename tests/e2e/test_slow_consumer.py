"""A subscriber whose client stops reading slows nobody else: not even the members of its
group riding along on it, the one executing for them. It is dropped with SLOW_CONSUMER
once more than the subscriber queue's worth of frames wait for its socket, and it comes
back by subscribing again."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import (
    CREATE_LANDING_PAGE,
    PUBLISH,
    TRANSPORT_WS,
    Json,
    Server,
    StartServer,
    act,
    execute,
    http_session,
    init,
    mutation,
    ok,
    raw_ws,
    receive,
    send,
)

pytestmark = pytest.mark.e2e

PUBLISH_ = (PUBLISH, "publishLandingPage")
UNPUBLISH_ = (mutation("unpublishLandingPage"), "unpublishLandingPage")
WATCH = """subscription W($id: ID!) {
  communication(id: $id) { ... on LandingPage { version status html } }
}"""
QUEUE = 4  # frames that may wait for one subscriber's socket (COMMPULSE_SUBSCRIBER_QUEUE)
HTML = "<p>" + "x" * 400_000 + "</p>"  # each frame ~400 KB: a few fill any socket buffer
CHANGES = 40  # 16 MB for a client that reads nothing: far more than the buffers between


@contextlib.asynccontextmanager
async def stalled_ws(server: Server) -> AsyncIterator[ClientConnection]:
    """A websocket whose client takes what it is sent only when the test reads: a small
    receive buffer, and websockets' own read-ahead stopped at a frame or two."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the window is agreed
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    url = server.ws_url
    # no permessage-deflate: it would shrink the frames of repeated text to nothing
    options: Any = {"subprotocols": [TRANSPORT_WS], "max_queue": 1, "compression": None}
    async with connect(url, sock=sock, **options) as ws:
        yield ws


async def subscribe(ws: ClientConnection, page: str) -> Json:
    """Subscribe to the page; its first state."""
    await init(ws)
    payload = {"query": WATCH, "variables": {"id": page}}
    await send(ws, {"id": "1", "type": "subscribe", "payload": payload})
    return await state(ws)


async def state(ws: ClientConnection) -> Json:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    page: Json = message["payload"]["data"]["communication"]
    return page


async def until_version(ws: ClientConnection, version: int) -> None:
    while (await state(ws))["version"] < version:
        pass


async def test_a_stalled_subscriber_holds_back_nobody_and_is_dropped(
    start_server: StartServer,
) -> None:
    """Three watchers of one page share a group; the first to subscribe executes for the
    other two, which ride along on it. Its client stops reading: the other two still get
    every change, and once more than QUEUE frames wait for it, it gets the error
    SLOW_CONSUMER after what reached it, and subscribing again brings it up to date."""
    server = await start_server(
        COMMPULSE_SENDER="none",
        COMMPULSE_SCHEDULER="off",
        COMMPULSE_RATE_BURST="100000",
        COMMPULSE_SUBSCRIBER_QUEUE=str(QUEUE),
    )
    async with http_session(server) as client:
        made = await execute(
            client,
            CREATE_LANDING_PAGE,
            input={"name": "slow", "title": "t", "slug": "slow", "html": HTML},
        )
        page = ok(made, "createLandingPage")["id"]
        async with (
            stalled_ws(server) as stalled,
            raw_ws(server, max_size=None) as first,
            raw_ws(server, max_size=None) as second,
        ):
            # the stalled one is in step first: the others board as passengers on it
            start = (await subscribe(stalled, page))["version"]
            assert (await subscribe(first, page))["version"] == start
            assert (await subscribe(second, page))["version"] == start

            version = start
            for i in range(CHANGES):
                done = await act(client, *(UNPUBLISH_ if i % 2 else PUBLISH_), id=page)
                version = done["version"]
                await until_version(first, version)
                await until_version(second, version)

            seen: list[int] = []  # what reached the stalled client, then why it ended
            while "errors" not in (message := await receive(stalled))["payload"]:
                seen.append(message["payload"]["data"]["communication"]["version"])
            assert 0 < len(seen) < CHANGES and seen == sorted(seen)  # some never reached it
            [error] = message["payload"]["errors"]
            assert error["extensions"] == {"code": "SLOW_CONSUMER", "limit": QUEUE}

            payload = {"query": WATCH, "variables": {"id": page}}
            await send(stalled, {"id": "2", "type": "subscribe", "payload": payload})
            again = await receive(stalled)
            while again["id"] != "2":  # the first operation's `complete`
                again = await receive(stalled)
            assert again["payload"]["data"]["communication"]["version"] == version
