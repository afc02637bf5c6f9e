"""Recipients and what happens to them: claims by workers, reports, stops, display events.

A recipient moves PENDING -> HANDED_OFF -> SENT or NOT_SENT and never back from a final
outcome; an expired lease puts a HANDED_OFF one back to PENDING while its campaign is
SENDING or FINISHED (`WORK` in store/lifecycle.py says what happens in which status).
Every write here first takes the communication's row (a guarded UPDATE on it), so claims,
reports and stops of one campaign are serialised on SQLite and PostgreSQL alike, and the
counters on the row move in the same transaction as the recipients.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import Store, audience, changes
from store.audience import (
    AFTER_EVENT,
    ID_MAX,
    NOT_SENT_EVENT,
    SENT_EVENT,
    UNFINISHED,
    After,
    Delivery,
    Failure,
)
from store.communications import get
from store.database import writing
from store.errors import ErrorCode, Refused, invalid
from store.feed import Touch
from store.kinds import channels
from store.lifecycle import FAMILY, WORK, Action, Family, Kind, Status, Trigger, Work
from store.tables import Communication, DeliveryEvent, Recipient, utcnow
from store.writes import compare_and_set

REPORT_MAX = 1_000  # results per reportDeliveries call, events per recordDisplayEvents call
CLAIM_MAX = 1_000
INFO_MAX = 1_000
LEASES_MAX = 20  # lease ids per look-up of what they hold
CANDIDATES = 20  # campaigns one claimNext tries, fairest first


class Display(StrEnum):
    SHOW = "SHOW"
    CLICK = "CLICK"


# each event after a send counts into one counter on the communication
AFTER_COUNTER: dict[After, str] = {
    After.DELIVERED: "delivered_count",
    After.DEFERRED: "deferred_count",
    After.OPENED: "opened_count",
    After.CLICKED: "clicked_count",
    After.BOUNCED: "bounced_count",
    After.COMPLAINED: "complained_count",
    After.UNSUBSCRIBED: "unsubscribed_count",
}


FINAL = (Delivery.SENT, Delivery.NOT_SENT)

# display event names follow the channel, as `inApp.show` does
DISPLAY_EVENT: dict[Kind, dict[Display, str]] = {
    kind: {event: f"{channel}.{event.lower()}" for event in Display}
    for kind, channel in channels(Family.DISPLAY).items()
}


@dataclass(frozen=True)
class Claimed:
    """A recipient a worker holds: reports, renewals and releases name it with its lease."""

    communication_id: int
    recipient_id: str
    lease_id: str
    lease_until: datetime


@dataclass(frozen=True)
class Outcome:
    """One reported or recorded item: applied, already so, or refused with a reason."""

    recipient_id: str
    applied: bool
    code: ErrorCode | None = None
    message: str | None = None
    lease_until: datetime | None = None  # a renewal's new end


@dataclass(frozen=True)
class Leased:
    recipient_id: str
    lease_id: str


@dataclass(frozen=True)
class Report:
    recipient_id: str
    lease_id: str  # the claim's; a superseded or made-up one is refused (fencing)
    outcome: Delivery
    info: str | None  # the failure's text, say
    at: datetime  # the time at the provider
    provider_message_id: str | None = None
    failure: Failure | None = None  # NOT_SENT only
    failure_code: str | None = None  # the provider's own, e.g. "550 5.1.1"


@dataclass(frozen=True)
class ProviderEvent:
    """An event after the send, from a provider's webhook, matched by its message id."""

    event_id: str
    provider_message_id: str
    type: After
    at: datetime
    info: str | None = None


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    applied: bool
    code: ErrorCode | None = None
    message: str | None = None
    communication_id: int | None = None
    recipient_id: str | None = None


@dataclass(frozen=True)
class _Held:
    """A recipient's row as the lease checks see it."""

    state: str
    lease_id: str | None


@dataclass(frozen=True)
class DisplayEvent:
    recipient_id: str
    type: Display
    at: datetime
    event_id: str  # a repeated id is not counted again


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
    async with writing(store.sessions) as session:
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
    """Up to `limit` PENDING recipients of a SENDING or FINISHED campaign, leased to
    `worker_id` under one new lease id."""
    worker = _check_claim(limit, worker_id)
    row = await _message(store, communication_id)
    return await _claim(store, row, limit, worker, lease, actor)


async def claim_next(
    store: Store,
    kinds: Sequence[Kind],
    *,
    limit: int,
    worker_id: str,
    lease: timedelta,
    actor: str,
) -> list[Claimed]:
    """A batch from whichever SENDING or FINISHED campaign of these kinds is next in turn.

    Turns go to the campaign claimed from longest ago (never claimed first, then the
    oldest), and each claim moves its campaign to the back: fair across campaigns, and
    oldest first among equals. Concurrent callers may pick the same campaign; its row lock
    serialises them and each gets different recipients.
    """
    worker = _check_claim(limit, worker_id)
    if not kinds or any(FAMILY[k] is not Family.MESSAGE for k in kinds):
        raise invalid("kinds", "kinds are one or more of EMAIL, SMS, WEB_PUSH, MOBILE_PUSH")
    statuses = [s for s in Status if s in WORK[Work.CLAIM]]
    turn = (
        select(Communication)
        .where(
            col(Communication.kind).in_(list(kinds)),
            col(Communication.status).in_(statuses),
            # work: PENDING recipients, or held ones whose lease ran out (requeued by the claim);
            # a campaign whose recipients are all held by live workers is left alone
            (col(Communication.pending_count) > 0)
            | col(Communication.id).in_(
                select(Recipient.communication_id).where(
                    col(Recipient.state) == Delivery.HANDED_OFF,
                    col(Recipient.lease_until) < utcnow(),
                )
            ),
        )
        .order_by(col(Communication.claimed_at).asc().nulls_first(), col(Communication.id))
        .limit(CANDIDATES)
    )
    async with store.sessions() as session:
        candidates = list(await session.exec(turn))
    for row in candidates:
        with suppress(Refused):  # stopped or failed since it was listed
            claimed = await _claim(store, row, limit, worker, lease, actor)
            if claimed:
                return claimed
    return []


def storable(*values: str | None) -> bool:
    """Text a database keeps: PostgreSQL refuses NUL characters in any string."""
    return all(v is None or "\x00" not in v for v in values)


def _check_claim(limit: int, worker_id: str) -> str:
    if not 1 <= limit <= CLAIM_MAX:
        raise invalid("limit", f"limit must be between 1 and {CLAIM_MAX}")
    worker = worker_id.strip()
    if not worker or len(worker) > ID_MAX or not storable(worker):
        raise invalid("workerId", f"workerId is 1 to {ID_MAX} characters")
    return worker


async def _claim(
    store: Store, row: Communication, limit: int, worker: str, lease: timedelta, actor: str
) -> list[Claimed]:
    now = utcnow()
    until = now + lease
    lease_id = uuid.uuid4().hex
    async with writing(store.sessions) as session:
        await _lock(
            session, row, Work.CLAIM, "recipients are claimed", progress_at=now, claimed_at=now
        )
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
                .values(
                    state=Delivery.HANDED_OFF,
                    worker_id=worker,
                    lease_until=until,
                    lease_id=lease_id,
                )
                .returning(col(Recipient.position), col(Recipient.profile_id))
            )
            claimed = [
                Claimed(row.id or 0, pid, lease_id, until) for _, pid in sorted(result.all())
            ]
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
        async with writing(store.sessions) as session:
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
        # the lease id stays: until the next claim supersedes it, its late report still counts
        .values(state=Delivery.PENDING, worker_id=None, lease_until=None)
    )
    moved = int(result.rowcount)
    if moved:
        await _count(session, communication_id, pending=moved, handed_off=-moved)
    return moved


async def renew(
    store: Store, communication_id: int | None, items: Sequence[Leased], *, lease: timedelta
) -> list[Outcome]:
    """A heartbeat: the recipients these leases still hold stay with them for `lease` more."""
    row = await _message(store, communication_id)
    until = utcnow() + lease
    async with writing(store.sessions) as session:
        await _lock(session, row, Work.CLAIM, "leases are renewed")
        outcomes, held = await _holding(session, row.id or 0, items)
        if held:
            await _update_held(session, row.id or 0, held, lease_until=until)
        await session.commit()
    return [Outcome(o.recipient_id, True, lease_until=until) if o.applied else o for o in outcomes]


async def release(
    store: Store, communication_id: int | None, items: Sequence[Leased]
) -> list[Outcome]:
    """Give held recipients back to PENDING (a deferral): the next claim hands them out."""
    row = await _message(store, communication_id)
    async with writing(store.sessions) as session:
        await _lock(session, row, Work.CLAIM, "recipients are released", progress_at=utcnow())
        outcomes, held = await _holding(session, row.id or 0, items)
        if held:
            await _update_held(
                session, row.id or 0, held, state=Delivery.PENDING, worker_id=None, lease_until=None
            )
            await _count(session, row.id or 0, pending=len(held), handed_off=-len(held))
        await session.commit()
    if held:
        await store.feed.publish(Touch(row.id or 0))
    return outcomes


async def _update_held(
    session: AsyncSession, communication_id: int, held: list[str], **values: Any
) -> None:
    """Renewals and releases: the recipients `_holding` found held, in one UPDATE."""
    await session.exec(
        update(Recipient)
        .where(
            col(Recipient.communication_id) == communication_id,
            col(Recipient.profile_id).in_(held),
        )
        .values(**values)
    )


async def _holding(
    session: AsyncSession, communication_id: int, items: Sequence[Leased]
) -> tuple[list[Outcome], list[str]]:
    """Per item, whether its lease holds the recipient now; and those it holds, once each."""
    if len(items) > REPORT_MAX:
        raise invalid("recipients", f"at most {REPORT_MAX} recipients per call")
    found = await _rows(session, communication_id, [i.recipient_id for i in items])
    outcomes: list[Outcome] = []
    held: dict[str, None] = {}
    for item in items:
        current = found.get(item.recipient_id)
        refusal = _lease_refusal(item.lease_id, current)
        if refusal is None and current is not None and current.state != Delivery.HANDED_OFF:
            refusal = (
                ErrorCode.LEASE_ENDED,
                f"the lease no longer holds it: it is {current.state}",
            )
        if refusal is not None:
            outcomes.append(Outcome(item.recipient_id, False, *refusal))
            continue
        held.setdefault(item.recipient_id, None)
        outcomes.append(Outcome(item.recipient_id, True))
    return outcomes, list(held)


async def held(store: Store, lease_ids: Sequence[str]) -> list[Claimed]:
    """What these leases still hold (HANDED_OFF), for a worker recovering after a restart."""
    if len(lease_ids) > LEASES_MAX:
        raise invalid("leaseIds", f"at most {LEASES_MAX} lease ids per call")
    statement = (
        select(Recipient)
        .join(Communication, col(Communication.id) == col(Recipient.communication_id))
        .where(
            col(Recipient.lease_id).in_([i for i in lease_ids if storable(i)]),
            col(Recipient.state) == Delivery.HANDED_OFF,
            # a stop leaves them HANDED_OFF, and they are NOT_SENT (audience.settled)
            col(Communication.status).not_in(audience.HALTED),
        )
        .order_by(col(Recipient.communication_id), col(Recipient.position))
    )
    async with store.sessions() as session:
        found = list(await session.exec(statement))
    return [
        Claimed(r.communication_id, r.profile_id, r.lease_id or "", r.lease_until or utcnow())
        for r in found
    ]


async def _rows(
    session: AsyncSession, communication_id: int, recipient_ids: Sequence[str]
) -> dict[str, _Held]:
    ids = [i for i in dict.fromkeys(recipient_ids) if storable(i)]  # others are in no audience
    found: dict[str, _Held] = {}
    for chunk in range(0, len(ids), 500):
        rows = await session.exec(
            select(Recipient.profile_id, Recipient.state, Recipient.lease_id).where(
                col(Recipient.communication_id) == communication_id,
                col(Recipient.profile_id).in_(ids[chunk : chunk + 500]),
            )
        )
        found.update({pid: _Held(state, lease) for pid, state, lease in rows.all()})
    return found


def _lease_refusal(lease_id: str, current: _Held | None) -> tuple[ErrorCode, str] | None:
    """Fencing: only the lease that holds a recipient now may act for it."""
    if current is None:
        return (ErrorCode.UNKNOWN_RECIPIENT, "not in this campaign's audience")
    if current.lease_id is None:
        return (ErrorCode.NOT_CLAIMED, "never handed to a worker; claim it first")
    if current.lease_id != lease_id:
        return (
            ErrorCode.STALE_LEASE,
            "another lease holds it (this one expired and it was claimed again)",
        )
    return None


async def report(
    store: Store, communication_id: int | None, results: Sequence[Report], *, actor: str
) -> tuple[Communication, list[Outcome]]:
    """Record final outcomes. A repeat changes nothing; a contradiction is refused per item."""
    if len(results) > REPORT_MAX:
        raise invalid("results", f"at most {REPORT_MAX} results per call")
    row = await _message(store, communication_id)
    kind = Kind(row.kind)
    outcomes: list[Outcome] = []
    async with writing(store.sessions) as session:
        taken = await _lock(
            session, row, Work.REPORT, "deliveries are reported", progress_at=utcnow()
        )
        found = await _rows(session, row.id or 0, [r.recipient_id for r in results])
        states = {pid: audience.settled(held.state, taken.status) for pid, held in found.items()}
        recorded: list[Report] = []  # items whose state this call moves
        moved_from: dict[str, int] = {}
        for item in results:
            refusal = _refusal(item, found.get(item.recipient_id), states.get(item.recipient_id))
            if refusal is not None:
                outcomes.append(Outcome(item.recipient_id, False, *refusal))
                continue
            current = states[item.recipient_id]
            if current == item.outcome:
                outcomes.append(Outcome(item.recipient_id, False, None, f"already {current}"))
                continue
            states[item.recipient_id] = item.outcome
            moved_from[current] = moved_from.get(current, 0) + 1
            recorded.append(item)
            outcomes.append(Outcome(item.recipient_id, True))
        if recorded:
            await _finalise(session, row.id or 0, kind, recorded)
            sent = sum(1 for c in recorded if c.outcome is Delivery.SENT)
            await _count(
                session,
                row.id or 0,
                pending=-moved_from.get(Delivery.PENDING, 0),
                handed_off=-moved_from.get(Delivery.HANDED_OFF, 0),
                sent=sent,
                not_sent=len(recorded) - sent,
            )
        drained = await _drained(session, row.id or 0)
        await session.commit()
    if recorded:
        await store.feed.publish(Touch(row.id or 0))
    if drained:
        await _finish(store, row.id or 0, actor)
    return await get(store, communication_id), outcomes


def _refusal(item: Report, held: _Held | None, state: str | None) -> tuple[ErrorCode, str] | None:
    if held is None:
        return (ErrorCode.UNKNOWN_RECIPIENT, "not in this campaign's audience")
    if item.outcome not in FINAL:
        return (ErrorCode.INVALID_INPUT, "a report's outcome is SENT or NOT_SENT")
    if item.at.tzinfo is None:
        return (ErrorCode.INVALID_INPUT, "at needs a UTC offset")
    if item.info is not None and len(item.info) > INFO_MAX:
        return (ErrorCode.INVALID_INPUT, f"info is longer than {INFO_MAX} characters")
    if not storable(item.info, item.provider_message_id, item.failure_code):
        return (ErrorCode.INVALID_INPUT, "text may not contain NUL characters")
    for value in (item.provider_message_id, item.failure_code):
        if value is not None and not 1 <= len(value) <= ID_MAX:
            return (ErrorCode.INVALID_INPUT, f"provider ids and codes are 1 to {ID_MAX} characters")
    if (item.failure or item.failure_code) and item.outcome is not Delivery.NOT_SENT:
        return (ErrorCode.INVALID_INPUT, "a failure class or code goes with NOT_SENT only")
    if refusal := _lease_refusal(item.lease_id, held):
        return refusal
    if state in FINAL and state != item.outcome:
        return (ErrorCode.CONFLICTING_OUTCOME, f"already {state}; a final outcome never changes")
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
    named = [i for i in items if i.provider_message_id is not None]
    if named:
        await (await session.connection()).execute(
            text(
                "UPDATE recipient SET provider_message_id = :pmid "
                "WHERE communication_id = :cid AND profile_id = :rid"
            ),
            [
                {"pmid": i.provider_message_id, "cid": communication_id, "rid": i.recipient_id}
                for i in named
            ],
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
                "event_id": None,
                "provider_message_id": i.provider_message_id,
                "failure_class": i.failure,
                "failure_code": i.failure_code,
            }
            for i in items
        ],
    )


# Events after the send, from providers' webhooks


async def record_provider_events(
    store: Store, events: Sequence[ProviderEvent]
) -> list[EventOutcome]:
    """Record each event against the SENT recipient its provider message id names, once per
    event id, and count it into the campaign's counter for its type in the same transaction.
    The outcome SENT never changes."""
    if len(events) > REPORT_MAX:
        raise invalid("events", f"at most {REPORT_MAX} events per call")
    results: list[EventOutcome | None] = []
    wanted: list[tuple[int, int, str, str, ProviderEvent]] = []  # (index, cid, pid, name, e)
    async with writing(store.sessions) as session:
        matches = await _by_provider_id(session, [e.provider_message_id for e in events])
        seen: set[tuple[int, str]] = set()
        for e in events:
            found = matches.get(e.provider_message_id, [])
            refusal = _event_refusal(e, found)
            if refusal is not None:
                results.append(EventOutcome(e.event_id, False, *refusal))
                continue
            ((cid, pid, _, kind),) = found
            if (cid, e.event_id) in seen:
                results.append(EventOutcome(e.event_id, False, None, "already recorded", cid, pid))
                continue
            seen.add((cid, e.event_id))
            wanted.append((len(results), cid, pid, AFTER_EVENT[kind][e.type], e))
            results.append(None)
        rows = [
            {
                "communication_id": cid,
                "recipient_id": pid,
                "name": name,
                "at": e.at,
                "info": e.info,
                "event_id": e.event_id,
                "provider_message_id": e.provider_message_id,
            }
            for _, cid, pid, name, e in wanted
        ]
        new = await _insert_new(session, rows)
        counts: dict[int, Counter[After]] = {}
        for index, cid, pid, _, e in wanted:
            if (cid, e.event_id) in new:
                counts.setdefault(cid, Counter())[e.type] += 1
                results[index] = EventOutcome(e.event_id, True, None, None, cid, pid)
            else:
                results[index] = EventOutcome(e.event_id, False, None, "already recorded", cid, pid)
        for cid in sorted(counts):  # one order for every caller: no deadlock between them
            await _count_after(session, cid, counts[cid])
        await session.commit()
    for cid in sorted(counts):
        await store.feed.publish(Touch(cid))
    return [r for r in results if r is not None]


def _event_refusal(
    e: ProviderEvent, found: list[tuple[int, str, str, Kind]]
) -> tuple[ErrorCode, str] | None:
    if not 1 <= len(e.event_id) <= ID_MAX or not 1 <= len(e.provider_message_id) <= ID_MAX:
        return (ErrorCode.INVALID_INPUT, f"eventId and providerMessageId are 1 to {ID_MAX} long")
    if e.at.tzinfo is None:
        return (ErrorCode.INVALID_INPUT, "at needs a UTC offset")
    if e.info is not None and len(e.info) > INFO_MAX:
        return (ErrorCode.INVALID_INPUT, f"info is longer than {INFO_MAX} characters")
    if not storable(e.event_id, e.provider_message_id, e.info):
        return (ErrorCode.INVALID_INPUT, "text may not contain NUL characters")
    if not found:
        return (ErrorCode.UNKNOWN_MESSAGE, "no reported recipient has this provider message id")
    if len(found) > 1:
        return (ErrorCode.AMBIGUOUS_MESSAGE, "several recipients have this provider message id")
    if found[0][2] != Delivery.SENT:
        return (ErrorCode.OUTCOME_NOT_SENT, "events follow a send; this recipient is NOT_SENT")
    return None


async def _by_provider_id(
    session: AsyncSession, provider_ids: Sequence[str]
) -> dict[str, list[tuple[int, str, str, Kind]]]:
    """The recipients each provider message id names: (campaign, profile, state, kind)."""
    ids = [i for i in dict.fromkeys(provider_ids) if storable(i)]
    rows: list[tuple[str | None, int, str, str]] = []
    for chunk in range(0, len(ids), 500):
        found = await session.exec(
            select(
                Recipient.provider_message_id,
                Recipient.communication_id,
                Recipient.profile_id,
                Recipient.state,
            ).where(col(Recipient.provider_message_id).in_(ids[chunk : chunk + 500]))
        )
        rows += found.all()
    campaigns = {cid for _, cid, _, _ in rows}
    kinds = dict(
        (
            await session.exec(
                select(Communication.id, Communication.kind).where(
                    col(Communication.id).in_(campaigns)
                )
            )
        ).all()
    )
    matches: dict[str, list[tuple[int, str, str, Kind]]] = {}
    for pmid, cid, pid, state in rows:
        matches.setdefault(pmid or "", []).append((cid, pid, state, Kind(kinds[cid])))
    return matches


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """Insert events whose (communication, event id) is new; those it inserted."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    builder = pg_insert if postgres else sqlite_insert
    inserted: set[tuple[int, str]] = set()
    for start in range(0, len(rows), 500):
        statement = (
            builder(DeliveryEvent)
            .values(rows[start : start + 500])
            .on_conflict_do_nothing()
            .returning(col(DeliveryEvent.communication_id), col(DeliveryEvent.event_id))
        )
        result = await session.exec(statement)
        inserted.update((cid, eid) for cid, eid in result.all())
    return inserted


async def _count_after(
    session: AsyncSession, communication_id: int, counts: Counter[After]
) -> None:
    values = {
        AFTER_COUNTER[t]: getattr(Communication, AFTER_COUNTER[t]) + n for t, n in counts.items()
    }
    await session.exec(
        update(Communication).where(col(Communication.id) == communication_id).values(**values)
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
    good = [e for e in events if _display_ok(e)]
    outcomes = [
        Outcome(e.recipient_id, True)
        if _display_ok(e)
        else Outcome(
            e.recipient_id,
            False,
            ErrorCode.INVALID_INPUT,
            f"recipientId and eventId must be 1 to {ID_MAX} characters, at needs a UTC offset",
        )
        for e in events
    ]
    if not good:
        return row, outcomes
    async with writing(store.sessions) as session:
        collecting = [s for s in Status if s in WORK[Work.COLLECT]]
        counted = await compare_and_set(
            session, row.id, statuses=collecting, values={"progress_at": utcnow()}
        )
        if counted is None:
            await session.rollback()
            current = await get(store, communication_id)
            reason = f"statistics are not collected while {current.status}"
            refused = ErrorCode.NOT_COLLECTED
            return current, [
                o if not o.applied else Outcome(o.recipient_id, False, refused, reason)
                for o in outcomes
            ]
        firsts: dict[str, DisplayEvent] = {}  # a repeat within the call: the first counts
        for e in good:
            firsts.setdefault(e.event_id, e)
        new = await _insert_new(
            session,
            [
                {
                    "communication_id": row.id,
                    "recipient_id": e.recipient_id,
                    "name": DISPLAY_EVENT[kind][e.type],
                    "at": e.at,
                    "info": None,
                    "event_id": e.event_id,
                }
                for e in firsts.values()
            ],
        )
        counted_ids = {eid for _, eid in new}
        shows = sum(
            1 for e in firsts.values() if e.event_id in counted_ids and e.type is Display.SHOW
        )
        await session.exec(
            update(Communication)
            .where(col(Communication.id) == row.id)
            .values(
                shown_count=col(Communication.shown_count) + shows,
                clicked_count=col(Communication.clicked_count) + len(counted_ids) - shows,
            )
        )
        await session.commit()
    await store.feed.publish(Touch(row.id or 0))
    applied: set[str] = set()
    for n, e in enumerate(events):
        if outcomes[n].applied:
            if e.event_id in counted_ids and e.event_id not in applied:
                applied.add(e.event_id)
            else:
                outcomes[n] = Outcome(e.recipient_id, False, None, "already recorded")
    return await get(store, communication_id), outcomes


def _display_ok(e: DisplayEvent) -> bool:
    return (
        e.at.tzinfo is not None
        and bool(e.recipient_id.strip())
        and len(e.recipient_id) <= ID_MAX
        and 1 <= len(e.event_id) <= ID_MAX
        and storable(e.recipient_id, e.event_id)
    )


# Reads


def after_counts(row: Communication) -> dict[str, int]:
    """The counters of events after the send, by column name."""
    return {column: getattr(row, column) for column in AFTER_COUNTER.values()}


def stalled(row: Communication, now: datetime, after: timedelta) -> bool:
    """Recipients wait for workers, yet nobody claimed or reported any for `after`.

    SENDING always waits; FINISHED waits while some recipient went back to PENDING.
    """
    waiting = row.status == Status.SENDING or (
        row.status in WORK[Work.CLAIM] and row.pending_count > 0
    )
    return waiting and now - (row.progress_at or row.updated_at) > after


async def states(store: Store, communication_id: int | None) -> dict[str, str]:
    """Each recipient's delivery state as users see it (audience.settled), by profile id."""
    statement = (
        select(Recipient.profile_id, Recipient.state, Communication.status)
        .join(Communication, col(Communication.id) == col(Recipient.communication_id))
        .where(col(Recipient.communication_id) == communication_id)
    )
    async with store.sessions() as session:
        found = await session.exec(statement)
        return {pid: audience.settled(state, status) for pid, state, status in found.all()}


EventKey = tuple[int, int]  # an event's place: (seq, 0), or (its stop's seq, the position)


async def events(
    store: Store,
    communication_id: int | None,
    *,
    names: Sequence[str] | None,
    recipient_id: str | None,
    after: EventKey,
    first: int,
) -> tuple[list[tuple[EventKey, DeliveryEvent]], bool]:
    """A campaign's events in order after `after`, each with its key, and whether more
    follow. A stop's marker is read as the not-sent events it stands for, in its place."""
    row = await get(store, communication_id)
    seq, position = after
    where = [
        col(DeliveryEvent.communication_id) == row.id,
        col(DeliveryEvent.seq) > seq,
        ~col(DeliveryEvent.unfinished),
    ]
    if names is not None:
        where.append(col(DeliveryEvent.name).in_(list(names)))
    if recipient_id is not None:
        where.append(col(DeliveryEvent.recipient_id) == recipient_id)
    statement = (
        select(DeliveryEvent).where(*where).order_by(col(DeliveryEvent.seq)).limit(first + 1)
    )
    async with store.sessions() as session:
        found: list[tuple[EventKey, DeliveryEvent]] = [
            ((e.seq or 0, 0), e) for e in await session.exec(statement)
        ]
        stop = await audience.marker(session, row.id)
        if stop is not None and (stop.seq or 0) >= seq and (names is None or stop.name in names):
            since = position if stop.seq == seq else 0
            unsent = await audience.unsent(
                session, stop, after=since, first=first + 1, recipient_id=recipient_id
            )
            found = sorted(found + [((stop.seq or 0, p), e) for p, e in unsent], key=_key)
    return found[:first], len(found) > first


def _key(item: tuple[EventKey, DeliveryEvent]) -> EventKey:
    return item[0]


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
        await changes.apply(store, communication_id, Action.FINISH, by=Trigger.SENDER, actor=actor)


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
) -> Communication:
    """Take the campaign's row for this transaction, if `work` may happen in its status, and
    return it as it is now.

    The compare-and-set is the transaction's first statement: SQLite takes its write lock,
    PostgreSQL the row lock, so stops, claims and reports of one campaign never interleave.
    """
    statuses = [s for s in Status if s in WORK[work]]
    taken = await compare_and_set(session, row.id, statuses=statuses, values=values)
    if taken is None:
        await session.rollback()
        raise Refused(
            ErrorCode.INVALID_TRANSITION,
            f"{what} only while {' or '.join(statuses)}; this campaign is no longer",
        )
    return taken


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
