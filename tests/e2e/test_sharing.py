"""Shared execution gives every subscriber what its own execution would: for every
subscription field and both websocket protocols, subscribers that share a group (the same
document and variables) get the same payloads as a subscriber executing alone."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from tests.e2e.conftest import (
    LAUNCH,
    LEGACY_WS,
    PAUSE,
    RESUME,
    TRANSPORT_WS,
    Json,
    Server,
    StartServer,
    act,
    create_email,
    create_in_app,
    execute,
    http_session,
    init,
    migrate_database,
    raw_ws,
    receive,
    send,
)

pytestmark = pytest.mark.e2e

DOCUMENTS = {
    "statusChanged": """subscription S($ids: [ID!]) {
      statusChanged(ids: $ids) {
        cursor communicationId kind action from to actor reason version at
      }
    }""",
    "communication": """subscription C($id: ID!) {
      communication(id: $id) {
        __typename
        ... on CommunicationBase {
          id name kind version availableActions statusReason
          history(first: 10) { edges { cursor node { action from to actor } } }
        }
        ... on EmailCampaign {
          status audienceSize pendingCount handedOffCount sentCount notSentCount progress
        }
      }
    }""",
    "sendingProgress": """subscription P($id: ID!) {
      sendingProgress(id: $id) {
        communicationId status audienceSize pendingCount handedOffCount sentCount
        notSentCount progress lastProgressAt
      }
    }""",
}
# frames each step brings to each field: the first state, launch, a claim, a report, a stop
FRAMES = {
    "statusChanged": [0, 1, 0, 0, 1],
    "communication": [1, 1, 1, 1, 1],
    "sendingProgress": [1, 1, 1, 1, 1],
}
GROUP = 3  # subscribers sharing one document

CLAIM = """mutation($id: ID!) {
  claimRecipients(communicationId: $id, limit: 2, workerId: "w") {
    recipients { recipientId leaseId } userErrors { code }
  }
}"""
REPORT = """mutation($id: ID!, $recipient: String!, $lease: ID!) {
  reportDeliveries(
    communicationId: $id, results: [{recipientId: $recipient, leaseId: $lease, outcome: SENT}]
  ) {
    results { applied } userErrors { code }
  }
}"""
STOP = """mutation($id: ID!) {
  stopCommunication(id: $id) { userErrors { code } }
}"""


class Subscriber:
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.payloads: list[Json] = []

    async def subscribe(self, document: str, variables: Json) -> None:
        await init(self.ws)
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": document, "variables": variables}
        await send(self.ws, {"id": "1", "type": kind, "payload": payload})

    async def take(self, count: int) -> None:
        data = "next" if self.protocol == TRANSPORT_WS else "data"
        while count:
            message = await receive(self.ws)
            if message["type"] == "ka":
                continue
            assert (message["type"], message["id"]) == (data, "1"), message
            self.payloads.append(message["payload"])
            count -= 1


@contextlib.asynccontextmanager
async def subscribers(server: Server, count: int, protocol: str) -> AsyncIterator[list[Subscriber]]:
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(raw_ws(server, protocol)) for _ in range(count)]
        yield [Subscriber(ws, protocol) for ws in sockets]


async def test_shared_payloads_equal_those_executed_alone(start_server: StartServer) -> None:
    """Per field and protocol, 3 subscribers with one document and 1 with the same document
    spelled differently (a group of its own: strawberry's per-subscriber execution) get
    equal payloads, step by step, and the two protocols carry the same payloads. (Run with
    a print in schema/sharing.py: of 6 subscribers per event in the big group, 1 executes.)"""
    server = await start_server(COMMPULSE_SENDER="none", COMMPULSE_SCHEDULER="off")
    async with http_session(server) as client:
        email = await create_email(client, "shared", audience=3)
        variables: dict[str, Any] = {"id": email["id"]}
        runs = [(field, protocol) for field in DOCUMENTS for protocol in (TRANSPORT_WS, LEGACY_WS)]
        async with contextlib.AsyncExitStack() as stack:
            everyone: dict[tuple[str, str], list[Subscriber]] = {}
            for field, protocol in runs:
                group = await stack.enter_async_context(subscribers(server, GROUP + 1, protocol))
                these = {"ids": [email["id"]]} if field == "statusChanged" else variables
                for i, subscriber in enumerate(group):
                    # spelled apart per protocol: a group of one, which always executes itself
                    alone = f"\n# executed alone over {protocol}" if i == GROUP else ""
                    await subscriber.subscribe(DOCUMENTS[field] + alone, these)
                everyone[field, protocol] = group

            async def step(index: int) -> None:
                await asyncio.gather(
                    *(
                        s.take(FRAMES[field][index])
                        for (field, _), group in everyone.items()
                        for s in group
                    )
                )

            await step(0)
            await act(client, LAUNCH, "launchCommunication", id=email["id"])
            await step(1)
            claimed = await execute(client, CLAIM, id=email["id"])
            recipients = claimed["claimRecipients"]["recipients"]
            assert len(recipients) == 2
            await step(2)
            first = recipients[0]
            await execute(
                client,
                REPORT,
                id=email["id"],
                recipient=first["recipientId"],
                lease=first["leaseId"],
            )
            await step(3)
            await execute(client, STOP, id=email["id"])
            await step(4)

    for field in DOCUMENTS:
        seen = {
            protocol: [s.payloads for s in everyone[field, protocol]]
            for protocol in (TRANSPORT_WS, LEGACY_WS)
        }
        alone = seen[TRANSPORT_WS][GROUP]
        assert len(alone) == sum(FRAMES[field])
        assert all("errors" not in p for p in alone), alone
        for protocol, payloads in seen.items():
            for got in payloads:
                assert json.dumps(got, sort_keys=True) == json.dumps(alone, sort_keys=True), (
                    field,
                    protocol,
                )
    final = seen[TRANSPORT_WS][0][-1]["data"]["sendingProgress"]
    assert (final["status"], final["sentCount"], final["notSentCount"]) == ("STOPPED", 1, 2)


HISTORY = """query H($id: ID!) {
  communication(id: $id) { ... on InAppMessage { history(first: 10) { edges { cursor } } } }
}"""
HANDOVER = {
    "statusChanged": """subscription S($ids: [ID!], $after: String) {
      statusChanged(ids: $ids, after: $after) { action to }
    }""",
    "communication": """subscription C($id: ID!) {
      communication(id: $id) { ... on InAppMessage { status version } }
    }""",
}


async def test_members_riding_along_miss_nothing_when_the_others_leave(
    start_server: StartServer,
) -> None:
    """Four subscribers share a document; after each change one of them completes, until
    one is left: whichever of them was executing for the group, every change reaches every
    subscriber still there, once and in order (those riding along take over)."""
    server = await start_server(COMMPULSE_SENDER="none", COMMPULSE_SCHEDULER="off")
    async with http_session(server) as client:
        message = await create_in_app(client, "handover")
        await act(client, LAUNCH, "launchCommunication", id=message["id"])
        # from the launch on, whether a subscription is attached before the first pause
        # commits or after (nothing acknowledges a subscribe)
        launched = await execute(client, HISTORY, id=message["id"])
        after = launched["communication"]["history"]["edges"][-1]["cursor"]
        steps = [(PAUSE, "pauseCommunication"), (RESUME, "resumeCommunication")] * 2
        async with contextlib.AsyncExitStack() as stack:
            groups = {
                field: await stack.enter_async_context(subscribers(server, 4, TRANSPORT_WS))
                for field in HANDOVER
            }
            for field, group in groups.items():
                these = {"ids": [message["id"]], "after": after} if field == "statusChanged" else {}
                for subscriber in group:
                    await subscriber.subscribe(HANDOVER[field], {"id": message["id"]} | these)
            for subscriber in groups["communication"]:
                await subscriber.take(1)  # the current state
            for n, (query, field) in enumerate(steps):
                await act(client, query, field, id=message["id"])
                for group in groups.values():
                    await asyncio.gather(*(s.take(1) for s in group[n:]))
                    if n < len(steps) - 1:
                        await send(group[n].ws, {"id": "1", "type": "complete"})
    statuses = ["PAUSED", "ACTIVE", "PAUSED", "ACTIVE"]
    for n, subscriber in enumerate(groups["statusChanged"]):
        assert [p["data"]["statusChanged"]["to"] for p in subscriber.payloads] == statuses[: n + 1]
    for n, subscriber in enumerate(groups["communication"]):
        states = [p["data"]["communication"] for p in subscriber.payloads]
        assert [s["status"] for s in states] == ["ACTIVE", *statuses[: n + 1]]
        assert [s["version"] for s in states] == sorted({s["version"] for s in states})


RIDERS = 4  # subscribers per protocol, all in one group
# every operation the test makes: create, history, 2 * RIDERS subscribes, launch, pause,
# resume, one subscribe again and the last query; the token's burst is exactly that
OPERATIONS = 2 + 2 * RIDERS + 3 + 1 + 1


async def test_riders_stay_open_and_are_charged_at_their_subscribe_only(
    start_server: StartServer,
) -> None:
    """Members riding along let go of their execution, and run it again when those
    executing for them leave: they stay open subscriptions (counted once each), cost one
    subscribe's rate whatever happens, and each protocol's stop ends one of them (graphql-ws
    answers `complete`; a graphql-transport-ws id is free again)."""
    server = await start_server(
        COMMPULSE_SENDER="none",
        COMMPULSE_SCHEDULER="off",
        COMMPULSE_METRICS="on",
        COMMPULSE_RATE_LIMIT="0.001",
        COMMPULSE_RATE_BURST=str(OPERATIONS),
    )
    document = HANDOVER["statusChanged"]
    async with (
        http_session(server) as client,
        subscribers(server, RIDERS, TRANSPORT_WS) as transport,
        subscribers(server, RIDERS, LEGACY_WS) as legacy,
    ):
        message = await create_in_app(client, "riders")
        created = await execute(client, HISTORY, id=message["id"])
        these = {
            "ids": [message["id"]],
            "after": created["communication"]["history"]["edges"][-1]["cursor"],
        }
        everyone = transport + legacy
        for subscriber in everyone:
            await subscriber.subscribe(document, these)
        for query, field in [(LAUNCH, "launchCommunication"), (PAUSE, "pauseCommunication")]:
            await act(client, query, field, id=message["id"])
            await asyncio.gather(*(s.take(1) for s in everyone))
        await open_subscriptions(server, 2 * RIDERS)
        # the first or the second to subscribe executes for the others, which ride along:
        # with both gone, the last two run their operation again to go on
        for subscriber in transport:
            await send(subscriber.ws, {"id": "1", "type": "complete"})
        for subscriber in legacy[:2]:
            await send(subscriber.ws, {"id": "1", "type": "stop"})
            assert await next_message(subscriber.ws) == {"type": "complete", "id": "1"}
        staying = legacy[2:]
        await act(client, RESUME, "resumeCommunication", id=message["id"])
        await asyncio.gather(*(s.take(1) for s in staying))
        again = Subscriber(transport[0].ws, TRANSPORT_WS)  # its id is free again
        payload = {"query": document, "variables": these}
        await send(again.ws, {"id": "1", "type": "subscribe", "payload": payload})
        await again.take(3)
        await open_subscriptions(server, len(staying) + 1)
        await execute(client, HISTORY, id=message["id"])  # the last operation the burst allows
    for subscriber in [*staying, again]:
        moves = [p["data"]["statusChanged"]["to"] for p in subscriber.payloads]
        assert moves == ["ACTIVE", "PAUSED", "ACTIVE"], subscriber.payloads
    for subscriber in transport[1:] + legacy[:2]:
        assert len(subscriber.payloads) == 2


async def next_message(ws: ClientConnection) -> Json:
    """The next message but graphql-ws' keep-alives."""
    while (message := await receive(ws))["type"] == "ka":
        pass
    return message


async def status_changed_metric(client: httpx.AsyncClient, server: Server, name: str) -> float:
    """The `statusChanged` sample of the metric `name`, from /metrics (0 when absent)."""
    response = await client.get(server.http_url.removesuffix("/graphql") + "/metrics")
    return next(
        (
            sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if (sample.name, sample.labels.get("field")) == (name, "statusChanged")
        ),
        0.0,
    )


async def open_subscriptions(server: Server, count: int) -> None:
    """Wait until /metrics shows `count` statusChanged subscriptions open (the server lets
    go of a stopped one on its own time)."""
    seen = None
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            seen = await status_changed_metric(client, server, "commpulse_subscriptions_open")
            if seen == count:
                return
            await asyncio.sleep(0.05)
    pytest.fail(f"{seen} statusChanged subscriptions open, not {count}")


DASHBOARDS = 3  # subscribers per protocol, all in one group


async def test_one_rider_takes_over_when_the_executing_member_leaves(
    start_server: StartServer,
) -> None:
    """Subscribers of both protocols share a document, the first executing for the others,
    which ride along; it closes its tab, then the next, and so on, with a change after
    each: each time one rider runs its operation again to drive the group and the others
    keep riding (all of them at once was a burst of thousands of re-runs), and every member
    still there gets every change exactly once, in order."""
    server = await start_server(
        COMMPULSE_SENDER="none", COMMPULSE_SCHEDULER="off", COMMPULSE_METRICS="on"
    )
    async with (
        http_session(server) as client,
        subscribers(server, DASHBOARDS, TRANSPORT_WS) as transport,
        subscribers(server, DASHBOARDS, LEGACY_WS) as legacy,
    ):
        message = await create_in_app(client, "takeover")
        await act(client, LAUNCH, "launchCommunication", id=message["id"])
        launched = await execute(client, HISTORY, id=message["id"])
        these = {
            "ids": [message["id"]],
            "after": launched["communication"]["history"]["edges"][-1]["cursor"],
        }
        everyone = [s for pair in zip(transport, legacy, strict=True) for s in pair]
        await everyone[0].subscribe(HANDOVER["statusChanged"], these)
        await act(client, PAUSE, "pauseCommunication", id=message["id"])
        await everyone[0].take(1)  # alone, it executes for the group from here on
        for subscriber in everyone[1:]:  # in this order: each gets the pause and rides along
            await subscriber.subscribe(HANDOVER["statusChanged"], these)
            await subscriber.take(1)
        steps = [(RESUME, "resumeCommunication"), (PAUSE, "pauseCommunication")] * 2
        reruns = [await rerun_count(server)]
        for n, (query, field) in enumerate(steps):
            await everyone[n].ws.close()
            await open_subscriptions(server, len(everyone) - n - 1)
            await act(client, query, field, id=message["id"])
            await asyncio.gather(*(s.take(1) for s in everyone[n + 1 :]))
            reruns.append(await rerun_count(server))
    statuses = ["PAUSED", "ACTIVE", "PAUSED", "ACTIVE", "PAUSED"]
    for n, subscriber in enumerate(everyone):
        moves = [p["data"]["statusChanged"]["to"] for p in subscriber.payloads]
        assert moves == statuses[: n + 1], (n, subscriber.protocol, subscriber.payloads)
    # each time the member executing leaves, one rider (the earliest) runs again and takes
    # over, the next to leave; all of them at once, the first time, was 5
    assert reruns == [0, 1, 2, 3, 4]


async def rerun_count(server: Server) -> float:
    """`statusChanged` subscriptions run again after riding along, from /metrics."""
    async with httpx.AsyncClient() as client:
        return await status_changed_metric(client, server, "commpulse_subscription_reruns_total")


STALLED = """subscription S($ids: [ID!], $after: String) {
  statusChanged(ids: $ids, after: $after) {
    to communication { ... on InAppMessage { status } }
  }
}"""
STALLED_RIDERS = 4  # subscribers riding along with the one executing for them


async def test_one_rider_makes_the_change_its_executor_was_stopped_making(
    start_server: StartServer, postgres_url: str
) -> None:
    """The subscriber executing for its group closes its tab while it reads a change's
    communication (held up by a lock on the table): one rider runs its operation again to
    make that change and drive the group, and the others keep riding (all of them at once
    was a burst of executions, each reading the table for itself); every subscriber left
    gets the change exactly once."""
    await migrate_database(postgres_url)
    server = await start_server(
        None,
        migrated=False,
        COMMPULSE_DATABASE_URL=postgres_url,
        COMMPULSE_SENDER="none",
        COMMPULSE_SCHEDULER="off",
        COMMPULSE_METRICS="on",
    )
    database = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    async with (
        http_session(server) as client,
        subscribers(server, STALLED_RIDERS + 1, TRANSPORT_WS) as everyone,
    ):
        message = await create_in_app(client, "stalled")
        await act(client, LAUNCH, "launchCommunication", id=message["id"])
        launched = await execute(client, HISTORY, id=message["id"])
        these = {
            "ids": [message["id"]],
            "after": launched["communication"]["history"]["edges"][-1]["cursor"],
        }
        executor, riders = everyone[0], everyone[1:]
        await executor.subscribe(STALLED, these)
        await act(client, PAUSE, "pauseCommunication", id=message["id"])
        await executor.take(1)  # alone, it executes for the group from here on
        for subscriber in riders:  # each gets the pause and rides along
            await subscriber.subscribe(STALLED, these)
            await subscriber.take(1)
        assert await rerun_count(server) == 0
        async with held_communications(database) as release:
            resume = asyncio.create_task(
                act(client, RESUME, "resumeCommunication", id=message["id"])
            )
            await release()  # the resume commits; the next reader of the table waits
            await resume
            await waiting_on_locks(database, 1)  # the executor, reading the communication
            await send(executor.ws, {"id": "1", "type": "complete"})
            # handled in order: once it answers, its operation was cancelled, mid-read
            await send(executor.ws, {"type": "ping"})
            assert await receive(executor.ws) == {"type": "pong"}
        await asyncio.gather(*(s.take(1) for s in riders))
        reruns = await rerun_count(server)
    for subscriber in riders:
        moves = [p["data"]["statusChanged"]["to"] for p in subscriber.payloads]
        assert moves == ["PAUSED", "ACTIVE"], subscriber.payloads
        assert subscriber.payloads[-1]["data"]["statusChanged"]["communication"] == {
            "status": "ACTIVE"
        }
    assert reruns == 1  # all of them at once: 4


@contextlib.asynccontextmanager
async def held_communications(database: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold the communication table for the block: its rows are locked until the block calls
    `release`, which lets the one writer waiting for them commit and then locks the whole
    table, reads included, until the block ends. (A lock queues behind the writer's, so no
    reader comes between its commit and the lock.)"""
    rows, table = await asyncpg.connect(database), await asyncpg.connect(database)
    try:
        rows_held = rows.transaction()
        await rows_held.start()
        await rows.execute("SELECT id FROM communication FOR UPDATE")
        table_held = table.transaction()
        await table_held.start()

        async def release() -> None:
            await waiting_on_locks(database, 1)  # the writer
            locking = asyncio.create_task(
                table.execute("LOCK TABLE communication IN ACCESS EXCLUSIVE MODE")
            )
            await waiting_on_locks(database, 2)  # the writer, and the lock behind it
            await rows_held.rollback()
            await locking

        try:
            yield release
        finally:
            await table_held.rollback()
    finally:
        await rows.close()
        await table.close()


async def waiting_on_locks(database: str, count: int) -> None:
    """Wait until `count` sessions of the database wait for a lock."""
    seen = None
    admin = await asyncpg.connect(database)
    try:
        for _ in range(200):
            seen = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if seen == count:
                return
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    pytest.fail(f"{seen} sessions wait for a lock, not {count}")
