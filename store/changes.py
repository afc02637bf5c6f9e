"""Status changes: the one function that moves a status, and the reads of what it wrote.

`apply` is a compare-and-set (`UPDATE ... WHERE id = ? AND status = ? AND version = ?`)
that writes the history/outbox row in the same transaction and publishes after commit,
so two conflicting actions can never both win.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Executable,
    Integer,
    and_,
    bindparam,
    func,
    literal,
    text,
    tuple_,
)
from sqlalchemy import (
    column as sql_column,
)
from sqlmodel import col, select

from store import Store, audience, reading
from store.communications import get
from store.database import HORIZON, alone, on_postgresql, write
from store.errors import ErrorCode, Refused, invalid, not_found, version_conflict
from store.feed import Change, as_change
from store.lifecycle import (
    FAMILY,
    WORK,
    Action,
    Family,
    Kind,
    Origin,
    Status,
    Trigger,
    Work,
    check,
    statuses,
)
from store.tables import Communication, StatusEvent, utcnow
from store.writes import EVENT, Arm, compare_and_set, move_alone, read, record, run

ATTEMPTS = 5
NOT_SENT = (Action.STOP, Action.FAIL)  # moves that make recipients NOT_SENT: several statements
REASON_MAX = 1_000
DUE_BATCH = 500


@dataclass(frozen=True)
class StopCounts:
    not_sent_now: int
    already_sent: int
    total: int


async def apply(
    store: Store,
    communication_id: int | None,
    action: Action,
    *,
    by: Trigger,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> Communication:
    """Perform `action`, or raise `Refused` with nothing written.

    A lost compare-and-set is retried only while the status is the one first read (a
    concurrent edit of a DRAFT, say); if another action changed the status, it won.
    """
    row, _ = await _apply(
        store,
        communication_id,
        action,
        by=by,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        start_at=start_at,
        end_at=end_at,
    )
    return row


async def stop(
    store: Store,
    communication_id: int | None,
    *,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
    dry_run: bool = False,
) -> tuple[Communication, StopCounts]:
    """Stop, and say what it did to the recipients; a dry run checks and counts only."""
    row, not_sent_now = await _apply(
        store,
        communication_id,
        Action.STOP,
        by=Trigger.PERSON,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        dry_run=dry_run,
    )
    if dry_run:
        not_sent_now = row.pending_count + row.handed_off_count
    summary = StopCounts(not_sent_now, already_sent=row.sent_count, total=row.audience_size or 0)
    return row, summary


async def _apply(
    store: Store,
    communication_id: int | None,
    action: Action,
    *,
    by: Trigger,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    dry_run: bool = False,
) -> tuple[Communication, int]:
    """The row after `action`, and how many recipients it made NOT_SENT.

    The row is read, checked and moved in one write (store.database.write): on SQLite, in
    the writer's turn, where nobody else can move it in between, with no trip of its own;
    on PostgreSQL the compare-and-set still guards against a move since the read."""
    reason = _check_reason(action, reason)
    seen: list[tuple[str, int | None]] = []  # the status (and version) each attempt read

    def plan(row: Communication | None) -> tuple[Communication, Status, datetime, dict[str, Any]]:
        if row is None or row.deleted_at is not None:
            raise not_found(communication_id)
        if seen and row.status != seen[0][0]:
            raise moved_meanwhile(action, seen[0][0], row)
        seen.append((row.status, row.version))
        now = utcnow()
        values = _values(action, FAMILY[Kind(row.kind)], now, start_at, end_at, reason)
        if expected_version is not None and expected_version != row.version:
            raise version_conflict(row.version, expected_version)
        return row, _target(row, action, by), now, values

    if dry_run:
        row, *_ = plan(await get(store, communication_id))
        return row, 0

    if communication_id is not None and alone(store.sessions) and action not in NOT_SENT:
        moved = await _move_alone(
            store, communication_id, action, by, actor, reason, expected_version, start_at, end_at
        )
        if isinstance(moved, tuple):
            await store.feed.publish(moved[1])
            return moved[0], 0
        if moved is not None:  # it did not move: the steps below say why, or move it
            seen.append((moved, None))

    def move(connection: Connection) -> tuple[Communication, Change, int] | None:
        row, target, now, values = plan(
            None if communication_id is None else read(connection, communication_id)
        )
        return _move(connection, row, action, target, actor, reason, now, values)

    for _ in range(ATTEMPTS):
        done = await write(store.sessions, move)
        if done is not None:
            after, change, not_sent = done
            await store.feed.publish(change)
            return after, not_sent
    raise version_conflict(seen[-1][1] or 0, expected_version)


async def _move_alone(
    store: Store,
    communication_id: int,
    action: Action,
    by: Trigger,
    actor: str,
    reason: str | None,
    expected_version: int | None,
    start_at: datetime | None,
    end_at: datetime | None,
) -> tuple[Communication, Change] | str | None:
    """`action` in one statement (store/writes.py `move_alone`): the row and its change;
    else the status it had, or None, for the steps of `_apply` to say why. Columns that
    change with the status come from `_values`, per family; input it refuses is left to
    those steps, which refuse it in their order."""
    arms = _arms(action, by)
    if not arms:
        return None
    now = utcnow()
    values: dict[str, tuple[frozenset[str], Any]] = {}
    for kinds, _, _ in arms:
        for kind in kinds:
            try:
                columns = _values(action, FAMILY[Kind(kind)], now, start_at, end_at, reason)
            except Refused:
                return None
            for column, value in columns.items():
                known = values.get(column, (frozenset(), value))
                assert known[1] == value  # a column's value is the same for every kind
                values[column] = (known[0] | {kind}, value)

    return await move_alone(
        store,
        communication_id,
        arms,
        values=values,
        version=expected_version,
        action=action,
        actor=actor,
        at=now,
        reason=reason,
    )


@cache
def _arms(action: Action, by: Trigger) -> tuple[Arm, ...]:
    """Where `action` by `by` moves a communication, as `move_alone` guards it: the kinds
    that move from the same statuses to the same status, each asked of `check`. Empty when
    the origin decides too (stop): `check` alone says so, in the stepwise way."""
    found: dict[tuple[frozenset[str], str], set[str]] = {}
    for kind in Kind:
        sources: set[str] = set()
        to: Status | None = None
        for status in statuses(kind):
            targets = {check(kind, origin, status, action, by) for origin in Origin}
            if len(targets) > 1:
                return ()
            (target,) = targets
            if isinstance(target, Status):
                assert to in (None, target)  # one action moves one kind to one status
                sources.add(status)
                to = target
        if to is not None:
            found.setdefault((frozenset(sources), to), set()).add(kind)
    return tuple((frozenset(k), f, t) for (f, t), k in sorted(found.items(), key=str))


def _check_reason(action: Action, reason: str | None) -> str | None:
    reason = reason.strip() or None if reason is not None else None
    if reason is not None and len(reason) > REASON_MAX:
        raise invalid("reason", f"reason is longer than {REASON_MAX} characters")
    if action is Action.FAIL and reason is None:
        raise invalid("reason", "a failure needs a reason")
    return reason


def moved_meanwhile(action: Action, seen: str, row: Communication) -> Refused:
    """Someone else changed the status while this action was applied: they won."""
    return Refused(
        ErrorCode.VERSION_CONFLICT,
        f"the communication went from {seen} to {row.status} while {action} was applied; "
        "nothing was done",
        ["expectedVersion"],
    )


def _target(row: Communication, action: Action, by: Trigger) -> Status:
    kind, status = Kind(row.kind), Status(row.status)
    target = check(kind, Origin(row.origin), status, action, by)
    if target is ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION:
        raise Refused(
            ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION,
            "stop is not available for communications sent through Automation",
        )
    if isinstance(target, ErrorCode):
        raise Refused(
            ErrorCode.INVALID_TRANSITION,
            f"{action} is not possible for a {status} {kind} communication",
        )
    return target


def _values(
    action: Action,
    family: Family,
    now: datetime,
    start_at: datetime | None,
    end_at: datetime | None,
    reason: str | None,
) -> dict[str, Any]:
    """Columns that change with the status, checked before anything is written."""
    values: dict[str, Any] = {}
    if action is Action.SCHEDULE:
        if start_at is None:
            raise invalid("startAt", "startAt is required to schedule")
        for name, value in (("startAt", start_at), ("endAt", end_at)):
            if value is not None and value.tzinfo is None:
                raise invalid(name, f"{name} needs a UTC offset, e.g. 2026-01-01T09:00:00Z")
        if start_at <= now:
            raise invalid("startAt", "startAt must be in the future")
        if end_at is not None and end_at <= start_at:
            raise invalid("endAt", "endAt must be after startAt")
        values.update(start_at=start_at, end_at=end_at)
    if action in (Action.STOP, Action.FAIL):
        values["status_reason"] = reason
    if family is Family.MESSAGE and action in (Action.LAUNCH, Action.START):
        values["progress_at"] = now
    return values


def _move(
    connection: Connection,
    row: Communication,
    action: Action,
    target: Status,
    actor: str,
    reason: str | None,
    now: datetime,
    values: dict[str, Any],
) -> tuple[Communication, Change, int] | None:
    """The row after the move, its change and how many recipients became NOT_SENT; None
    when someone else changed the row since it was read. Two statements for a move (the
    UPDATE returns the row, the INSERT its stream position), more for a stop."""
    assert row.id is not None
    after = compare_and_set(
        connection,
        row.id,
        statuses=[row.status],
        version=row.version,
        values={"status": target, "version": row.version + 1, "updated_at": now, **values},
    )
    if after is None:
        return None
    not_sent = 0
    if action in NOT_SENT:
        info = f"stopped by {actor}" if action is Action.STOP else f"failed: {reason}"
        if action is Action.STOP and reason:
            info += f": {reason}"
        not_sent = audience.mark_not_sent(connection, after, info, now)
        after = read(connection, row.id)  # the counters it moved
        assert after is not None
    change = record(connection, after, action, row.status, actor=actor, at=now, reason=reason)
    return after, change, not_sent


async def get_any(store: Store, communication_id: int) -> Communication:
    async with store.sessions() as session:
        row = await run(session, lambda connection: read(connection, communication_id))
    assert row is not None
    return row


# Reading what apply wrote


Position = tuple[int, int]  # (tx, seq): the stream's order


def after_position(tx: Any, seq: Any, *, postgresql: bool) -> ColumnElement[bool]:
    """The changes after the position (tx, seq), as each engine walks it in the (tx, seq)
    index from that position. PostgreSQL compares the row value in the index. SQLite's
    planner takes only a row value's first column as its range (`(tx>?)`), then tests every
    change from there: each read of the stream tested every change ever written, 590 us a
    read at 20,000 changes in `bench.writes` and growing with the table. There tx is always
    0 (writes are serial: store/writes.py), so the changes after a position are those of
    its tx with a greater seq: one index range, `(tx=? AND seq>?)`."""
    if postgresql:
        return tuple_(EVENT.c.tx, EVENT.c.seq) > tuple_(tx, seq)
    return and_(EVENT.c.tx == tx, EVENT.c.seq > seq)


# The stream's reads, one statement each (store/reading.py: one trip, no Session, no BEGIN
# and ROLLBACK; made once, so on PostgreSQL sent to asyncpg directly). On PostgreSQL the
# horizon comes from the same statement's snapshot (store/database.py HORIZON).
_AFTER = {"tx": bindparam("tx", type_=BigInteger), "seq": bindparam("seq", type_=Integer)}
_PAGE = {**_AFTER, "limit": bindparam("limit", type_=Integer)}
_EVENT = ", ".join(f"page.{c.name}" for c in EVENT.c)
_READS: dict[str, tuple[Executable, Executable]] = {
    "postgresql": (
        reading.kept(
            text(
                f"""WITH {HORIZON}
                SELECT tx, seq FROM status_event, horizon WHERE tx < horizon.below
                ORDER BY tx DESC, seq DESC LIMIT 1"""
            ).columns(sql_column("tx", BigInteger), sql_column("seq", Integer))
        ),
        reading.kept(
            text(
                f"""WITH {HORIZON}
                SELECT EXISTS (SELECT FROM status_event WHERE (tx, seq) > (:tx, :seq)
                               AND tx >= horizon.below) AS waiting, {_EVENT}
                FROM horizon LEFT JOIN LATERAL (
                    SELECT * FROM status_event WHERE (tx, seq) > (:tx, :seq)
                    AND tx < horizon.below ORDER BY tx, seq LIMIT :limit
                ) AS page ON true"""
            )
            .bindparams(*_PAGE.values())
            .columns(sql_column("waiting", Boolean), *(sql_column(c.name, c.type) for c in EVENT.c))
        ),
    ),
    # writes are serial and tx is 0: plain seq order, nothing waits. Both walk the (tx, seq)
    # index for at most a page, so they run on the event loop's thread (`reading.kept`):
    # the tail reads once for every change written
    "sqlite": (
        reading.kept(
            select(EVENT.c.tx, EVENT.c.seq)
            .order_by(EVENT.c.tx.desc(), EVENT.c.seq.desc())
            .limit(1),
            quick=True,
        ),
        reading.kept(
            select(literal(False).label("waiting"), *EVENT.c)
            .where(after_position(*_AFTER.values(), postgresql=False))
            .order_by(EVENT.c.tx, EVENT.c.seq)
            .limit(_PAGE["limit"]),
            quick=True,
        ),
    ),
}
_FIELDS = tuple(c.name for c in EVENT.c)
_SEQ = 1 + _FIELDS.index("seq")  # None only in the row of a page with no change


def _reads(store: Store) -> tuple[Executable, Executable]:
    return _READS["postgresql" if on_postgresql(store.sessions) else "sqlite"]


async def head(store: Store) -> Position:
    """The position of the newest change a reader may rely on, (0, 0) when there is none."""
    found = await reading.fetch(store, _reads(store)[0])
    return (found[0][0], found[0][1] or 0) if found else (0, 0)


async def changes_after(
    store: Store, after: Position, *, limit: int = 500
) -> tuple[list[Change], bool]:
    """The changes after `after` in stream order, and whether newer committed ones wait.

    Sequence numbers are handed out when a change is written, so on PostgreSQL two
    transactions can commit out of sequence order and a reader that went by `seq` alone
    could pass a change that commits later with a smaller number. So the stream is ordered
    by (tx, seq), where tx is the writing transaction's id, and a reader only reads changes
    below the horizon: the oldest transaction of this database still running when the
    read's snapshot was taken (see store.database.HORIZON). No change can ever appear below
    the horizon later, so a position once passed stays passed. The second value says that
    changes beyond the horizon exist: read again shortly. One statement, one round trip:
    the horizon, the page below it and whether changes wait beyond it, all read with one
    snapshot. On SQLite writes are serial and tx is always 0, so this is plain `seq` order.
    """
    found = await reading.fetch(
        store, _reads(store)[1], {"tx": after[0], "seq": after[1], "limit": limit}
    )
    rows = [
        Change(**dict(zip(_FIELDS, row[1:], strict=True))) for row in found if row[_SEQ] is not None
    ]
    waiting = bool(found) and bool(found[0][0])
    return rows, waiting and len(rows) < limit


async def history(
    store: Store, communication_id: int, *, after: int, first: int
) -> tuple[list[Change], bool]:
    """A communication's changes, oldest first, and whether there are more."""
    statement = (
        select(StatusEvent)
        .where(col(StatusEvent.communication_id) == communication_id, col(StatusEvent.seq) > after)
        .order_by(col(StatusEvent.seq))
        .limit(first + 1)
    )
    async with store.sessions() as session:
        rows = [as_change(row) for row in await session.exec(statement)]
    return rows[:first], len(rows) > first


# Work for the scheduler and the sender


async def due_to_start(store: Store, now: datetime, limit: int = DUE_BATCH) -> Sequence[int]:
    return await _ids(
        store,
        col(Communication.status) == Status.SCHEDULED,
        col(Communication.start_at) <= now,
        limit=limit,
    )


async def due_to_finish(store: Store, now: datetime, limit: int = DUE_BATCH) -> Sequence[int]:
    return await _ids(
        store,
        col(Communication.status).in_([Status.SENDING, Status.ACTIVE, Status.PAUSED]),
        col(Communication.end_at) <= now,
        limit=limit,
    )


async def next_due(store: Store) -> datetime | None:
    """The earliest start or end the scheduler will have to act on."""
    starts = select(func.min(Communication.start_at)).where(
        col(Communication.status) == Status.SCHEDULED, col(Communication.deleted_at).is_(None)
    )
    ends = select(func.min(Communication.end_at)).where(
        col(Communication.status).in_([Status.SENDING, Status.ACTIVE, Status.PAUSED])
    )
    async with store.sessions() as session:
        times = [(await session.exec(q)).one() for q in (starts, ends)]
    found = [t for t in times if t is not None]
    return min(found) if found else None


async def sending(store: Store) -> list[Communication]:
    """Campaigns whose recipients wait for a sender: SENDING, or FINISHED with some PENDING
    again (their worker died holding the last batch)."""
    statement = select(Communication).where(
        col(Communication.status).in_(WORK[Work.CLAIM]),
        (col(Communication.status) == Status.SENDING) | (col(Communication.pending_count) > 0),
    )
    async with store.sessions() as session:
        return list(await session.exec(statement))


async def _ids(store: Store, *where: Any, limit: int) -> Sequence[int]:
    statement = (
        select(Communication.id)
        .where(*where, col(Communication.deleted_at).is_(None))
        .order_by(col(Communication.id))
        .limit(limit)
    )
    async with store.sessions() as session:
        return [i for i in await session.exec(statement) if i is not None]
