"""The p99 of a page of communications at 1,000,000 rows against the p99 at 1,000 rows.

    python -m bench.large_lists [rows] [--postgres URL]

For every filter and order the `communications` query offers, pages of 20 (a first page,
then pages after cursors spread over the table) are read through the store from a
database of 1,000 rows and from one of `rows` rows (default 1,000,000), and each line
prints both p99s and their ratio: keyset pages on an index cost the same at any size.
At 1,000 rows a filter may match few rows (25 for one kind in one status), so that a
cursor at a random row is mostly followed by part of a page, or nothing: there the
cursors are the keys of rows the filter matches that a full page follows, so that both
sizes read pages of 20 rows where the filter matches that many.
The rows are made by one INSERT ... SELECT, not through the API: this measures reads.
With --postgres (a server URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres) it
runs on PostgreSQL, in two databases made and dropped here; else on SQLite files.
Then statusCounts and a list's total, read from the counts kept on write, against a
COUNT of the rows grouped as statusCounts was before them (--counts: only these).
"""

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import scratch
from store import Store, communications, reading
from store.communications import PAGE_MAX, Filter, Order
from store.lifecycle import Kind, Origin, Status, statuses

SMALL = 1_000
PAGES = 1_000  # pages read per filter and order and size: a p99 of 300 was the 3rd-worst
WARM = 100  # pages read first, untimed, after other cursors: see _p99s
SIZE = 20  # the API's default page
START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = 30  # seconds between two rows' created_at in the large database


def _spacing(size: int, rows: int) -> int:
    """Seconds between two rows' created_at in a database of `size` rows beside one of
    `rows`: both span the same year, so a created window holds rows in each (at 30 s
    apart, the 1,000 rows spanned 8 hours, and a window of days 30 to 60 held none)."""
    return SPACING * rows // size


PAIRS = [(kind, status) for kind in Kind for status in statuses(kind)]

FILTERS: dict[str, Filter] = {
    "none": Filter(),
    "kind": Filter(kinds=[Kind.EMAIL]),
    "two kinds": Filter(kinds=[Kind.SMS, Kind.LANDING_PAGE]),
    "status": Filter(statuses=[Status.SENDING]),
    "kind+status": Filter(kinds=[Kind.EMAIL], statuses=[Status.DRAFT]),
    "origin": Filter(origins=[Origin.AUTOMATION]),
    "search": Filter(search="campaign 7"),
    "created window": Filter(
        created_after=START + timedelta(days=30), created_before=START + timedelta(days=60)
    ),
}
ORDERS: dict[str, Order] = {
    "created desc": Order("created_at", True),
    "created asc": Order("created_at", False),
    "updated desc": Order("updated_at", True),
    "name asc": Order("name", False),
}


def _fill(dialect: str, rows: int, spacing: int) -> str:
    """One INSERT ... SELECT of `rows` communications, each (kind, status) in turn."""
    numbers = (
        "generate_series(1::bigint, CAST(:rows AS bigint)) AS n(i)"  # i * 7919 overflows int4
        if dialect == "postgresql"
        else "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
        "SELECT i FROM n) AS n"
    )
    if dialect == "postgresql":
        created = f"timestamptz '{START.isoformat()}' + i * interval '{spacing} seconds'"
        updated = f"{created} + (i * 7919 % 86400) * interval '1 second'"
    else:
        start = START.strftime("%Y-%m-%d %H:%M:%S")
        created = f"datetime('{start}', '+' || (i * {spacing}) || ' seconds')"
        updated = f"datetime('{start}', '+' || (i * {spacing} + i * 7919 % 86400) || ' seconds')"
    kinds = " ".join(f"WHEN {n} THEN '{k}'" for n, (k, _) in enumerate(PAIRS))
    states = " ".join(f"WHEN {n} THEN '{s}'" for n, (_, s) in enumerate(PAIRS))
    pair = f"(i % {len(PAIRS)})"
    return (
        "INSERT INTO communication (kind, origin, status, name, version, created_at, "
        "updated_at, content, synthetic_audience, pending_count, handed_off_count, "
        "sent_count, not_sent_count, shown_count, clicked_count, delivered_count, "
        "deferred_count, opened_count, bounced_count, complained_count, unsubscribed_count) "
        f"SELECT CASE {pair} {kinds} END, "
        "CASE WHEN i % 10 = 0 THEN 'AUTOMATION' ELSE 'CAMPAIGN' END, "
        f"CASE {pair} {states} END, 'campaign ' || (i * 7919 % 1000003), 1, "
        f"{created}, {updated}, '{{}}', false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM {numbers}"
    )


async def _filled(engine: AsyncEngine, rows: int, spacing: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(_fill(engine.dialect.name, rows, spacing)), {"rows": rows})
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            # name_gram too (migration 0009): its index-only scans need its visibility map
            await conn.execute(text("VACUUM ANALYZE communication, name_gram"))
            # the fill's 2 GB of pages written out now, not by the checkpointer while the
            # first pairs are timed: in two runs without it, their p99 at 1,000,000 rows was
            # 1.36-1.74 times that at 1,000, where their medians were 1.06-1.28
            try:
                await conn.execute(text("CHECKPOINT"))
            except DBAPIError as refused:  # a role that may not (pg_checkpoint, superuser)
                print(f"no CHECKPOINT after the fill: {refused.orig}", flush=True)
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


def _after(order: Order, rng: random.Random, rows: int, spacing: int) -> tuple[object, int]:
    """The key of a random row, as a cursor names it."""
    i = rng.randint(1, rows)
    when = START + timedelta(seconds=i * spacing)
    return {
        "created_at": (when, i),
        "updated_at": (when + timedelta(seconds=i * 7919 % 86400), i),
        "name": (f"campaign {i * 7919 % 1000003}", i),
    }[order.field]


async def _followed_by_full_pages(
    store: Store, flt: Filter, order: Order
) -> list[tuple[object, int] | None]:
    """The keys of the rows `flt` matches in `store`, in `order`, that SIZE more follow;
    the first page's None alone where it matches no more than a page."""
    keys: list[tuple[object, int]] = []
    after = None
    while True:
        found = await communications.page(store, flt, order, first=PAGE_MAX, after=after)
        keys += found.keys
        if not found.has_next:
            break
        after = found.keys[-1]
    return [*keys[:-SIZE]] or [None]


async def _p99s(
    small: Store, large: Store, rows: int, flt: Filter, order: Order
) -> tuple[float, float, float]:
    """The p99 in ms of PAGES pages on each database: a first page, then pages after random
    rows' keys (at 1,000 rows, of rows a full page follows), and the ratio of their medians
    (steadier on a busy machine). The two alternate, so that both see the same noise from
    the machine. WARM pages after other cursors come first, untimed: a statement's first
    runs on a connection are planned for their values (PostgreSQL tries five custom plans
    before it keeps one; with 48 ranges merged, each plan takes milliseconds) and read the
    indexes' upper levels for the first time, five to ten slow pages of a thousand, which
    is where a p99 lies: a server that has been running has done both."""
    took: dict[int, list[float]] = {SMALL: [], rows: []}
    cursors = await _followed_by_full_pages(small, flt, order)
    warm, rng = random.Random(11), random.Random(7)

    def cursor(n: int, size: int, pick: random.Random) -> tuple[object, int] | None:
        if not n:
            return None
        if size == SMALL:
            return pick.choice(cursors)
        # a full page follows all but the last few of its many rows
        return _after(order, pick, size, _spacing(size, rows))

    for store, size in ((small, SMALL), (large, rows)):
        for n in range(WARM):
            after = cursor(n, size, warm)
            await communications.page(store, flt, order, first=SIZE, after=after)
    for n in range(PAGES):
        for store, size in ((small, SMALL), (large, rows)):
            after = cursor(n, size, rng)
            started = time.perf_counter()
            await communications.page(store, flt, order, first=SIZE, after=after)
            took[size].append(time.perf_counter() - started)
    small_p99, large_p99 = (statistics.quantiles(took[s], n=100)[98] * 1000 for s in (SMALL, rows))
    median = statistics.median(took[rows]) / statistics.median(took[SMALL])
    return small_p99, large_p99, median


@asynccontextmanager
async def _database(server: str | None, rows: int, spacing: int) -> AsyncIterator[Store]:
    async with scratch(server) as parts:
        started = time.perf_counter()
        await _filled(parts.engine, rows, spacing)
        print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        if parts.engine.dialect.name == "postgresql":
            print(await _server_memory(parts.engine), flush=True)
        yield parts.store


async def _server_memory(engine: AsyncEngine) -> str:
    """The database's size beside the server's shared_buffers: pages whose rows lie at
    random in a larger table (name order) are read from the system's cache, not the
    server's, on the first visit."""
    async with engine.connect() as conn:
        size, buffers, pool = (await conn.execute(text(MEMORY))).one()
    line = f"database {size / 2**20:,.0f} MiB, shared_buffers {buffers}"
    if size > pool:  # README.md, Sizing PostgreSQL
        line += ": pages the pool misses come from the system's cache, or from the disk"
    return line


MEMORY = (  # the database's size, shared_buffers as set and in bytes
    "SELECT pg_database_size(current_database()), current_setting('shared_buffers'), "
    "setting::bigint * current_setting('block_size')::bigint "
    "FROM pg_settings WHERE name = 'shared_buffers'"
)


COUNTED = 50  # reads of the counts per size
GROUPED = text(
    "SELECT kind, status, count(*) FROM communication WHERE deleted_at IS NULL "
    "GROUP BY kind, status"
)


async def _counts(small: Store, large: Store, rows: int) -> None:
    """p99 of statusCounts, of a total and of the COUNT they replace, at each size."""
    reads = {
        "statusCounts": lambda s: communications.status_counts(s, Filter()),
        "totalCount": lambda s: communications.count(s, Filter(origins=[Origin.CAMPAIGN])),
        "COUNT of the rows": lambda s: reading.fetch(s, GROUPED),
    }
    for name, read in reads.items():
        took: dict[int, list[float]] = {SMALL: [], rows: []}
        for _ in range(COUNTED):
            for store, size in ((small, SMALL), (large, rows)):
                started = time.perf_counter()
                await read(store)
                took[size].append(time.perf_counter() - started)
        base, big = (statistics.quantiles(took[s], n=100)[98] * 1000 for s in (SMALL, rows))
        print(f"{name:<30}{base:>8.2f}ms{big:>9.2f}ms{big / base:>7.2f}x", flush=True)


async def main(rows: int, server: str | None, counts_only: bool) -> None:
    small_spacing = _spacing(SMALL, rows)
    async with (
        _database(server, SMALL, small_spacing) as small,
        _database(server, rows, SPACING) as large,
    ):
        if not counts_only:
            await _pages(small, large, rows)
        print(f"{'counts':<30}{'p99 1K':>10}{'p99 large':>11}{'ratio':>8}")
        await _counts(small, large, rows)


async def _pages(small: Store, large: Store, rows: int) -> None:
    print(
        f"{'filter':<16}{'order':<14}{'p99 1K':>10}{'p99 large':>11}{'ratio':>8}{'p50 ratio':>11}"
    )
    worst = 0.0
    for fname, flt in FILTERS.items():
        for oname, order in ORDERS.items():
            base, big, median = await _p99s(small, large, rows, flt, order)
            worst = max(worst, big / base)
            print(
                f"{fname:<16}{oname:<14}{base:>8.2f}ms{big:>9.2f}ms{big / base:>7.2f}x"
                f"{median:>10.2f}x",
                flush=True,
            )
    print(f"worst ratio: {worst:.2f}x (target: at most 1.5x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; SQLite files without it")
    parser.add_argument("--counts", action="store_true", help="only the counts, no pages")
    given = parser.parse_args()
    asyncio.run(main(given.rows, given.postgres, given.counts))
