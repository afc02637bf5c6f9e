"""Idempotency keys on mutations, as Stripe has them: a retry with the same key gets the
first response; the key with another request is refused with IDEMPOTENCY_KEY_REUSED.

The key comes from the operation's `extensions.idempotencyKey` (a websocket `subscribe`
payload, or an HTTP body) or, over HTTP, from the `Idempotency-Key` header, which the
server puts on the context. The decisions are in store/idempotency.py.
"""

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from schema.errors import Code
from store import idempotency
from store.idempotency import Outcome

# a websocket operation's `extensions`, set by the server's handler for the operation's task
OPERATION_EXTENSIONS: ContextVar[dict[str, Any] | None] = ContextVar(
    "operation_extensions", default=None
)
WAIT_SECONDS = 10.0  # how long a retry waits for the first request with its key to finish


def _error(code: Code, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def reused() -> GraphQLError:
    return _error(
        Code.IDEMPOTENCY_KEY_REUSED,
        "this Idempotency-Key was used for another request in the last 24 hours; "
        "use a new key for a new request",
    )


def key_of(execution: Any) -> str | None:
    """The operation's key: from its extensions, else from the context (the HTTP header)."""
    extensions = execution.operation_extensions or OPERATION_EXTENSIONS.get() or {}
    key = extensions.get("idempotencyKey") if isinstance(extensions, dict) else None
    if key is None:
        key = getattr(execution.context, "idempotency_key", None)
    if key is not None and not isinstance(key, str):
        return ""  # not a string: refused as malformed
    return key


class Idempotency(SchemaExtension):
    """Runs a mutation carrying a key at most once per token and key."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        key = key_of(execution)
        if key is None or execution.operation_type is not OperationType.MUTATION:
            yield
            return
        if not idempotency.valid_key(key):
            raise _error(
                Code.INVALID_IDEMPOTENCY_KEY,
                f"an Idempotency-Key is 1 to {idempotency.KEY_MAX} printable ASCII characters",
            )
        store = execution.context.store
        owner = str(getattr(execution.context, "actor", "anonymous"))
        fingerprint = idempotency.fingerprint(
            execution.query or "", execution.operation_name, execution.variables
        )
        found = await idempotency.wait(store, owner, key, fingerprint, patience=WAIT_SECONDS)
        if found.outcome is Outcome.REUSED:
            raise reused()
        if found.outcome is Outcome.IN_FLIGHT:
            raise _error(
                Code.IDEMPOTENCY_KEY_IN_USE,
                "a request with this Idempotency-Key is still running; retry shortly",
            )
        if found.outcome is Outcome.REPLAY:
            execution.result = ExecutionResult(data=found.response)
            _mark_replayed(execution.context)
            yield
            return
        try:
            yield
        finally:
            result = execution.result
            if result is not None and not result.errors and result.data is not None:
                await idempotency.complete(store, owner, key, dict(result.data))
            else:
                await idempotency.release(store, owner, key)


def _mark_replayed(context: Any) -> None:
    """Over HTTP, say so in a header, as Stripe does."""
    response = getattr(context, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None and hasattr(context.request, "method"):
        headers["Idempotent-Replayed"] = "true"
