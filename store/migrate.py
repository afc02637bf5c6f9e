"""The database schema, managed by Alembic migrations in store/migrations.

`upgrade` brings a database to the newest revision (`commpulse migrate`); `check` tells
a starting server whether the database it was given is at that revision.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from store.database import reachable

MIGRATIONS = Path(__file__).parent / "migrations"


class NotMigrated(RuntimeError):
    """The database is not at the revision this code expects."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


async def upgrade(engine: AsyncEngine) -> None:
    await reachable(engine)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), "head"))


async def current(engine: AsyncEngine) -> str | None:
    await reachable(engine)
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def check(engine: AsyncEngine) -> None:
    """Raise NotMigrated, saying what to do, unless the database is at the newest revision."""
    found, wanted = await current(engine), head()
    if found == wanted:
        return
    state = "has no commpulse tables yet" if found is None else f"is at revision {found}"
    raise NotMigrated(
        f"the database {state}; this version of commpulse needs revision {wanted}. "
        "Run `commpulse migrate` (or `make migrate`) first."
    )
