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

All run inside the caller's transaction. The compare-and-set takes the row (PostgreSQL)
for the rest of the transaction, and on SQLite the transaction holds the file from its
start: two writers to one communication never interleave.
"""

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Table, bindparam, insert, literal_column, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import configure_mappers
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession

from store.feed import Change
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
_GET = select(*_ALL).where(COMMUNICATION.c.id == bindparam("w_id"))
_INSERT = insert(COMMUNICATION).returning(*_ALL)
_RECORD = {
    "postgresql": insert(EVENT).values(tx=_TX).returning(EVENT.c.seq, EVENT.c.tx),
    "sqlite": insert(EVENT).values(tx=0).returning(EVENT.c.seq, EVENT.c.tx),
}


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
    bound |= {"w_id": communication_id}
    bound |= {"w_status": statuses[0]} if one else {"w_statuses": statuses}
    if version is not None:
        bound["w_version"] = version
    found = connection.execute(statement, bound).mappings().first()
    return None if found is None else filled(found)


def read(connection: Connection, communication_id: int) -> Communication | None:
    """The row as it is, deleted or not."""
    found = connection.execute(_GET, {"w_id": communication_id}).mappings().first()
    return None if found is None else filled(found)


def insert_row(connection: Connection, values: dict[str, Any]) -> Communication:
    """A new communication with these columns (the others take their defaults)."""
    return filled(connection.execute(_INSERT, values).mappings().one())


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
    statement = _RECORD[connection.dialect.name]
    seq, tx = connection.execute(statement, fields).one()
    return Change(tx=tx, seq=seq, **fields)
