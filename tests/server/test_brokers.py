"""The broker backends with their real servers: what is published at once all arrives."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from server import brokers
from tests.e2e.conftest import running_redis

CHANNEL = "commpulse_brokers_test"
AT_ONCE = 20
SAFETY = 10  # seconds; only so that a lost message fails the test instead of hanging it


@asynccontextmanager
async def broker_url(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if kind == "postgresql":
        yield request.getfixturevalue("postgres_server")
    else:
        async with running_redis() as redis:
            yield redis.url


@pytest.mark.parametrize("kind", ["postgresql", "redis"])
async def test_messages_published_at_once_all_arrive(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Many publishes at once (mutations answering side by side) each reach a listener: none
    fails because another is on its way."""
    async with broker_url(kind, request) as url:
        broadcast, _ = brokers.broadcast(url)
        async with broadcast, broadcast.subscribe(CHANNEL) as subscriber:
            await broadcast.publish(CHANNEL, "first")  # the publishing connection is open
            sent = [str(i) for i in range(AT_ONCE)]
            await asyncio.gather(*(broadcast.publish(CHANNEL, message) for message in sent))
            async with asyncio.timeout(SAFETY):
                got = [(await subscriber.get()).message for _ in range(AT_ONCE + 1)]
    assert sorted(got) == sorted(["first", *sent])
