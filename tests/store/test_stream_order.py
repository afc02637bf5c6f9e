"""The stream's order when transactions commit out of sequence order (PostgreSQL)."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from store import Store, changes
from store.database import add_status_event
from store.lifecycle import Action, Kind, Role
from store.tables import StatusEvent, utcnow
from tests import factories


def _postgres_only(store: Store) -> None:
    engine = factories.engine_of(store)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: there is no out-of-order commit")


async def _waiting_for_the_order_lock(store: Store) -> None:
    """Returns once a writer waits for the stream's order lock."""
    engine = factories.engine_of(store)
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    async with asyncio.timeout(10):
        while True:
            async with engine.connect() as conn:
                if (await conn.execute(query)).scalar_one():
                    return
            await asyncio.sleep(0.01)


async def test_a_change_written_first_commits_first_so_no_reader_passes_it(store: Store) -> None:
    """While a change is written but not yet committed, the next writer waits for it: a
    reader never sees a change with a larger seq before one with a smaller seq."""
    _postgres_only(store)
    slow = await factories.create(store, Kind.IN_APP, name="slow")
    start = await changes.head(store)
    async with store.sessions() as session:
        event = StatusEvent(
            communication_id=slow.id,
            kind=Kind.IN_APP,
            action=Action.LAUNCH,
            from_status="DRAFT",
            to_status="ACTIVE",
            actor="slow",
            version=2,
            at=utcnow(),
        )
        await add_status_event(session, event)
        await session.flush()  # its seq is drawn; it commits later
        fast = asyncio.create_task(factories.create(store, Kind.EMAIL, name="fast"))
        await _waiting_for_the_order_lock(store)
        seen, waiting = await changes.changes_after(store, start)
        assert (seen, waiting) == ([], False)
        await session.commit()
    fast_row = await fast
    seen, _ = await changes.changes_after(store, start)
    assert [(c.communication_id, c.action) for c in seen] == [
        (slow.id, "LAUNCH"),
        (fast_row.id, "CREATE"),
    ]
    assert seen[0].seq < seen[1].seq


async def test_a_transaction_left_open_in_another_database_holds_nothing_back(
    store: Store, new_postgres_database: str
) -> None:
    """An idle write transaction in another database on the server delays no reader."""
    _postgres_only(store)
    start = await changes.head(store)
    elsewhere = await asyncpg.connect(new_postgres_database.replace("+asyncpg", ""))
    try:
        async with elsewhere.transaction():
            await elsewhere.fetchval("SELECT pg_current_xact_id()")  # it writes
            row = await factories.create(store, Kind.IN_APP, name="meanwhile")
            seen, waiting = await changes.changes_after(store, start)
            assert [(c.communication_id, c.action) for c in seen] == [(row.id, "CREATE")]
            assert not waiting
    finally:
        await elsewhere.close()


async def test_concurrent_writers_reach_a_reader_once_each(store: Store) -> None:
    """Under many concurrent writers a reader following the stream sees every change once."""
    rows = [await factories.create(store, Kind.DYNAMIC_CONTENT) for _ in range(30)]
    start = await changes.head(store)

    async def write() -> None:
        await asyncio.gather(
            *(changes.apply(store, r.id, Action.LAUNCH, by=Role.PERSON, actor="w") for r in rows)
        )
        await asyncio.gather(
            *(changes.apply(store, r.id, Action.PAUSE, by=Role.PERSON, actor="w") for r in rows)
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
