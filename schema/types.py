"""The object types: one per kind, all members of the `Communication` union."""

import functools
import inspect
import operator
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Protocol, Self, TypeVar, cast

import strawberry

from schema import ids
from schema.context import Info
from schema.enums import (
    STATUS_ENUMS,
    CommunicationAction,
    CommunicationKind,
    CommunicationOrigin,
    CommunicationStatus,
    UserErrorCode,
)
from store import changes, deliveries
from store.content import CONTENT
from store.errors import Refused, invalid
from store.feed import Change
from store.lifecycle import Action, Kind, Origin, Status, available_actions
from store.tables import Communication as Row
from store.tables import utcnow

HISTORY_MAX = 100


class Columns(Protocol):
    """A row's column values by name, as fields are read (`FromRow`): its `__dict__`."""

    def __getitem__(self, name: str, /) -> Any: ...


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class UserError:
    code: Any = strawberry.field(graphql_type=UserErrorCode)
    message: str
    field: list[str] | None

    @classmethod
    def from_refusal(cls, refused: Refused) -> Self:
        return cls(code=refused.code, message=refused.message, field=refused.field)


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    id: strawberry.ID


@strawberry.interface(description="The fields every kind of communication has.")
class CommunicationBase(Node):
    row: strawberry.Private[Row]
    name: str
    kind: CommunicationKind
    origin: CommunicationOrigin
    version: int = strawberry.field(description="Goes up by one on every edit and status change.")
    created_at: datetime
    updated_at: datetime
    start_at: datetime | None
    end_at: datetime | None
    status_reason: str | None = strawberry.field(description="Why it was stopped or failed.")
    available_actions: list[CommunicationAction] = strawberry.field(
        description="What a person may do now: the buttons a dashboard enables."
    )

    @strawberry.field(description="Its status changes, oldest first.")
    async def history(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> "StatusChangeConnection":
        size = 20 if first is None else first
        if not 0 <= size <= HISTORY_MAX:
            raise to_graphql_error(invalid("first", f"first must be between 0 and {HISTORY_MAX}"))
        position = (0, 0) if after is None else ids.change_position(after)
        if position is None:
            raise to_graphql_error(invalid("after", "after is not a cursor of this history"))
        start = position[1]  # one communication's changes commit in sequence order
        assert self.row.id is not None
        found, more = await changes.history(
            info.context.store, self.row.id, after=start, first=size
        )
        return StatusChangeConnection.of(found, has_next=more, has_previous=start > 0)

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The object of `row`. Its fields are read from the row when a query selects them
        (`readers`, installed by `output`), not here: built eagerly, a page of 50 made every
        field of every item, content, actions and all, selected or not (12% of a page by
        py-spy)."""
        made = cls.__new__(cls)
        made.row = row
        return made

    @classmethod
    def readers(cls, kind: Kind) -> dict[str, Callable[[Columns], Any]]:
        """How each field of the kind's type is read from its row, by Python name."""
        content: dict[str, Callable[[Columns], Any]] = {
            rule.name: operator.itemgetter("slug") if rule.name == "slug" else _content(rule.name)
            for rule in CONTENT[kind]
        }
        return {**_BASE, "status": _status(kind), **content}


def _status(kind: Kind) -> Callable[[Columns], Enum]:
    members = STATUS_ENUMS[kind]
    return lambda row: members[row["status"]]


def _content(name: str) -> Callable[[Columns], Any]:
    return lambda row: row["content"].get(name)


def _actions(row: Columns) -> list[Action]:
    return available_actions(Kind(row["kind"]), Origin(row["origin"]), Status(row["status"]))


# a row's kind and origin as enum members, by dict: calling the enum (`Kind(row.kind)`)
# for each item of a page and each of its fields was 2% of a page of 50
_KINDS: dict[str, Kind] = {kind.value: kind for kind in Kind}
_ORIGINS: dict[str, Origin] = {origin.value: origin for origin in Origin}

_BASE: dict[str, Callable[[Columns], Any]] = {
    "id": lambda row: ids.communication_id(row["id"]),
    "name": operator.itemgetter("name"),
    "kind": lambda row: _KINDS[row["kind"]],
    "origin": lambda row: _ORIGINS[row["origin"]],
    "version": operator.itemgetter("version"),
    "created_at": operator.itemgetter("created_at"),
    "updated_at": operator.itemgetter("updated_at"),
    "start_at": operator.itemgetter("start_at"),
    "end_at": operator.itemgetter("end_at"),
    "status_reason": operator.itemgetter("status_reason"),
    "available_actions": _actions,
}


class FromRow:
    """A field read from the object's row on access (what strawberry's default resolver
    does for a field it resolves: `getattr`); set on the class after strawberry made it.
    Read from the row's own dict, where the ORM keeps a loaded column: through its
    descriptor each field of a page of 50 cost about 3% more. A column not loaded there
    (no row read whole) is read through the ORM, as before."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[Columns], Any]) -> None:
        self.read = read

    def __get__(self, instance: CommunicationBase | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return self.read(instance.row.__dict__)
        except KeyError:
            return self.read(_Attributes(instance.row))


class _Attributes:
    """A row's columns read through the ORM, as readers read a row's dict."""

    __slots__ = ("row",)

    def __init__(self, row: Row) -> None:
        self.row = row

    def __getitem__(self, name: str) -> Any:
        return getattr(self.row, name)


# each kind's output type, filled in by `output` as the types are declared
TYPES: dict[Kind, type[CommunicationBase]] = {}

C = TypeVar("C", bound=type[CommunicationBase])


def output(kind: Kind) -> Callable[[C], C]:
    """A kind's output type: a strawberry type whose first field is its own status enum
    (store/kinds.py names the kind), registered in `TYPES` and so in the union."""

    def register(cls: C) -> C:
        fields = {"status": Any, **inspect.get_annotations(cls)}
        cls.__annotations__ = fields  # status first, as each type declared it by hand
        cls.status = strawberry.field(graphql_type=STATUS_ENUMS[kind])  # type: ignore[attr-defined]
        made = TYPES[kind] = strawberry.type(cls)
        for name, read in made.readers(kind).items():
            setattr(made, name, FromRow(read))
        return made

    return register


@strawberry.interface(description="A campaign queued to providers: email, SMS or push.")
class MessageCampaign(CommunicationBase):
    audience_size: int = strawberry.field(description="Recipients in the audience.")
    pending_count: int = strawberry.field(description="Recipients not yet handed to a worker.")
    handed_off_count: int = strawberry.field(description="Taken by a worker, not yet reported.")
    sent_count: int = strawberry.field(description="Recipients whose message was sent.")
    not_sent_count: int = strawberry.field(description="Recipients who got a not-sent event.")
    progress: float = strawberry.field(
        description="Share of the audience no longer PENDING, 0 to 1: queuing progress."
    )
    last_progress_at: datetime | None = strawberry.field(
        description="When a recipient was last claimed or reported."
    )
    delivered_count: int = strawberry.field(description="Delivered events from providers.")
    deferred_count: int = strawberry.field(description="Deferred events (delivery retried).")
    opened_count: int = strawberry.field(description="Opened events.")
    clicked_count: int = strawberry.field(description="Clicked events.")
    bounced_count: int = strawberry.field(description="Bounced events after a send.")
    complained_count: int = strawberry.field(description="Spam complaints.")
    unsubscribed_count: int = strawberry.field(description="Unsubscribed events.")

    @strawberry.field(
        description="Recipients wait for workers (SENDING, or FINISHED with some PENDING "
        "again), yet nobody claimed or reported any for the configured time."
    )
    def stalled(self, info: Info) -> bool:
        return deliveries.stalled(self.row, utcnow(), info.context.stalled_after)

    @classmethod
    def readers(cls, kind: Kind) -> dict[str, Callable[[Columns], Any]]:
        counts = ("pending_count", "handed_off_count", "sent_count", "not_sent_count")
        return {
            **super().readers(kind),
            "audience_size": lambda row: row["audience_size"] or 0,
            **{name: operator.itemgetter(name) for name in counts},
            "progress": _progress,
            "last_progress_at": operator.itemgetter("progress_at"),
            **{name: operator.itemgetter(name) for name in deliveries.AFTER_COUNTER.values()},
        }


def _progress(row: Columns) -> float:
    size = row["audience_size"] or 0
    return 1.0 if size == 0 else (size - row["pending_count"]) / size


@strawberry.interface(
    description="Shown to an audience while ACTIVE: dynamic content, in-app, screen view."
)
class DisplayCommunication(CommunicationBase):
    shown_count: int = strawberry.field(description="Displays counted while ACTIVE.")
    clicked_count: int = strawberry.field(description="Clicks counted while ACTIVE.")

    @classmethod
    def readers(cls, kind: Kind) -> dict[str, Callable[[Columns], Any]]:
        counts = ("shown_count", "clicked_count")
        return {**super().readers(kind), **{name: operator.itemgetter(name) for name in counts}}


@output(Kind.EMAIL)
class EmailCampaign(MessageCampaign):
    subject: str
    from_address: str | None
    body: str | None


@output(Kind.SMS)
class SmsCampaign(MessageCampaign):
    text: str
    sender_name: str | None


@output(Kind.WEB_PUSH)
class WebPushCampaign(MessageCampaign):
    title: str
    body: str | None
    url: str | None


@output(Kind.MOBILE_PUSH)
class MobilePushCampaign(MessageCampaign):
    title: str
    body: str | None
    deep_link: str | None


@output(Kind.DYNAMIC_CONTENT)
class DynamicContent(DisplayCommunication):
    placement: str
    html: str | None


@output(Kind.IN_APP)
class InAppMessage(DisplayCommunication):
    title: str
    body: str | None


@output(Kind.SCREEN_VIEW)
class ScreenView(DisplayCommunication):
    screen: str
    html: str | None


@output(Kind.LANDING_PAGE)
class LandingPage(CommunicationBase):
    slug: str
    title: str
    html: str | None


if TYPE_CHECKING:  # to mypy, any kind's type; the union itself is made at run time
    CommunicationUnion = CommunicationBase
else:  # every kind's output type, in the order they are declared above
    _members = functools.reduce(operator.or_, TYPES.values())  # EmailCampaign | SmsCampaign…
    CommunicationUnion = Annotated[_members, strawberry.union("Communication")]


def to_graphql(row: Row) -> Any:
    return TYPES[_KINDS[row.kind]].from_row(row)


def to_graphql_error(refused: Refused) -> Exception:
    from graphql import GraphQLError

    extensions: dict[str, object] = {"code": refused.code.value}
    if refused.field:
        extensions["field"] = refused.field
    return GraphQLError(refused.message, extensions=extensions)


R = TypeVar("R", bound=Callable[..., Awaitable[Any]])


def refusals_as_user_errors(payload: Callable[..., Any], **empty: Any) -> Callable[[R], R]:
    """A mutation whose store call is refused answers `payload(**empty)` with the refusal
    as its `userErrors`: the one place a `Refused` becomes a payload."""

    def wrap(resolver: R) -> R:
        @functools.wraps(resolver)  # strawberry reads the arguments through the wrapper
        async def resolve(*args: Any, **kwargs: Any) -> Any:
            try:
                return await resolver(*args, **kwargs)
            except Refused as refused:
                return payload(**empty, user_errors=[UserError.from_refusal(refused)])

        return cast(R, resolve)

    return wrap


def refusals_as_errors(resolver: R) -> R:
    """A query whose store call is refused answers a GraphQL error with the refusal's code."""

    @functools.wraps(resolver)
    async def resolve(*args: Any, **kwargs: Any) -> Any:
        try:
            return await resolver(*args, **kwargs)
        except Refused as refused:
            raise to_graphql_error(refused) from None

    return cast(R, resolve)


@strawberry.type
class StatusChange:
    change: strawberry.Private[Change]
    cursor: str
    communication_id: strawberry.ID
    kind: CommunicationKind
    action: CommunicationAction
    from_: CommunicationStatus | None = strawberry.field(name="from")
    to: CommunicationStatus
    actor: str
    reason: str | None
    version: int = strawberry.field(description="The communication's version after the change.")
    at: datetime

    @strawberry.field(description="The communication as it is now.")
    async def communication(self, info: Info) -> CommunicationUnion:
        row = await info.context.communications_by_id.load(self.change.communication_id)
        assert row is not None, "status changes are never orphaned: rows are only soft-deleted"
        return to_graphql(row)  # type: ignore[no-any-return]

    @classmethod
    def of(cls, change: Change) -> Self:
        return cls(
            change=change,
            cursor=ids.change_cursor(change.position),
            communication_id=ids.communication_id(change.communication_id),
            kind=Kind(change.kind),
            action=change.action,  # type: ignore[arg-type]
            from_=Status(change.from_status) if change.from_status else None,
            to=Status(change.to_status),
            actor=change.actor,
            reason=change.reason,
            version=change.version,
            at=change.at,
        )


@strawberry.type
class StatusChangeEdge:
    cursor: str
    node: StatusChange


@strawberry.type
class StatusChangeConnection:
    edges: list[StatusChangeEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, found: list[Change], *, has_next: bool, has_previous: bool) -> Self:
        edges = [
            StatusChangeEdge(cursor=ids.change_cursor(c.position), node=StatusChange.of(c))
            for c in found
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.type(description="What a stop does to the recipients of a message campaign.")
class StopSummary:
    not_sent_now: int = strawberry.field(description="Recipients made NOT_SENT by this stop.")
    already_sent: int
    total: int


@strawberry.type
class CommunicationPayload:
    communication: CommunicationUnion | None
    user_errors: list[UserError]
    stop_summary: StopSummary | None = strawberry.field(
        default=None, description="Set by stopCommunication, dry run or not."
    )


@strawberry.type
class DeleteCommunicationPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class StatusCount:
    kind: CommunicationKind
    status: CommunicationStatus
    count: int
