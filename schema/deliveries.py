"""Recipients and delivery: the worker API, display statistics and their live views."""

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Self

import strawberry

from schema import ids
from schema.context import Info
from schema.enums import CommunicationKind, CommunicationStatus, ItemErrorCode
from schema.subscriptions import watched
from schema.types import (
    CommunicationUnion,
    UserError,
    refusals_as_errors,
    refusals_as_user_errors,
    to_graphql,
)
from store import communications, deliveries
from store.audience import After, Delivery, Failure
from store.content import has_audience
from store.deliveries import Display, EventOutcome, Leased, Outcome, ProviderEvent
from store.errors import invalid
from store.lifecycle import Kind, Status
from store.tables import Communication as Row
from store.tables import DeliveryEvent as EventRow
from store.tables import utcnow

EVENTS_MAX = 100
LEASE_MAX = 3_600

DisplayEventType = Annotated[Display, strawberry.enum(name="DisplayEventType")]
FailureClass = Annotated[
    Failure, strawberry.enum(name="FailureClass", description="Why a message was not sent.")
]
ProviderEventType = Annotated[
    After,
    strawberry.enum(
        name="ProviderEventType",
        description="A provider's event after a send; it never changes the outcome SENT.",
    ),
]


@strawberry.enum(description="What a worker may report: a final outcome.")
class ReportedOutcome(Enum):
    SENT = Delivery.SENT.value
    NOT_SENT = Delivery.NOT_SENT.value


@strawberry.type
class ItemResult:
    recipient_id: str
    applied: bool = strawberry.field(
        description="False for a repeat (message says so) or a refusal."
    )
    code: Any = strawberry.field(graphql_type=ItemErrorCode | None)
    message: str | None
    lease_until: datetime | None = strawberry.field(
        description="After a renewal: when the lease now ends."
    )

    @classmethod
    def of(cls, outcome: Outcome) -> Self:
        return cls(
            recipient_id=outcome.recipient_id,
            applied=outcome.applied,
            code=outcome.code,
            message=outcome.message,
            lease_until=outcome.lease_until,
        )


@strawberry.type
class ResultsPayload:
    communication: CommunicationUnion | None
    results: list[ItemResult]
    user_errors: list[UserError]


@strawberry.type(description="A recipient a worker holds, under a lease.")
class ClaimedRecipient:
    communication_id: strawberry.ID
    recipient_id: str
    lease_id: strawberry.ID = strawberry.field(
        description="Pass it with every report, renewal and release of this recipient."
    )
    lease_until: datetime

    @classmethod
    def of(cls, claimed: deliveries.Claimed) -> Self:
        return cls(
            communication_id=ids.communication_id(claimed.communication_id),
            recipient_id=claimed.recipient_id,
            lease_id=strawberry.ID(claimed.lease_id),
            lease_until=claimed.lease_until,
        )


@strawberry.type
class ClaimRecipientsPayload:
    recipients: list[ClaimedRecipient]
    user_errors: list[UserError]


@strawberry.input
class LeasedRecipientInput:
    recipient_id: str
    lease_id: strawberry.ID


@strawberry.input
class DeliveryResultInput:
    recipient_id: str
    lease_id: strawberry.ID = strawberry.field(description="The lease the claim gave.")
    outcome: ReportedOutcome
    info: str | None = strawberry.field(
        default=None, description="Free text: the provider's failure message, say."
    )
    at: datetime | None = strawberry.field(
        default=None, description="The time at the provider; defaults to now."
    )
    provider_message_id: str | None = strawberry.field(
        default=None, description="The provider's id for the message: its webhooks name it."
    )
    failure_class: FailureClass | None = strawberry.field(
        default=None, description="NOT_SENT only: why, as providers class it."
    )
    failure_code: str | None = strawberry.field(
        default=None, description="NOT_SENT only: the provider's own code, e.g. 550 5.1.1."
    )


@strawberry.input(description="An event after the send, from a provider's webhook.")
class ProviderEventInput:
    event_id: str = strawberry.field(description="The provider's event id: repeats are ignored.")
    provider_message_id: str
    type: ProviderEventType
    at: datetime | None = strawberry.field(
        default=None, description="The time at the provider; defaults to now."
    )
    info: str | None = None


@strawberry.type
class ProviderEventResult:
    event_id: str
    applied: bool = strawberry.field(description="False for a repeat or a refusal.")
    code: Any = strawberry.field(graphql_type=ItemErrorCode | None)
    message: str | None
    communication_id: strawberry.ID | None
    recipient_id: str | None

    @classmethod
    def of(cls, outcome: EventOutcome) -> Self:
        cid = outcome.communication_id
        return cls(
            event_id=outcome.event_id,
            applied=outcome.applied,
            code=outcome.code,
            message=outcome.message,
            communication_id=None if cid is None else ids.communication_id(cid),
            recipient_id=outcome.recipient_id,
        )


@strawberry.type
class ProviderEventsPayload:
    results: list[ProviderEventResult]
    user_errors: list[UserError]


@strawberry.input
class DisplayEventInput:
    event_id: str = strawberry.field(description="Unique per event: a retried one is ignored.")
    recipient_id: str
    type: DisplayEventType
    at: datetime | None = None


@strawberry.input
class DeliveryEventFilter:
    names: list[str] | None = strawberry.field(default=None, description="e.g. message.notSent")
    recipient_id: str | None = None


@strawberry.type(
    description="A recipient's final outcome, a provider's event after it, or a display event."
)
class DeliveryEvent:
    cursor: str
    communication_id: strawberry.ID
    recipient_id: str
    name: str
    at: datetime
    info: str | None
    event_id: str | None
    provider_message_id: str | None
    failure_class: FailureClass | None
    failure_code: str | None

    @classmethod
    def of(cls, key: deliveries.EventKey, row: EventRow) -> Self:
        return cls(
            cursor=ids.delivery_cursor(key),
            communication_id=ids.communication_id(row.communication_id),
            recipient_id=row.recipient_id,
            name=row.name,
            at=row.at,
            info=row.info,
            event_id=row.event_id,
            provider_message_id=row.provider_message_id,
            failure_class=None if row.failure_class is None else Failure(row.failure_class),
            failure_code=row.failure_code,
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
    delivered_count: int
    deferred_count: int
    opened_count: int
    clicked_count: int
    bounced_count: int
    complained_count: int
    unsubscribed_count: int

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
            **deliveries.after_counts(row),
        )


def _when(at: datetime | None) -> datetime:
    return utcnow() if at is None else at


def _lease(info: Info, lease_seconds: int | None) -> timedelta:
    if lease_seconds is not None and not 1 <= lease_seconds <= LEASE_MAX:
        raise invalid("leaseSeconds", f"leaseSeconds must be between 1 and {LEASE_MAX}")
    return info.context.lease if lease_seconds is None else timedelta(seconds=lease_seconds)


async def _claim(
    info: Info,
    take: Callable[..., Awaitable[list[deliveries.Claimed]]],
    which: object,
    limit: int,
    worker_id: str,
    lease_seconds: int | None,
) -> "ClaimRecipientsPayload":
    """claimRecipients and claimNext: `take` (one campaign's or the next) with `which`."""
    lease = _lease(info, lease_seconds)
    store, actor = info.context.store, info.context.actor
    found = await take(store, which, limit=limit, worker_id=worker_id, lease=lease, actor=actor)
    return ClaimRecipientsPayload(
        recipients=[ClaimedRecipient.of(c) for c in found], user_errors=[]
    )


def _leased(recipients: list["LeasedRecipientInput"]) -> list[Leased]:
    return [Leased(r.recipient_id, r.lease_id) for r in recipients]


async def _results(info: Info, pk: int | None, outcomes: list[Outcome]) -> ResultsPayload:
    return _applied(await communications.get(info.context.store, pk), outcomes)


def _applied(row: Row, outcomes: list[Outcome]) -> ResultsPayload:
    return ResultsPayload(
        communication=to_graphql(row),
        results=[ItemResult.of(o) for o in outcomes],
        user_errors=[],
    )


_claims = refusals_as_user_errors(ClaimRecipientsPayload, recipients=[])
_items = refusals_as_user_errors(ResultsPayload, communication=None, results=[])


@strawberry.type
class DeliveryMutation:
    @strawberry.mutation(
        description="Hand up to `limit` PENDING recipients of a SENDING campaign to a worker, "
        "leased for `leaseSeconds` under one new lease id; unreported ones go back to "
        "PENDING when the lease expires."
    )
    @_claims
    async def claim_recipients(
        self,
        info: Info,
        communication_id: strawberry.ID,
        limit: int,
        worker_id: str,
        lease_seconds: int | None = None,
    ) -> ClaimRecipientsPayload:
        pk = ids.communication_pk(communication_id)
        return await _claim(info, deliveries.claim, pk, limit, worker_id, lease_seconds)

    @strawberry.mutation(
        description="Claim up to `limit` PENDING recipients from whichever SENDING or FINISHED "
        "campaign of these kinds is next in turn: the one claimed from longest ago, so "
        "campaigns take turns, oldest first. Empty when there is no work."
    )
    @_claims
    async def claim_next(
        self,
        info: Info,
        kinds: list[CommunicationKind],
        limit: int,
        worker_id: str,
        lease_seconds: int | None = None,
    ) -> ClaimRecipientsPayload:
        which = [Kind(k.value) for k in kinds]
        return await _claim(info, deliveries.claim_next, which, limit, worker_id, lease_seconds)

    @strawberry.mutation(
        description="A heartbeat: recipients their lease still holds stay with it for "
        "`leaseSeconds` more (default as for a claim). Refused per item otherwise."
    )
    @_items
    async def renew_leases(
        self,
        info: Info,
        communication_id: strawberry.ID,
        recipients: list[LeasedRecipientInput],
        lease_seconds: int | None = None,
    ) -> ResultsPayload:
        pk, lease = ids.communication_pk(communication_id), _lease(info, lease_seconds)
        renewed = await deliveries.renew(info.context.store, pk, _leased(recipients), lease=lease)
        return await _results(info, pk, renewed)

    @strawberry.mutation(
        description="Give held recipients back to PENDING (a deferral); the next claim hands "
        "them out again. Refused per item where the lease no longer holds them."
    )
    @_items
    async def release_recipients(
        self, info: Info, communication_id: strawberry.ID, recipients: list[LeasedRecipientInput]
    ) -> ResultsPayload:
        pk = ids.communication_pk(communication_id)
        released = await deliveries.release(info.context.store, pk, _leased(recipients))
        return await _results(info, pk, released)

    @strawberry.mutation(
        description="Final outcomes from a worker, each with the lease it holds. Repeats "
        "change nothing; a superseded lease (STALE_LEASE), a recipient never claimed "
        "(NOT_CLAIMED) and an outcome that contradicts a final one are refused in `results`."
    )
    @_items
    async def report_deliveries(
        self, info: Info, communication_id: strawberry.ID, results: list[DeliveryResultInput]
    ) -> ResultsPayload:
        items = [_report(r) for r in results]
        pk = ids.communication_pk(communication_id)
        row, outcomes = await deliveries.report(
            info.context.store, pk, items, actor=info.context.actor
        )
        return _applied(row, outcomes)

    @strawberry.mutation(
        description="Events after the send from a provider's webhook (delivered, opened, "
        "clicked, bounced, complained, unsubscribed, deferred), matched to recipients by "
        "provider message id, across campaigns. Each counts once per event id into the "
        "campaign's counters and never changes SENT or NOT_SENT."
    )
    @refusals_as_user_errors(ProviderEventsPayload, results=[])
    async def record_provider_events(
        self, info: Info, events: list[ProviderEventInput]
    ) -> ProviderEventsPayload:
        items = [
            ProviderEvent(e.event_id, e.provider_message_id, e.type, _when(e.at), e.info)
            for e in events
        ]
        outcomes = await deliveries.record_provider_events(info.context.store, items)
        return ProviderEventsPayload(
            results=[ProviderEventResult.of(o) for o in outcomes], user_errors=[]
        )

    @strawberry.mutation(
        description="Displays and clicks of dynamic content, in-app messages and screen views; "
        "counted only while ACTIVE (statistics are not collected while paused)."
    )
    @_items
    async def record_display_events(
        self, info: Info, id: strawberry.ID, events: list[DisplayEventInput]
    ) -> ResultsPayload:
        items = [
            deliveries.DisplayEvent(e.recipient_id, e.type, _when(e.at), e.event_id) for e in events
        ]
        pk = ids.communication_pk(id)
        return _applied(*await deliveries.record_display(info.context.store, pk, items))


def _report(given: DeliveryResultInput) -> deliveries.Report:
    return deliveries.Report(
        given.recipient_id,
        given.lease_id,
        Delivery(given.outcome.value),
        given.info,
        _when(given.at),
        provider_message_id=given.provider_message_id,
        failure=given.failure_class,
        failure_code=given.failure_code,
    )


@strawberry.type
class DeliveryQuery:
    @strawberry.field(
        description="What these leases still hold (HANDED_OFF), for a worker recovering "
        "after a restart: report, renew or release them."
    )
    @refusals_as_errors
    async def leased_recipients(
        self, info: Info, lease_ids: list[strawberry.ID]
    ) -> list[ClaimedRecipient]:
        found = await deliveries.held(info.context.store, lease_ids)
        return [ClaimedRecipient.of(c) for c in found]

    @strawberry.field(description="A campaign's delivery and display events, oldest first.")
    @refusals_as_errors
    async def delivery_events(
        self,
        info: Info,
        communication_id: strawberry.ID,
        filter: DeliveryEventFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> DeliveryEventConnection:
        size = 20 if first is None else first
        start = (0, 0) if after is None else ids.delivery_key(after)
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
        nodes = [DeliveryEvent.of(key, row) for key, row in found]
        edges = [DeliveryEventEdge(cursor=e.cursor, node=e) for e in nodes]
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
