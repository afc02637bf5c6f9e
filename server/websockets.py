"""Strawberry's two websocket protocol handlers, hardened against messages of the wrong
shape (a JSON list, a payload that is no object), which would otherwise end the
connection without the protocol's answer; and the legacy protocol gets the same
connection_init deadline as graphql-transport-ws, and serves queries and mutations sent
with `start` (once: data, then complete), as subscriptions-transport-ws clients expect.
Messages nested too deep fail to decode (server/http.py): graphql-transport-ws closes
with 4400, the legacy protocol ignores them as it ignores any message that is not JSON."""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import CompleteMessage
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from schema.context import Context
from schema.idempotency import OPERATION_EXTENSIONS

INIT_TIMEOUT = 4408  # graphql-transport-ws' code, used for the legacy protocol too


def _well_formed(message: Any, operation: str) -> bool:
    """An object with a string `type`; an operation message also needs a string `id` and a
    payload object with a string `query`."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] != operation:
        return True
    payload = message.get("payload")
    return (
        isinstance(message.get("id"), str)
        and isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("operationName"), str | None)
    )


def _runs_once(query: str, operation_name: str | None) -> bool:
    """A query or mutation (not a subscription). A document that does not parse, or names
    no such operation, goes the subscription way, which reports why."""
    try:
        kind = get_operation_type(parse(query, no_location=True), operation_name)
    except (GraphQLError, RuntimeError):
        return False
    return kind is not OperationType.SUBSCRIPTION


@contextlib.contextmanager
def operation_extensions(payload: Any) -> Iterator[None]:
    """The operation's `extensions` (its idempotency key) for the task that runs it:
    strawberry's handlers do not pass them on."""
    extensions = payload.get("extensions") if isinstance(payload, dict) else None
    token = OPERATION_EXTENSIONS.set(extensions if isinstance(extensions, dict) else None)
    try:
        yield
    finally:
        OPERATION_EXTENSIONS.reset(token)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        if not _well_formed(message, "subscribe"):
            await self.handle_invalid_message("Failed to parse message")
            return
        if message["type"] == "subscribe":
            with operation_extensions(message["payload"]):
                await super().handle_message(message)  # the operation's task copies the context
            return
        await super().handle_message(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle(self) -> None:
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deadline

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            await self.websocket.close(INIT_TIMEOUT, "Connection initialisation timeout")

    async def handle_message(self, message: Any) -> None:
        if not _well_formed(message, "start"):
            await self.websocket.close(1002, "Failed to parse message")  # protocol error
            return
        with operation_extensions(message.get("payload")):
            await super().handle_message(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        if not _runs_once(query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)
