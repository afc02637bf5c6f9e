"""Prometheus metrics: every collector and every hook that feeds one, in this module.

The hooks are small and sit at the edges, so the store never imports prometheus:
- `MeteredFeed` wraps the store's feed: transitions by kind and action as they publish,
  notices as listeners receive them, the newest committed change.
- `MetricsExtension` (a strawberry extension): HTTP operations with their latency,
  refusals by code, subscriptions by field and what they deliver.
- `Metrics.websockets` counts open websockets (their handlers, server/websockets.py);
  `/metrics` reads what only the database
  knows (the stream's head, the scheduler's lateness, webhook backlogs) when scraped.
"""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from broadcaster import Broadcast
from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from schema import ids, sharing
from server.auth import Auth, Unauthenticated
from server.tracing import Tracing
from store import Store, changes
from store.feed import Change, Changed, Feed, Notice, Resync, Touch
from store.tables import utcnow


class Metrics:
    """The collectors of one app, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.websockets = Gauge(
            "commpulse_websockets_open", "Websockets open now", registry=registry
        )
        self.subscriptions = Gauge(
            "commpulse_subscriptions_open",
            "Subscriptions running now, by root field",
            ["field"],
            registry=registry,
        )
        self.reruns = Counter(
            "commpulse_subscription_reruns",
            "Subscriptions run again after riding along (schema/sharing.py), by root field",
            ["field"],
            registry=registry,
        )
        self.delivered = Counter(
            "commpulse_subscription_items",
            "Items subscriptions sent to clients, by root field",
            ["field"],
            registry=registry,
        )
        self.notices = Counter(
            "commpulse_notices_received",
            "Broker notices received by listeners, by type",
            ["type"],
            registry=registry,
        )
        self.transitions = Counter(
            "commpulse_transitions",
            "Status changes this instance applied, by kind and action",
            ["kind", "action"],
            registry=registry,
        )
        self.refusals = Counter(
            "commpulse_refusals",
            "Refusals by code: userErrors and GraphQL errors carrying a code",
            ["code"],
            registry=registry,
        )
        self.http = Histogram(
            "commpulse_http_request_duration_seconds",
            "GraphQL operations over HTTP, by operation (type and first root field)",
            ["operation"],
            registry=registry,
        )
        self.committed_seq = 0
        self.delivered_seq = 0
        self.status_streams = 0  # statusChanged subscriptions running
        Gauge(
            "commpulse_stream_committed_seq",
            "Sequence number of the newest committed status change",
            registry=registry,
        ).set_function(lambda: self.committed_seq)
        Gauge(
            "commpulse_stream_delivered_seq",
            "Sequence number of the newest status change delivered to a subscriber",
            registry=registry,
        ).set_function(lambda: self.delivered_seq)
        self.lag = Gauge(
            "commpulse_stream_lag",
            "Status changes committed but not yet delivered (newest committed minus newest "
            "delivered) while a statusChanged subscription runs, else 0",
            registry=registry,
        )
        self.lag.set_function(self._lag)
        self.pool = Gauge(
            "commpulse_db_pool_in_use", "Database connections checked out", registry=registry
        )
        self.broker = Gauge(
            "commpulse_broker_up", "1 when the broker is connected, else 0", registry=registry
        )
        self.lateness = Gauge(
            "commpulse_scheduler_lateness_seconds",
            "How long the most overdue start or finish has waited (0: nothing overdue)",
            registry=registry,
        )
        self.webhooks = Counter(
            "commpulse_webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.webhook_backlog = Gauge(
            "commpulse_webhook_backlog",
            "Status changes waiting for delivery, by endpoint",
            ["endpoint"],
            registry=registry,
        )
        self.backlog: Callable[[Store], Any] | None = None  # set when webhooks run

    def _lag(self) -> float:
        if not self.status_streams:
            return 0.0
        return float(max(0, self.committed_seq - self.delivered_seq))

    def saw(self, seq: int) -> None:
        self.committed_seq = max(self.committed_seq, seq)

    def delivered_change(self, seq: int) -> None:
        self.delivered_seq = max(self.delivered_seq, seq)

    def watch(self, engine: AsyncEngine, broker: Any) -> None:
        """Gauges read when scraped: the pool and the broker."""
        pool = engine.sync_engine.pool
        self.pool.set_function(lambda: float(getattr(pool, "checkedout", lambda: 0)()))
        self.broker.set_function(lambda: 1.0 if broker.healthy else 0.0)

    async def refresh(self, store: Store) -> None:
        """What only the database knows, read when scraped."""
        _, seq = await changes.head(store)
        self.saw(seq)
        due = await changes.next_due(store)
        self.lateness.set(max(0.0, (utcnow() - due).total_seconds()) if due else 0.0)
        if self.backlog is not None:
            for endpoint, waiting in (await self.backlog(store)).items():
                self.webhook_backlog.labels(str(endpoint)).set(waiting)

    def extension(self) -> Callable[[], SchemaExtension]:
        return lambda: MetricsExtension(self)

    def feed(self, broadcast: Broadcast, tracing: Tracing) -> "MeteredFeed":
        return MeteredFeed(broadcast, self, tracing)


# notices name only what changed (store/feed.py); the newest committed change is counted
# where it is published
NOTICE_LABELS: dict[type, str] = {Changed: "change", Touch: "touch", Resync: "resync"}


class MeteredFeed(Feed):
    """The store's feed, counting what goes through it (and tracing each publish)."""

    def __init__(self, broadcast: Broadcast, metrics: Metrics, tracing: Tracing) -> None:
        super().__init__(broadcast)
        self.metrics = metrics
        self.tracing = tracing
        # each (kind, action)'s counter, looked up once: `labels` validates and locks on
        # every call (py-spy: 0.6% of a write's event loop); kinds and actions are finite
        self.counted: dict[tuple[str, str], Any] = {}

    async def publish(self, *notices: Change | Touch) -> None:
        for notice in notices:
            if isinstance(notice, Change):
                labels = (notice.kind, notice.action)
                counter = self.counted.get(labels)
                if counter is None:
                    counter = self.counted[labels] = self.metrics.transitions.labels(*labels)
                counter.inc()
                self.metrics.saw(notice.seq)
        with self.tracing.span("commpulse.publish", notices=len(notices)):
            await super().publish(*notices)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Notice]]:
        async with super().listen() as notices:

            async def counted() -> AsyncIterator[Notice]:
                async for notice in notices:
                    self.metrics.notices.labels(NOTICE_LABELS[type(notice)]).inc()
                    yield notice

            yield counted()


def operation_label(execution: Any) -> tuple[OperationType | None, str]:
    """("mutation", "mutation createEmailCampaign"): bounded by the schema, never by what
    clients name their operations."""
    document = execution.graphql_document
    if document is None or execution.pre_execution_errors:
        return None, "invalid"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    wanted = execution.operation_name
    chosen = [o for o in operations if wanted is None or (o.name and o.name.value == wanted)]
    if not chosen:
        return None, "invalid"
    kind = OperationType(chosen[0].operation.value)
    fields = [s.name.value for s in chosen[0].selection_set.selections if isinstance(s, FieldNode)]
    return kind, f"{kind.value} {fields[0] if fields else '?'}"  # a fragment first: '?'


def _ended(metrics: Metrics, field: str) -> None:
    metrics.subscriptions.labels(field).dec()
    if field == "statusChanged":
        metrics.status_streams -= 1


class MetricsExtension(SchemaExtension):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.field = ""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        execution = self.execution_context
        try:
            yield
        finally:
            if self.field:  # a subscription ends (a parked one when it stops); not a bound
                # method, which would keep this extension and its execution while it is parked
                sharing.end(execution.root_value, partial(_ended, self.metrics, self.field))
            if isinstance(execution.context.request, Request):  # HTTP; websockets: below
                _, label = operation_label(execution)
                self.metrics.http.labels(label).observe(time.perf_counter() - started)
                self._count_refusals(execution.result)

    def on_execute(self) -> Iterator[None]:
        kind, label = operation_label(self.execution_context)
        if kind is OperationType.SUBSCRIPTION:  # the subscription runs until on_operation ends
            self.field = label.partition(" ")[2]
            if sharing.again(self.execution_context.root_value):  # counted once parked
                self.metrics.reruns.labels(self.field).inc()
            else:
                self.metrics.subscriptions.labels(self.field).inc()
                if self.field == "statusChanged":
                    self.metrics.status_streams += 1
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        if self.field and not getattr(result, "errors", None):
            self.metrics.delivered.labels(self.field).inc()
            data = getattr(result, "data", None) or {}
            cursor = (data.get("statusChanged") or {}).get("cursor")
            position = ids.change_position(cursor) if isinstance(cursor, str) else None
            if position is not None:
                self.metrics.delivered_change(position[1])
        if not isinstance(self.execution_context.context.request, Request):
            self._count_refusals(result)
        yield

    def _count_refusals(self, result: Any) -> None:
        if result is None:
            return
        for error in getattr(result, "errors", None) or []:
            code = (error.extensions or {}).get("code") if isinstance(error, GraphQLError) else None
            if isinstance(code, str):
                self.metrics.refusals.labels(code).inc()
        for payload in (getattr(result, "data", None) or {}).values():
            found = payload.get("userErrors") if isinstance(payload, dict) else None
            for user_error in found if isinstance(found, list) else []:
                if isinstance(user_error, dict) and isinstance(user_error.get("code"), str):
                    self.metrics.refusals.labels(user_error["code"]).inc()


async def endpoint(request: Request) -> Response:
    """/metrics in Prometheus' text format; COMMPULSE_METRICS=token asks for an API token."""
    metrics: Metrics = request.app.state.metrics
    if request.app.state.metrics_auth is not None:
        auth: Auth = request.app.state.metrics_auth
        try:
            await auth.http(request.state.store, request)
        except Unauthenticated as refused:
            return JSONResponse(
                {"error": str(refused)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
    await metrics.refresh(request.state.store)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
