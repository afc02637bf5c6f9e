"""Subscriptions: the status-change stream and a live view of one communication."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated

import strawberry

from schema import ids
from schema.context import Info
from schema.enums import CommunicationKind, CommunicationStatus
from schema.types import Communication as CommunicationType
from schema.types import StatusChange, to_graphql, to_graphql_error
from store import Store, changes, communications, deliveries
from store.changes import Position
from store.errors import Refused, invalid, not_found
from store.feed import Change, Notice, Resync
from store.tables import Communication

COALESCE = 0.25  # seconds: at most 4 counter updates a second per subscription
POLL_WAITING = 0.05  # seconds: read again this soon when changes wait behind the horizon
POLL_SAFETY = 5.0  # seconds: read again after this long without a notice, whatever happens
BATCH = 500


@dataclass(frozen=True)
class Wanted:
    ids: frozenset[int] | None
    kinds: frozenset[str] | None
    statuses: frozenset[str] | None

    def __call__(self, change: Change) -> bool:
        return (
            (self.ids is None or change.communication_id in self.ids)
            and (self.kinds is None or change.kind in self.kinds)
            and (self.statuses is None or change.to_status in self.statuses)
        )


async def stream(store: Store, after: Position | None, wanted: Wanted) -> AsyncIterator[Change]:
    """Committed changes in stream order: what committed after `after`, then live ones.

    It listens before it reads, so nothing committed meanwhile is missed. A notice only
    wakes it to read the table from its position on, so a change is never seen twice and
    the order is the table's (see store.changes.changes_after). It also reads again after
    POLL_SAFETY without any notice, and at once when the broker comes back, in case
    notices were lost; and soon, when committed changes wait behind a running transaction.
    """
    async with store.feed.listen() as notices:
        wake = asyncio.Event()

        async def pump() -> None:
            async for notice in notices:
                if isinstance(notice, Change | Resync):
                    wake.set()

        pumping = asyncio.create_task(pump())
        try:
            position = await changes.head(store) if after is None else after
            while True:
                wake.clear()
                found, waiting = await changes.changes_after(store, position, limit=BATCH)
                for change in found:
                    position = change.position
                    if wanted(change):
                        yield change
                if len(found) == BATCH:
                    continue
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_WAITING if waiting else POLL_SAFETY)
        finally:
            pumping.cancel()


async def watch(
    store: Store, pk: int | None, period: float = COALESCE
) -> AsyncIterator[Communication]:
    """One communication now, then after each change: a status change at once, counters
    at most once per `period` while they move. Ends when the communication is deleted."""
    async with store.feed.listen() as notices:
        row = await communications.get(store, pk)
        yield row
        mine: asyncio.Queue[Notice] = asyncio.Queue()

        async def pump() -> None:
            async for notice in notices:
                if notice.communication_id in (pk, None):  # None: a Resync, for everyone
                    mine.put_nowait(notice)

        pumping = asyncio.create_task(pump())
        loop = asyncio.get_running_loop()
        last, dirty = loop.time(), False
        try:
            while True:
                wait = max(0.0, last + period - loop.time()) if dirty else None
                try:
                    notice = await asyncio.wait_for(mine.get(), wait)
                    urgent = isinstance(notice, Change | Resync)
                except TimeoutError:
                    urgent = True  # the window for coalesced counters has closed
                if not urgent and loop.time() - last < period:
                    dirty = True
                    continue
                dirty = False
                try:
                    fresh = await communications.get(store, pk)
                except Refused:
                    return
                if _state(fresh) != _state(row):
                    row, last = fresh, loop.time()
                    yield row
        finally:
            pumping.cancel()


def _state(row: Communication) -> tuple[object, ...]:
    return (
        row.version,
        row.status,
        row.pending_count,
        row.handed_off_count,
        row.sent_count,
        row.not_sent_count,
        row.shown_count,
        row.clicked_count,
        *deliveries.after_counts(row).values(),
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status change, in order. Pass the last cursor seen as `after` to "
        "resume: what committed since then comes first, then the live stream."
    )
    async def status_changed(
        self,
        info: Info,
        ids_: Annotated[list[strawberry.ID] | None, strawberry.argument(name="ids")] = None,
        kinds: list[CommunicationKind] | None = None,
        statuses: list[CommunicationStatus] | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[StatusChange, None]:
        start = None if after is None else ids.change_position(after)
        if after is not None and start is None:
            raise to_graphql_error(invalid("after", "after is not a status change cursor"))
        wanted = Wanted(
            ids=None if ids_ is None else frozenset(_pk(i) for i in ids_),
            kinds=None if kinds is None else frozenset(kinds),
            statuses=None if statuses is None else frozenset(statuses),
        )
        async for change in stream(info.context.store, start, wanted):
            yield StatusChange.of(change)

    @strawberry.subscription(
        description="One communication: its current state first, then again after every "
        "change (status, edits, sending progress). Ends when it is deleted."
    )
    async def communication(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[CommunicationType, None]:
        try:
            async for row in watch(info.context.store, ids.communication_pk(id)):
                yield to_graphql(row)
        except Refused as refused:
            raise to_graphql_error(refused) from None


def _pk(value: str) -> int:
    pk = ids.communication_pk(value)
    if pk is None:
        raise to_graphql_error(not_found(value))
    return pk
