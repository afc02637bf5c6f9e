"""Faults with real processes: the Redis broker killed and restarted mid-stream, an
instance killed with SIGKILL, /readyz while the broker is away, and the PostgreSQL
LISTEN/NOTIFY broker losing its listening connection. Dashboards that resume with their
last cursor end with every change, none twice."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from schema.subscriptions import POLL_SAFETY
from tests.conftest import POSTGRES
from tests.e2e.cluster import (
    InAppWalker,
    Subscriber,
    Writer,
    readiness,
    subscribers,
    table_changes,
    until_readiness,
)
from tests.e2e.conftest import (
    ITEM_TIMEOUT,
    RedisServer,
    StartServer,
    migrate_database,
    start_cluster,
)

pytestmark = pytest.mark.e2e

Env = dict[str, str]
QUIET = {"COMMPULSE_SCHEDULER": "off", "COMMPULSE_SENDER": "none"}  # only the test writes


@pytest.fixture
async def redis_env(private_redis: RedisServer, postgres_url: str) -> AsyncIterator[Env]:
    """Instances on a migrated PostgreSQL database with the private Redis as broker.

    Requested before `start_server`, so the servers stop before the database and Redis go.
    """
    await migrate_database(postgres_url)
    yield {
        "COMMPULSE_DATABASE_URL": postgres_url,
        "COMMPULSE_BROADCAST_URL": private_redis.url,
        **QUIET,
    }


async def test_broker_restart_and_instance_crash_lose_and_repeat_nothing(
    redis_env: Env, private_redis: RedisServer, start_server: StartServer
) -> None:
    """After a broker restart and an instance crash, resumed dashboards have every change once."""
    a, b, c = await start_cluster(start_server, 3, **redis_env)
    walker = InAppWalker("Live", per_message=5)
    writer = Writer([a, b, c], total=60, walker=walker)
    dashboards = [
        Subscriber("on A", [a, b, c]),
        Subscriber("on B", [b, c, a]),
        Subscriber("on C", [c, a, b]),  # resumes on A when C dies
    ]
    async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
        await walker.step(client, a)
        async with subscribers(*dashboards):
            writer.start(client)
            try:
                await writer.reached(10)
                await private_redis.kill()  # mutations go on: publishing fails, commits stay
                await writer.reached(25)
                await private_redis.start()  # same port: the instances reconnect
                await writer.reached(35)
                await writer.drop(c)  # between two writes, so no write is cut in half
                await c.kill()
                await writer.finished()
            finally:
                await writer.stop()
            expected = await table_changes(redis_env["COMMPULSE_DATABASE_URL"])
            for dashboard in dashboards:
                await dashboard.reach(expected[-1][0])
            for server in (a, b):  # both found the restarted broker again
                await until_readiness(client, server, 200, "ok")

    assert len(expected) == writer.total
    # the faults happened where meant: changes committed while their notices were lost
    assert any("could not publish" in server.log for server in (a, b, c))
    assert all("Redis connection is back" in server.log for server in (a, b))
    cursors = [cursor for cursor, _, _ in expected]
    assert len(set(cursors)) == len(cursors)
    for dashboard in dashboards:
        assert dashboard.seen == expected, dashboard.name  # in order, none missing, none twice
    assert dashboards[0].connections == [a.port]
    assert dashboards[1].connections == [b.port]
    assert dashboards[2].connections[0] == c.port
    assert c.port not in dashboards[2].connections[1:]  # resumed elsewhere with its cursor


async def test_readiness_follows_the_broker_and_writes_go_on_without_it(
    redis_env: Env, private_redis: RedisServer, start_server: StartServer
) -> None:
    """/readyz says the broker is down while it is, and a change made meanwhile still succeeds."""
    [server] = await start_cluster(start_server, 1, **redis_env)
    walker = InAppWalker("Banner")
    dashboard = Subscriber("dashboard", [server])
    async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
        assert await until_readiness(client, server, 200, "ok") == {
            "ready": True,
            "database": "ok",
            "broker": "ok",
        }
        await walker.step(client, server)
        async with subscribers(dashboard):
            await private_redis.kill()
            assert await until_readiness(client, server, 503, "down") == {
                "ready": False,
                "database": "ok",
                "broker": "down",
            }
            await walker.step(client, server)  # launch: userErrors empty, broker or not
            await walker.step(client, server)  # pause
            assert (await readiness(client, server))[0] == 503  # still down: nothing restarted it

            await private_redis.start()
            assert (await until_readiness(client, server, 200, "ok"))["ready"] is True
            expected = await table_changes(redis_env["COMMPULSE_DATABASE_URL"])
            await dashboard.reach(expected[-1][0])

    assert [action for _, _, action in expected] == ["CREATE", "LAUNCH", "PAUSE"]
    assert dashboard.seen == expected  # the changes made while the broker was down, too
    assert dashboard.connections == [server.port]


LISTENERS = """
SELECT pid FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid()
  AND (query LIKE 'LISTEN%' OR (backend_type = 'client backend' AND query = 'SELECT 1'))
"""  # a listening connection's last statement: LISTEN, or the keepalive SELECT 1 when idle


async def test_postgres_broker_delivers_across_instances_and_survives_a_lost_listener(
    postgres_url: str, start_server: StartServer
) -> None:
    """With LISTEN/NOTIFY as broker, changes cross instances, also after the listener is cut."""
    await migrate_database(postgres_url)
    database = postgres_url.rsplit("/", 1)[1]
    broker = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    a, b = await start_cluster(
        start_server,
        2,
        COMMPULSE_DATABASE_URL=postgres_url,
        COMMPULSE_BROADCAST_URL=broker,
        **QUIET,
    )
    walker = InAppWalker("Across")
    dashboards = [Subscriber("on A", [a]), Subscriber("on B", [b])]
    admin = await asyncpg.connect(broker)
    try:
        async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
            await walker.step(client, a)
            async with subscribers(*dashboards):
                assert len(await admin.fetch(LISTENERS, database)) == 2  # one per instance
                while walker.written < 10:
                    await walker.step(client, (a, b)[walker.written % 2])
                terminated = await admin.fetch(
                    f"SELECT pg_terminate_backend(pid) AS done FROM ({LISTENERS}) AS listening",
                    database,
                )
                assert [row["done"] for row in terminated] == [True, True]
                while walker.written < 20:
                    await walker.step(client, (a, b)[walker.written % 2])
                expected = await table_changes(postgres_url)
                for dashboard in dashboards:
                    await dashboard.reach(expected[-1][0])
                for server in (a, b):  # each listens again on a new connection
                    await until_readiness(client, server, 200, "ok")
    finally:
        await admin.close()

    assert len(expected) == 20
    assert all("PostgreSQL connection is back" in server.log for server in (a, b))
    for dashboard in dashboards:
        assert dashboard.seen == expected, dashboard.name
        assert len(dashboard.connections) == 1  # the websocket never noticed


async def test_an_open_transaction_elsewhere_on_the_server_does_not_hold_back_the_stream(
    postgres_url: str, start_server: StartServer
) -> None:
    """A change reaches dashboards while another application keeps a transaction open."""
    await migrate_database(postgres_url)
    [server] = await start_cluster(start_server, 1, COMMPULSE_DATABASE_URL=postgres_url, **QUIET)
    walker = InAppWalker("Banner")
    dashboard = Subscriber("dashboard", [server])
    elsewhere = await asyncpg.connect(POSTGRES)  # another database on the same server
    try:
        async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
            await walker.step(client, server)
            async with subscribers(dashboard), elsewhere.transaction():
                await elsewhere.fetchval("SELECT pg_current_xact_id()")  # it writes
                await walker.step(client, server)
                [*_, (last, _, _)] = await table_changes(postgres_url)
                # longer than the safety poll: no lost notice explains a miss
                await dashboard.reach(last, within=POLL_SAFETY + 2)
    finally:
        await elsewhere.close()
