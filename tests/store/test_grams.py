"""A search in name order walks the grams of names (name_gram, kept by triggers: migration
0009; the walk: store/grams.py). Its pages hold exactly the rows the search's own test
admits over the whole table, in the database's order, whatever the names hold (letters each
engine lowers its own way, LIKE's '%', '_' and the escape '/', spaces, names shorter than a
gram) and whoever wrote them (the store, or SQL that goes around it: renames, deletes and
revivals); and name_gram holds what a fresh count of the live names' grams makes."""

import contextlib
import importlib
from typing import Any

from alembic import command
from broadcaster import Broadcast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select, text
from sqlmodel import col

from store import Store, communications, grams, migrate, reading
from store.communications import Filter, Order
from store.database import create_engine, sessions, write
from store.errors import Refused
from store.feed import Feed
from store.lifecycle import Kind
from store.tables import COMMUNICATION, utcnow
from tests import factories

MIGRATION = importlib.import_module("store.migrations.versions.0009_name_gram")
# ASCII letters both cases; letters SQLite leaves and PostgreSQL and Python lower ('Ä', 'İ',
# the Kelvin sign) or that lower to themselves ('ä', 'ß', a dotless i); uncased ones; LIKE's
ALPHABET = "aAbB äÄßİ\u0131\u212a日%_/"
# and a few names drawn again and again, so that rows share a name, and a cursor's name has
# rows on both sides of it
NAMES = st.text(alphabet=ALPHABET, min_size=1, max_size=7) | st.sampled_from(["aAb_", "xÄbb"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), NAMES),
        st.tuples(st.just("raw insert"), NAMES),
        st.tuples(st.just("rename"), st.integers(0, 30), NAMES),
        st.tuples(st.just("raw rename"), st.integers(0, 30), NAMES),
        st.tuples(st.just("delete"), st.integers(0, 30)),
        st.tuples(st.just("revive"), st.integers(0, 30)),
        st.tuples(st.just("erase"), st.integers(0, 30)),
    ),
    max_size=14,
)
INSERT = factories.inserted("'IN_APP'", "'CAMPAIGN'", "'DRAFT'", ":name", ":t", ":deleted")


async def matching(store: Store, search: str, descending: bool) -> list[int]:
    """The ids of the live rows the search's test admits, read from the whole table and
    sorted by the database: what every page walked in this order must add up to."""
    where = communications._window(True, False, False)
    ordering = [col(COMMUNICATION.c.name), col(COMMUNICATION.c.id)]
    statement = (
        select(COMMUNICATION.c.id)
        .where(*where)
        .order_by(*(c.desc() if descending else c for c in ordering))
    )
    values = communications._window_values(Filter(search=search))
    return [row[0] for row in await reading.fetch(store, statement, values)]


async def paged(store: Store, search: str, order: Order, size: int) -> list[int]:
    """Every page forward from the start, each after the last one's cursor."""
    seen: list[int] = []
    position = None
    while True:
        page = await communications.page(
            store, Filter(search=search), order, first=size, after=position
        )
        seen += [row.id or 0 for row in page.rows]
        if not page.has_next:
            return seen
        assert len(page.rows) == size
        position = page.keys[-1]


async def paged_back(store: Store, search: str, order: Order, size: int, cursor: Any) -> list[int]:
    back: list[int] = []
    position = cursor
    while True:
        page = await communications.page(
            store, Filter(search=search), order, last=size, before=position
        )
        back = [row.id or 0 for row in page.rows] + back
        if not page.has_previous:
            return back
        position = page.keys[0]


async def kept_grams(store: Store) -> list[tuple[str, str, int]]:
    rows = await reading.fetch(store, text("SELECT gram, name, id FROM name_gram"))
    return sorted((gram, name, n) for gram, name, n in rows)


async def fresh_grams(store: Store) -> list[tuple[str, str, int]]:
    """The live names' grams as the migration's backfill makes them, by the same lower()."""
    if factories.engine_of(store).dialect.name == "postgresql":
        made = MIGRATION._grams("communication")
    else:
        made = MIGRATION._sqlite_backfill()
    rows = await reading.fetch(store, text(made))
    return sorted((gram, name, n) for gram, name, n in rows)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=STEPS,
    searches=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=5), max_size=3),
    pick=st.integers(0, 30),
    size=st.integers(1, 4),
)
async def test_a_search_in_name_order_pages_what_its_test_admits(
    store: Store, steps: list[Any], searches: list[str], pick: int, size: int
) -> None:
    """After creates, renames, deletes, revivals and erasures through the store and around
    it, a search paged forward from the start, backward from any row, and forward from one
    row up to another, in either name order, gives the rows its test admits over the whole
    table; name_gram holds exactly the live names' grams."""
    await _empty(store)
    ids: list[int] = []
    for step in steps:
        with contextlib.suppress(Refused):  # a rename or delete of a row no longer a draft
            await _do(store, ids, step)
    assert await kept_grams(store) == await fresh_grams(store)
    ordered = [  # every row, as the database orders (name, id)
        tuple(row)
        for row in await reading.fetch(
            store,
            select(COMMUNICATION.c.name, COMMUNICATION.c.id).order_by(
                COMMUNICATION.c.name, COMMUNICATION.c.id
            ),
        )
    ]
    low = ordered[pick % len(ordered)] if ordered else None
    high = ordered[max(pick % len(ordered), (pick * 7 + 3) % len(ordered))] if ordered else None
    for row in (low, high) if ordered else ():  # the cursors' names and slices: found rows
        assert row is not None
        searches = [*searches, row[0], row[0][pick % len(row[0]) :][:4]]
    for search in searches:
        for descending in (False, True):
            order = Order("name", descending)
            expected = await matching(store, search, descending)
            assert await paged(store, search, order, size) == expected, search
            if low is None or high is None:
                continue
            key, end = (high, low) if descending else (low, high)
            earlier = await _earlier(store, descending, key)
            before = [i for i in expected if i in earlier]
            assert await paged_back(store, search, order, size, key) == before, search
            # forward from one row's cursor up to a later one's: the walk ends at the second
            short = await _earlier(store, descending, end)
            between = [i for i in expected if i not in earlier and i != key[1] and i in short]
            page = await communications.page(
                store, Filter(search=search), order, first=100, after=key, before=end
            )
            assert [row.id for row in page.rows] == between, search


async def _earlier(store: Store, descending: bool, key: Any) -> set[int]:
    """The ids of the rows before the cursor `key` in name order, as the database orders
    (name, id), live or not."""
    op = ">" if descending else "<"
    ahead = await reading.fetch(
        store,
        text(f"SELECT id FROM communication WHERE (name, id) {op} (:n, :i)"),
        {"n": key[0], "i": key[1]},
    )
    return {row[0] for row in ahead}


async def _empty(store: Store) -> None:
    def work(connection: Connection) -> None:
        for table in ("status_event", "delivery_event", "recipient", "communication"):
            connection.execute(text(f"DELETE FROM {table}"))

    await write(store.sessions, work)


async def _do(store: Store, ids: list[int], step: Any) -> None:
    name, *args = step
    pick = ids[args[0] % len(ids)] if ids and name not in ("create", "raw insert") else None
    if name == "create":
        made = await factories.create(store, Kind.IN_APP, name=args[0])
        ids.append(made.id or 0)
    elif name == "rename" and pick is not None:
        await communications.update_draft(
            store, pick, expected_version=None, given={"name": args[1]}
        )
    elif name == "delete" and pick is not None:
        await communications.delete_draft(store, pick, expected_version=None)
    elif name == "raw insert" or pick is not None:
        await write(store.sessions, lambda connection: _raw(connection, ids, name, pick, args))


def _raw(connection: Connection, ids: list[int], name: str, pick: int | None, args: Any) -> None:
    """A write that goes around the store, as SQL from elsewhere would."""
    if name == "raw insert":
        connection.execute(INSERT, {"name": args[0], "t": utcnow(), "deleted": None})
        ids.append(connection.execute(text("SELECT max(id) FROM communication")).scalar_one())
    elif name == "raw rename":
        connection.execute(
            text("UPDATE communication SET name = :n WHERE id = :i"), {"n": args[1], "i": pick}
        )
    elif name == "revive":
        connection.execute(
            text("UPDATE communication SET deleted_at = NULL WHERE id = :i"), {"i": pick}
        )
    elif name == "erase":
        ids.remove(pick or 0)
        for statement in (
            "DELETE FROM status_event WHERE communication_id = :i",
            "DELETE FROM recipient WHERE communication_id = :i",
            "DELETE FROM communication WHERE id = :i",
        ):
            connection.execute(text(statement), {"i": pick})


def test_a_searchs_grams_leave_out_letters_whose_lowering_is_uncertain() -> None:
    """ASCII letters are folded, as every lower() folds them; a slice holding a letter that
    SQLite keeps and PostgreSQL lowers ('Ä') is left out; many grams are thinned, keeping
    the first and the last; a search shorter than a gram has none."""
    assert grams.of("CaMp") == ["cam", "amp"]
    assert grams.of("xÄyzw") == ["yzw"]
    assert grams.of("ä%_/ ß") == ["ä%_", "_/ ", "/ ß"]  # thinned to GRAMS_MAX
    assert grams.of("ab") == [] and grams.of("ÄÖÜ") == []
    many = grams.of("abcdefghijklmnop")
    assert len(many) == grams.GRAMS_MAX and many[0] == "abc" and many[-1] == "nop"


async def test_the_migration_makes_the_grams_of_the_names_it_finds(
    unmigrated_database: str,
) -> None:
    """A database with communications before 0009 (live and deleted, short names, letters
    of either case) has each live name's grams once migrated, searches in name order find
    its rows, and later writes keep the grams."""
    engine = create_engine(unmigrated_database)
    names = ["Campaign 7", "campaign 17", "ab", "ÄÖÜ äöü", "50% off/now", "x_y_z", "Campaign 7"]
    try:
        await _upgrade(engine, "0008")
        async with engine.begin() as conn:
            for n, name in enumerate(names):
                deleted = utcnow() if n == 1 else None
                await conn.execute(INSERT, {"name": name, "t": utcnow(), "deleted": deleted})
        await _upgrade(engine, "head")
        async with Broadcast("memory://") as broadcast:
            store = Store(sessions(engine), Feed(broadcast))
            kept = await kept_grams(store)
            assert kept == await fresh_grams(store)
            assert ("n 7", "Campaign 7", 7) in kept and not any(
                n == "campaign 17" for _, n, _ in kept
            )
            by_name = Order("name", False)
            for search in ("PAIGN 7", "% of", "x_y", "äöü", "campaign"):
                assert await paged(store, search, by_name, 2) == await matching(
                    store, search, False
                )
            assert await paged(store, "paign 7", by_name, 1) == [1, 7]
            await factories.create(store, Kind.SMS, name="campaign 77")
            assert await kept_grams(store) == await fresh_grams(store)
            assert await paged(store, "paign 7", by_name, 5) == [1, 7, 8]
    finally:
        await engine.dispose()


async def _upgrade(engine: Any, revision: str) -> None:
    def up(sync: Connection) -> None:
        command.upgrade(migrate._config(sync), revision)

    async with engine.begin() as conn:
        await conn.run_sync(up)
