"""The Alembic migrations: they build exactly the tables the code uses, and go both ways."""

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from broadcaster import Broadcast
from sqlalchemy import Column, Connection, MetaData, String, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from store import Store, migrate
from store.database import create_engine, sessions
from store.feed import Feed
from store.lifecycle import Kind
from tests import factories


def _differences(sync: Connection, metadata: MetaData) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(sync), metadata))


async def differences(engine: AsyncEngine, metadata: MetaData = SQLModel.metadata) -> list[Any]:
    """What autogenerate would write to bring the database to `metadata`: [] when equal."""
    async with engine.connect() as conn:
        return await conn.run_sync(_differences, metadata)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def downgrade_to_base(engine: AsyncEngine) -> None:
    def down(sync: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrate.MIGRATIONS))
        config.attributes["connection"] = sync
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(down)


async def test_migrations_build_exactly_the_tables_of_the_code(store: Store) -> None:
    """A migrated database has every table, column, type and index store/tables.py declares."""
    assert await differences(factories.engine_of(store)) == []


async def test_a_column_the_migrations_lack_is_reported(store: Store) -> None:
    """The comparison is not blind: a column only the code has shows up as a difference."""
    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["communication"].append_column(Column("colour", String()))
    found = await differences(factories.engine_of(store), metadata)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "communication", "colour")]


async def test_downgrade_to_base_then_upgrade_gives_a_working_database(
    unmigrated_database: str,
) -> None:
    """Migrations undo cleanly to an empty database, and upgrading again restores everything."""
    engine = create_engine(unmigrated_database)
    try:
        await migrate.upgrade(engine)
        code = {table.name for table in SQLModel.metadata.sorted_tables}
        assert await tables(engine) == code | {"alembic_version"}
        await downgrade_to_base(engine)
        assert await tables(engine) == {"alembic_version"}
        assert await migrate.current(engine) is None
        with pytest.raises(migrate.NotMigrated):
            await migrate.check(engine)  # a server given this database would not start
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head()
        await migrate.check(engine)
        assert await differences(engine) == []
        async with Broadcast("memory://") as broadcast:
            made = await factories.create(Store(sessions(engine), Feed(broadcast)), Kind.EMAIL)
        assert (made.id, made.status) == (1, "DRAFT")
    finally:
        await engine.dispose()
