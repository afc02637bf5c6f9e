"""Repeated reads are served from a cache, yet a read made after a mutation's response never
shows the old state: on one instance (SQLite, memory://) and across two (PostgreSQL and a
Redis broker), where the instance that reads learns of the write only through the broker."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from store.tokens import ApiRole
from tests.e2e.conftest import (
    LAUNCH,
    PAUSE,
    RESUME,
    Json,
    Server,
    act,
    bearer,
    create_in_app,
    http_session,
    launch,
    new_postgres_database,
    running_redis,
    stop_all,
    token_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROUNDS = 12  # writes, each followed at once by a read on the other instance
READ = """
query Read($id: ID!) {
  communication(id: $id) { ... on InAppMessage { id version inAppStatus: status } }
  communications(first: 100, filter: {kinds: [IN_APP]}) {
    edges { node { ... on InAppMessage { id inAppStatus: status } } }
  }
}
"""
ENV = {"COMMPULSE_AUTH": "on", "COMMPULSE_RATE_LIMIT": "1000", "COMMPULSE_RATE_BURST": "1000"}


@dataclass
class Pair:
    writer: Server
    reader: Server
    admin: str


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["one", "two"])
async def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pair]:
    started: list[Server] = []
    async with contextlib.AsyncExitStack() as stack:
        database = tmp_path_factory.mktemp("reads") / "commpulse.db"
        env = dict(ENV)
        url = f"sqlite+aiosqlite:///{database}"
        if request.param == "two":
            url = await stack.enter_async_context(new_postgres_database("commpulse_reads"))
            redis = await stack.enter_async_context(running_redis())
            env |= {"COMMPULSE_DATABASE_URL": url, "COMMPULSE_BROADCAST_URL": redis.url}
        try:
            writer = await launch(database, started, **env)
            reader = writer
            if request.param == "two":
                reader = await launch(database, started, migrated=False, **env)
            admin = await token_in(url, f"admin-{uuid.uuid4().hex[:6]}", ApiRole.ADMIN)
            yield Pair(writer, reader, admin)
        finally:
            await stop_all(started)


async def read(client: httpx.AsyncClient, server: Server, token: str, id: str) -> Json:
    response = await client.post(
        server.http_url, json={"query": READ, "variables": {"id": id}}, headers=bearer(token)
    )
    body: Json = response.json()
    assert "errors" not in body, body
    assert set(body["extensions"]["cost"]) == {"requested", "actual", "remaining"}
    return body


async def test_a_read_after_a_mutation_never_shows_the_old_state(pair: Pair) -> None:
    """Each write is followed at once by a read, on the other instance where there are two,
    after the same read was repeated (so the old answer was cached): it shows the write."""
    async with http_session(pair.writer, pair.admin) as writer, httpx.AsyncClient() as client:
        message = await create_in_app(writer, f"reads-{uuid.uuid4().hex[:6]}")
        id = message["id"]
        steps = [(LAUNCH, "launchCommunication")]
        steps += [(PAUSE, "pauseCommunication"), (RESUME, "resumeCommunication")] * (ROUNDS // 2)
        for query, field in steps:
            first = await read(client, pair.reader, pair.admin, id)
            again = await read(client, pair.reader, pair.admin, id)
            assert again["data"] == first["data"]  # served from the cache
            done = await act(writer, query, field, id=id)
            seen = (await read(client, pair.reader, pair.admin, id))["data"]
            assert seen["communication"]["version"] == done["version"]
            assert seen["communication"]["inAppStatus"] == done["status"]
            listed = [e["node"] for e in seen["communications"]["edges"]]
            assert {"id": id, "inAppStatus": done["status"]} in listed
