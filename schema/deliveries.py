"""Recipients and delivery: the worker API, display statistics and their live views."""

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Self

import strawberry

from schema import ids
from schema.context import Info
from schema.enums import CommunicationStatus
from schema.subscriptions import watched
from schema.types import Communication, UserError, to_graphql, to_graphql_error
from store import deliveries
from store.audience import Delivery
from store.content import has_audience
from store.deliveries import Display, Outcome
from store.errors import Refused, invalid
from store.lifecycle import Kind, Status
from store.tables import Communication as Row
from store.tables import DeliveryEvent as EventRow
from store.tables import utcnow

EVENTS_MAX = 100
LEASE_MAX = 3_600

DeliveryOutcome = Annotated[Delivery, strawberry.enum(name="DeliveryState")]
DisplayEventType = Annotated[Display, strawberry.enum(name="DisplayEventType")]


@strawberry.enum(description="Why one item of a report or of display events was not applied.")
class ItemErrorCode(Enum):
    UNKNOWN_RECIPIENT = "UNKNOWN_RECIPIENT"
    CONFLICTING_OUTCOME = "CONFLICTING_OUTCOME"
    NOT_COLLECTED = "NOT_COLLECTED"
    INVALID_INPUT = "INVALID_INPUT"


@strawberry.type
class ItemResult:
    recipient_id: str
    applied: bool = strawberry.field(
        description="False for a repeat (message says so) or a refusal."
    )
    code: ItemErrorCode | None
    message: str | None

    @classmethod
    def of(cls, outcome: Outcome) -> Self:
        code = ItemErrorCode(outcome.code) if outcome.code else None
        return cls(
            recipient_id=outcome.recipient_id,
            applied=outcome.applied,
            code=code,
            message=outcome.message,
        )


@strawberry.type
class ResultsPayload:
    communication: Communication | None
    results: list[ItemResult]
    user_errors: list[UserError]


@strawberry.type
class ClaimedRecipient:
    recipient_id: str
    lease_until: datetime


@strawberry.type
class ClaimRecipientsPayload:
    recipients: list[ClaimedRecipient]
    user_errors: list[UserError]


@strawberry.input
class DeliveryResultInput:
    recipient_id: str
    outcome: DeliveryOutcome = strawberry.field(description="SENT or NOT_SENT.")
    info: str | None = strawberry.field(default=None, description="The provider's error, say.")
    at: datetime | None = strawberry.field(default=None, description="Defaults to now.")


@strawberry.input
class DisplayEventInput:
    recipient_id: str
    type: DisplayEventType
    at: datetime | None = None


@strawberry.input
class DeliveryEventFilter:
    names: list[str] | None = strawberry.field(default=None, description="e.g. message.notSent")
    recipient_id: str | None = None


@strawberry.type(description="A recipient's final outcome or a display event.")
class DeliveryEvent:
    cursor: str
    communication_id: strawberry.ID
    recipient_id: str
    name: str
    at: datetime
    info: str | None

    @classmethod
    def of(cls, row: EventRow) -> Self:
        assert row.seq is not None
        return cls(
            cursor=ids.delivery_cursor(row.seq),
            communication_id=ids.communication_id(row.communication_id),
            recipient_id=row.recipient_id,
            name=row.name,
            at=row.at,
            info=row.info,
        )


@strawberry.type
class DeliveryEventEdge:
    cursor: str
    node: DeliveryEvent


@strawberry.type
class DeliveryEventConnection:
    edges: list[DeliveryEventEdge]
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A message campaign's counters, pushed while they change.")
class SendingProgress:
    communication_id: strawberry.ID
    status: CommunicationStatus
    audience_size: int
    pending_count: int
    handed_off_count: int
    sent_count: int
    not_sent_count: int
    progress: float
    last_progress_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> Self:
        size = row.audience_size or 0
        return cls(
            communication_id=ids.communication_id(row.id),
            status=Status(row.status),
            audience_size=size,
            pending_count=row.pending_count,
            handed_off_count=row.handed_off_count,
            sent_count=row.sent_count,
            not_sent_count=row.not_sent_count,
            progress=1.0 if size == 0 else (size - row.pending_count) / size,
            last_progress_at=row.progress_at,
        )


def _refused(refused: Refused) -> ResultsPayload:
    return ResultsPayload(
        communication=None, results=[], user_errors=[UserError.from_refusal(refused)]
    )


def _when(at: datetime | None) -> datetime:
    return utcnow() if at is None else at


@strawberry.type
class DeliveryMutation:
    @strawberry.mutation(
        description="Hand up to `limit` PENDING recipients of a SENDING campaign to a worker, "
        "leased for `leaseSeconds`; unreported ones go back to PENDING when the lease expires."
    )
    async def claim_recipients(
        self,
        info: Info,
        communication_id: strawberry.ID,
        limit: int,
        worker_id: str,
        lease_seconds: int | None = None,
    ) -> ClaimRecipientsPayload:
        try:
            if lease_seconds is not None and not 1 <= lease_seconds <= LEASE_MAX:
                raise invalid("leaseSeconds", f"leaseSeconds must be between 1 and {LEASE_MAX}")
            lease = (
                info.context.lease if lease_seconds is None else timedelta(seconds=lease_seconds)
            )
            claimed = await deliveries.claim(
                info.context.store,
                ids.communication_pk(communication_id),
                limit=limit,
                worker_id=worker_id,
                lease=lease,
                actor=info.context.actor,
            )
        except Refused as refused:
            return ClaimRecipientsPayload(
                recipients=[], user_errors=[UserError.from_refusal(refused)]
            )
        return ClaimRecipientsPayload(
            recipients=[
                ClaimedRecipient(recipient_id=c.recipient_id, lease_until=c.lease_until)
                for c in claimed
            ],
            user_errors=[],
        )

    @strawberry.mutation(
        description="Final outcomes from a worker. Repeats change nothing; an outcome that "
        "contradicts a final one is refused in `results`, never applied."
    )
    async def report_deliveries(
        self, info: Info, communication_id: strawberry.ID, results: list[DeliveryResultInput]
    ) -> ResultsPayload:
        try:
            items = [_report(r) for r in results]
            row, outcomes = await deliveries.report(
                info.context.store,
                ids.communication_pk(communication_id),
                items,
                actor=info.context.actor,
            )
        except Refused as refused:
            return _refused(refused)
        return ResultsPayload(
            communication=to_graphql(row),
            results=[ItemResult.of(o) for o in outcomes],
            user_errors=[],
        )

    @strawberry.mutation(
        description="Displays and clicks of dynamic content, in-app messages and screen views; "
        "counted only while ACTIVE (statistics are not collected while paused)."
    )
    async def record_display_events(
        self, info: Info, id: strawberry.ID, events: list[DisplayEventInput]
    ) -> ResultsPayload:
        items = [deliveries.DisplayEvent(e.recipient_id, e.type, _when(e.at)) for e in events]
        try:
            row, outcomes = await deliveries.record_display(
                info.context.store, ids.communication_pk(id), items
            )
        except Refused as refused:
            return _refused(refused)
        return ResultsPayload(
            communication=to_graphql(row),
            results=[ItemResult.of(o) for o in outcomes],
            user_errors=[],
        )


def _report(given: DeliveryResultInput) -> deliveries.Report:
    if given.outcome not in (Delivery.SENT, Delivery.NOT_SENT):
        raise invalid("outcome", "a report's outcome is SENT or NOT_SENT")
    return deliveries.Report(given.recipient_id, given.outcome, given.info, _when(given.at))


@strawberry.type
class DeliveryQuery:
    @strawberry.field(description="A campaign's delivery and display events, oldest first.")
    async def delivery_events(
        self,
        info: Info,
        communication_id: strawberry.ID,
        filter: DeliveryEventFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> DeliveryEventConnection:
        size = 20 if first is None else first
        start = 0 if after is None else ids.delivery_seq(after)
        try:
            if not 0 <= size <= EVENTS_MAX:
                raise invalid("first", f"first must be between 0 and {EVENTS_MAX}")
            if start is None:
                raise invalid("after", "after is not a delivery event cursor")
            found, more = await deliveries.events(
                info.context.store,
                ids.communication_pk(communication_id),
                names=filter.names if filter else None,
                recipient_id=filter.recipient_id if filter else None,
                after=start,
                first=size,
            )
        except Refused as refused:
            raise to_graphql_error(refused) from None
        edges = [DeliveryEventEdge(cursor=e.cursor, node=e) for e in map(DeliveryEvent.of, found)]
        return DeliveryEventConnection(
            edges=edges, has_next_page=more, end_cursor=edges[-1].cursor if edges else None
        )


@strawberry.type
class DeliverySubscription:
    @strawberry.subscription(
        description="A message campaign's counters: now, then at most 4 times a second while "
        "they change, and at once on every status change."
    )
    async def sending_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[SendingProgress, None]:
        async for item in watched(info, id, _progress):
            yield item


def _progress(row: Row) -> SendingProgress:
    if not has_audience(Kind(row.kind)):
        raise invalid("id", f"{row.kind} has no sending progress; message campaigns do")
    return SendingProgress.of(row)
