"""The one runtime: the seed (like the CLI and the app) publishes through the broker a server
listens on, Redis included."""

import shutil
from pathlib import Path

from server.runtime import runtime
from server.seed import EXAMPLES, seed
from server.settings import Settings
from tests.conftest import sqlite_url
from tests.e2e.conftest import running_redis


async def test_the_seed_on_redis_is_heard_by_a_listener(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Seeding an empty database over Redis creates every example once, and a listener on
    the same broker hears each communication it made; a second seed adds nothing."""
    shutil.copy(sqlite_template, tmp_path / "seeded.db")
    async with running_redis() as redis:
        settings = Settings.from_env(
            {
                "COMMPULSE_DATABASE_URL": sqlite_url(tmp_path / "seeded.db"),
                "COMMPULSE_BROADCAST_URL": redis.url,
            }
        )
        async with runtime(settings) as listening, listening.store.feed.listen() as notices:
            assert await seed(settings) == len(EXAMPLES)
            heard: set[int] = set()
            async for notice in notices:
                if notice.communication_id is not None:
                    heard.add(notice.communication_id)
                if len(heard) == len(EXAMPLES):
                    break
        assert await seed(settings) == 0
