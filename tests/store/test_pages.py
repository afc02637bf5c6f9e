"""Pages of communications, for any rows, filter, order and cursor, are the rows a plain
filter and sort of the table gives, in the same order: whatever statement shape and index
a page takes (store/communications.py), it returns what the definition says."""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from store import Store, communications
from store.communications import Filter, Order
from store.database import write
from store.lifecycle import Kind, Origin, Status, statuses
from store.tables import Communication
from store.writes import insert_row
from tests import factories

START = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = [Kind.EMAIL, Kind.SMS, Kind.IN_APP, Kind.LANDING_PAGE]
# within two days, or three weeks: a created window over whole weeks reads those as weeks
MOMENTS = (st.integers(0, 40) | st.integers(0, 21 * 24)).map(
    lambda hours: START + timedelta(hours=hours)
)
NAMES = st.text(alphabet="abc", min_size=1, max_size=4)  # lowercase: one order in any collation


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    created = draw(MOMENTS)
    return {
        "kind": kind,
        "origin": draw(st.sampled_from(list(Origin))),
        "status": draw(st.sampled_from(statuses(kind))),
        "name": draw(NAMES),
        "created_at": created,
        "updated_at": created + draw(st.integers(0, 30)) * timedelta(hours=1),
        "content": {},
        "deleted_at": START if draw(st.integers(0, 9)) == 0 else None,
    }


FILTERS = st.builds(
    Filter,
    # a kind, status or origin may be named twice: a row is listed once all the same
    kinds=st.none() | st.lists(st.sampled_from(KINDS), max_size=3),
    statuses=st.none() | st.lists(st.sampled_from(list(Status)), min_size=1, max_size=2),
    origins=st.none() | st.lists(st.sampled_from(list(Origin)), min_size=1, max_size=2),
    # up to 4 characters, and an upper-case one that only the case-insensitive match finds
    search=st.none() | st.text(alphabet="abcB", min_size=1, max_size=4),
    created_after=st.none() | MOMENTS,
    created_before=st.none() | MOMENTS,
)
ORDERS = st.builds(Order, st.sampled_from(["created_at", "updated_at", "name"]), st.booleans())


def admitted(row: Communication, flt: Filter) -> bool:
    return (
        row.deleted_at is None
        and (flt.kinds is None or row.kind in flt.kinds)
        and (flt.statuses is None or row.status in flt.statuses)
        and (flt.origins is None or row.origin in flt.origins)
        and (flt.search is None or flt.search.lower() in row.name.lower())
        and (flt.created_after is None or row.created_at >= flt.created_after)
        and (flt.created_before is None or row.created_at < flt.created_before)
    )


async def _fill(store: Store, made: list[dict[str, Any]]) -> list[Communication]:
    def work(connection: Connection) -> list[Communication]:
        connection.execute(text("DELETE FROM status_event"))
        connection.execute(text("DELETE FROM communication"))
        return [insert_row(connection, values) for values in made]

    result: list[Communication] = await write(store.sessions, work)
    return result


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    made=st.lists(rows(), max_size=25),
    flt=FILTERS,
    order=ORDERS,
    size=st.integers(1, 6),
    start=st.integers(0, 30),
)
async def test_pages_are_the_filtered_rows_in_order(
    store: Store, made: list[dict[str, Any]], flt: Filter, order: Order, size: int, start: int
) -> None:
    """Forward from the start or from any row's cursor, and backward from the end or that
    cursor, pages hold exactly the rows the filter admits, sorted by (field, id)."""
    inserted = await _fill(store, made)
    expected = sorted(
        (r for r in inserted if admitted(r, flt)),
        key=lambda r: (getattr(r, order.field), r.id),
        reverse=order.descending,
    )
    ids = [r.id for r in expected]
    everyone = sorted(inserted, key=lambda r: (getattr(r, order.field), r.id or 0))
    # a cursor may name any row, admitted or not (a row can leave the filter after paging)
    cursor = None
    if everyone and start < len(everyone):
        row = everyone[start]
        cursor = (getattr(row, order.field), row.id or 0)

    def after(key: Any) -> bool:
        mine = (getattr(key, order.field), key.id)
        return mine < cursor if order.descending else mine > cursor  # type: ignore[operator]

    forward = ids if cursor is None else [r.id for r in expected if after(r)]
    seen, position = [], cursor
    while True:
        page = await communications.page(store, flt, order, first=size, after=position)
        seen += [r.id for r in page.rows]
        assert page.has_previous is (position is not None)
        if not page.has_next:
            break
        assert len(page.rows) == size
        position = page.keys[-1]
    assert seen == forward

    backward = (
        ids
        if cursor is None
        else [
            r.id for r in expected if not after(r) and ((getattr(r, order.field), r.id) != cursor)
        ]
    )
    back: list[int | None] = []
    position = cursor
    while True:
        page = await communications.page(store, flt, order, last=size, before=position)
        back = [r.id for r in page.rows] + back
        if not page.has_previous:
            break
        position = page.keys[0]
    assert back == backward


async def test_a_window_keeps_the_last_instant_of_a_day_and_drops_the_next(store: Store) -> None:
    """Read a day at a time (another order than created_at), a created window still holds a
    row made a microsecond before its end and none made at its end, nor before its start."""
    night = START + timedelta(days=1)
    made = [
        {**row, "name": name, "created_at": at, "updated_at": at}
        for row in [{"kind": Kind.SMS, "origin": Origin.CAMPAIGN, "status": Status.DRAFT}]
        for name, at in (
            ("before", START - timedelta(microseconds=1)),
            ("first", START),
            ("last", night - timedelta(microseconds=1)),
            ("after", night),
        )
    ]
    await _fill(store, [{**row, "content": {}} for row in made])
    window = Filter(created_after=START, created_before=night)
    for order in (Order("name", False), Order("updated_at", True)):
        page = await communications.page(store, window, order, first=10)
        assert sorted(row.name for row in page.rows) == ["first", "last"], order


async def test_a_window_of_weeks_and_days_holds_every_row_inside_it(store: Store) -> None:
    """A window over whole weeks and days either side, read in weeks and days (another order
    than created_at), holds the rows created inside it, in order, and none outside: one row
    every 7 hours for 40 days, and windows starting and ending mid-day."""
    made = [
        {
            "kind": Kind.SMS,
            "origin": Origin.CAMPAIGN,
            "status": Status.DRAFT,
            "name": f"row {n % 13:02} {n:03}",
            "created_at": START + n * timedelta(hours=7),
            "updated_at": START + n * timedelta(hours=7) + (n % 5) * timedelta(days=3),
            "content": {},
        }
        for n in range(40 * 24 // 7)
    ]
    rows = await _fill(store, made)
    for start, end in ((2.5, 24.25), (0, 28), (6.9, 21.1)):
        window = Filter(
            created_after=START + timedelta(days=start), created_before=START + timedelta(days=end)
        )
        for order in (Order("name", False), Order("updated_at", True)):
            spans = communications._spans(window, order, None)
            assert spans is not None and spans[1], "the window is read in weeks too"
            inside = [row for row in rows if admitted(row, window)]
            expected = sorted(inside, key=lambda r: (getattr(r, order.field), r.id or 0))
            if order.descending:
                expected.reverse()
            found, after = [], None
            while True:
                page = await communications.page(store, window, order, first=10, after=after)
                found += [row.id for row in page.rows]
                if not page.has_next:
                    break
                after = page.keys[-1]
            assert found == [row.id for row in expected], (start, end, order)


async def test_a_search_in_name_order_follows_renames_and_deletes(store: Store) -> None:
    """A search in name order follows a rename, in the row's new place, and leaves a
    row deleted, outright or as a draft; it stays a case-insensitive substring (names
    lowercase at the start: one order in any collation)."""
    made = [
        await factories.create(store, Kind.IN_APP, name=name)
        for name in ("spring Sale", "autumn", "x")
    ]
    by_name = Order("name", False)

    async def names(search: str) -> list[str]:
        page = await communications.page(store, Filter(search=search), by_name, first=10)
        return [row.name for row in page.rows]

    assert await names("RING s") == ["spring Sale"]
    assert await names("AUTUMN") == ["autumn"]
    for row, name in ((made[1], "autumnal Spring"), (made[2], "a spring")):
        await communications.update_draft(
            store, row.id, expected_version=None, given={"name": name}
        )
    assert await names("spring") == ["a spring", "autumnal Spring", "spring Sale"]
    assert await names("autumn") == ["autumnal Spring"]
    assert await names("x") == []

    def gone(connection: Connection) -> None:
        for table, column in (("status_event", "communication_id"), ("communication", "id")):
            connection.execute(text(f"DELETE FROM {table} WHERE {column} = :i"), {"i": made[0].id})

    await write(store.sessions, gone)
    assert await names("spring") == ["a spring", "autumnal Spring"]
    await communications.delete_draft(store, made[2].id, expected_version=None)
    assert await names("spring") == ["autumnal Spring"]
