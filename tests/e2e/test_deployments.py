"""The live scenarios in each configuration people deploy, with auth on and real tokens:

- `default`: one instance on SQLite and `memory://`, as `make run` with COMMPULSE_AUTH=on;
- `postgres+redis`: two instances sharing PostgreSQL and a Redis broker;
- `postgres-notify`: two instances sharing PostgreSQL and its LISTEN/NOTIFY broker.

Each scenario runs in all three: a change made through one instance reaches subscribers on
every instance; a stream resumes from a cursor on another instance with nothing missed or
repeated; revoking a token closes its websockets on every instance; the scheduler starts
a communication and every instance streams it; a search in each order on every instance finds
what one instance wrote. The servers of a configuration are shared
by the module's tests, which make their own communications and tokens and never rely on
an empty database.
"""

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from gql.client import AsyncClientSession

from store.feed import CHANNEL, TOKENS_CHANNEL
from store.tokens import ApiRole
from tests.e2e.conftest import (
    LAUNCH,
    LEGACY_WS,
    SCHEDULE,
    TRANSPORT_WS,
    Json,
    RedisServer,
    Server,
    act,
    close_code,
    create_email,
    create_in_app,
    execute,
    http_session,
    init,
    launch,
    new_postgres_database,
    next_item,
    raw_ws,
    running_redis,
    send,
    stop_all,
    subscribe,
    token_in,
    until,
    ws_session,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

STATUS_CHANGED = """
subscription Changes($after: String, $ids: [ID!]) {
  statusChanged(after: $after, ids: $ids) { cursor communicationId action from to actor }
}
"""
HISTORY = """
query History($id: ID!) {
  communication(id: $id) {
    ... on CommunicationBase { history(first: 100) { edges { cursor node { action } } } }
  }
}
"""
REVOKE = """
mutation($name: String!) { revokeApiToken(name: $name) { token { revokedAt } userErrors { code } } }
"""
QUICK = {
    "COMMPULSE_AUTH": "on",
    "COMMPULSE_TOKEN_RECHECK": "3600",  # revocations must travel as notices, not re-checks
    "COMMPULSE_RATE_LIMIT": "1000",
    "COMMPULSE_RATE_BURST": "1000",
}


@dataclass
class Deployment:
    name: str
    database_url: str
    servers: list[Server]
    admin: str  # an admin token's secret
    redis: RedisServer | None = None

    @property
    def first(self) -> Server:
        return self.servers[0]


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["default", "postgres+redis", "postgres-notify"],
)
async def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    started: list[Server] = []
    async with contextlib.AsyncExitStack() as stack:
        database = tmp_path_factory.mktemp("deploy") / "commpulse.db"
        env = dict(QUICK)
        redis = None
        if request.param == "default":
            url = f"sqlite+aiosqlite:///{database}"
            count = 1
        else:
            url = await stack.enter_async_context(new_postgres_database("commpulse_deploy"))
            env["COMMPULSE_DATABASE_URL"] = url
            count = 2
            if request.param == "postgres+redis":
                redis = await stack.enter_async_context(running_redis())
                env["COMMPULSE_BROADCAST_URL"] = redis.url
            else:
                env["COMMPULSE_BROADCAST_URL"] = url.replace("+asyncpg", "")
        try:
            first = await launch(database, started, **env)  # migrates the database first
            others = [
                await launch(database, started, migrated=False, **env) for _ in range(1, count)
            ]
            admin = await token_in(url, f"admin-{uuid.uuid4().hex[:6]}", ApiRole.ADMIN)
            yield Deployment(request.param, url, [first, *others], admin, redis)
        finally:
            await stop_all(started)


# --- helpers -------------------------------------------------------------------------------


async def last_cursor(http: AsyncClientSession, communication_id: str) -> str:
    found = await execute(http, HISTORY, id=communication_id)
    cursor: str = found["communication"]["history"]["edges"][-1]["cursor"]
    return cursor


@contextlib.asynccontextmanager
async def streams(
    deployment: Deployment, after: str, token: str, ids: list[str] | None = None
) -> AsyncIterator[list[AsyncGenerator[Json, None]]]:
    """Two statusChanged streams from `after` on each instance, alternating the protocols
    between instances: the two on one instance share a document, so they form a group and
    the shared sending (schema/sharing.py) runs in every deployed configuration."""
    async with contextlib.AsyncExitStack() as stack:
        opened = []
        for n, server in enumerate(deployment.servers):
            protocol = (TRANSPORT_WS, LEGACY_WS)[n % 2]
            for _ in range(2):
                ws = await stack.enter_async_context(ws_session(server, protocol, token))
                items = await stack.enter_async_context(
                    subscribe(ws, STATUS_CHANGED, after=after, ids=ids)
                )
                opened.append(items)
        yield opened


async def notice_listeners(redis: RedisServer, channel: str) -> int:
    client = aioredis.from_url(redis.url)
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


def entries(items: list[Json]) -> list[tuple[str, str]]:
    return [(i["statusChanged"]["communicationId"], i["statusChanged"]["action"]) for i in items]


# --- the scenarios -------------------------------------------------------------------------


async def test_a_change_through_one_instance_reaches_subscribers_on_every_instance(
    deployment: Deployment,
) -> None:
    """Subscribe on every instance, change through the first: every subscriber hears it, as
    the token's name, live (the instance listens to the broker before it reads)."""
    async with http_session(deployment.first, deployment.admin) as http:
        message = await create_in_app(http, "Everywhere")
        created = await last_cursor(http, message["id"])
        async with streams(deployment, created, deployment.admin, [message["id"]]) as opened:
            launched = await act(http, LAUNCH, "launchCommunication", id=message["id"])
            for items in opened:
                item = (await next_item(items, "the launch"))["statusChanged"]
                assert (item["action"], item["from"], item["to"]) == ("LAUNCH", "DRAFT", "ACTIVE")
                assert item["actor"].startswith("admin-")
            if deployment.redis is not None:  # each instance listens to the notice channel
                count = len(deployment.servers)
                assert await notice_listeners(deployment.redis, CHANNEL) == count
                assert await notice_listeners(deployment.redis, TOKENS_CHANNEL) == count
    assert launched["status"] == "ACTIVE"


async def test_a_stream_resumes_from_its_cursor_on_another_instance(
    deployment: Deployment,
) -> None:
    """A dashboard drops, changes happen, it resumes with its last cursor on the last
    instance: it gets exactly what it missed, in order, then live changes."""
    server = deployment.servers[-1]
    async with http_session(deployment.first, deployment.admin) as http:
        message = await create_in_app(http, "Resumed")
        created = await last_cursor(http, message["id"])
        ids = [message["id"]]
        await act(http, LAUNCH, "launchCommunication", id=message["id"])
        async with (
            ws_session(deployment.first, TRANSPORT_WS, deployment.admin) as ws,
            subscribe(ws, STATUS_CHANGED, after=created, ids=ids) as items,
        ):
            seen = [await next_item(items, "the launch")]
        missed = [
            ("pauseCommunication", "PAUSE"),
            ("resumeCommunication", "RESUME"),
            ("pauseCommunication", "PAUSE"),
        ]
        for field, _ in missed:
            await execute(http, mutation_for(field), id=message["id"])
        async with (
            ws_session(server, LEGACY_WS, deployment.admin) as ws,
            subscribe(
                ws, STATUS_CHANGED, after=seen[-1]["statusChanged"]["cursor"], ids=ids
            ) as items,
        ):
            resumed = [await next_item(items, "a missed change") for _ in missed]
            await execute(http, mutation_for("resumeCommunication"), id=message["id"])
            resumed.append(await next_item(items, "the live change"))
    assert entries(resumed) == [(message["id"], a) for _, a in [*missed, ("", "RESUME")]]


def mutation_for(field: str) -> str:
    return f"""
    mutation($id: ID!) {{
      {field}(id: $id) {{ userErrors {{ code message }} }}
    }}
    """


async def test_revoking_a_token_closes_its_websockets_on_every_instance(
    deployment: Deployment,
) -> None:
    """An admin revokes a viewer through the first instance: the viewer's open
    subscriptions close with 4403 on every instance, and its HTTP requests get 401."""
    name = f"screen-{uuid.uuid4().hex[:6]}"
    viewer = await token_in(deployment.database_url, name, ApiRole.VIEWER)
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for n, server in enumerate(deployment.servers):
            protocol = (TRANSPORT_WS, LEGACY_WS)[n % 2]
            ws = await stack.enter_async_context(raw_ws(server, protocol))
            await init(ws, {"Authorization": f"Bearer {viewer}"})
            start = "subscribe" if protocol == TRANSPORT_WS else "start"
            query = "subscription { statusChanged { cursor } }"
            await send(ws, {"id": "1", "type": start, "payload": {"query": query}})
            sockets.append(ws)
        async with http_session(deployment.first, deployment.admin) as http:
            revoked = await execute(http, REVOKE, name=name)
        assert revoked["revokeApiToken"]["userErrors"] == []
        for ws in sockets:
            assert await close_code(ws) == 4403
    for server in deployment.servers:
        async with http_session(server, viewer) as http:
            with pytest.raises(Exception, match="UNAUTHENTICATED"):
                await execute(http, "{ __typename }")


async def test_the_scheduler_starts_a_communication_and_every_instance_streams_it(
    deployment: Deployment,
) -> None:
    """A scheduled email starts by itself once (whichever instance's scheduler gets it),
    sends and finishes; subscribers on every instance see the same walk."""
    async with http_session(deployment.first, deployment.admin) as http:
        email = await create_email(http, "Due soon", audience=10)
        created = await last_cursor(http, email["id"])
        async with streams(deployment, created, deployment.admin, [email["id"]]) as opened:
            start_at = datetime.now(UTC) + timedelta(seconds=1)
            await act(
                http,
                SCHEDULE,
                "scheduleCommunication",
                id=email["id"],
                startAt=start_at.isoformat(),
            )
            walks = []
            for items in opened:
                walk = await until(
                    items, lambda i: i["statusChanged"]["action"] == "FINISH", "the finish"
                )
                walks.append(entries(walk))
    expected = [(email["id"], a) for a in ("SCHEDULE", "START", "FINISH")]
    assert all(walk == expected for walk in walks), walks


SEARCH = """
query Search($search: String!, $order: CommunicationOrder!, $after: String) {
  communications(filter: {search: $search}, orderBy: $order, first: 1, after: $after) {
    edges { cursor node { ... on CommunicationBase { id name } } }
  }
}
"""
DELETE = "mutation($id: ID!) { deleteCommunication(id: $id) { deletedId userErrors { code } } }"


async def test_a_search_in_each_order_on_every_instance_finds_what_one_instance_wrote(
    deployment: Deployment,
) -> None:
    """Communications made through one instance are found by a search on every instance, a
    page at a time from each cursor, in each order: by name the walk of the names' grams,
    which the database's triggers keep for every writer; by dates, on PostgreSQL, a plan
    kept for any search and, by updated_at, the search tested on the index's entries
    (store/communications.py `_hides`, `_in_index`). One deleted drops out everywhere."""
    word = uuid.uuid4().hex[:8]
    async with http_session(deployment.first, deployment.admin) as http:
        made = [await create_in_app(http, f"{word} {n} Search") for n in (2, 1, 3)]
        gone = made[2]["id"]
        assert (await execute(http, DELETE, id=gone))["deleteCommunication"]["deletedId"] == gone
    orders = {  # made 2 then 1: by name and newest first 1, 2; oldest first 2, 1
        ("NAME", "ASC"): [1, 2],
        ("UPDATED_AT", "DESC"): [1, 2],
        ("CREATED_AT", "ASC"): [2, 1],
    }
    for server in deployment.servers:
        async with http_session(server, deployment.admin) as http:
            for (field, direction), expected in orders.items():
                order = {"field": field, "direction": direction}
                names, after = [], None
                while True:
                    found = await execute(http, SEARCH, search=f"{word} ", order=order, after=after)
                    edges = found["communications"]["edges"]
                    if not edges:
                        break
                    names.append(edges[0]["node"]["name"])
                    after = edges[0]["cursor"]
                assert names == [f"{word} {n} Search" for n in expected], (server, field)
