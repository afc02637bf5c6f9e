"""Two instances with auth on and one (private) Redis share each token's rate limit and
cost budget: what a token spends through one counts on the other. A token created with its
own rate gets that rate."""

import asyncio
import gc
import warnings
from pathlib import Path

import httpx
import pytest
import uvicorn

from server.app import create_app
from server.settings import Settings
from store import tokens
from store.tokens import ApiRole
from tests.e2e.conftest import (
    RedisServer,
    Server,
    StartServer,
    bearer,
    free_port,
    make_token,
    migrate_database,
    server_store,
)

pytestmark = pytest.mark.e2e

DELETE = 'mutation { deleteCommunication(id: "none") { userErrors { code } } }'  # costs 11


async def pair(start_server: StartServer, redis: RedisServer, **env: str) -> list[Server]:
    """Two instances on one SQLite file and `redis`, with auth on."""
    env |= {
        "COMMPULSE_AUTH": "on",
        "COMMPULSE_BROADCAST_URL": redis.url,
        "COMMPULSE_SCHEDULER": "off",
        "COMMPULSE_SENDER": "none",
    }
    return [await start_server(**env), await start_server(**env)]


async def codes(client: httpx.AsyncClient, server: Server, token: str, query: str) -> str | None:
    """The error code of one operation through `server`, None when it ran."""
    response = await client.post(server.http_url, json={"query": query}, headers=bearer(token))
    errors = response.json().get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code


async def test_the_rate_limit_is_shared_by_instances(
    private_redis: RedisServer, start_server: StartServer
) -> None:
    """A burst of 4: two operations through each instance pass, the fifth, through either,
    is RATE_LIMITED; in one process each would have allowed four."""
    a, b = await pair(
        start_server, private_redis, COMMPULSE_RATE_LIMIT="0.2", COMMPULSE_RATE_BURST="4"
    )
    token = await make_token(a, "shared-viewer", ApiRole.VIEWER)
    async with httpx.AsyncClient() as client:
        ran = [await codes(client, s, token, "{ __typename }") for s in (a, b, a, b)]
        assert ran == [None] * 4
        assert await codes(client, b, token, "{ __typename }") == "RATE_LIMITED"
        assert await codes(client, a, token, "{ __typename }") == "RATE_LIMITED"


async def test_the_cost_budget_is_shared_by_instances(
    private_redis: RedisServer, start_server: StartServer
) -> None:
    """A budget of 30 and mutations costing 11: one through each instance, then the third
    is COST_LIMITED, and the budget left is the same seen from both."""
    a, b = await pair(
        start_server, private_redis, COMMPULSE_COST_BUDGET="30", COMMPULSE_COST_REFILL="0.01"
    )
    token = await make_token(a, "shared-editor", ApiRole.EDITOR)
    async with httpx.AsyncClient() as client:
        assert await codes(client, a, token, DELETE) is None
        assert await codes(client, b, token, DELETE) is None
        assert await codes(client, a, token, DELETE) == "COST_LIMITED"
        seen = []
        for server in (a, b):
            response = await client.post(
                server.http_url, json={"query": "{ __typename }"}, headers=bearer(token)
            )
            seen.append(response.json()["extensions"]["cost"]["remaining"])
    assert seen == [8, 8]


async def test_a_token_created_with_a_rate_gets_it(
    private_redis: RedisServer, start_server: StartServer
) -> None:
    """With a default burst of 2, a token created with --rate 50 may make 50 operations at
    once across the instances; one without a rate of its own gets 2."""
    a, b = await pair(
        start_server, private_redis, COMMPULSE_RATE_LIMIT="0.1", COMMPULSE_RATE_BURST="2"
    )
    async with server_store(a) as store:
        row, dashboard = await tokens.create(store, "dashboard", ApiRole.VIEWER, rate=50)
    assert row.rate == 50
    plain = await make_token(a, "plain", ApiRole.VIEWER)
    async with httpx.AsyncClient() as client:
        fast = [await codes(client, (a, b)[n % 2], dashboard, "{ __typename }") for n in range(30)]
        slow = [await codes(client, (a, b)[n % 2], plain, "{ __typename }") for n in range(3)]
    assert fast == [None] * 30
    assert slow == [None, None, "RATE_LIMITED"]


async def redis_clients(redis: RedisServer) -> int:
    """Connections open to `redis` now, besides the one asking."""
    reader, writer = await asyncio.open_connection("127.0.0.1", redis.port)
    writer.write(b"CLIENT LIST\r\n")
    await writer.drain()
    header = await reader.readline()  # $<length>
    listing = await reader.readexactly(int(header[1:]) + 2)
    writer.close()
    await writer.wait_closed()
    return listing.decode().count("id=") - 1


async def test_the_server_closes_its_redis_buckets_at_shutdown(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """A server whose limits live in Redis leaves no connection behind when its lifespan
    ends (in this process, so what it leaves open shows): none open to Redis, and no
    "Unclosed" warning once collected."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'buckets.db'}"
    await migrate_database(url)
    settings = Settings.from_env(
        {
            "COMMPULSE_DATABASE_URL": url,
            "COMMPULSE_BROADCAST_URL": private_redis.url,
            "COMMPULSE_AUTH": "off",
            "COMMPULSE_SCHEDULER": "off",
            "COMMPULSE_SENDER": "none",
            "COMMPULSE_WEBHOOKS": "off",
        }
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with asyncio.timeout(20):
            while True:  # uvicorn has no event for it
                if server.started:
                    break
                await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as client:  # an operation takes from a bucket in Redis
            response = await client.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"}
            )
        assert response.json()["data"] == {"__typename": "Query"}
        assert await redis_clients(private_redis) >= 1
        server.should_exit = True
        await serving
        gc.collect()
    assert await redis_clients(private_redis) == 0
    assert [str(w.message) for w in caught if "Unclosed" in str(w.message)] == []
