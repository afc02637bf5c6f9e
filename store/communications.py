"""Creating, editing, reading and listing communications. Status changes live in changes.py."""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Table,
    bindparam,
    func,
    literal_column,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from store import Store, audience, grams, reading
from store.content import NAME_MAX, check_audience, check_content, check_name, has_audience
from store.database import alone, on_postgresql, write
from store.errors import ErrorCode, Refused, invalid, not_found, version_conflict
from store.feed import Change, Touch
from store.lifecycle import DELETABLE, EDITABLE, Action, Kind, Origin, Status, statuses
from store.tables import COMMUNICATION, Communication, StatusCount, facet, utcnow
from store.writes import compare_and_set, insert_alone, insert_row, record

STATUS_COUNT: Table = StatusCount.__table__  # type: ignore[attr-defined]
PAGE_MAX = 100
PAGE_DEFAULT = 20
SLUG_ATTEMPTS = 5


@dataclass(frozen=True)
class Filter:
    kinds: Sequence[Kind] | None = None
    statuses: Sequence[Status] | None = None
    origins: Sequence[Origin] | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Order:
    field: str = "created_at"  # created_at, updated_at or name
    descending: bool = True


@dataclass(frozen=True)
class Page:
    rows: list[Communication]
    has_next: bool
    has_previous: bool
    keys: list[tuple[Any, int]] = field(default_factory=list)


_BY_ID = reading.kept(reading.ROWS.where(col(Communication.id) == bindparam("id")), quick=True)


async def get(store: Store, communication_id: int | None) -> Communication:
    """The live communication with this id, or NOT_FOUND."""
    if communication_id is None:
        raise not_found(communication_id)
    found = await reading.communications(store, _BY_ID, {"id": communication_id})
    if not found or found[0].deleted_at is not None:
        raise not_found(communication_id)
    return found[0]


async def get_many(store: Store, ids: Sequence[int]) -> dict[int, Communication]:
    """Rows by id, deleted ones included: history and events still name them."""
    rows = await reading.communications(store, reading.ROWS.where(col(Communication.id).in_(ids)))
    return {row.id: row for row in rows if row.id is not None}


async def create(
    store: Store,
    kind: Kind,
    *,
    name: str,
    origin: Origin,
    content: dict[str, Any],
    audience_size: int | None,
    actor: str,
    recipients: Sequence[str] | None = None,
    copy_audience_of: int | None = None,
) -> Communication:
    """A new DRAFT. A message campaign's audience is `recipients`, or a synthetic one of
    `audience_size` profiles, or a copy of another campaign's (for a duplicate)."""
    now = utcnow()
    checked = check_content(kind, content, complete=True)
    size = check_audience(kind, audience_size)
    ids = _check_ids(kind, recipients, size)
    # a new audience's size is known before it is written, except a copy's
    known = size if size is not None else len(ids)
    values = {
        "kind": kind,
        "origin": origin,
        "status": Status.DRAFT,
        "name": check_name(name),
        "created_at": now,
        "updated_at": now,
        "slug": checked.pop("slug", None),
        "content": checked,
        "audience_size": known if has_audience(kind) else None,
        "pending_count": known if has_audience(kind) else 0,
        "synthetic_audience": size is not None,
    }

    def make(connection: Connection) -> tuple[Communication, Change]:
        row = insert_row(connection, values)
        pk = row.id
        assert pk is not None
        if copy_audience_of is not None:
            copied = audience.copy(connection, copy_audience_of, pk)
            moved = {"audience_size": copied, "pending_count": copied}
            counted = compare_and_set(connection, pk, statuses=[Status.DRAFT], values=moved)
            assert counted is not None  # nobody else can have seen it yet
            row = counted
        elif size is not None:
            audience.insert_synthetic(connection, pk, size)
        elif ids:
            audience.insert(connection, pk, ids)
        return row, record(connection, row, Action.CREATE, None, actor=actor, at=now)

    if alone(store.sessions) and copy_audience_of is None and size is None and not ids:
        made: tuple[Communication, Change] = await _flush_unique(
            insert_alone(store, values, action=Action.CREATE, actor=actor, at=now)
        )
    else:
        made = await _flush_unique(write(store.sessions, make))
    await store.feed.publish(made[1])
    return made[0]


def _check_ids(kind: Kind, ids: Sequence[str] | None, size: int | None) -> list[str]:
    if ids is None:
        return []
    if not has_audience(kind):
        raise invalid("recipients", f"{kind} has no recipients; only email, SMS and push do")
    if size is not None:
        raise invalid(
            "recipients", "give recipients or audienceSize (a synthetic audience), not both"
        )
    return audience.check_recipients(ids)


async def update_draft(
    store: Store,
    communication_id: int | None,
    *,
    expected_version: int | None,
    given: dict[str, Any],
) -> Communication:
    """Edit a DRAFT. `given` holds only the fields to change; None clears an optional one."""
    row = await get(store, communication_id)
    kind = Kind(row.kind)
    given = dict(given)
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = check_name(given.pop("name") or "")
    resizing = "audience_size" in given
    size = check_audience(kind, given.pop("audience_size", None))
    if resizing and row.audience_size and not row.synthetic_audience:
        raise invalid(
            "audienceSize", "this campaign has recipient ids; audienceSize is for synthetic ones"
        )
    if resizing:  # a new synthetic audience, or none for null
        values.update(
            audience_size=size or 0, pending_count=size or 0, synthetic_audience=size is not None
        )
    checked = check_content(kind, given, complete=False)
    if "slug" in checked:
        values["slug"] = checked.pop("slug")
    if checked:
        values["content"] = {**row.content, **checked}

    def resize(connection: Connection) -> None:
        assert row.id is not None
        audience.clear(connection, row.id)
        audience.insert_synthetic(connection, row.id, size or 0)

    return await _compare_and_set(
        store,
        row,
        expected_version,
        EDITABLE,
        "edited",
        values,
        resize if resizing else None,
    )


async def delete_draft(
    store: Store, communication_id: int | None, *, expected_version: int | None
) -> Communication:
    row = await get(store, communication_id)
    await _compare_and_set(
        store, row, expected_version, DELETABLE, "deleted", {"deleted_at": utcnow(), "slug": None}
    )
    return row


async def duplicate(
    store: Store, communication_id: int | None, *, name: str | None, actor: str
) -> Communication:
    row = await get(store, communication_id)
    content = dict(row.content)
    for _ in range(SLUG_ATTEMPTS):
        if row.slug is not None:
            content["slug"] = await _free_slug(store, row.slug)
        try:
            return await create(
                store,
                Kind(row.kind),
                name=name if name is not None else _copy_name(row.name),
                origin=Origin(row.origin),
                content=content,
                audience_size=row.audience_size if row.synthetic_audience else None,
                actor=actor,
                copy_audience_of=None if row.synthetic_audience else row.id,
            )
        except Refused as refused:
            # a concurrent duplicate took the slug this one chose: choose again
            if row.slug is None or refused.field != ["slug"]:
                raise
    raise invalid("slug", "could not find a free slug for the copy; try again")


async def _compare_and_set(
    store: Store,
    row: Communication,
    expected_version: int | None,
    allowed: frozenset[Status],
    verb: str,
    values: dict[str, Any],
    then: Callable[[Connection], None] | None = None,
) -> Communication:
    """The row after an edit or a delete that applies only while it is as it was read."""
    if expected_version is not None and expected_version != row.version:
        raise version_conflict(row.version, expected_version)
    if row.status not in allowed:
        raise Refused(
            ErrorCode.INVALID_TRANSITION,
            f"only a {' or '.join(sorted(allowed))} communication can be {verb}; "
            f"this one is {row.status}",
        )
    values = {"version": row.version + 1, "updated_at": utcnow(), **values}

    def edit(connection: Connection) -> Communication | None:
        after = compare_and_set(
            connection, row.id, statuses=[row.status], version=row.version, values=values
        )
        if after is not None and then is not None:
            then(connection)
        return after

    after: Communication | None = await _flush_unique(write(store.sessions, edit))
    if after is None:
        raise version_conflict(row.version, expected_version)
    assert row.id is not None
    await store.feed.publish(Touch(row.id))
    return after


async def _flush_unique(awaitable: Any) -> Any:
    try:
        return await awaitable
    except IntegrityError as error:
        if "slug" in str(error.orig):
            raise invalid("slug", "another landing page already uses this slug") from None
        raise


async def _free_slug(store: Store, slug: str) -> str:
    async with store.sessions() as session:
        taken = set(
            await session.exec(
                select(Communication.slug).where(col(Communication.slug).startswith(slug))
            )
        )
    candidate, n = f"{slug}-copy"[:100], 2
    while candidate in taken:
        candidate, n = f"{slug}-copy-{n}"[:100], n + 1
    return candidate


def _copy_name(name: str) -> str:
    return f"Copy of {name}"[:200]


# Reading lists


SORTABLE = {"created_at", "updated_at", "name"}


def _where(flt: Filter) -> list[ColumnElement[bool]]:
    """The filter's conditions, as counts use them (with `_window_values`)."""
    where = _window(bool(flt.search), flt.created_after is not None, flt.created_before is not None)
    if flt.kinds is not None:
        where.append(col(Communication.kind).in_(list(flt.kinds)))
    if flt.statuses is not None:
        where.append(col(Communication.status).in_(list(flt.statuses)))
    if flt.origins is not None:
        where.append(col(Communication.origin).in_(list(flt.origins)))
    return where


def _window(
    search: bool,
    created_after: bool,
    created_before: bool,
    *,
    only_tested: bool = False,
    hidden: bool = False,
) -> list[ColumnElement[bool]]:
    """The conditions other than kind, status and origin, their values bound by name
    (`_window_values`): a page tests them row by row while it walks an index in its order.
    `only_tested`: the created window written so that no plan can read an index by it
    (`(created_at >= $1) IS true`), for a page that reads a range a day (`_spans`): in a plan
    made for any values (reading.limit), PostgreSQL read each day by the window's index on
    created_at and sorted it, 250 ms a page at 1,000,000 rows by EXPLAIN, where the day's
    index in the page's order takes 0.7 ms. `hidden`: the values hidden from the planner
    (`_given`)."""
    c = COMMUNICATION.c
    where: list[ColumnElement[bool]] = [col(Communication.deleted_at).is_(None)]
    text = c.name.type
    if search and hidden:  # the same test as ILIKE's, which lowers both sides (see _hides)
        given = func.lower(_given(bindparam("text", type_=text), True))
        where.append(func.strpos(func.lower(c.name), given) > literal_column("0"))
    elif search:
        where.append(col(Communication.name).icontains(bindparam("search", type_=text), escape="/"))
    window = []
    moment = c.created_at.type
    if created_after:
        after = _given(bindparam("created_after", type_=moment), hidden)
        window.append(col(Communication.created_at) >= after)
    if created_before:
        before = _given(bindparam("created_before", type_=moment), hidden)
        window.append(col(Communication.created_at) < before)
    return where + [w.is_(true()) if only_tested else w for w in window]


def _given(value: BindParameter[Any], hidden: bool) -> Any:
    """A page's value as its statement reads it; `hidden`, as a scalar subquery, which
    PostgreSQL runs once per execution and plans without looking at: a plan for any values
    then costs what a plan for given values costs, so the plan made once is kept. For a page
    with a search (`_hides`)."""
    return select(value).scalar_subquery() if hidden else value


def _hides(shape: "Shape") -> bool:
    """Whether a page's statement hides its values from the planner (`_given`) and tests
    its search with strpos: on PostgreSQL, a page with a search that walks no grams. With
    the pattern in sight, the plans for given values were estimated by it (one name in nine
    holds "campaign 7": a page of 20 costs 23) and the plan for any values by a guess (0.5%
    of names: 710), so the plans for given values looked cheaper and PostgreSQL planned every
    page anew. Hidden, both are estimated alike and the plan made once is kept; and for
    strpos(lower(name), lower(text)) > 0, ILIKE's test by another name, the guess is a third
    of the rows, not 0.5%, so the plan kept walks the index in the page's order at 1,000 rows
    too, where the 0.5% guess led it to read every row before the cursor and sort them.
    A page of 20 by updated_at at 1,000,000 rows: 0.41 ms of the server (p50) planned anew,
    0.33 kept; at 1,000 rows 0.27 and 0.19. The grams' walk (store/grams.py) binds no
    pattern a plan would estimate by."""
    return shape.postgres and shape.search and not shape.grams


def _window_values(flt: Filter) -> dict[str, Any]:
    return {
        # matched literally ('/' escapes), as `autoescape` makes it of a string
        "search": _like(flt.search.strip()) if flt.search else None,
        "text": flt.search.strip() if flt.search else None,  # the search as strpos takes it
        "created_after": flt.created_after,
        "created_before": flt.created_before,
    }


def _like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _arms(flt: Filter) -> list[tuple[Kind, Status, Origin]] | None:
    """Each (kind, status, origin) the filter admits, when it names any of the three.

    A page of such a filter reads one range of an index (facet, order, id) per combination
    (store/tables.py `facet`), at most a page from each, and keeps the first page of their merge:
    the cost is the number of combinations, not the table's size. One index in the order
    with the filter tested row by row would read on until a page matched (the whole table
    for a rare combination), and one on (kind, status) alone would sort every match.
    """
    if flt.kinds is None and flt.statuses is None and flt.origins is None:
        return None
    return [  # each once, however often the filter names it
        (kind, status, origin)
        for kind in (Kind if flt.kinds is None else dict.fromkeys(flt.kinds))
        for status in statuses(kind)
        if flt.statuses is None or status in flt.statuses
        for origin in (Origin if flt.origins is None else dict.fromkeys(flt.origins))
    ]


def _coarse(flt: Filter, order: Order) -> tuple[str, tuple[str, ...]] | None:
    """In name order, a filter on kinds alone reads one range of (kind, name, id) a kind, and
    one on origins alone one range of (origin, name, id) an origin, rather than one a facet
    (`_arms`): an email is 12 facets (6 statuses, 2 origins), an origin 48. On PostgreSQL 15 a
    range reads the whole leaf page it starts on, and a leaf of names is read as names: at
    1,000,000 rows a page of one origin by name took 1.4-1.5 times as long as at 1,000,
    where a page in the orders of dates, whose ranges compare numbers, took 1.2. The column
    and its values, or None to read facets."""
    if order.field != "name" or flt.statuses is not None:
        return None
    if flt.kinds is not None and flt.origins is None:
        return "kind", tuple(Kind(kind).value for kind in dict.fromkeys(flt.kinds))
    if flt.origins is not None and flt.kinds is None:
        return "origin", tuple(Origin(origin).value for origin in dict.fromkeys(flt.origins))
    return None


def _check_window(flt: Filter) -> None:
    if flt.search is not None and len(flt.search) > NAME_MAX:
        raise invalid("search", f"search is longer than {NAME_MAX} characters, as no name is")
    for name, value in (("createdAfter", flt.created_after), ("createdBefore", flt.created_before)):
        if value is not None and value.tzinfo is None:
            raise invalid(name, f"{name} needs a UTC offset, e.g. 2026-01-01T00:00:00Z")


def _check_size(name: str, size: int | None) -> None:
    if size is not None and not 0 <= size <= PAGE_MAX:
        raise invalid(name, f"{name} must be between 0 and {PAGE_MAX}")


async def page(
    store: Store,
    flt: Filter,
    order: Order,
    *,
    first: int | None = None,
    after: tuple[Any, int] | None = None,
    last: int | None = None,
    before: tuple[Any, int] | None = None,
) -> Page:
    """A keyset page: stable under inserts, since a cursor names a position, not an offset."""
    _check_window(flt)
    _check_size("first", first)
    _check_size("last", last)
    if first is not None and last is not None:
        raise invalid("last", "pass first (with after) or last (with before), not both")
    if order.field not in SORTABLE:
        raise invalid("orderBy", f"cannot sort by {order.field}")
    backward = last is not None or (before is not None and first is None)
    requested = last if backward else first
    size = PAGE_DEFAULT if requested is None else requested
    arms = _arms(flt)
    empty = (
        flt.created_after is not None
        and flt.created_before is not None
        and (flt.created_after >= flt.created_before)
    )
    if (arms is not None and not arms) or empty:
        rows: list[Communication] = []  # an empty list of kinds, say
    else:
        postgres = on_postgresql(store.sessions)
        window, lower, upper = _bounds(flt, order, after, before)
        days, weeks = _spans(window, order, arms) or ([], [])
        walked = _grams(window, order, arms)
        coarse = _coarse(flt, order)
        shape = Shape(
            order.field,
            order.descending,
            backward,
            lower is not None,
            upper is not None,
            bool(flt.search),
            window.created_after is not None,
            window.created_before is not None,
            None if arms is None or coarse else tuple(arms),
            size + 1,
            postgres,
            days=len(days),
            weeks=len(weeks),
            grams=len(walked),
            coarse=coarse,
        )
        values = {
            **_window_values(window),
            **{f"day_{n}": day for n, day in enumerate(days)},
            **{f"week_{n}": week for n, week in enumerate(weeks)},
            **grams.values(walked),
            "after_value": lower[0] if lower else None,
            "after_id": lower[1] if lower else None,
            "before_value": upper[0] if upper else None,
            "before_id": upper[1] if upper else None,
        }
        rows = await reading.communications(store, _page_statement(shape), values)
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    keys = [(getattr(row, order.field), row.id or 0) for row in rows]
    if backward:
        return Page(rows, has_next=before is not None, has_previous=more, keys=keys)
    return Page(rows, has_next=more, has_previous=after is not None, keys=keys)


Key = tuple[Any, int]
DAYS_MAX = 92  # days a created window may span to be read in ranges of weeks and days
WEEK = 7  # days a created_week spans (migration 0011)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANT = timedelta(microseconds=1)


def _spans(
    flt: Filter, order: Order, arms: list[tuple[Kind, Status, Origin]] | None
) -> tuple[list[int], list[int]] | None:
    """The ranges a created window is read in, when a page in another order than created_at
    reads one range of (created_week, order, id) for each whole week (migration 0011) inside
    the window, and one of (created_day, order, id) for each day before the first whole week
    and after the last (days since 1970-01-01 UTC), merged as `_arms` merges its ranges:
    (days, weeks). A range on created_at and an order on another column share no index:
    walking the order's index tests the window row by row, and updated_at follows
    created_at, so a window in the past was reached by reading every row updated since
    (260,000 of 1,000,000 by EXPLAIN ANALYZE); its rows sorted would be as many as the
    window holds. Each range is read only as far as the merge takes from it, and only a
    window's first and last day hold rows outside it. Weeks make a window of 30 days 6 or
    12 ranges, not 30: PostgreSQL reads the whole leaf page a range starts on, so each range
    costs more in a large table. None when the window is open on a side, longer than
    DAYS_MAX, or a kind, status or origin is filtered too (their ranges times the window's
    would be too many)."""
    if arms is not None or order.field == "created_at":
        return None
    if flt.created_after is None or flt.created_before is None:
        return None
    first = (flt.created_after - _EPOCH).days
    last = (flt.created_before - _INSTANT - _EPOCH).days  # created_at < created_before
    if last - first >= DAYS_MAX:
        return None
    whole = range(-(-first // WEEK), (last + 1) // WEEK)  # first <= WEEK * w, w's last <= last
    if not whole:
        return list(range(first, last + 1)), []
    days = [*range(first, whole.start * WEEK), *range(whole.stop * WEEK, last + 1)]
    return days, list(whole)


def _grams(flt: Filter, order: Order, arms: list[tuple[Kind, Status, Origin]] | None) -> list[str]:
    """The grams a page with a search in name order walks (store/grams.py), or none: then
    it walks the name index (or `_arms`' ranges) and tests the search row by row. A search
    with a kind, status, origin or created window too keeps that path: which of the two
    reads less depends on which is rarer, the search or the rest, which a page cannot
    tell before it reads; the walk would test the rest row by row after each name found."""
    if order.field != "name" or not flt.search or arms is not None:
        return []
    if flt.created_after is not None or flt.created_before is not None:
        return []
    return grams.of(flt.search.strip())


def _bounds(
    flt: Filter, order: Order, after: Key | None, before: Key | None
) -> tuple[Filter, Key | None, Key | None]:
    """The filter and the cursors a page's statement binds. Ordered by created_at, a created
    window becomes part of the cursors: ids start at 1, so `created_at >= t` is
    `(created_at, id) > (t, 0)` and `created_at < t` is `(created_at, id) < (t, 0)`. One
    bound a side, the tighter: SQLite ranges an index on one of two lower bounds and tests
    the other row by row, so a window after the cursor was reached by reading every row
    between them."""
    if order.field != "created_at" or (flt.created_after is None and flt.created_before is None):
        return flt, after, before
    low = None if flt.created_after is None else (flt.created_after, 0)
    high = None if flt.created_before is None else (flt.created_before, 0)
    window = replace(flt, created_after=None, created_before=None)
    if order.descending:  # `after` bounds from above, `before` from below
        return window, _tighter(after, high, min), _tighter(before, low, max)
    return window, _tighter(after, low, max), _tighter(before, high, min)


def _tighter(cursor: Key | None, edge: Key | None, pick: Callable[[Key, Key], Key]) -> Key | None:
    if cursor is None or edge is None:
        return cursor if edge is None else edge
    return pick(cursor, edge)


class Shape(NamedTuple):
    """What a page's statement depends on, besides the values bound into it."""

    field: str
    descending: bool  # the order asked for
    backward: bool  # walking from `before`: the order flipped
    after: bool
    before: bool
    search: bool
    created_after: bool
    created_before: bool
    arms: tuple[tuple[Kind, Status, Origin], ...] | None  # see _arms
    limit: int
    postgres: bool
    days: int = 0  # the days of a created window read one range each (see _spans)
    weeks: int = 0  # its whole weeks read one range each (see _spans)
    grams: int = 0  # the search's grams a page in name order walks, or none (see _grams)
    coarse: tuple[str, tuple[str, ...]] | None = None  # see _coarse


@functools.lru_cache(maxsize=512)
def _page_statement(shape: Shape) -> Any:
    """A page's SELECT, built once per shape with its values as bound parameters: built
    anew, the expression cost about 6% of a page of 50 (py-spy), and SQLAlchemy made its
    cache key again on every run of a new statement object."""
    sort = getattr(Communication, shape.field)
    pk = col(Communication.id)
    key = tuple_(sort, pk)
    hidden = _hides(shape)
    where = _window(
        shape.search,
        shape.created_after,
        shape.created_before,
        only_tested=shape.postgres and bool(shape.days or shape.weeks),
        hidden=hidden,
    )
    window = list(where)
    # On SQLite each row-value bound comes with the same bound on the sort column alone,
    # which the planner can join to a range of the filter's (createdAfter, say): without it,
    # SQLite takes one of the two as the index range and reads the other's rows one by one.
    # PostgreSQL ranges an index on the row value itself, and tests every key on each entry
    # of a leaf page it reads (all of them after the start, whatever the LIMIT): the second
    # bound was one more comparison of names there, and a created window by name at
    # 1,000,000 rows (30 day ranges) took 0.58 ms of the server a page with it, 0.45 without
    edges: dict[bool, tuple[Any, Any]] = {}  # the bound from above (True) and from below
    for bound, is_after in (("after", True), ("before", False)):
        if not (shape.after if is_after else shape.before):
            continue
        columns = COMMUNICATION.c
        value = _given(bindparam(f"{bound}_value", type_=columns[shape.field].type), hidden)
        pk_value = _given(bindparam(f"{bound}_id", type_=columns.id.type), hidden)
        position = tuple_(value, pk_value)
        above = shape.descending == is_after  # a bound from above
        edges[above] = (value, pk_value)
        where.append(key < position if above else key > position)
        if not shape.postgres:
            where.append(sort <= value if above else sort >= value)
    descending = shape.descending != shape.backward  # walking backward flips the order
    c = COMMUNICATION.c
    if shape.grams:  # a search walking its grams (store/grams.py): not quick, as any search
        start, end = edges.get(descending), edges.get(not descending)
        walk = grams.page(shape.grams, window, start, end, descending, shape.limit)
        return reading.kept(walk)
    arms: list[list[ColumnElement[bool]]] | None = None
    if shape.days or shape.weeks:
        arms = [[c.created_day == bindparam(f"day_{n}")] for n in range(shape.days)]
        arms += [[c.created_week == bindparam(f"week_{n}")] for n in range(shape.weeks)]
    elif shape.coarse is not None:
        column, values = shape.coarse  # an enum's names, written in as the facets are
        arms = [[c[column] == literal_column(f"'{value}'")] for value in values]
    elif shape.arms is not None:
        # each a constant of the shape, written in: nothing to bind, and any plan knows it
        arms = [[c.facet == literal_column(str(facet(*arm)))] for arm in shape.arms]
    limit = reading.limit(shape.limit, postgres=shape.postgres)
    statement: Any
    if arms is None and _in_index(shape):
        statement = _found_in_index(where, descending, limit)
    elif arms is None:
        statement = reading.ROWS.where(*where).order_by(*_ordered([sort, pk], descending))
        statement = statement.limit(limit)
    else:
        statement = _merged(arms, where, shape.field, descending, limit, postgres=shape.postgres)
    # quick (`reading.kept`): it walks an index's ranges, one per arm or day, and tests each
    # row it meets; a search may test the whole table's rows before it has a page
    return reading.kept(statement, quick=not shape.search)


def _in_index(shape: Shape) -> bool:
    """Whether a page finds its rows in the index on (updated_at, id), whose entries carry
    the name and deleted_at there (migration 0013), before it reads them: on PostgreSQL, a
    search in updated_at order with no created window (`_hides`). Walking the index,
    PostgreSQL read each row to test the search, and rows in updated_at order lie all over
    the table: a page of 20 of a search one name in nine holds read about 180 rows on as
    many pages at 1,000,000 rows, where at 1,000 the whole table is a few pages, and a rarer
    search read more. Tested on the index's entries, the page reads two or three pages of
    the index and then its 21 rows by id. SQLite tests the name on the entries of any walk
    of the index before it reads a row: there the page is as any other."""
    windowed = shape.created_after or shape.created_before
    return _hides(shape) and shape.field == "updated_at" and not windowed


def _found_in_index(where: list[ColumnElement[bool]], descending: bool, limit: Any) -> Any:
    """The first `limit` rows in updated_at order that `where` admits, tested on the entries
    of the index on (updated_at, id) alone (an index-only scan, see `_in_index`), then read
    by id. An entry on a page that changed since VACUUM last saw it is checked in the table,
    as any index scan checks it."""
    c = COMMUNICATION.c
    found = select(c.id, c.updated_at).where(*where)
    page = found.order_by(*_ordered([c.updated_at, c.id], descending)).limit(limit).subquery()
    joined = reading.ROWS.join(page, c.id == page.c.id)
    return joined.order_by(*_ordered([page.c.updated_at, page.c.id], descending))


def _ordered(columns: list[Any], descending: bool) -> list[Any]:
    """ORDER BY `columns`, each descending or each ascending."""
    return [c.desc() if descending else c.asc() for c in columns]


def _merged(
    arms: list[list[ColumnElement[bool]]],
    where: list[ColumnElement[bool]],
    field: str,
    descending: bool,
    limit: Any,
    *,
    postgres: bool,
) -> Any:
    """The first `limit` rows (`reading.limit`) of the arms' ranges (each the rows its
    conditions admit: see _arms and _spans) merged in order, in one
    UNION ALL that each engine runs as a merge of index walks, each read only as far as the
    merge takes from it: PostgreSQL's Merge Append of one LIMIT per arm; SQLite's MERGE,
    which sorts a LIMITed arm itself but follows the index of a bare one."""
    ranges = [reading.ROWS.where(*arm, *where) for arm in arms]
    ordering = [getattr(Communication, field), col(Communication.id)]
    if len(ranges) == 1:  # a UNION of one would be its own SELECT with two ORDER BYs
        return ranges[0].order_by(*_ordered(ordering, descending)).limit(limit)
    if postgres:  # (SELECT ... LIMIT n) UNION ALL (...): SQLite takes no parentheses there
        ranges = [r.order_by(*_ordered(ordering, descending)).limit(limit) for r in ranges]
    names: list[Any] = [literal_column(field), literal_column("id")]  # the UNION's columns
    merged = union_all(*ranges).order_by(*_ordered(names, descending))
    return merged.limit(limit)  # whole rows, for reading.communications


async def count(store: Store, flt: Filter) -> int:
    _check_window(flt)
    if _kept(flt):
        return sum(n for _kind, _status, n in await _kept_counts(store, flt))
    statement = select(func.count()).select_from(Communication).where(*_where(flt))
    return int((await reading.fetch(store, statement, _window_values(flt)))[0][0])


async def status_counts(store: Store, flt: Filter) -> list[tuple[Kind, Status, int]]:
    """Every (kind, status) the filter admits, zeros included, so dashboard tiles stay put."""
    _check_window(flt)
    if _kept(flt):
        rows = await _kept_counts(store, flt)
    else:
        statement = (
            select(Communication.kind, Communication.status, func.count())
            .where(*_where(flt))
            .group_by(col(Communication.kind), col(Communication.status))
        )
        rows = [tuple(r) for r in await reading.fetch(store, statement, _window_values(flt))]
    found = {(kind, status): n for kind, status, n in rows}
    kinds = flt.kinds if flt.kinds is not None else list(Kind)
    return [
        (kind, status, found.get((kind, status), 0))
        for kind in Kind
        if kind in kinds
        for status in statuses(kind)
        if flt.statuses is None or status in flt.statuses
    ]


def _kept(flt: Filter) -> bool:
    """Whether the counts kept on write (status_count) answer the filter: they are by kind,
    status and origin; a search or a created window is counted from the rows."""
    return not flt.search and flt.created_after is None and flt.created_before is None


async def _kept_counts(store: Store, flt: Filter) -> list[Any]:
    """(kind, status, count) from status_count: the sum of each key's rows (see
    tables.StatusCount), a few hundred at most, whatever the size of the table."""
    c = STATUS_COUNT.c
    where = [
        column.in_(list(values))
        for column, values in (
            (c.kind, flt.kinds),
            (c.status, flt.statuses),
            (c.origin, flt.origins),
        )
        if values is not None
    ]
    statement = select(c.kind, c.status, func.sum(c.n)).where(*where).group_by(c.kind, c.status)
    return [(kind, status, int(n)) for kind, status, n in await reading.fetch(store, statement)]
