"""Plain functions that make communications through the store's own API.

What a kind needs on create comes from its spec in store/kinds.py, so a new kind gets a
factory without an edit here.
"""

from typing import Any

from sqlalchemy import TextClause, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from store import Store, changes, communications, reading
from store.kinds import SLUG, SPECS, Family
from store.lifecycle import Kind, Origin
from store.tables import Communication, StatusEvent

# every field a create must give, as a plain text; the slug (a pattern, and unique) is made
# per call in `create`
CONTENT: dict[Kind, dict[str, Any]] = {
    kind: {rule.name: "Hello" for rule in spec.fields if rule.required and rule.pattern is None}
    for kind, spec in SPECS.items()
}
_MESSAGES = {kind for kind, spec in SPECS.items() if spec.family is Family.MESSAGE}


async def create(
    store: Store,
    kind: Kind = Kind.EMAIL,
    *,
    name: str = "Example",
    origin: Origin = Origin.CAMPAIGN,
    audience_size: int | None = None,
    **content: Any,
) -> Communication:
    values = {**CONTENT[kind], **content}
    if any(rule.pattern is SLUG for rule in SPECS[kind].fields):
        values.setdefault("slug", f"page-{_next()}")
    size = audience_size if audience_size is not None else (10 if kind in _MESSAGES else None)
    return await communications.create(
        store, kind, name=name, origin=origin, content=values, audience_size=size, actor="test"
    )


_counter = iter(range(1, 1_000_000))


def _next() -> int:
    return next(_counter)


def engine_of(store: Store) -> AsyncEngine:
    """The engine under a store's sessions, to read what the database has committed."""
    engine: AsyncEngine = store.sessions.kw["bind"]
    return engine


async def snapshot(store: Store, communication_id: int | None) -> tuple[dict[str, Any], int]:
    """The whole stored row (deleted or not) and how many history rows it has."""
    assert communication_id is not None
    row = await changes.get_any(store, communication_id)
    events, more = await changes.history(store, communication_id, after=0, first=1_000)
    assert not more
    return row.model_dump(), len(events)


async def totals(store: Store) -> tuple[int, tuple[int, int]]:
    """How many live communications there are, and how many history rows with the newest
    `seq`, read from the table itself. Not `changes.head`: that stops below the oldest
    transaction still running anywhere on the server (the stream's horizon), so on
    PostgreSQL it moved on between two readings when another test's transaction ended, with
    nothing written here (seen twice under pytest -n 2)."""
    (count, newest), *_ = await reading.fetch(store, _HISTORY)
    return await communications.count(store, communications.Filter()), (count, newest or 0)


_HISTORY = select(func.count(), func.max(StatusEvent.seq))


def inserted(
    kind: str,
    origin: str,
    status: str,
    name: str,
    moment: str,
    deleted: str = "NULL",
    rows: str = "",
) -> TextClause:
    """An INSERT of communications by SQL alone, past the store, as another writer or a bulk
    load writes them: each argument an SQL expression (created_at and updated_at both
    `moment`), version 1, empty content, every counter 0; `rows` a FROM clause the
    expressions may read, for many rows (one row without it)."""
    return text(
        "INSERT INTO communication (kind, origin, status, name, version, created_at, updated_at, "
        "content, synthetic_audience, pending_count, handed_off_count, sent_count, not_sent_count, "
        "shown_count, clicked_count, delivered_count, deferred_count, opened_count, bounced_count, "
        "complained_count, unsubscribed_count, deleted_at) "
        f"SELECT {kind}, {origin}, {status}, {name}, 1, {moment}, {moment}, '{{}}', false, "
        f"0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {deleted} {rows}"
    )
