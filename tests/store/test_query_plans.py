"""Every filter and order a list offers is served by an index: no full scan, no sort.

The statements a store read sends are caught as they run and explained on the same
database. PostgreSQL plans a table this small with a scan and a sort whatever the indexes,
so there both are switched off for the EXPLAIN: a plan that still needs one has no index
that can serve it. bench/large_lists.py measures what this means at 1,000,000 rows.
"""

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from store import Store, changes, communications, deliveries, reading, webhooks
from store.communications import Filter, Order
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import WebhookEndpoint, utcnow
from tests import factories

FILTERS = {
    "none": Filter(),
    "kind": Filter(kinds=[Kind.EMAIL]),
    "kinds": Filter(kinds=[Kind.SMS, Kind.LANDING_PAGE]),
    "status": Filter(statuses=[Status.DRAFT]),
    "kind and status": Filter(kinds=[Kind.EMAIL], statuses=[Status.DRAFT, Status.SENDING]),
    "origin": Filter(origins=[Origin.AUTOMATION]),
    "search": Filter(search="spring"),
    "short search": Filter(search="sp"),  # no gram to walk: the name index, tested row by row
    "created after": Filter(created_after=datetime(2026, 1, 1, tzinfo=UTC)),
    "created window": Filter(
        created_after=datetime(2026, 1, 1, 12, tzinfo=UTC),
        created_before=datetime(2026, 2, 1, tzinfo=UTC),
    ),
}
ORDERS = [Order(f, d) for f in ("created_at", "updated_at", "name") for d in (True, False)]


async def plans(store: Store, read: Callable[[], Awaitable[Any]]) -> list[str]:
    """The plan of each SELECT that `read` sends, one string each."""
    engine = factories.engine_of(store)
    sent: list[tuple[str, Any]] = []

    def catch(_c: Any, _cursor: Any, statement: str, params: Any, _x: Any, _many: bool) -> None:
        if statement.lstrip("( \n").upper().startswith(("SELECT", "WITH")):
            sent.append((statement, params))

    watched = reading.engines(store)
    for each in watched:
        event.listen(each, "before_cursor_execute", catch)
    try:
        await read()
    finally:
        for each in watched:
            event.remove(each, "before_cursor_execute", catch)
    found = []
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET enable_seqscan = off")
            await conn.exec_driver_sql("SET enable_sort = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        for statement, params in sent:
            rows = (await conn.exec_driver_sql(explain + statement, params)).all()
            found.append("\n".join(str(row[-1]) for row in rows))
    assert found, "the read sent no SELECT"
    return found


def served_by_an_index(plan: str) -> bool:
    full_scan = any(
        line.strip().startswith("SCAN ") and "INDEX" not in line for line in plan.splitlines()
    )
    sort = re.search(r"(^|->)\s*(Incremental )?Sort\s+\(", plan, re.MULTILINE)  # not Sort Key
    return not full_scan and not sort and all(w not in plan for w in ("TEMP B-TREE", "Seq Scan"))


def walks_the_grams(plan: str) -> bool:
    """A page with a search in name order (store/grams.py): the walk seeks in name_gram's
    primary key, and communication is read by name, the walk's names one by one; the only
    sort is of the rows those give, a page's worth (ordered by the walk's steps)."""
    lines = [line.strip().lstrip("-> ") for line in plan.splitlines()]
    sqlite = "SEARCH name_gram USING PRIMARY KEY (gram=? AND name" in plan
    postgresql = (
        re.search(r"Index Only Scan (Backward )?using name_gram_pkey", plan) is not None
        and re.search(r"Index Cond: \(+\(name\)::text = \(walk\.name\)::text\)", plan) is not None
    )
    by_name = "SEARCH communication USING INDEX ix_communication_name_id (name=?)" in plan
    by_name |= "Index Scan using ix_communication_name_id on communication" in plan
    read_whole = any(
        line in ("SCAN communication", "SCAN name_gram") or line.startswith("Seq Scan")
        for line in lines
    )
    sorted_rows = [line for line in lines if line.startswith("Sort Key")]
    return (
        (sqlite or postgresql)
        and by_name
        and not read_whole
        and all(line.startswith("Sort Key: walk.step") for line in sorted_rows)
    )


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: f"{o.field}-{o.descending}")
@pytest.mark.parametrize("name", list(FILTERS))
async def test_every_filter_and_order_of_a_page_uses_an_index(
    store: Store, name: str, order: Order
) -> None:
    """A page of communications, first and after a cursor, walks an index in order."""
    await factories.create(store, Kind.EMAIL)
    first = await communications.page(store, FILTERS[name], order, first=5)
    after = (datetime(2026, 6, 1, tzinfo=UTC), 1) if order.field != "name" else ("m", 1)

    async def read() -> None:
        await communications.page(store, FILTERS[name], order, first=5)
        await communications.page(store, FILTERS[name], order, first=5, after=after)
        await communications.page(store, FILTERS[name], order, last=5, before=after)

    assert first.rows or name != "none"
    check = walks_the_grams if name == "search" and order.field == "name" else served_by_an_index
    for plan in await plans(store, read):
        assert check(plan), plan


async def test_history_and_delivery_events_use_an_index(store: Store) -> None:
    """A communication's history and its delivery events, whole and filtered, are index walks."""
    made = await factories.create(store, Kind.EMAIL)
    assert made.id is not None
    mid = made.id

    async def read() -> None:
        await changes.history(store, mid, after=0, first=10)
        await deliveries.events(store, mid, names=None, recipient_id=None, after=(0, 0), first=10)
        await deliveries.events(
            store, mid, names=["message.send"], recipient_id=None, after=(0, 0), first=10
        )
        await deliveries.events(store, mid, names=None, recipient_id="r1", after=(0, 0), first=10)

    for plan in await plans(store, read):
        assert served_by_an_index(plan), plan


async def test_a_stopped_campaigns_events_use_an_index(store: Store) -> None:
    """The not-sent events a stop's marker stands for are read by index walks, from the
    start, from inside the marker and for one recipient: no scan, no sort."""
    made = await factories.create(store, Kind.EMAIL)
    await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
    await changes.stop(store, made.id, actor="t")
    assert made.id is not None
    mid = made.id
    found, _ = await deliveries.events(
        store, mid, names=None, recipient_id=None, after=(0, 0), first=3
    )
    inside = found[-1][0]

    async def read() -> None:
        for after in ((0, 0), inside):
            await deliveries.events(store, mid, names=None, recipient_id=None, after=after, first=3)
        await deliveries.events(
            store, mid, names=["message.notSent"], recipient_id=None, after=(0, 0), first=3
        )
        await deliveries.events(store, mid, names=None, recipient_id="r1", after=(0, 0), first=3)

    found = await plans(store, read)
    for plan in found:
        assert served_by_an_index(plan), plan
    assert any("ix_delivery_event_unfinished" in plan for plan in found)  # the marker


async def test_the_looks_for_expired_leases_use_an_index(store: Store) -> None:
    """The requeue and claimNext find expired leases without reading every recipient.
    (claimNext then sorts its candidate campaigns: those with work, a short list.)"""

    async def read() -> None:
        await deliveries.requeue_expired(store)
        await deliveries.claim_next(
            store, [Kind.EMAIL], limit=1, worker_id="w", lease=timedelta(seconds=5), actor="t"
        )

    for plan in await plans(store, read):
        assert "SCAN recipient" not in plan and "Seq Scan on recipient" not in plan, plan


async def test_a_read_of_the_stream_starts_at_its_position(store: Store) -> None:
    """The stream's read, and a webhook's lag, walk the (tx, seq) index from the position
    on, not every change after the first of its tx: SQLite's planner takes only the first
    column of a row value as the range, so `(tx, seq) > (?, ?)` read the whole history."""
    for _ in range(3):
        await factories.create(store, Kind.EMAIL)
    endpoint = WebhookEndpoint(
        url="https://example.com/", secret="whsec_x", cursor_tx=0, cursor_seq=1, created_at=utcnow()
    )

    async def read() -> None:
        await changes.changes_after(store, (0, 1))
        await webhooks.lag(store, endpoint)

    found = await plans(store, read)
    assert len(found) == 2
    for plan in found:
        assert served_by_an_index(plan), plan
        # SQLite: "(tx=? AND seq>?)"; PostgreSQL: "Index Cond: (ROW(tx, seq) > ROW($1, $2))"
        assert re.search(r"seq>\?|ROW\(tx, seq\) > ROW", plan), plan


async def test_status_counts_and_a_total_read_the_kept_counts(store: Store) -> None:
    """statusCounts and a list's total, filtered on kind, status or origin, read the counts
    kept on write (status_count), not the communications themselves."""
    await factories.create(store, Kind.EMAIL)

    async def read() -> None:
        for flt in (Filter(), FILTERS["kind and status"], FILTERS["origin"]):
            await communications.status_counts(store, flt)
            await communications.count(store, flt)

    for plan in await plans(store, read):
        assert "status_count" in plan and "communication" not in plan.replace("status_count", ""), (
            plan
        )


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("kind", "created_at"),
        ("kinds", "created_at"),
        ("origin", "created_at"),
        ("search", "updated_at"),
        ("search", "created_at"),
        ("short search", "name"),
    ],
)
async def test_a_page_is_planned_once_and_then_kept(store: Store, name: str, field: str) -> None:
    """On PostgreSQL a page's statement stays prepared on its connection and, after its
    first runs, is run with one plan for any cursor (a generic plan), not planned again for
    each: planned each time, a page of one kind at 1,000,000 rows took 1.7 ms, not 0.7, and
    one filtered by origin (48 ranges merged: 58 KiB of SQL, past what asyncpg kept) 13 ms,
    not 1.2, at any size (bench/large_lists.py); a page with a search, whose pattern the
    plans for given values were estimated by, 0.43 ms, not 0.25. SQLite's statements are
    kept by the reads' own connection (store/reading.py)."""
    if factories.engine_of(store).dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements and their plans")
    for kind in Kind:
        await factories.create(store, kind, name=f"spring {kind.value.lower()}")
        await factories.create(store, kind, name=f"autumn {kind.value.lower()}")
    order = Order(field, True)
    pages = 12
    for n in range(pages):
        moment = utcnow() - timedelta(seconds=n)
        after = ({"name": f"z{n}"}.get(field, moment), 10**6)
        await communications.page(store, FILTERS[name], order, first=5, after=after)
    # one connection served them all (one request at a time), so its statements say how
    kept = await reading.fetch(
        store,
        text(
            "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements "
            "WHERE statement LIKE '%LIMIT ' || '6%'"  # not this statement's own text
        ),
    )
    assert len(kept) == 1, kept  # prepared once
    generic, custom, sql = kept[0]
    assert generic + custom == pages and custom <= 5, kept  # PostgreSQL tries 5 custom plans
    # and keeps the generic plan at any size only if it can see that a page is a few rows
    assert "LIMIT $" not in sql and "LIMIT 6" in sql


ROWS = factories.inserted(
    "'IN_APP'",
    "'CAMPAIGN'",
    "'DRAFT'",
    "CASE WHEN i % 2 = 0 THEN 'spring ' ELSE 'autumn ' END || i",
    "now() - i * interval '1 minute'",
    rows="FROM generate_series(1, 5000) AS i",
)


@pytest.mark.parametrize("field", ["updated_at", "created_at"])
async def test_a_page_with_a_search_keeps_its_plan_whatever_the_search(
    store: Store, field: str
) -> None:
    """A search that half the names hold looks cheap to a plan made for its pattern and dear
    to one made for any (0.5% of names, PostgreSQL's guess): with the pattern in sight,
    PostgreSQL planned every page anew, at 1,000,000 rows 0.43 ms a page where the kept
    plan takes 0.25 (communications._hides). Measured on a table it has statistics of."""
    if factories.engine_of(store).dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements and their plans")
    async with factories.engine_of(store).begin() as conn:
        await conn.execute(ROWS)
        await conn.execute(text("ANALYZE communication"))
    pages = 12
    for n in range(pages):
        after = (utcnow() - timedelta(minutes=100 * n), 10**6)
        found = await communications.page(
            store, Filter(search="spring"), Order(field, True), first=5, after=after
        )
        assert [row.name.startswith("spring") for row in found.rows] == [True] * 5
    kept = await reading.fetch(
        store,
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%LIMIT ' || '6%'"  # not this statement's own text
        ),
    )
    assert len(kept) == 1, kept
    generic, custom = kept[0]
    assert generic + custom == pages and custom <= 5, kept


@pytest.mark.parametrize("descending", [True, False])
async def test_a_search_by_updated_at_is_tested_on_the_index_and_reads_only_its_rows(
    store: Store, descending: bool
) -> None:
    """On PostgreSQL a page with a search in updated_at order tests the search on the
    entries of the index on (updated_at, id), which carry the name (migration 0013), and
    reads from the table only the rows it returns: walking the index and reading each row
    to test it read about 180 rows on as many pages for a page of 20 of a search one name in
    nine holds (communications._in_index)."""
    if factories.engine_of(store).dialect.name != "postgresql":
        pytest.skip("PostgreSQL's index-only scans")
    engine = factories.engine_of(store)
    async with engine.begin() as conn:
        await conn.execute(ROWS)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE communication"))  # what autovacuum does
    flt, order = Filter(search="spring"), Order("updated_at", descending)

    async def read() -> None:
        found = await communications.page(store, flt, order, first=20)
        assert len(found.rows) == 20
        assert all("spring" in row.name for row in found.rows)

    (plan,) = await plans(store, read)
    assert "Index Only Scan" in plan and "ix_communication_updated_at_id" in plan, plan
    assert re.search(r"Filter: .*strpos\(lower", plan), plan  # the search, on the entries
    assert served_by_an_index(plan), plan
