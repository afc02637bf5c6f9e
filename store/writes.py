"""The write path's two shared steps: the compare-and-set on a communication's row, used by
status changes, edits and delivery work alike, and the one builder of the history row.

Both run inside the caller's transaction (`store.database.writing`). The compare-and-set
is the transaction's first statement, so it also takes the row (PostgreSQL) or the file
(SQLite) for the rest of the transaction: two writers to one communication never interleave.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, insert, literal_column, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from store.feed import Change, as_change
from store.tables import Communication, StatusEvent

# the writing transaction's id, evaluated inside the INSERT itself: no round trip of its own
_TX = literal_column("pg_current_xact_id()::text::bigint", BigInteger)


async def compare_and_set(
    session: AsyncSession,
    communication_id: int | None,
    *,
    statuses: Collection[str],
    version: int | None = None,
    values: dict[str, Any] | None = None,
) -> Communication | None:
    """Set `values` on the live communication if its status is one of `statuses` (and,
    given, its version is `version`), and return it as it is now; None when the guard
    failed.

    RETURNING hands back the row, so no caller reads it again after writing.
    """
    guard: list[ColumnElement[bool]] = [
        col(Communication.id) == communication_id,
        col(Communication.status).in_(list(statuses)),
        col(Communication.deleted_at).is_(None),
    ]
    if version is not None:  # whoever changed it since it was read wins
        guard.append(col(Communication.version) == version)
    statement = (
        update(Communication)
        .where(*guard)
        # a guarded UPDATE with nothing to change still takes the row: set a column to itself
        .values(**(values or {"version": col(Communication.version)}))
        .returning(Communication)
        .execution_options(synchronize_session=False)
    )
    return (await session.exec(statement)).scalars().one_or_none()


async def record(
    session: AsyncSession,
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
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    statement = (
        insert(StatusEvent)
        .values(**fields, tx=_TX if postgres else 0)
        .returning(col(StatusEvent.seq), col(StatusEvent.tx))
    )
    seq, tx = (await session.exec(statement)).one()
    return as_change(StatusEvent(seq=seq, tx=tx, **fields))
