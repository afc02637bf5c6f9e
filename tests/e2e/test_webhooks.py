"""Signed webhooks against live servers and loopback receivers that verify every signature
with the `standardwebhooks` package: a receiver that is down for a while, one that answers
500 before 200, an instance SIGKILLed while it delivers, a failing endpoint replayed.
After dropping duplicates by webhook-id, every status change arrives once, and in order
for each communication."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from broadcaster import Broadcast
from gql.client import AsyncClientSession
from standardwebhooks import Webhook, WebhookVerificationError

from store import Store, webhooks
from store.database import create_engine, sessions
from store.feed import Feed
from tests.e2e.conftest import (
    LAUNCH,
    PAUSE,
    RESUME,
    StartServer,
    act,
    create_in_app,
    execute,
    free_port,
    http_session,
)
from tests.e2e.test_metrics import eventually, value

pytestmark = pytest.mark.e2e

WAIT = 20.0  # seconds for deliveries to arrive before the test fails
FAST = {
    "COMMPULSE_WEBHOOK_ALLOW_PRIVATE": "on",
    "COMMPULSE_WEBHOOK_RETRY_FIRST": "0.05",
    "COMMPULSE_WEBHOOK_RETRY_MOST": "0.3",
    "COMMPULSE_WEBHOOK_POLL": "0.2",
    "COMMPULSE_SENDER": "none",
}

CREATE = """
mutation Create($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url state cursor }
    secret
    userErrors { code message field }
  }
}
"""
ENDPOINTS = "query { webhookEndpoints { id state attempts lastError cursor } }"
DELIVERIES = """
query Log($id: ID!, $after: String) {
  webhookDeliveries(endpointId: $id, first: 100, after: $after) {
    deliveries { webhookId changeCursor statusCode latencyMs error delivered }
    hasNextPage endCursor
  }
}
"""
REPLAY = """
mutation Replay($id: ID!, $after: String) {
  replayWebhookEndpoint(id: $id, after: $after) {
    endpoint { id state }
    userErrors { code message }
  }
}
"""
ALL_IDS = (
    "query { communications(first: 100) { edges { node { ... on CommunicationBase { id } } } } }"
)
HISTORY = """
query History($id: ID!) {
  communication(id: $id) {
    ... on CommunicationBase { history(first: 100) { edges { cursor node { version } } } }
  }
}
"""


@dataclass
class Receiver:
    """A webhook receiver on a loopback port that checks each signature, as a real one
    would, and keeps what it got; `answers` are status codes to give first (then 200)."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None  # requests wait for it, unanswered, while it is unset
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    forged: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            data = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=400)
        async with self.changed:
            self.requests.append((request.headers["webhook-id"], data))
            self.changed.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.answers.pop(0) if self.answers else 200, text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def unique(self) -> dict[str, dict[str, Any]]:
        """What it got after dropping duplicates by webhook-id, in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        for message, data in self.requests:
            seen.setdefault(message, data)
        return seen

    async def wait_for(self, done: Callable[["Receiver"], bool], what: str) -> None:
        try:
            async with asyncio.timeout(WAIT), self.changed:
                await self.changed.wait_for(lambda: done(self))
        except TimeoutError:
            pytest.fail(f"the receiver never got {what}; it got {self.requests}")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver()
    await started.start()
    yield started
    if started.hold is not None:
        started.hold.set()
    await started.stop()


async def create_endpoint(session: AsyncClientSession, receiver: Receiver, **filters: Any) -> str:
    result = (await execute(session, CREATE, input={"url": receiver.url, **filters}))[
        "createWebhookEndpoint"
    ]
    assert result["userErrors"] == [], result["userErrors"]
    receiver.secret = result["secret"]
    assert result["secret"].startswith("whsec_")
    endpoint_id: str = result["endpoint"]["id"]
    return endpoint_id


async def make_changes(session: AsyncClientSession, count: int) -> dict[str, list[str]]:
    """`count` in-app messages, each created, launched, paused and resumed; the cursors of
    each one's status changes, oldest first."""
    made: dict[str, list[str]] = {}
    for n in range(count):
        message = await create_in_app(session, f"Banner {n}")
        for query, name in ((LAUNCH, "launchCommunication"), (PAUSE, "pauseCommunication")):
            await act(session, query, name, id=message["id"])
        await act(session, RESUME, "resumeCommunication", id=message["id"])
        history = await execute(session, HISTORY, id=message["id"])
        edges = history["communication"]["history"]["edges"]
        made[message["id"]] = [edge["cursor"] for edge in edges]
    return made


async def histories(session: AsyncClientSession) -> dict[str, list[str]]:
    """Every communication's status-change cursors, oldest first."""
    page = await execute(session, ALL_IDS)
    made: dict[str, list[str]] = {}
    for edge in page["communications"]["edges"]:
        pk = edge["node"]["id"]
        history = await execute(session, HISTORY, id=pk)
        made[pk] = [e["cursor"] for e in history["communication"]["history"]["edges"]]
    return made


def assert_each_once_in_order(receiver: Receiver, made: dict[str, list[str]]) -> None:
    """After dedup by webhook-id: every change once, each communication's in order."""
    assert receiver.forged == 0
    got = receiver.unique()
    for communication, cursors in made.items():
        mine = [
            d["data"]["cursor"]
            for d in got.values()
            if d["data"]["communicationId"] == communication
        ]
        assert mine == cursors
    assert len(got) == sum(len(cursors) for cursors in made.values())


def has_all(made: dict[str, list[str]]) -> Callable[[Receiver], bool]:
    wanted = {cursor for cursors in made.values() for cursor in cursors}
    return lambda r: wanted <= {d["data"]["cursor"] for d in r.unique().values()}


async def deliveries(session: AsyncClientSession, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await execute(session, DELIVERIES, id=endpoint_id))[
        "webhookDeliveries"
    ]["deliveries"]
    return found


async def endpoint_state(session: AsyncClientSession) -> dict[str, Any]:
    found: dict[str, Any] = (await execute(session, ENDPOINTS))["webhookEndpoints"][0]
    return found


async def until_logged(
    session: AsyncClientSession, endpoint_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The delivery log once `done` holds for it (the sender writes it on its own time)."""
    async with asyncio.timeout(WAIT):
        while True:
            log = await deliveries(session, endpoint_id)
            if done(log):
                return log
            await asyncio.sleep(0.05)


async def test_receiver_down_then_back(start_server: StartServer, receiver: Receiver) -> None:
    """Changes made while the receiver is down arrive, in order, once it is back; the log
    shows the failed attempts and the delivered ones."""
    server = await start_server(**FAST)
    async with http_session(server) as session:
        endpoint_id = await create_endpoint(session, receiver)
        await receiver.stop()
        made = await make_changes(session, 3)
        failed = await until_logged(session, endpoint_id, lambda log: len(log) >= 2)
        assert not failed[0]["delivered"] and failed[0]["statusCode"] is None
        assert "ConnectError" in failed[0]["error"]
        await receiver.start()
        await receiver.wait_for(has_all(made), "every change")
        assert_each_once_in_order(receiver, made)
        log = await until_logged(session, endpoint_id, lambda log: log[-1]["delivered"])
        assert {entry["statusCode"] for entry in log if entry["delivered"]} == {200}
        assert all(entry["latencyMs"] >= 0 for entry in log)
        assert (await endpoint_state(session))["state"] == "ACTIVE"


async def test_500_then_200_keeps_the_webhook_id(
    start_server: StartServer, receiver: Receiver
) -> None:
    """A receiver answering 500 twice gets the change again with the same webhook-id, and
    later changes wait behind it; the metrics count both outcomes."""
    server = await start_server(**FAST, COMMPULSE_METRICS="on")
    receiver.answers = [500, 500]
    async with http_session(server) as session:
        endpoint_id = await create_endpoint(session, receiver)
        made = await make_changes(session, 1)
        await receiver.wait_for(has_all(made), "every change")
        assert_each_once_in_order(receiver, made)
        first = receiver.requests[0][0]
        assert [message for message, _ in receiver.requests[:3]] == [first] * 3
        log = await until_logged(session, endpoint_id, lambda log: len(log) >= 6)
        assert [(e["statusCode"], e["error"]) for e in log[:3]] == [
            (500, "HTTP 500"),
            (500, "HTTP 500"),
            (200, None),
        ]
        assert {e["webhookId"] for e in log[:3]} == {first}
    samples = await eventually(
        server, lambda s: value(s, "commpulse_webhook_backlog", endpoint="1") == 0, "no backlog"
    )
    assert value(samples, "commpulse_webhook_deliveries_total", outcome="failed") == 2
    assert value(samples, "commpulse_webhook_deliveries_total", outcome="delivered") == 4


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for instances to share: a SQLite file, or PostgreSQL (migrated by
    the first server to start on it)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("new_postgres_database")
    return url


@contextlib.asynccontextmanager
async def store_at(url: str) -> AsyncIterator[Store]:
    engine = create_engine(url)
    try:
        async with Broadcast("memory://") as broadcast:
            yield Store(sessions(engine), Feed(broadcast))
    finally:
        await engine.dispose()


async def test_sigkill_while_delivering(
    start_server: StartServer, receiver: Receiver, shared_database: str
) -> None:
    """Two instances share the database; the one holding the endpoint's lease is SIGKILLed
    in the middle of a delivery, and the other takes over and delivers everything."""
    fast = FAST | {
        "COMMPULSE_WEBHOOK_LEASE": "3",
        "COMMPULSE_WEBHOOK_TIMEOUT": "1",
        "COMMPULSE_DATABASE_URL": shared_database,
    }
    first = await start_server(**fast)
    second = await start_server(**fast)
    receiver.hold = asyncio.Event()  # the first delivery gets no answer
    async with http_session(first) as session:
        await create_endpoint(session, receiver)
        await create_in_app(session, "Banner")
    await receiver.wait_for(lambda r: len(r.requests) >= 1, "the first delivery")
    async with store_at(shared_database) as store:
        [endpoint] = await webhooks.endpoints(store)
    by_pid = {str(s.process.pid): s for s in (first, second)}
    delivering = by_pid[str(endpoint.lease_owner).split(":")[1]]
    other = second if delivering is first else first
    await delivering.kill()
    receiver.hold.set()
    async with http_session(other) as session:
        await make_changes(session, 2)
        made = await histories(session)
    await receiver.wait_for(has_all(made), "every change after the takeover")
    assert_each_once_in_order(receiver, made)
    assert receiver.requests[0][0] == receiver.requests[1][0]  # sent again
    async with store_at(shared_database) as store:
        [endpoint] = await webhooks.endpoints(store)
    assert endpoint.lease_owner is not None and str(other.process.pid) in endpoint.lease_owner


async def test_failing_endpoint_and_replay(start_server: StartServer, receiver: Receiver) -> None:
    """Past the retry period an endpoint is FAILING and nothing more is sent; a replay from
    the start delivers everything, and a second replay sends it all again with the same
    webhook-ids, so the receiver's dedup leaves each change once."""
    server = await start_server(**FAST, COMMPULSE_WEBHOOK_RETRY_PERIOD="0.3")
    async with http_session(server) as session:
        endpoint_id = await create_endpoint(session, receiver)
        await receiver.stop()
        made = await make_changes(session, 2)
        async with asyncio.timeout(WAIT):
            while True:
                state = await endpoint_state(session)
                if state["state"] == "FAILING":
                    break
                await asyncio.sleep(0.05)
        assert state["lastError"] and state["attempts"] >= 1
        await receiver.start()
        replayed = (await execute(session, REPLAY, id=endpoint_id))["replayWebhookEndpoint"]
        assert replayed["endpoint"]["state"] == "ACTIVE"
        await receiver.wait_for(has_all(made), "every change after the replay")
        assert_each_once_in_order(receiver, made)
        before = len(receiver.requests)
        await execute(session, REPLAY, id=endpoint_id)
        await receiver.wait_for(lambda r: len(r.requests) >= 2 * before, "the changes again")
        assert_each_once_in_order(receiver, made)
        bad = await execute(session, REPLAY, id=endpoint_id, after="nope")
        assert bad["replayWebhookEndpoint"]["userErrors"][0]["code"] == "INVALID_INPUT"


async def test_filters_and_url_checks(
    start_server: StartServer, receiver: Receiver, tmp_path: Path
) -> None:
    """An endpoint gets only the kinds and statuses it asked for; private, loopback and
    malformed URLs are refused unless the setting allows private ones."""
    strict = await start_server(tmp_path / "strict.db")  # a database of its own
    async with http_session(strict) as session:
        for url in [
            receiver.url,
            "http://10.0.0.8/x",
            "ftp://example.com/",
            "http://[::1]/",
            "nope",
        ]:
            result = (await execute(session, CREATE, input={"url": url}))["createWebhookEndpoint"]
            assert result["endpoint"] is None and result["secret"] is None
            assert result["userErrors"][0]["code"] == "INVALID_INPUT", url
    server = await start_server(**FAST)
    async with http_session(server) as session:
        await create_endpoint(session, receiver, statuses=["PAUSED"])
        made = await make_changes(session, 2)
        paused = {communication: [cursors[2]] for communication, cursors in made.items()}
        await receiver.wait_for(has_all(paused), "the pauses")
        assert_each_once_in_order(receiver, paused)
        assert {d["data"]["to"] for d in receiver.unique().values()} == {"PAUSED"}


def test_payload_is_what_the_subscription_says() -> None:
    """The body carries the statusChanged fields; its signature verifies."""
    from datetime import UTC, datetime

    from server.webhooks import signed
    from store.feed import Change

    change = Change(
        1, 7, 3, "EMAIL", "LAUNCH", "DRAFT", "SENDING", "ops", None, 2, datetime.now(UTC)
    )
    secret = webhooks.new_secret()
    body, headers = signed(secret, change, datetime.now(UTC))
    data = Webhook(secret).verify(body, headers)
    assert data["type"] == "communication.status_changed"
    assert data["data"]["to"] == "SENDING" and headers["webhook-id"] == "msg_7"
    assert json.loads(body) == data
