"""Many subscribers on one server: memory stays flat while events flow, and thousands of
subscribers get every change while the database keeps answering.

The changes are written from the test process straight into the server's SQLite file, as
another instance would, and their notices reach the server over a PostgreSQL LISTEN/NOTIFY
broker of the test's own: that makes thousands of changes in seconds, where as many HTTP
mutations would take a minute on a small machine.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport
from websockets.asyncio.client import ClientConnection, connect

from schema import ids
from server import brokers
from store import Store, changes
from store.database import create_engine, sessions
from store.feed import Feed
from store.lifecycle import Action, Kind, Trigger
from tests.conftest import run
from tests.e2e.conftest import (
    TRANSPORT_WS,
    Server,
    StartServer,
    init,
    migrate_database,
    server_store,
)
from tests.factories import create

pytestmark = pytest.mark.e2e

# from the beginning of the (new) database: a subscription that goes live after the first
# change is made still gets it, so no test waits on a race it may lose
STATUS_CHANGED = (
    f'subscription {{ statusChanged(after: "{ids.change_cursor((0, 0))}") '
    "{ cursor communicationId action from to version } }"
)
PER_SOCKET = 50  # subscriptions multiplexed on one websocket (the limit is 100)
WAIT = 60.0  # seconds for everything to arrive; only so a lost change fails instead of hanging


@contextlib.asynccontextmanager
async def writer(server: Server, broker_url: str) -> AsyncIterator[Store]:
    """A store on the server's database whose notices reach the server."""
    engine = create_engine(f"sqlite+aiosqlite:///{server.database}")
    broadcast, _ = brokers.broadcast(broker_url)
    try:
        async with broadcast:
            yield Store(sessions(engine), Feed(broadcast))
    finally:
        await engine.dispose()


async def write(server: Server, broker_url: str, pages: list[int], count: int) -> None:
    """`count` changes written from a thread of their own, with an event loop of its own,
    so the test's readers of hundreds of thousands of frames never slow the writer."""

    async def changes_in_thread() -> None:
        async with writer(server, broker_url) as store:
            await toggle(store, pages, count)

    await asyncio.to_thread(run, changes_in_thread())


async def toggle(store: Store, pages: list[int], count: int) -> None:
    """`count` status changes, publishing and unpublishing `pages` in turn."""
    for i in range(count):
        action = Action.PUBLISH if (i // len(pages)) % 2 == 0 else Action.UNPUBLISH
        await changes.apply(store, pages[i % len(pages)], action, by=Trigger.PERSON, actor="t")


class Crowd:
    """`sockets` websockets with PER_SOCKET statusChanged subscriptions each, counting."""

    def __init__(self, sockets: list[ClientConnection]) -> None:
        self.sockets = sockets
        self.received: dict[tuple[int, str], int] = {}
        self.last: dict[tuple[int, str], str] = {}  # the last frame of each subscription
        self._grew = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for s, ws in enumerate(self.sockets):
            for n in range(PER_SOCKET):
                message = {"id": str(n), "type": "subscribe", "payload": {"query": STATUS_CHANGED}}
                await ws.send(json.dumps(message))
                self.received[s, str(n)] = 0
        for ws in self.sockets:  # the server has taken every subscribe once it answers a ping
            await ws.send(json.dumps({"type": "ping"}))
        for ws in self.sockets:
            assert json.loads(await ws.recv()) == {"type": "pong"}
        self._readers = [
            asyncio.create_task(self._read(s, ws)) for s, ws in enumerate(self.sockets)
        ]

    async def _read(self, s: int, ws: ClientConnection) -> None:
        # hundreds of thousands of frames: read the id off the front, parse only the last
        async for text in ws:
            assert isinstance(text, str) and text.startswith('{"id":"'), text
            assert '"errors"' not in text, text
            key = (s, text[7 : text.index('"', 7)])
            self.received[key] += 1
            self.last[key] = text
            self._grew.set()

    def cursors(self) -> set[str]:
        """The cursor of the last change each subscription got."""
        return {
            json.loads(text)["payload"]["data"]["statusChanged"]["cursor"]
            for text in self.last.values()
        }

    async def all_reach(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while min(self.received.values()) < count:
                for reader in self._readers:
                    if reader.done():
                        reader.result()  # a failed reader fails the test with its reason
                self._grew.clear()
                await self._grew.wait()

    def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()


@contextlib.asynccontextmanager
async def crowd(server: Server, subscribers: int) -> AsyncIterator[Crowd]:
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(subscribers // PER_SOCKET):
            ws = await stack.enter_async_context(
                connect(server.ws_url, subprotocols=[TRANSPORT_WS], max_queue=None)  # type: ignore[list-item]
            )
            await init(ws)  # at once: the server closes sockets that wait for this too long
            sockets.append(ws)
        watching = Crowd(sockets)
        await watching.start()
        try:
            yield watching
        finally:
            watching.stop()


def rss(server: Server) -> int:
    """The server process's resident memory, in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


async def fanout_server(start_server: StartServer, postgres_url: str) -> tuple[Server, str]:
    await migrate_database(postgres_url)  # the broker's database; the data stays in SQLite
    broker = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    server = await start_server(
        COMMPULSE_BROADCAST_URL=broker,
        COMMPULSE_SENDER="none",
        COMMPULSE_SCHEDULER="off",
        COMMPULSE_RATE_BURST="100000",  # thousands of subscribes from one (local) caller
    )
    return server, broker


async def started(crowd_: Crowd, store: Store, pages: list[int]) -> None:
    """Until every subscription listens: one change reaches them all."""
    await toggle(store, pages, 1)
    await crowd_.all_reach(1)


async def test_memory_stays_flat_while_200_subscribers_get_2000_changes(
    start_server: StartServer, postgres_url: str
) -> None:
    """After a warm-up, 2,000 more changes to 200 subscribers leave the server's RSS within
    10 MiB (graphql-core alone kept about 1.8 KiB per delivered event: 700 MiB here)."""
    server, broker = await fanout_server(start_server, postgres_url)
    async with writer(server, broker) as store, crowd(server, 200) as watching:
        pages = [(await create(store, Kind.LANDING_PAGE)).id for _ in range(10)]
        assert all(pages)
        await watching.all_reach(10)  # the CREATEs
        await write(server, broker, pages, 300)  # warm-up
        await watching.all_reach(310)
        before = rss(server)
        await write(server, broker, pages, 2_000)
        await watching.all_reach(2_310)
        after = rss(server)
        [last] = watching.cursors()  # everyone got everything, up to the last change
        assert last == ids.change_cursor(await changes.head(store))
    growth = after - before
    assert growth < 10 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB"


CREATE_PAGE = """mutation($input: CreateLandingPageInput!) {
  createLandingPage(input: $input) {
    communication { ... on LandingPage { id } } userErrors { code }
  }
}"""
PUBLISH = """mutation($id: ID!) {
  publishLandingPage(id: $id) { communication { ... on LandingPage { status } } }
}"""


async def test_two_thousand_subscribers_get_every_change_and_mutations_answer(
    start_server: StartServer,
) -> None:
    """2,000 statusChanged subscribers (40 websockets of 50) attached to one server: each
    gets every change, the mutations making them answer, and nothing runs out of database
    connections (with a query per subscriber per change it did at 5,000)."""
    server = await start_server(
        COMMPULSE_SENDER="none", COMMPULSE_SCHEDULER="off", COMMPULSE_RATE_BURST="100000"
    )
    transport = HTTPXAsyncTransport(url=server.http_url, timeout=WAIT)
    async with (
        crowd(server, 2_000) as watching,
        Client(transport=transport, execute_timeout=WAIT) as client,
    ):
        made = await client.execute(
            GraphQLRequest(
                CREATE_PAGE,
                variable_values={"input": {"name": "p", "title": "t", "slug": "fanout"}},
            )
        )
        await watching.all_reach(1)  # every one of them listens
        page = made["createLandingPage"]["communication"]["id"]
        published = await client.execute(GraphQLRequest(PUBLISH, variable_values={"id": page}))
        assert published["publishLandingPage"]["communication"]["status"] == "PUBLISHED"
        await watching.all_reach(2)
        assert len(watching.received) == 2_000
        assert set(watching.received.values()) == {2}
        async with server_store(server) as store:
            assert watching.cursors() == {ids.change_cursor(await changes.head(store))}
    assert "QueuePool limit" not in server.log and "Unexpected error" not in server.log
