"""The write path's shared steps: the compare-and-set on a communication's row, used by
status changes, edits and delivery work alike; the one builder of the history row; and the
INSERT of a new communication.

Each is one Core statement built once at import, with its values bound at execution, so
SQLAlchemy compiles it once per shape and reuses it from its statement cache; the ORM's
unit of work and bulk-update paths (which cost several times the statement itself) stay
out of the way. Rows come back through RETURNING, so nothing is read again after writing.

The steps are plain functions of a synchronous `Connection`, so that a whole write can run
in one go where its database is: on SQLite in the writer's thread, several writes to one
commit (`store.database.write`); on PostgreSQL through `run_sync`. Async code in the middle
of a transaction of its own calls them through `run`.

On PostgreSQL a status change that marks no recipient, and a create with no audience,
are one statement each (`move_alone`, `insert_alone`): the row read, the compare-and-set
and the history row in one `UPDATE ... RETURNING` with CTEs, run in no transaction of its
own, as a read runs (`reading.fetch`, on asyncpg itself), so one round trip where there
were five, and no connection held between trips. SQLite cannot put an UPDATE in a CTE,
and has no round trips to save: its writer's thread runs the steps one after another.

All but those run inside the caller's transaction. The compare-and-set takes the row (PostgreSQL)
for the rest of the transaction, and on SQLite the transaction holds the file from its
start: two writers to one communication never interleave.
"""

import functools
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    case,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import configure_mappers
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession

from store import Store, reading
from store.feed import Change
from store.reading import kept
from store.tables import COLUMNS, COMMUNICATION, Communication, StatusEvent, filled

T = TypeVar("T")

# rows are built without a query (`tables.filled`), and their attributes work once the
# mappers are configured, which a query would otherwise have done on first use
configure_mappers()

EVENT: Table = StatusEvent.__table__  # type: ignore[attr-defined]
_ALL = COLUMNS  # a whole row, as the model has it

# the writing transaction's id, evaluated inside the INSERT itself: no round trip of its own
_TX = literal_column("pg_current_xact_id()::text::bigint", BigInteger)


def _guarded(versioned: bool, touch: bool, one: bool) -> Any:
    """UPDATE the live row `w_id` while its status is in `w_statuses`, or with `one` is
    `w_status` (and, `versioned`, its version is `w_version`); the columns set are the
    execution's other parameters, or with `touch` the version set to itself: a guarded
    UPDATE with nothing to change still takes the row. (An IN list is written into the
    statement at each execution; an equality is compiled once, and most guards name one
    status.)"""
    c = COMMUNICATION.c
    status = (
        c.status == bindparam("w_status")
        if one
        else c.status.in_(bindparam("w_statuses", expanding=True))
    )
    guard = [c.id == bindparam("w_id"), status, c.deleted_at.is_(None)]
    if versioned:  # whoever changed it since it was read wins
        guard.append(c.version == bindparam("w_version"))
    statement = update(COMMUNICATION).where(*guard)
    if touch:
        statement = statement.values(version=c.version)
    return statement.returning(*_ALL)


_COMPARE_AND_SET = {
    (v, t, o): _guarded(v, t, o)
    for v in (False, True)
    for t in (False, True)
    for o in (False, True)
}
_GET = kept(select(*_ALL).where(COMMUNICATION.c.id == bindparam("w_id")))
_INSERT = insert(COMMUNICATION).returning(*_ALL)
_RECORD = {
    "postgresql": insert(EVENT).values(tx=_TX).returning(EVENT.c.seq, EVENT.c.tx),
    "sqlite": insert(EVENT).values(tx=0).returning(EVENT.c.seq, EVENT.c.tx),
}


@functools.cache
def _setting(statement: Any, keys: tuple[str, ...]) -> Any:
    """`statement` (an INSERT or a guarded UPDATE) setting these columns, each from the
    execution's value `s_<column>`, kept: one per shape, compiled once, where the columns
    named by the values themselves made SQLAlchemy build the statement's shape per call."""
    c = statement.table.c
    return kept(statement.values({k: bindparam(f"s_{k}", type_=c[k].type) for k in keys}))


def _set(values: dict[str, Any]) -> dict[str, Any]:
    return {f"s_{k}": v for k, v in values.items()}


async def run(session: AsyncSession, step: Callable[[Connection], T]) -> T:
    """A step of the write path inside an async session's transaction."""
    return await session.run_sync(lambda synchronous: step(synchronous.connection()))


def compare_and_set(
    connection: Connection,
    communication_id: int | None,
    *,
    statuses: Collection[str],
    version: int | None = None,
    values: dict[str, Any] | None = None,
) -> Communication | None:
    """Set `values` on the live communication if its status is one of `statuses` (and,
    given, its version is `version`), and return it as it is now; None when the guard
    failed. A value may be an expression of the row's columns (`version + 1`)."""
    values = values or {}
    statuses = list(statuses)
    one = len(statuses) == 1
    statement = _COMPARE_AND_SET[version is not None, not values, one]
    # a value computed from the row (`version + 1`) goes in the statement, the rest is bound
    computed = {k: v for k, v in values.items() if isinstance(v, ClauseElement)}
    if computed:
        statement = statement.values(**computed)
        bound = {k: v for k, v in values.items() if k not in computed}
    else:
        statement = _setting(statement, tuple(values)) if values else statement
        bound = _set(values)
    bound |= {"w_id": communication_id}
    bound |= {"w_status": statuses[0]} if one else {"w_statuses": statuses}
    if version is not None:
        bound["w_version"] = version
    return _row(reading.execute(connection, statement, bound))


def _row(rows: Any) -> Communication | None:
    return filled(zip(reading.COLUMNS, rows[0], strict=True)) if rows else None


def read(connection: Connection, communication_id: int) -> Communication | None:
    """The row as it is, deleted or not."""
    return _row(reading.execute(connection, _GET, {"w_id": communication_id}))


def insert_row(connection: Connection, values: dict[str, Any]) -> Communication:
    """A new communication with these columns (the others take their defaults)."""
    # the columns' defaults, named: one statement for every create, kept (store.reading)
    given = {**_DEFAULTS, **values}
    statement = _setting(_INSERT, tuple(sorted(given)))
    row = _row(reading.execute(connection, statement, _set(given)))
    assert row is not None
    return row


def record(
    connection: Connection,
    row: Communication,
    action: str,
    from_status: str | None,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
) -> Change:
    """Write the history row of a change that left `row` as it is now (None as `from_status`
    for a create), in one INSERT that returns its place in the stream."""
    assert row.id is not None
    fields: dict[str, Any] = {
        "communication_id": row.id,
        "kind": row.kind,
        "action": action,
        "from_status": from_status,
        "to_status": row.status,
        "actor": actor,
        "reason": reason,
        "version": row.version,
        "at": at,
    }
    statement = _setting(_RECORD[connection.dialect.name], tuple(fields))
    ((seq, tx),) = reading.execute(connection, statement, _set(fields))
    return Change(tx=tx, seq=seq, **fields)


# A status change in one statement, on PostgreSQL: its own transaction (autocommit, so no
# BEGIN and no COMMIT go over the wire either), one round trip where the read, the
# compare-and-set and the history row were five.

_EVENT_COLUMNS = [
    *("communication_id", "kind", "action", "from_status", "to_status"),
    *("actor", "reason", "version", "at", "tx"),
]
Arm = tuple[frozenset[str], frozenset[str], str]  # these kinds, from these statuses, to this
Sets = tuple[tuple[str, frozenset[str]], ...]  # a column, and the kinds it is set for


def _constants(values: Collection[str]) -> list[Any]:
    """Names from the lifecycle (no quote in any), written into the statement: it is
    compiled once, where a bound IN list is expanded at each execution."""
    return [literal_column(f"'{v}'") for v in sorted(values)]


def _moving(arms: tuple[Arm, ...], sets: Sets, versioned: bool) -> Any:
    """The statement `move_alone` runs for one action: the row as it was (`prev`), moved
    by the compare-and-set if its kind and status are one of `arms` and its version is
    still the one read (`moved`), and the history row of the move (`event`); a row with
    `seen_status` alone when the row is there but did not move."""
    c = COMMUNICATION.c
    now = bindparam("w_now", type_=c.updated_at.type)
    prev = (
        select(c.id, c.status, c.version)
        .where(c.id == bindparam("w_id"), c.deleted_at.is_(None))
        .cte("prev")
    )
    arm = [and_(c.kind.in_(_constants(k)), c.status.in_(_constants(f))) for k, f, _ in arms]
    target = case(*((c.kind.in_(_constants(k)), literal_column(f"'{t}'")) for k, _, t in arms))
    guard = [c.id == prev.c.id, c.version == prev.c.version, or_(*arm)]
    if versioned:
        guard.append(c.version == bindparam("w_version"))
    values: dict[str, Any] = {"status": target, "version": c.version + 1, "updated_at": now}
    for column, kinds in sets:
        value = bindparam(f"v_{column}", type_=c[column].type)
        every = set().union(*(k for k, _, _ in arms))
        values[column] = (
            value
            if kinds >= every
            else case((c.kind.in_(_constants(kinds)), value), else_=c[column])
        )
    moved = (
        update(COMMUNICATION)
        .where(*guard)
        .values(values)
        .returning(*_ALL, prev.c.status.label("w_from"))
        .cte("moved")
    )
    event = _recorded(moved, moved.c.w_from)
    columns = [moved.c[column.name] for column in _ALL]
    return select(
        prev.c.status.label("seen_status"), *columns, event.c.seq, event.c.tx
    ).select_from(prev.outerjoin(moved, true()).outerjoin(event, true()))


def _recorded(source: Any, from_status: Any) -> Any:
    """The history row of the row `source` returns, as a CTE returning its place."""
    e = EVENT.c
    return (
        insert(EVENT)
        .from_select(
            _EVENT_COLUMNS,
            select(
                source.c.id,
                source.c.kind,
                bindparam("e_action", type_=e.action.type),
                from_status,
                source.c.status,
                bindparam("e_actor", type_=e.actor.type),
                bindparam("e_reason", type_=e.reason.type),
                source.c.version,
                bindparam("e_at", type_=e.at.type),
                _TX,
            ),
        )
        .returning(e.seq, e.tx)
        .cte("event")
    )


def _change(
    seq: int,
    tx: int,
    row: Communication,
    action: str,
    from_status: str | None,
    actor: str,
    reason: str | None,
    at: datetime,
) -> Change:
    assert row.id is not None
    return Change(
        tx=tx,
        seq=seq,
        communication_id=row.id,
        kind=row.kind,
        action=action,
        from_status=from_status,
        to_status=row.status,
        actor=actor,
        reason=reason,
        version=row.version,
        at=at,
    )


_MOVING: dict[tuple[tuple[Arm, ...], Sets, bool], Any] = {}


async def move_alone(
    store: Store,
    communication_id: int,
    arms: tuple[Arm, ...],
    *,
    values: dict[str, tuple[frozenset[str], Any]],
    version: int | None,
    action: str,
    actor: str,
    at: datetime,
    reason: str | None = None,
) -> tuple[Communication, Change] | str | None:
    """Move the live communication by the first of `arms` that its kind and status match
    (and, given, while its version is `version`), setting `values` (each for the kinds
    named with it) as well as the status, version and `updated_at`, and write its history
    row, in one statement (PostgreSQL). The row and its change; else the status it had
    when it did not move, or None when there is no such live communication."""
    sets = tuple(sorted((column, kinds) for column, (kinds, _) in values.items()))
    key = (arms, sets, version is not None)
    statement = _MOVING.get(key)
    if statement is None:
        statement = _MOVING[key] = kept(_moving(arms, sets, version is not None))
    bound: dict[str, Any] = {f"v_{column}": value for column, (_, value) in values.items()}
    bound |= {"w_id": communication_id, "w_now": at, "w_version": version}
    bound |= {"e_action": action, "e_actor": actor, "e_reason": reason, "e_at": at}
    found = await _alone(store, statement, bound)
    if found is None:
        return None
    seen, *columns, seq, tx = found
    if seq is None:
        return str(seen)
    row = filled(zip(reading.COLUMNS, columns, strict=True))
    return row, _change(seq, tx, row, action, seen, actor, reason, at)


async def _alone(store: Store, statement: Any, values: dict[str, Any]) -> Sequence[Any] | None:
    """The one row of a statement that is a whole write, run as a read is
    (`reading.fetch`): in no transaction of its own, no BEGIN and no COMMIT, so one round
    trip; and, kept, on asyncpg itself, where SQLAlchemy's async layer cost about a seventh
    of a PostgreSQL transition (py-spy --gil)."""
    rows = await reading.fetch(store, statement, values)
    return rows[0] if rows else None


def _inserting(columns: tuple[str, ...]) -> Any:
    """`insert_alone`'s statement for these columns."""
    c = COMMUNICATION.c
    values = {name: bindparam(f"c_{name}", type_=c[name].type) for name in columns}
    made = insert(COMMUNICATION).values(values).returning(*_ALL).cte("made")
    event = _recorded(made, null())
    every = [made.c[column.name] for column in _ALL]
    return kept(select(*every, event.c.seq, event.c.tx).select_from(made.join(event, true())))


_INSERTING: dict[tuple[str, ...], Any] = {}
_DEFAULTS: dict[str, Any] = {
    column.name: column.default.arg  # type: ignore[attr-defined]
    for column in _ALL
    if column.default is not None and column.default.is_scalar
}


async def insert_alone(
    store: Store, values: dict[str, Any], *, action: str, actor: str, at: datetime
) -> tuple[Communication, Change]:
    """A new communication with these columns and its history row, in one statement
    (PostgreSQL): `insert_row` and `record` at once."""
    # the columns' defaults, which SQLAlchemy fills in for an INSERT of its own only
    values = {**_DEFAULTS, **values}
    columns = tuple(sorted(values))
    statement = _INSERTING.get(columns)
    if statement is None:
        statement = _INSERTING[columns] = _inserting(columns)
    bound = {f"c_{name}": value for name, value in values.items()}
    bound |= {"e_action": action, "e_actor": actor, "e_reason": None, "e_at": at}
    found = await _alone(store, statement, bound)
    assert found is not None
    *columns_, seq, tx = found
    row = filled(zip(reading.COLUMNS, columns_, strict=True))
    return row, _change(seq, tx, row, action, None, actor, None, at)
