"""statusCounts and a list's total count, read from the counts kept on write (status_count,
migration 0008), equal a count of the rows themselves after any writes: the store's, raw
SQL ones, concurrent ones, and the rows a database had before it was migrated."""

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from alembic import command
from broadcaster import Broadcast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from store import Store, changes, communications, migrate, reading
from store.communications import Filter
from store.database import create_engine, sessions, write
from store.errors import Refused
from store.feed import Feed
from store.lifecycle import Action, Kind, Origin, Status, Trigger, statuses
from store.tables import utcnow
from tests import factories

KINDS = [Kind.EMAIL, Kind.IN_APP, Kind.LANDING_PAGE]
FILTERS = [
    Filter(),
    Filter(origins=[Origin.AUTOMATION]),
    Filter(kinds=[Kind.IN_APP], statuses=[Status.DRAFT, Status.ACTIVE]),
]


async def counted(store: Store, flt: Filter) -> tuple[list[tuple[Kind, Status, int]], int]:
    """What the store answers from the kept counts: statusCounts and the total."""
    return await communications.status_counts(store, flt), await communications.count(store, flt)


async def recounted(store: Store, flt: Filter) -> tuple[list[tuple[Kind, Status, int]], int]:
    """The same, from a COUNT of the live rows (the store's path for a search)."""
    rows = await reading.fetch(
        store,
        text(
            "SELECT kind, status, origin, count(*) FROM communication "
            "WHERE deleted_at IS NULL GROUP BY kind, status, origin"
        ),
    )
    found: dict[tuple[str, str], int] = {}
    for kind, status, origin, n in rows:
        if (
            (flt.kinds is None or kind in flt.kinds)
            and (flt.statuses is None or status in flt.statuses)
            and (flt.origins is None or origin in flt.origins)
        ):
            found[kind, status] = found.get((kind, status), 0) + n
    tiles = [
        (kind, status, found.get((kind, status), 0))
        for kind in Kind
        if flt.kinds is None or kind in flt.kinds
        for status in statuses(kind)
        if flt.statuses is None or status in flt.statuses
    ]
    return tiles, sum(found.values())


async def assert_counts_agree(store: Store) -> None:
    for flt in FILTERS:
        assert await counted(store, flt) == await recounted(store, flt), flt


async def compact(store: Store) -> None:
    """Fold PostgreSQL's per-transaction rows now, as writers do one time in a hundred."""
    if factories.engine_of(store).dialect.name == "postgresql":

        def fold(connection: Connection) -> None:
            connection.execute(text("SELECT status_count_compact()"))

        await write(store.sessions, fold)


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(KINDS), st.sampled_from(list(Origin))),
        st.tuples(st.just("act"), st.integers(0, 20), st.sampled_from(list(Action))),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("duplicate"), st.integers(0, 20)),
        st.tuples(st.just("raw"), st.integers(0, 20), st.sampled_from(["ERROR", "DRAFT"])),
        st.tuples(st.just("erase"), st.integers(0, 20)),
        st.tuples(st.just("compact")),
    ),
    max_size=25,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
async def test_kept_counts_equal_a_count_of_the_rows(store: Store, steps: list[Any]) -> None:
    """After any sequence of creates, transitions, deletes, duplicates, raw UPDATEs and
    DELETEs that bypass the store, and folds, statusCounts and totalCount equal a COUNT of
    the rows."""
    ids = [row.id for row in (await communications.page(store, Filter(), _order(), first=100)).rows]
    for step in steps:
        with contextlib.suppress(Refused):  # a move the lifecycle refuses writes nothing
            await _do(store, ids, step)
    await assert_counts_agree(store)


def _order() -> communications.Order:
    return communications.Order("created_at", False)


async def _do(store: Store, ids: list[int | None], step: Any) -> None:
    name, *args = step
    pick = ids[args[0] % len(ids)] if ids and name != "create" and args else None
    if name == "create":
        ids.append((await factories.create(store, args[0], origin=args[1])).id)
    elif name == "act" and pick is not None:
        at = utcnow() + timedelta(days=1) if args[1] is Action.SCHEDULE else None
        await changes.apply(store, pick, args[1], by=Trigger.PERSON, actor="t", start_at=at)
    elif name == "delete" and pick is not None:
        await communications.delete_draft(store, pick, expected_version=None)
    elif name == "duplicate" and pick is not None:
        ids.append((await communications.duplicate(store, pick, name=None, actor="t")).id)
    elif name == "raw" and pick is not None:

        def move(connection: Connection) -> None:
            connection.execute(
                text("UPDATE communication SET status = :s WHERE id = :i"),
                {"s": args[1], "i": pick},
            )

        await write(store.sessions, move)
    elif name == "erase" and pick is not None:
        ids.remove(pick)

        def erase(connection: Connection) -> None:  # a row gone for good, children first
            for table in ("status_event", "delivery_event", "recipient"):
                connection.execute(
                    text(f"DELETE FROM {table} WHERE communication_id = :i"), {"i": pick}
                )
            connection.execute(text("DELETE FROM communication WHERE id = :i"), {"i": pick})

        await write(store.sessions, erase)
    elif name == "compact":
        await compact(store)


async def test_concurrent_writes_are_all_counted(store: Store) -> None:
    """Many creates and transitions at once (on PostgreSQL, each in its own transaction on
    its own connection, with folds among them) leave counts equal to a COUNT of the rows."""
    made = [await factories.create(store, Kind.IN_APP) for _ in range(12)]

    async def launch_then_pause(communication_id: int | None) -> None:
        for action in (Action.LAUNCH, Action.PAUSE, Action.RESUME):
            await changes.apply(store, communication_id, action, by=Trigger.PERSON, actor="t")

    work = [launch_then_pause(row.id) for row in made]
    work += [factories.create(store, k) for k in KINDS * 8]
    work += [compact(store) for _ in range(5)]
    await asyncio.gather(*work)
    await assert_counts_agree(store)
    await compact(store)
    await assert_counts_agree(store)
    tiles = dict(((k, s), n) for k, s, n in await communications.status_counts(store, Filter()))
    assert tiles[Kind.IN_APP, Status.ACTIVE] == 12


async def test_the_migration_counts_the_rows_it_finds(unmigrated_database: str) -> None:
    """A database with communications before 0008 (live and deleted, of several kinds,
    statuses and origins) has them all counted once migrated, and later writes add to them."""
    engine = create_engine(unmigrated_database)
    try:
        await _upgrade(engine, "0007")
        async with engine.begin() as conn:
            for i in range(30):
                await conn.execute(
                    factories.inserted(":k", ":o", ":s", "'n'", ":t", ":d"),
                    {
                        "k": KINDS[i % 3],
                        "o": list(Origin)[i % 2],
                        "s": ["DRAFT", "ERROR", "DRAFT", "FINISHED", "ERROR"][i % 5],
                        "t": utcnow(),
                        "d": utcnow() if i % 7 == 0 else None,
                    },
                )
        await _upgrade(engine, "head")
        async with Broadcast("memory://") as broadcast:
            store = Store(sessions(engine), Feed(broadcast))
            await assert_counts_agree(store)
            assert await communications.count(store, Filter()) == 30 - 5
            await factories.create(store, Kind.SMS)
            await assert_counts_agree(store)
    finally:
        await engine.dispose()


async def _upgrade(engine: Any, revision: str) -> None:
    def up(sync: Connection) -> None:
        config = migrate._config(sync)
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(up)
