"""The stream's order when transactions commit out of sequence order (PostgreSQL)."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from store import Store, changes
from store.lifecycle import Action, Kind, Trigger
from tests import factories


def _postgres_only(store: Store) -> None:
    engine = factories.engine_of(store)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: there is no out-of-order commit")


async def test_a_reader_never_passes_a_change_that_commits_later_with_a_smaller_number(
    store: Store,
) -> None:
    """A change written first but committed last still reaches a reader, before the others."""
    _postgres_only(store)
    slow = await factories.create(store, Kind.IN_APP, name="slow")
    start = await changes.head(store)
    engine = factories.engine_of(store)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        # a status change written now (smaller seq) that will commit after the next one
        await conn.execute(
            text(
                "INSERT INTO status_event (tx, communication_id, kind, action, from_status,"
                " to_status, actor, version, at) VALUES (pg_current_xact_id()::text::bigint,"
                " :id, 'IN_APP', 'LAUNCH', 'DRAFT', 'ACTIVE', 'slow', 2, now())"
            ),
            {"id": slow.id},
        )
        fast = await factories.create(store, Kind.EMAIL, name="fast")  # commits first
        seen, waiting = await changes.changes_after(store, start)
        assert seen == [] and waiting  # the reader waits rather than pass the slow one
        await transaction.commit()
    seen, waiting = await changes.changes_after(store, start)
    assert [(c.communication_id, c.action) for c in seen] == [
        (slow.id, "LAUNCH"),
        (fast.id, "CREATE"),
    ]
    assert not waiting
    assert seen[0].seq < seen[1].seq and seen[0].position < seen[1].position


async def test_a_transaction_left_open_in_another_database_holds_nothing_back(
    store: Store, new_postgres_database: str
) -> None:
    """An idle write transaction in another database on the same server delays no reader."""
    _postgres_only(store)
    start = await changes.head(store)
    elsewhere = await asyncpg.connect(new_postgres_database.replace("+asyncpg", ""))
    try:
        async with elsewhere.transaction():
            await elsewhere.fetchval("SELECT pg_current_xact_id()")  # it writes, and waits
            row = await factories.create(store, Kind.IN_APP, name="meanwhile")
            seen, waiting = await changes.changes_after(store, start)
            assert [(c.communication_id, c.action) for c in seen] == [(row.id, "CREATE")]
            assert not waiting
            assert await changes.head(store) == seen[-1].position
    finally:
        await elsewhere.close()


async def test_a_transaction_left_open_in_this_database_still_holds_the_stream(
    store: Store,
) -> None:
    """A write transaction open in the service's own database may still write a change
    below the ones committed after it, so readers wait for it (and never pass it)."""
    _postgres_only(store)
    start = await changes.head(store)
    engine = factories.engine_of(store)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text("SELECT pg_current_xact_id()"))  # it has a transaction id
        later = await factories.create(store, Kind.IN_APP, name="later")
        seen, waiting = await changes.changes_after(store, start)
        assert (seen, waiting) == ([], True)
        await transaction.rollback()
    seen, waiting = await changes.changes_after(store, start)
    assert [(c.communication_id, c.action) for c in seen] == [(later.id, "CREATE")]
    assert not waiting


async def test_concurrent_writers_reach_a_reader_once_each(store: Store) -> None:
    """Under many concurrent writers a reader following the stream sees every change once."""
    rows = [await factories.create(store, Kind.DYNAMIC_CONTENT) for _ in range(30)]
    start = await changes.head(store)

    async def write() -> None:
        await asyncio.gather(
            *(changes.apply(store, r.id, Action.LAUNCH, by=Trigger.PERSON, actor="w") for r in rows)
        )
        await asyncio.gather(
            *(changes.apply(store, r.id, Action.PAUSE, by=Trigger.PERSON, actor="w") for r in rows)
        )

    async def read() -> list[tuple[int, str]]:
        position, got = start, []
        async with asyncio.timeout(30):
            while len(got) < 2 * len(rows):
                found, _ = await changes.changes_after(store, position)
                for change in found:
                    position = change.position
                    got.append((change.communication_id, change.action))
                await asyncio.sleep(0)  # let the writers run between reads
        return got

    got, _ = await asyncio.gather(read(), write())
    assert len(got) == len(set(got)) == 2 * len(rows)
    for row in rows:  # each communication's own changes in the order they happened
        assert [a for i, a in got if i == row.id] == ["LAUNCH", "PAUSE"]
    everything, _ = await changes.changes_after(store, start, limit=1_000)
    assert [(c.communication_id, c.action) for c in everything] == got
