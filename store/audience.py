"""A message campaign's audience: the recipient rows, made in set-based statements.

These run inside the caller's transaction (a create, an edit, a duplicate), which also
keeps the campaign's counters (see store/deliveries.py for what happens to recipients).
"""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, text, update
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.errors import invalid
from store.kinds import Family, Kind, channels
from store.lifecycle import Status
from store.tables import Communication, DeliveryEvent, Recipient

BATCH_MAX = 10_000  # recipient ids per create or addRecipients call
ID_MAX = 200
INSERT_CHUNK = 1_000


class Delivery(StrEnum):
    """Where a recipient's message is: PENDING -> HANDED_OFF -> SENT or NOT_SENT."""

    PENDING = "PENDING"
    HANDED_OFF = "HANDED_OFF"
    SENT = "SENT"
    NOT_SENT = "NOT_SENT"


class Failure(StrEnum):
    """Why a message was not sent, as providers class it (SendGrid's bounce, blocked and
    dropped; Mailgun's permanent and temporary failures; Braze's and Customer.io's)."""

    HARD_BOUNCE = "HARD_BOUNCE"  # permanent: the mailbox or number does not exist
    SOFT_BOUNCE = "SOFT_BOUNCE"  # temporary: mailbox full, server down
    REJECTED = "REJECTED"  # refused by the provider or the receiving side (policy, spam)
    INVALID_ADDRESS = "INVALID_ADDRESS"  # malformed address, number or push token
    SUPPRESSED = "SUPPRESSED"  # on a suppression list: earlier bounce, complaint, unsubscribe
    THROTTLED = "THROTTLED"  # rate-limited and given up
    EXPIRED = "EXPIRED"  # the message's time to live ran out before delivery
    PROVIDER_ERROR = "PROVIDER_ERROR"  # the provider failed or could not be reached
    OTHER = "OTHER"


class After(StrEnum):
    """A provider's event after a send. It never changes the outcome SENT."""

    DELIVERED = "DELIVERED"
    DEFERRED = "DEFERRED"
    OPENED = "OPENED"
    CLICKED = "CLICKED"
    BOUNCED = "BOUNCED"
    COMPLAINED = "COMPLAINED"
    UNSUBSCRIBED = "UNSUBSCRIBED"


# the channel's event names (SPEC section 3): `message.send`, `sms.notSent`, `push.opened`...
CHANNEL = channels(Family.MESSAGE)
SENT_EVENT = {kind: f"{channel}.send" for kind, channel in CHANNEL.items()}
NOT_SENT_EVENT = {kind: f"{channel}.notSent" for kind, channel in CHANNEL.items()}
AFTER_EVENT = {
    kind: {after: f"{channel}.{after.lower()}" for after in After}
    for kind, channel in CHANNEL.items()
}


def check_recipients(ids: Sequence[str]) -> list[str]:
    """The ids, trimmed and without repeats, in the order given; refused if any is bad."""
    if len(ids) > BATCH_MAX:
        raise invalid("recipients", f"at most {BATCH_MAX} recipients per call")
    seen: dict[str, None] = {}
    for raw in ids:
        value = raw.strip()
        if not value or len(value) > ID_MAX:
            raise invalid("recipients", f"recipient ids are 1 to {ID_MAX} characters: {raw!r}")
        seen.setdefault(value, None)
    return list(seen)


async def insert(session: AsyncSession, communication_id: int, ids: list[str]) -> int:
    """Add ids after the last position, skipping ones already there; returns how many were new."""
    before = await size(session, communication_id)
    last = await session.exec(
        select(func.coalesce(func.max(Recipient.position), 0)).where(
            col(Recipient.communication_id) == communication_id
        )
    )
    first = int(last.one())
    rows = [
        {
            "communication_id": communication_id,
            "position": first + n,
            "profile_id": profile,
            "state": Delivery.PENDING.value,
        }
        for n, profile in enumerate(ids, 1)
    ]
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    builder = pg_insert if postgres else sqlite_insert
    for start in range(0, len(rows), INSERT_CHUNK):
        statement = builder(Recipient).on_conflict_do_nothing()
        await session.exec(statement, params=rows[start : start + INSERT_CHUNK])
    return await size(session, communication_id) - before


async def insert_synthetic(session: AsyncSession, communication_id: int, count: int) -> None:
    """A made-up audience of `count` profiles, in one set-based statement."""
    if count <= 0:
        return
    await (await session.connection()).execute(
        text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "INSERT INTO recipient (communication_id, position, profile_id, state) "
            "SELECT :cid, i, 'synthetic-' || i, :state FROM n"
        ),
        {"count": count, "cid": communication_id, "state": Delivery.PENDING.value},
    )


async def copy(session: AsyncSession, source: int, target: int) -> int:
    """The same profiles, all PENDING, for a duplicate; how many there are."""
    result = await (await session.connection()).execute(
        text(
            "INSERT INTO recipient (communication_id, position, profile_id, state) "
            "SELECT :target, position, profile_id, :state FROM recipient "
            "WHERE communication_id = :source"
        ),
        {"source": source, "target": target, "state": Delivery.PENDING.value},
    )
    return int(result.rowcount)


async def clear(session: AsyncSession, communication_id: int) -> None:
    await session.exec(delete(Recipient).where(col(Recipient.communication_id) == communication_id))


async def size(session: AsyncSession, communication_id: int) -> int:
    result = await session.exec(
        select(func.count())
        .select_from(Recipient)
        .where(col(Recipient.communication_id) == communication_id)
    )
    return int(result.one())


# A stop (or a failure) does not rewrite the audience: one marker row in delivery_event
# stands for the not-sent event of every recipient still PENDING or HANDED_OFF, and those
# recipients read as NOT_SENT from then on. No action leaves STOPPED or ERROR, so nothing
# moves them again. A stop of 1,000,000 recipients writes two rows, not two million.
HALTED = frozenset({Status.STOPPED, Status.ERROR})  # the statuses mark_not_sent goes with
UNFINISHED = (Delivery.PENDING, Delivery.HANDED_OFF)


def settled(state: str, status: str) -> str:
    """A recipient's delivery state as users see it, in a campaign whose status is `status`."""
    return Delivery.NOT_SENT if state in UNFINISHED and status in HALTED else state


async def mark_not_sent(session: AsyncSession, row: Communication, info: str, now: datetime) -> int:
    """Every recipient not yet out becomes NOT_SENT with the channel's not-sent event: one
    marker row and the counters, whatever the audience's size. `row` is the campaign as the
    transaction's compare-and-set left it, so its counters are current."""
    kind = Kind(row.kind)
    if kind not in NOT_SENT_EVENT:
        return 0
    moved = row.pending_count + row.handed_off_count
    await session.exec(
        insert_into(DeliveryEvent).values(
            communication_id=row.id,
            recipient_id="",
            name=NOT_SENT_EVENT[kind],
            at=now,
            info=info,
            unfinished=True,
        )
    )
    await session.exec(
        update(Communication)
        .where(col(Communication.id) == row.id)
        .values(
            not_sent_count=col(Communication.not_sent_count) + moved,
            pending_count=0,
            handed_off_count=0,
        )
    )
    return moved


async def marker(session: AsyncSession, communication_id: int | None) -> DeliveryEvent | None:
    found = await session.exec(
        select(DeliveryEvent).where(
            col(DeliveryEvent.communication_id) == communication_id,
            col(DeliveryEvent.unfinished),
        )
    )
    return found.first()


async def unsent(
    session: AsyncSession,
    stop: DeliveryEvent,
    *,
    after: int,
    first: int,
    recipient_id: str | None,
) -> list[tuple[int, DeliveryEvent]]:
    """The first not-sent events the marker `stop` stands for, each with its recipient's
    position, for positions after `after`: one index walk per unfinished state."""
    found: list[tuple[int, str]] = []
    for state in UNFINISHED:  # two walks of (campaign, state, position), merged: no sort
        statement = select(Recipient.position, Recipient.profile_id).where(
            col(Recipient.communication_id) == stop.communication_id,
            col(Recipient.state) == state,
            col(Recipient.position) > after,
        )
        if recipient_id is not None:
            statement = statement.where(col(Recipient.profile_id) == recipient_id)
        rows = await session.exec(statement.order_by(col(Recipient.position)).limit(first))
        found += rows.all()
    fields = stop.model_dump(exclude={"recipient_id", "unfinished"})
    return [
        (position, DeliveryEvent(**fields, recipient_id=profile))
        for position, profile in sorted(found)[:first]
    ]
