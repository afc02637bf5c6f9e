"""Webhook endpoints for admins: create (the secret is shown once), list, delete, replay
from a cursor, and each endpoint's delivery log. Delivery itself: server/webhooks.py."""

from datetime import datetime
from enum import Enum
from typing import Self

import strawberry

from schema import ids
from schema.context import Info
from schema.enums import CommunicationKind, CommunicationStatus
from schema.types import R, UserError, refusals_as_errors, refusals_as_user_errors
from store import webhooks
from store.errors import invalid
from store.lifecycle import Kind, Status
from store.tables import WebhookAttempt as AttemptRow
from store.tables import WebhookEndpoint as EndpointRow

LOG_PAGE_MAX = 100


@strawberry.enum(description="FAILING: retried for the whole retry period; replay to resume.")
class WebhookEndpointState(Enum):
    ACTIVE = "ACTIVE"
    FAILING = "FAILING"


@strawberry.type(description="Where status changes are pushed; its secret is never shown again.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    kinds: list[CommunicationKind] | None
    statuses: list[CommunicationStatus] | None
    state: WebhookEndpointState
    cursor: str = strawberry.field(
        description="The last status change delivered (or passed over): a statusChanged cursor."
    )
    attempts: int = strawberry.field(description="Failed attempts at the next change.")
    failing_since: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    row: strawberry.Private[EndpointRow]

    @strawberry.field(description="Matching changes not delivered yet: how far it lags.")
    async def lag(self, info: Info) -> int:
        return await webhooks.lag(info.context.store, self.row)

    @strawberry.field(description="The newest attempt, delivered or not; null before any.")
    async def last_attempt(self, info: Info) -> "WebhookDelivery | None":
        assert self.row.id is not None
        row = await webhooks.last_attempt(info.context.store, self.row.id)
        return None if row is None else WebhookDelivery.of(row)

    @classmethod
    def of(cls, row: EndpointRow) -> Self:
        return cls(
            row=row,
            id=ids.webhook_endpoint_id(row.id),
            url=row.url,
            kinds=None if row.kinds is None else [Kind(k) for k in row.kinds],
            statuses=None if row.statuses is None else [Status(s) for s in row.statuses],
            state=WebhookEndpointState(row.state),
            cursor=ids.change_cursor((row.cursor_tx, row.cursor_seq)),
            attempts=row.attempts,
            failing_since=row.failing_since,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            created_at=row.created_at,
        )


@strawberry.type(description="One attempt to deliver one status change.")
class WebhookDelivery:
    cursor: str = strawberry.field(description="This attempt's place in the log.")
    webhook_id: str = strawberry.field(description="The webhook-id header, the same on retries.")
    change_cursor: str = strawberry.field(description="The status change sent.")
    communication_id: strawberry.ID
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    delivered: bool

    @classmethod
    def of(cls, row: AttemptRow) -> Self:
        return cls(
            cursor=ids.webhook_attempt_cursor(row.id),
            webhook_id=row.message_id,
            change_cursor=ids.change_cursor((row.event_tx, row.event_seq)),
            communication_id=ids.communication_id(row.communication_id),
            at=row.at,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
            delivered=row.delivered,
        )


@strawberry.type
class WebhookDeliveryPage:
    deliveries: list[WebhookDelivery]
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="createWebhookEndpoint only: verify signatures with it. Shown this once."
    )
    user_errors: list[UserError]


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    kinds: list[CommunicationKind] | None = strawberry.field(
        default=None, description="Only changes of these kinds; all when null."
    )
    statuses: list[CommunicationStatus] | None = strawberry.field(
        default=None, description="Only changes to these statuses; all when null."
    )


def _refusals(resolver: R) -> R:
    return refusals_as_user_errors(WebhookEndpointPayload, endpoint=None, secret=None)(resolver)


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Every webhook endpoint, with how far its delivery got.")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        return [WebhookEndpoint.of(row) for row in await webhooks.endpoints(info.context.store)]

    @strawberry.field(description="An endpoint's delivery log, oldest first.")
    @refusals_as_errors
    async def webhook_deliveries(
        self, info: Info, endpoint_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> WebhookDeliveryPage:
        start = 0 if after is None else ids.webhook_attempt_pk(after)
        if start is None:
            raise invalid("after", "after is not a webhook delivery cursor")
        if not 0 < first <= LOG_PAGE_MAX:
            raise invalid("first", f"first is 1 to {LOG_PAGE_MAX}")
        rows, more = await webhooks.attempts(
            info.context.store, ids.webhook_endpoint_pk(endpoint_id), after=start, first=first
        )
        deliveries = [WebhookDelivery.of(row) for row in rows]
        return WebhookDeliveryPage(
            deliveries=deliveries,
            has_next_page=more,
            end_cursor=deliveries[-1].cursor if deliveries else after,
        )


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="A new endpoint: every status change committed from now on that matches "
        "its filter is POSTed to it, signed (Standard Webhooks)."
    )
    @_refusals
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        row, secret = await webhooks.create(
            info.context.store,
            input.url,
            kinds=input.kinds,
            statuses=input.statuses,
            allow_private=info.context.webhook_allow_private,
        )
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.of(row), secret=secret, user_errors=[]
        )

    @strawberry.mutation(description="Stop delivering to an endpoint; its log stays.")
    @_refusals
    async def delete_webhook_endpoint(
        self, info: Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        row = await webhooks.delete(info.context.store, ids.webhook_endpoint_pk(id))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(row), secret=None, user_errors=[])

    @strawberry.mutation(
        description="Deliver again every matching change after `after` (a statusChanged cursor; "
        "null: from the first change ever), and resume a FAILING endpoint. Receivers drop "
        "what they already had by its webhook-id."
    )
    @_refusals
    async def replay_webhook_endpoint(
        self, info: Info, id: strawberry.ID, after: str | None = None
    ) -> WebhookEndpointPayload:
        position = (0, 0) if after is None else ids.change_position(after)
        if position is None:
            raise invalid("after", "after is not a status change cursor")
        row = await webhooks.replay(info.context.store, ids.webhook_endpoint_pk(id), position)
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(row), secret=None, user_errors=[])
