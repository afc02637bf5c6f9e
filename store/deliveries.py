"""Recipients and what happens to them: claims by workers, reports, stops, display events.

A recipient moves PENDING -> HANDED_OFF -> SENT or NOT_SENT and never back from a final
outcome; an expired lease puts a HANDED_OFF one back to PENDING while its campaign is
SENDING or FINISHED (`WORK` in store/lifecycle.py says what happens in which status).
Every write here first takes the communication's row (a guarded UPDATE on it), so claims,
reports and stops of one campaign are serialised on SQLite and PostgreSQL alike, and the
counters on the row move in the same transaction as the recipients.
"""

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import Store, audience, changes
from store.audience import ID_MAX, NOT_SENT_EVENT, SENT_EVENT, Delivery
from store.communications import get
from store.errors import ErrorCode, Refused, invalid
from store.feed import Touch
from store.lifecycle import FAMILY, WORK, Action, Family, Kind, Role, Status, Work
from store.tables import Communication, DeliveryEvent, Recipient, utcnow

REPORT_MAX = 1_000  # results per reportDeliveries call, events per recordDisplayEvents call
CLAIM_MAX = 1_000
INFO_MAX = 1_000


class Display(StrEnum):
    SHOW = "SHOW"
    CLICK = "CLICK"


UNFINISHED = (Delivery.PENDING, Delivery.HANDED_OFF)
FINAL = (Delivery.SENT, Delivery.NOT_SENT)

# display event names follow the channel, as `inApp.show` does
DISPLAY_EVENT: dict[Kind, dict[Display, str]] = {
    Kind.IN_APP: {Display.SHOW: "inApp.show", Display.CLICK: "inApp.click"},
    Kind.DYNAMIC_CONTENT: {
        Display.SHOW: "dynamicContent.show",
        Display.CLICK: "dynamicContent.click",
    },
    Kind.SCREEN_VIEW: {Display.SHOW: "screenView.show", Display.CLICK: "screenView.click"},
}


@dataclass(frozen=True)
class Claimed:
    recipient_id: str
    lease_until: datetime


@dataclass(frozen=True)
class Outcome:
    """One reported or recorded item: applied, already so, or refused with a reason."""

    recipient_id: str
    applied: bool
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Report:
    recipient_id: str
    outcome: Delivery
    info: str | None
    at: datetime


@dataclass(frozen=True)
class DisplayEvent:
    recipient_id: str
    type: Display
    at: datetime


async def add_recipients(
    store: Store, communication_id: int | None, ids: Sequence[str]
) -> Communication:
    """More recipients for a DRAFT or SCHEDULED message campaign; repeats are ignored."""
    row = await _message(store, communication_id)
    wanted = audience.check_recipients(ids)
    if row.synthetic_audience and row.audience_size:
        raise invalid(
            "recipients", "this campaign has a synthetic audience (audienceSize); it takes no ids"
        )
    async with store.sessions() as session:
        await _lock(
            session,
            row,
            Work.ADD_RECIPIENTS,
            "recipients are added",
            version=col(Communication.version) + 1,  # an edit of the audience
            updated_at=utcnow(),
        )
        added = await audience.insert(session, row.id or 0, wanted)
        await _count(session, row.id or 0, audience=added, pending=added)
        await session.commit()
    await store.feed.publish(Touch(row.id or 0))
    return await get(store, communication_id)


# Workers: claim and report


async def claim(
    store: Store,
    communication_id: int | None,
    *,
    limit: int,
    worker_id: str,
    lease: timedelta,
    actor: str,
) -> list[Claimed]:
    """Up to `limit` PENDING recipients of a SENDING or FINISHED campaign, leased to `worker_id`."""
    if not 1 <= limit <= CLAIM_MAX:
        raise invalid("limit", f"limit must be between 1 and {CLAIM_MAX}")
    worker = worker_id.strip()
    if not worker or len(worker) > ID_MAX:
        raise invalid("workerId", f"workerId is 1 to {ID_MAX} characters")
    row = await _message(store, communication_id)
    now = utcnow()
    until = now + lease
    async with store.sessions() as session:
        await _lock(session, row, Work.CLAIM, "recipients are claimed", progress_at=now)
        await _requeue(session, row.id or 0, now)
        pick = (
            select(Recipient.position)
            .where(
                col(Recipient.communication_id) == row.id, col(Recipient.state) == Delivery.PENDING
            )
            .order_by(col(Recipient.position))
            .limit(limit)
        )
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        positions = list(await session.exec(pick))
        claimed: list[Claimed] = []
        if positions:
            result = await session.exec(
                update(Recipient)
                .where(
                    col(Recipient.communication_id) == row.id,
                    col(Recipient.position).in_(positions),
                    col(Recipient.state) == Delivery.PENDING,
                )
                .values(state=Delivery.HANDED_OFF, worker_id=worker, lease_until=until)
                .returning(col(Recipient.profile_id))
            )
            claimed = [Claimed(pid, until) for pid in result.scalars()]
            await _count(session, row.id or 0, pending=-len(claimed), handed_off=len(claimed))
        drained = await _drained(session, row.id or 0)
        await session.commit()
    await store.feed.publish(Touch(row.id or 0))
    if drained:
        await _finish(store, row.id or 0, actor)
    return claimed


async def requeue_expired(store: Store) -> int:
    """Expired leases back to PENDING (their worker went away), while recipients are claimed."""
    now = utcnow()
    expired = (
        select(Communication)
        .where(
            col(Communication.status).in_(WORK[Work.CLAIM]),
            col(Communication.id).in_(
                select(Recipient.communication_id).where(
                    col(Recipient.state) == Delivery.HANDED_OFF, col(Recipient.lease_until) < now
                )
            ),
        )
        .limit(100)
    )
    async with store.sessions() as session:
        rows = list(await session.exec(expired))
    total = 0
    for row in rows:
        async with store.sessions() as session:
            try:
                await _lock(session, row, Work.CLAIM, "expired leases are requeued")
            except Refused:
                continue
            moved = await _requeue(session, row.id or 0, now)
            await session.commit()
        if moved:
            total += moved
            await store.feed.publish(Touch(row.id or 0))
    return total


async def _requeue(session: AsyncSession, communication_id: int, now: datetime) -> int:
    result = await session.exec(
        update(Recipient)
        .where(
            col(Recipient.communication_id) == communication_id,
            col(Recipient.state) == Delivery.HANDED_OFF,
            col(Recipient.lease_until) < now,
        )
        .values(state=Delivery.PENDING, worker_id=None, lease_until=None)
    )
    moved = int(result.rowcount)
    if moved:
        await _count(session, communication_id, pending=moved, handed_off=-moved)
    return moved


async def report(
    store: Store, communication_id: int | None, results: Sequence[Report], *, actor: str
) -> tuple[Communication, list[Outcome]]:
    """Record final outcomes. A repeat changes nothing; a contradiction is refused per item."""
    if len(results) > REPORT_MAX:
        raise invalid("results", f"at most {REPORT_MAX} results per call")
    row = await _message(store, communication_id)
    kind = Kind(row.kind)
    outcomes: list[Outcome] = []
    async with store.sessions() as session:
        await _lock(session, row, Work.REPORT, "deliveries are reported", progress_at=utcnow())
        ids = list({r.recipient_id for r in results})
        states: dict[str, str] = {}
        for chunk in range(0, len(ids), 500):
            found = await session.exec(
                select(Recipient.profile_id, Recipient.state).where(
                    col(Recipient.communication_id) == row.id,
                    col(Recipient.profile_id).in_(ids[chunk : chunk + 500]),
                )
            )
            states.update(dict(found.all()))
        changes: list[Report] = []
        moved_from: dict[str, int] = {}
        for item in results:
            refusal = _refusal(item, states.get(item.recipient_id))
            if refusal is not None:
                outcomes.append(Outcome(item.recipient_id, False, *refusal))
                continue
            current = states[item.recipient_id]
            if current == item.outcome:
                outcomes.append(Outcome(item.recipient_id, False, None, f"already {current}"))
                continue
            states[item.recipient_id] = item.outcome
            moved_from[current] = moved_from.get(current, 0) + 1
            changes.append(item)
            outcomes.append(Outcome(item.recipient_id, True))
        if changes:
            await _finalise(session, row.id or 0, kind, changes)
            sent = sum(1 for c in changes if c.outcome is Delivery.SENT)
            await _count(
                session,
                row.id or 0,
                pending=-moved_from.get(Delivery.PENDING, 0),
                handed_off=-moved_from.get(Delivery.HANDED_OFF, 0),
                sent=sent,
                not_sent=len(changes) - sent,
            )
        drained = await _drained(session, row.id or 0)
        await session.commit()
    if changes:
        await store.feed.publish(Touch(row.id or 0))
    if drained:
        await _finish(store, row.id or 0, actor)
    return await get(store, communication_id), outcomes


def _refusal(item: Report, state: str | None) -> tuple[str, str] | None:
    if state is None:
        return ("UNKNOWN_RECIPIENT", "not in this campaign's audience")
    if item.at.tzinfo is None:
        return (ErrorCode.INVALID_INPUT.value, "at needs a UTC offset")
    if item.info is not None and len(item.info) > INFO_MAX:
        return (ErrorCode.INVALID_INPUT.value, f"info is longer than {INFO_MAX} characters")
    if state in FINAL and state != item.outcome:
        return ("CONFLICTING_OUTCOME", f"already {state}; a final outcome never changes")
    return None


async def _finalise(
    session: AsyncSession, communication_id: int, kind: Kind, items: list[Report]
) -> None:
    for outcome in (Delivery.SENT, Delivery.NOT_SENT):
        batch = [i for i in items if i.outcome is outcome]
        if not batch:
            continue
        await session.exec(
            update(Recipient)
            .where(
                col(Recipient.communication_id) == communication_id,
                col(Recipient.profile_id).in_([i.recipient_id for i in batch]),
                col(Recipient.state).in_(UNFINISHED),
            )
            .values(state=outcome, worker_id=None, lease_until=None)
        )
    await session.exec(
        insert(DeliveryEvent),
        params=[
            {
                "communication_id": communication_id,
                "recipient_id": i.recipient_id,
                "name": (SENT_EVENT if i.outcome is Delivery.SENT else NOT_SENT_EVENT)[kind],
                "at": i.at,
                "info": i.info,
            }
            for i in items
        ],
    )


# Display types: statistics while ACTIVE only


async def record_display(
    store: Store, communication_id: int | None, events: Sequence[DisplayEvent]
) -> tuple[Communication, list[Outcome]]:
    if len(events) > REPORT_MAX:
        raise invalid("events", f"at most {REPORT_MAX} events per call")
    row = await get(store, communication_id)
    kind = Kind(row.kind)
    if FAMILY[kind] is not Family.DISPLAY:
        raise invalid(
            "id",
            f"{kind} has no display events; dynamic content, in-app messages and screen views do",
        )
    good = [
        e
        for e in events
        if e.at.tzinfo is not None and e.recipient_id.strip() and len(e.recipient_id) <= ID_MAX
    ]
    outcomes = [
        Outcome(e.recipient_id, True)
        if e in good
        else Outcome(
            e.recipient_id,
            False,
            ErrorCode.INVALID_INPUT.value,
            "recipientId must be 1 to 200 characters and at needs a UTC offset",
        )
        for e in events
    ]
    if not good:
        return row, outcomes
    shows = sum(1 for e in good if e.type is Display.SHOW)
    async with store.sessions() as session:
        counted = await session.exec(
            update(Communication)
            .where(
                col(Communication.id) == row.id,
                col(Communication.status).in_(WORK[Work.COLLECT]),
            )
            .values(
                shown_count=col(Communication.shown_count) + shows,
                clicked_count=col(Communication.clicked_count) + len(good) - shows,
                progress_at=utcnow(),
            )
        )
        if counted.rowcount != 1:
            await session.rollback()
            current = await get(store, communication_id)
            reason = f"statistics are not collected while {current.status}"
            return current, [
                o if not o.applied else Outcome(o.recipient_id, False, "NOT_COLLECTED", reason)
                for o in outcomes
            ]
        await session.exec(
            insert(DeliveryEvent),
            params=[
                {
                    "communication_id": row.id,
                    "recipient_id": e.recipient_id,
                    "name": DISPLAY_EVENT[kind][e.type],
                    "at": e.at,
                    "info": None,
                }
                for e in good
            ],
        )
        await session.commit()
    await store.feed.publish(Touch(row.id or 0))
    return await get(store, communication_id), outcomes


# Reads


def stalled(row: Communication, now: datetime, after: timedelta) -> bool:
    """Recipients wait for workers, yet nobody claimed or reported any for `after`.

    SENDING always waits; FINISHED waits while some recipient went back to PENDING.
    """
    waiting = row.status == Status.SENDING or (
        row.status in WORK[Work.CLAIM] and row.pending_count > 0
    )
    return waiting and now - (row.progress_at or row.updated_at) > after


async def events(
    store: Store,
    communication_id: int | None,
    *,
    names: Sequence[str] | None,
    recipient_id: str | None,
    after: int,
    first: int,
) -> tuple[list[DeliveryEvent], bool]:
    row = await get(store, communication_id)
    where = [col(DeliveryEvent.communication_id) == row.id, col(DeliveryEvent.seq) > after]
    if names is not None:
        where.append(col(DeliveryEvent.name).in_(list(names)))
    if recipient_id is not None:
        where.append(col(DeliveryEvent.recipient_id) == recipient_id)
    statement = (
        select(DeliveryEvent).where(*where).order_by(col(DeliveryEvent.seq)).limit(first + 1)
    )
    async with store.sessions() as session:
        found = list(await session.exec(statement))
    return found[:first], len(found) > first


# Shared steps


async def _drained(session: AsyncSession, communication_id: int) -> bool:
    """Queuing is done: a SENDING campaign with no PENDING recipient left."""
    found = await session.exec(
        select(Communication.pending_count).where(
            col(Communication.id) == communication_id,
            col(Communication.status) == Status.SENDING,
        )
    )
    return found.one_or_none() == 0


async def _finish(store: Store, communication_id: int, actor: str) -> None:
    with suppress(Refused):  # someone else finished or stopped it meanwhile
        await changes.apply(store, communication_id, Action.FINISH, by=Role.SENDER, actor=actor)


async def _message(store: Store, communication_id: int | None) -> Communication:
    row = await get(store, communication_id)
    if FAMILY[Kind(row.kind)] is not Family.MESSAGE:
        raise invalid(
            "communicationId",
            f"{row.kind} has no recipients; only email, SMS and push campaigns do",
        )
    return row


async def _lock(
    session: AsyncSession,
    row: Communication,
    work: Work,
    what: str,
    **values: Any,
) -> None:
    """Take the campaign's row for this transaction, if `work` may happen in its status.

    The guarded UPDATE is the transaction's first statement: SQLite takes its write lock,
    PostgreSQL the row lock, so stops, claims and reports of one campaign never interleave.
    """
    statuses = [s for s in Status if s in WORK[work]]
    result = await session.exec(
        update(Communication)
        .where(col(Communication.id) == row.id, col(Communication.status).in_(statuses))
        .values(**(values or {"version": col(Communication.version)}))
    )
    if result.rowcount != 1:
        await session.rollback()
        raise Refused(
            ErrorCode.INVALID_TRANSITION,
            f"{what} only while {' or '.join(statuses)}; this campaign is no longer",
        )


async def _count(session: AsyncSession, communication_id: int, **deltas: int) -> None:
    columns = {
        "audience": "audience_size",
        "pending": "pending_count",
        "handed_off": "handed_off_count",
        "sent": "sent_count",
        "not_sent": "not_sent_count",
    }
    values = {columns[k]: getattr(Communication, columns[k]) + v for k, v in deltas.items() if v}
    if values:
        await session.exec(
            update(Communication).where(col(Communication.id) == communication_id).values(**values)
        )
