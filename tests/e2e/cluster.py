"""Helpers for tests that run several servers on one PostgreSQL database with a broker:
subscribers that resume from their last cursor on another instance when theirs dies,
writers that move in-app messages through their lifecycle over HTTP, and the status
changes as the table holds them, to compare with what the subscribers saw."""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from gql.transport.exceptions import TransportError, TransportQueryError
from websockets.exceptions import ConnectionClosed

from schema import ids
from tests.e2e.conftest import Json, Server, bearer, subscribe, ws_session

Entry = tuple[
    str, str, str
]  # what a dashboard keeps of a change: (cursor, communicationId, action)

BEGINNING = ids.change_cursor((0, 0))  # before every change: a stream from the very first one
# seconds for every subscriber to have seen everything, after the last write: only so a lost
# change fails instead of hanging (1,000 scheduled starts at a load average near 10 took 20 s)
WAIT = 60.0
RESUBSCRIBE_ATTEMPTS = 20
RESUBSCRIBE_BACKOFF = 0.1  # seconds between attempts, as a dashboard's reconnect loop would
READY_POLL = 0.1  # seconds between two looks at /readyz

STATUS_CHANGED = """
subscription Changes($after: String) {
  statusChanged(after: $after) { cursor communicationId action }
}
"""

CREATE_IN_APP = """
mutation Create($input: CreateInAppMessageInput!) {
  createInAppMessage(input: $input) {
    communication { ... on InAppMessage { id status } }
    userErrors { code message field }
  }
}
"""


def action_mutation(field: str) -> str:
    return f"""
    mutation Act($id: ID!) {{
      {field}(id: $id) {{
        communication {{ ... on InAppMessage {{ id status }} }}
        userErrors {{ code message field }}
      }}
    }}
    """


# an in-app message's walk: launch, then pause and resume for as long as the writer likes
LAUNCH = ("launchCommunication", action_mutation("launchCommunication"))
PAUSE = ("pauseCommunication", action_mutation("pauseCommunication"))
RESUME = ("resumeCommunication", action_mutation("resumeCommunication"))


async def post(client: httpx.AsyncClient, server: Server, query: str, **variables: Any) -> Json:
    """One GraphQL operation over HTTP; any GraphQL error fails the test."""
    response = await client.post(
        server.http_url,
        json={"query": query, "variables": variables},
        headers=bearer(server.token),
    )
    response.raise_for_status()
    body: Json = response.json()
    assert "errors" not in body, body["errors"]
    data: Json = body["data"]
    return data


def payload(data: Json, field: str) -> Json:
    """The communication from a mutation payload, failing the test on any userErrors."""
    assert data[field]["userErrors"] == [], data[field]["userErrors"]
    communication: Json = data[field]["communication"]
    return communication


class InAppWalker:
    """Writes status changes one at a time: creates an in-app message, launches it, then
    pauses and resumes it; a new message every `per_message` changes."""

    def __init__(self, name: str, per_message: int = 6) -> None:
        self.name = name
        self.per_message = per_message
        self.written = 0
        self._count = itertools.count()
        self._id: str | None = None
        self._steps: list[tuple[str, str]] = []

    async def step(self, client: httpx.AsyncClient, server: Server) -> None:
        """Make the next change through `server`."""
        if self._id is None or not self._steps:
            title = f"{self.name} {next(self._count)}"
            data = await post(client, server, CREATE_IN_APP, input={"name": title, "title": title})
            self._id = payload(data, "createInAppMessage")["id"]
            walk = [LAUNCH] + [(PAUSE, RESUME)[i % 2] for i in range(self.per_message - 2)]
            self._steps = walk[::-1]
        else:
            field, query = self._steps.pop()
            payload(await post(client, server, query, id=self._id), field)
        self.written += 1


async def table_changes(url: str) -> list[Entry]:
    """Every status change in the database, in stream order, as a subscriber would see it."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            "SELECT tx, seq, communication_id, action FROM status_event ORDER BY tx, seq"
        )
    finally:
        await conn.close()
    return [
        (
            ids.change_cursor((row["tx"], row["seq"])),
            str(ids.communication_id(row["communication_id"])),
            row["action"],
        )
        for row in rows
    ]


@dataclass
class Subscriber:
    """A dashboard on `servers[0]` streaming statusChanged from `after`. When its connection
    dies it resubscribes, with the last cursor it saw, to the next server still running."""

    name: str
    servers: Sequence[Server]
    after: str = BEGINNING
    seen: list[Entry] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)  # ports, one per (re)subscription
    started: asyncio.Event = field(default_factory=asyncio.Event)  # first item arrived
    _grew: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        candidates = itertools.cycle(self.servers)
        for _ in range(RESUBSCRIBE_ATTEMPTS):
            server = next(candidates)
            if server.process.returncode is not None:
                continue
            after = self.seen[-1][0] if self.seen else self.after
            self.connections.append(server.port)
            try:
                async with (
                    ws_session(server, token=server.token) as ws,
                    subscribe(ws, STATUS_CHANGED, after=after) as items,
                ):
                    async for item in items:
                        change = item["statusChanged"]
                        self.seen.append(
                            (change["cursor"], change["communicationId"], change["action"])
                        )
                        self.started.set()
                        self._grew.set()
            except TransportQueryError:
                raise  # the server refused the subscription: a real failure
            except (TransportError, ConnectionClosed, OSError):
                pass  # the connection died: resume elsewhere
            await asyncio.sleep(RESUBSCRIBE_BACKOFF)
        raise AssertionError(f"{self.name}: gave up after {RESUBSCRIBE_ATTEMPTS} subscriptions")

    async def wait_started(self) -> None:
        """Until the first item came: the subscription listens (it listens before it reads)."""
        async with asyncio.timeout(WAIT):
            await self._until(self.started)

    async def reach(self, cursor: str, within: float = WAIT) -> None:
        """Until it has seen `cursor` (the last change written), failing after `within` s."""
        await self.until(
            lambda seen: cursor in (entry[0] for entry in seen), f"up to {cursor}", within
        )

    async def until(
        self, done: Callable[[list[Entry]], bool], what: str, within: float = WAIT
    ) -> None:
        """Until `done(seen)` holds, failing after `within` seconds."""
        try:
            async with asyncio.timeout(within):
                while not done(self.seen):
                    self._grew.clear()
                    await self._until(self._grew)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} saw {len(self.seen)} changes, not {what}, within {within}s"
            ) from None

    async def _until(self, event: asyncio.Event) -> None:
        assert self._task is not None
        waiting = asyncio.ensure_future(event.wait())
        done, _ = await asyncio.wait({waiting, self._task}, return_when="FIRST_COMPLETED")
        if self._task in done:  # it failed: say why instead of waiting for nothing
            waiting.cancel()
            self._task.result()
            raise AssertionError(f"{self.name} stopped streaming")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def subscribers(*subscribers: Subscriber) -> AsyncIterator[None]:
    """Start every subscriber and wait until each streams; stop them all on the way out."""
    for subscriber in subscribers:
        subscriber.start()
    try:
        await asyncio.gather(*(s.wait_started() for s in subscribers))
        yield
    finally:
        for subscriber in subscribers:
            await subscriber.stop()


class Writer:
    """A task making changes one after another through `targets` in turn, with a lock the
    test takes to change the targets between two writes (before it kills an instance)."""

    def __init__(self, targets: list[Server], total: int, walker: InAppWalker) -> None:
        self.targets = targets
        self.total = total
        self.walker = walker
        self._lock = asyncio.Lock()
        self._wrote = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, client: httpx.AsyncClient) -> None:
        self._task = asyncio.create_task(self._run(client), name="writer")

    async def _run(self, client: httpx.AsyncClient) -> None:
        for turn in itertools.count():
            async with self._lock:
                if self.walker.written >= self.total:
                    return
                await self.walker.step(client, self.targets[turn % len(self.targets)])
            self._wrote.set()

    async def reached(self, count: int) -> None:
        """Until `count` changes are written (all of them when the writer has finished)."""
        assert self._task is not None
        async with asyncio.timeout(WAIT):
            while self.walker.written < count:
                self._wrote.clear()
                waiting = asyncio.ensure_future(self._wrote.wait())
                await asyncio.wait({waiting, self._task}, return_when="FIRST_COMPLETED")
                waiting.cancel()
                if self._task.done():
                    self._task.result()  # a failed write fails the test here
                    break
        assert self.walker.written >= count

    async def finished(self) -> None:
        await self.reached(self.total)
        assert self._task is not None
        await self._task

    async def drop(self, server: Server) -> None:
        """Write no more through `server`; returns between two writes."""
        async with self._lock:
            self.targets.remove(server)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def readiness(client: httpx.AsyncClient, server: Server) -> tuple[int, Json]:
    response = await client.get(f"http://127.0.0.1:{server.port}/readyz")
    body: Json = response.json()
    return response.status_code, body


async def until_readiness(
    client: httpx.AsyncClient, server: Server, status: int, broker: str
) -> Json:
    """Ask /readyz until it answers `status` with this broker state. The broker connection
    is checked in the background (at once when it breaks mid-read, or within brokers.PING_EVERY
    when idle; reconnects back off to brokers.BACKOFF_MAX), so poll, within WAIT."""
    body: Json = {}
    for _ in range(int(WAIT / READY_POLL)):
        code, body = await readiness(client, server)
        if code == status and body["broker"] == broker:
            return body
        await asyncio.sleep(READY_POLL)
    raise AssertionError(f"/readyz on {server.port} not {status}/{broker} in {WAIT}s: {body}")
