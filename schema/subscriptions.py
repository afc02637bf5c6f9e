"""Subscriptions: the status-change stream and a live view of one communication."""

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Generic, TypeVar

import strawberry
from graphql import GraphQLError

from schema import ids, sharing
from schema.context import Info
from schema.enums import CommunicationKind, CommunicationStatus
from schema.errors import Code
from schema.types import CommunicationUnion, StatusChange, to_graphql, to_graphql_error
from store import Store
from store import stream as stream_
from store.changes import Position
from store.errors import Refused, invalid, not_found
from store.feed import Change
from store.tables import Communication

T = TypeVar("T")
POLL_SAFETY = stream_.POLL_SAFETY  # seconds: the reader reads again this often regardless


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
    """Committed changes in stream order: what committed after `after`, then live ones,
    from the process's one reader of the table (store/stream.py)."""
    async for change in stream_.of(store).changes(after, wanted):
        yield change


async def watched(
    info: Info, id: strawberry.ID, present: Callable[[Communication], T]
) -> AsyncGenerator[T, None]:
    """A live view of one communication, each state as `present` makes it (which may refuse
    it), shared by the watchers that would get the same result (schema/sharing.py)."""
    events = _Presented(stream_.of(info.context.store).watch(ids.communication_pk(id)), present)
    try:
        # no `resume`: a watcher riding along keeps its watch, a few references (only the
        # newest row waits), which `deliver` closes when its member is done with it
        async for item in sharing.deliver(info, events):
            yield item
    except Refused as refused:
        raise to_graphql_error(refused) from None
    except stream_.Behind as behind:
        raise _behind(behind) from None


class _Presented(Generic[T]):
    """A watch's rows as sharing's events (`deliver` closes them): an object rather than a
    generator, so a watcher riding along keeps no frame of its own."""

    __slots__ = ("present", "rows")

    def __init__(self, rows: stream_.Watch, present: Callable[[Communication], T]) -> None:
        self.rows = rows
        self.present = present

    def __aiter__(self) -> "_Presented[T]":
        return self

    async def __anext__(self) -> tuple[int, Callable[[], T]]:
        serial, row = await self.rows.__anext__()
        return serial, partial(self.present, row)

    async def aclose(self) -> None:
        await self.rows.aclose()


def _behind(error: stream_.Behind) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": Code.SLOW_CONSUMER, "limit": error.limit})


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
        store = info.context.store

        def events(after: Position | None) -> sharing.Events[StatusChange]:
            changes = stream(store, after, wanted)
            return ((c.position, partial(StatusChange.of, c)) async for c in changes)

        try:
            # a subscriber riding along lets go of its queue and reads on from `after` again
            async for item in sharing.deliver(info, events(start), events):
                yield item
        except stream_.Behind as behind:
            raise _behind(behind) from None

    @strawberry.subscription(
        description="One communication: its current state first, then again after every "
        "change (status, edits, sending progress). Ends when it is deleted."
    )
    async def communication(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[CommunicationUnion, None]:
        async for item in watched(info, id, to_graphql):
            yield item


def _pk(value: str) -> int:
    pk = ids.communication_pk(value)
    if pk is None:
        raise to_graphql_error(not_found(value))
    return pk
