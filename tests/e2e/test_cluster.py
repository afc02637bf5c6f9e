"""Three instances on one PostgreSQL database with a Redis broker, as a site would run them:
changes reach dashboards on every instance in one order, concurrent writers through all
of them lose and repeat nothing, and a thousand communications due in the same second
start exactly once each."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert, text
from sqlmodel import col

from schema import ids
from store.database import create_engine
from store.feed import CHANNEL
from store.lifecycle import Action, Kind, Origin, Status
from store.tables import Communication, StatusEvent, utcnow
from tests.e2e.cluster import InAppWalker, Subscriber, subscribers, table_changes
from tests.e2e.conftest import (
    ITEM_TIMEOUT,
    RedisServer,
    StartServer,
    migrate_database,
    start_cluster,
)

pytestmark = pytest.mark.e2e

Env = dict[str, str]


@pytest.fixture
async def cluster_env(private_redis: RedisServer, postgres_url: str) -> AsyncIterator[Env]:
    """Settings for instances sharing a migrated PostgreSQL database and a private Redis.

    Requested before `start_server`, so the servers stop before the database and Redis go.
    """
    await migrate_database(postgres_url)
    yield {
        "COMMPULSE_DATABASE_URL": postgres_url,
        "COMMPULSE_BROADCAST_URL": private_redis.url,
        "COMMPULSE_SCHEDULER": "off",
        "COMMPULSE_SENDER": "none",
    }


async def broker_subscribers(redis: RedisServer) -> int:
    """How many connections listen on the notice channel of `redis`."""
    client = aioredis.from_url(redis.url)
    try:
        [(_, count)] = await client.pubsub_numsub(CHANNEL)
        return int(count)
    finally:
        await client.aclose()


async def test_changes_through_one_instance_reach_subscribers_on_all_three(
    cluster_env: Env, private_redis: RedisServer, start_server: StartServer
) -> None:
    """Changes made through one instance reach dashboards on all three, in the same order."""
    a, b, c = await start_cluster(start_server, 3, **cluster_env)
    walker = InAppWalker("Banner")
    on_each = [Subscriber(f"subscriber on {s.port}", [s]) for s in (a, b, c)]
    async with httpx.AsyncClient(timeout=ITEM_TIMEOUT) as client:
        await walker.step(client, a)  # a first change, so each stream shows it is running
        async with subscribers(*on_each):
            assert await broker_subscribers(private_redis) == 3  # one listener per instance
            while walker.written < 18:  # three messages: create, launch, pause, resume, ...
                await walker.step(client, a)
            expected = await table_changes(cluster_env["COMMPULSE_DATABASE_URL"])
            for subscriber in on_each:
                await subscriber.reach(expected[-1][0])

    assert len(expected) == 18
    assert [action for _, _, action in expected[:6]] == [
        "CREATE",
        "LAUNCH",
        "PAUSE",
        "RESUME",
        "PAUSE",
        "RESUME",
    ]
    for subscriber in on_each:
        assert subscriber.seen == expected, subscriber.name
        assert len(subscriber.connections) == 1  # one subscription throughout


async def test_concurrent_writers_on_three_instances_stream_every_change_once(
    cluster_env: Env, start_server: StartServer
) -> None:
    """Many concurrent changes through all three instances reach every dashboard once each."""
    servers = await start_cluster(start_server, 3, **cluster_env)
    walkers = [InAppWalker(f"Concurrent {i}", per_message=4) for i in range(24)]
    on_each = [Subscriber(f"subscriber on {s.port}", [s]) for s in servers]

    async def walk(index: int, walker: InAppWalker, client: httpx.AsyncClient) -> None:
        for step in range(2 * walker.per_message):  # two messages each
            await walker.step(client, servers[(index + step) % len(servers)])

    limits = httpx.Limits(max_connections=len(walkers))
    async with httpx.AsyncClient(timeout=ITEM_TIMEOUT, limits=limits) as client:
        first = InAppWalker("First")
        await first.step(client, servers[0])
        async with subscribers(*on_each):
            await asyncio.gather(*(walk(i, w, client) for i, w in enumerate(walkers)))
            expected = await table_changes(cluster_env["COMMPULSE_DATABASE_URL"])
            for subscriber in on_each:
                await subscriber.reach(expected[-1][0])

    assert len(expected) == 1 + 24 * 8
    cursors = [cursor for cursor, _, _ in expected]
    assert len(set(cursors)) == len(cursors)
    for subscriber in on_each:
        assert subscriber.seen == expected, subscriber.name


async def _reschedule_all(url: str, start_at: datetime) -> None:
    """Every SCHEDULED communication due at `start_at`, in one statement."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(
            "UPDATE communication SET start_at = $1 WHERE status = 'SCHEDULED'", start_at
        )
    finally:
        await conn.close()


async def schedule_in_bulk(url: str, count: int, start_at: datetime) -> list[int]:
    """`count` in-app messages SCHEDULED for `start_at`, with the CREATE and SCHEDULE
    history rows the store writes for each, inserted at once (the store's one-by-one path
    takes seconds for a thousand; what is under test is the start)."""
    now = utcnow()
    rows = [
        Communication(
            kind=Kind.IN_APP,
            origin=Origin.CAMPAIGN,
            status=Status.SCHEDULED,
            name=f"Flash sale {i}",
            version=2,
            created_at=now,
            updated_at=now,
            start_at=start_at,
            content={"title": f"Flash sale {i}"},
        ).model_dump(exclude={"id"})
        for i in range(count)
    ]
    steps = (
        (Action.CREATE, None, Status.DRAFT, 1),
        (Action.SCHEDULE, Status.DRAFT, Status.SCHEDULED, 2),
    )
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            made = await conn.execute(insert(Communication).returning(col(Communication.id)), rows)
            pks = sorted(pk for pk in made.scalars() if pk is not None)
            xact = await conn.execute(text("SELECT pg_current_xact_id()::text::bigint"))
            tx = int(xact.scalar_one())
            events = [
                StatusEvent(
                    tx=tx,
                    communication_id=pk,
                    kind=Kind.IN_APP,
                    action=action,
                    from_status=before,
                    to_status=after,
                    actor="setup",
                    version=version,
                    at=now,
                ).model_dump(exclude={"seq"})
                for pk in pks
                for action, before, after, version in steps
            ]
            await conn.execute(insert(StatusEvent), events)
    finally:
        await engine.dispose()
    return pks


async def test_a_thousand_communications_due_in_the_same_second_start_once_each(
    postgres_url: str, private_redis: RedisServer, start_server: StartServer
) -> None:
    """1,000 communications scheduled for the same second each start exactly once."""
    await migrate_database(postgres_url)
    env = {
        "COMMPULSE_DATABASE_URL": postgres_url,
        "COMMPULSE_BROADCAST_URL": private_redis.url,
        "COMMPULSE_SCHEDULER": "on",
        "COMMPULSE_SENDER": "none",
    }
    servers = await start_cluster(start_server, 3, **env)
    pks = await schedule_in_bulk(postgres_url, 1_000, datetime.now(UTC) + timedelta(hours=1))
    # then all of them due at the start of one whole second, at least half a second away
    start_at = (datetime.now(UTC) + timedelta(seconds=1.5)).replace(microsecond=0)
    await _reschedule_all(postgres_url, start_at)
    assert datetime.now(UTC) < start_at, "setup took too long: the start was already due"
    watching = Subscriber("subscriber", servers)

    async with subscribers(watching):  # the CREATE and SCHEDULE rows come first, then STARTs
        await watching.until(lambda seen: len(seen) >= 3 * len(pks), "every START")
    for server in servers:  # a clean stop: whatever a scheduler was doing has finished
        await server.stop()
    assert not [s.port for s in servers if "scheduler tick failed" in s.log]  # no errors

    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        starts = await conn.fetch(
            "SELECT communication_id, count(*) AS n, min(actor) AS actor, min(to_status) AS to"
            " FROM status_event WHERE action = 'START' GROUP BY communication_id"
        )
        statuses = await conn.fetch("SELECT status, count(*) AS n FROM communication GROUP BY 1")
        versions = await conn.fetch("SELECT DISTINCT version FROM communication")
    finally:
        await conn.close()

    assert sorted(row["communication_id"] for row in starts) == pks
    assert {row["n"] for row in starts} == {1}  # exactly once each
    assert {(row["actor"], row["to"]) for row in starts} == {("scheduler", "ACTIVE")}
    assert {row["status"]: row["n"] for row in statuses} == {"ACTIVE": 1_000}
    assert [row["version"] for row in versions] == [3]
    assert watching.seen == await table_changes(postgres_url)  # and nothing twice
    started = [pk for _, pk, action in watching.seen if action == "START"]
    assert sorted(started) == sorted(str(ids.communication_id(pk)) for pk in pks)
