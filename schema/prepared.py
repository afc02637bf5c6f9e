"""A read that misses the cache, run without strawberry's pipeline when its query is known.

The full path runs a query through strawberry: a dozen extension objects made per
operation, each phase entered through a context manager, the view's body and result
handling. For a read that misses the read cache, py-spy put that machinery at about 40% of
the server's time, more than a bare strawberry app spends on the whole request. A query
the full path has already run cleanly (`readcache.Prepared`: parsed, validated, and every
check on the document passed) is run here for the next request with other variables:
graphql-core executes it as strawberry's own call does, on the same schema.

What the document alone decides (parse, validation with the depth, alias, token and
introspection rules, its string literals, whether it may be cached) was decided when it was
prepared and cannot change for the same text. What depends on the request is checked here
again, through the same functions the extensions call: the caller's role
(permissions.refused), the strings and DateTimes in the variables (values.bad_string,
values.bad_datetime), the cost's maximum, then the rate and the budget (readcache
`take_up_front`, as RateLimit and Cost take them). Only a clean answer comes out: when a
check refuses (or raises), nothing is taken and `run` returns None; when the execution has
an error (a variable that does not coerce, a refused cursor, a bug, raised or not), what
was taken is given back and `run` returns None. Either way the full path then runs the
request, as it would have, and answers with the refusal or the masked error: reads have no
side effects to repeat.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard, cast

import strawberry
from graphql import ExecutionResult, OperationType, execute
from strawberry.execution.is_awaitable import optimized_is_awaitable

from schema.context import Context
from schema.cost import over_maximum, requested, returned
from schema.limits import Buckets, Limits
from schema.permissions import refused
from schema.readcache import (
    Entry,
    Key,
    Prepared,
    ReadCache,
    Stamp,
    give_back,
    settle,
    take_up_front,
)
from schema.values import bad_datetime, bad_string


class Reads:
    """Runs prepared reads on one schema, with its limits and buckets and its read cache."""

    def __init__(
        self, schema: strawberry.Schema, limits: Limits, buckets: Buckets, cache: ReadCache
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.buckets = buckets
        self.cache = cache

    async def run(
        self,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        context: Context,
        key: Key,
        stamp: Stamp,
    ) -> tuple[Entry, float] | None:
        """The answer and the budget left, kept in the cache under `key` (if nothing changed
        since `stamp`); None, having taken nothing, for the full path to answer."""
        schema, document, name = self.schema._schema, prepared.document, prepared.name
        try:
            cost = requested(schema, document, prepared.operation, variables)
            if (
                refused(document, name, context.role)
                or bad_string(document, variables)
                or bad_datetime(schema, document, variables, name)
                or over_maximum(cost, self.limits)
            ):
                return None
        except Exception:  # whatever the full path makes of it, it answers it
            return None
        actor, rate = context.actor, context.rate
        left = await take_up_front(self.buckets, self.limits, actor, rate, cost)
        if left is None:
            return None
        try:
            result = await self._execute(prepared, variables, context)
        except Exception:
            result = ExecutionResult(None, None)  # no answer: the full path runs it again
        if result.errors or result.data is None:
            await give_back(self.buckets, self.limits, actor, rate, cost)
            return None
        actual = returned(result.data, OperationType.QUERY)
        if actual != cost:  # what the answer did not use goes back, as Cost gives it
            left = await settle(self.buckets, self.limits, actor, actual - cost)
        entry = Entry(stamp, result.data, cost, actual)
        self.cache.put(key, entry, context.store)
        return entry, left

    async def _execute(
        self, prepared: Prepared, variables: dict[str, Any] | None, context: Context
    ) -> ExecutionResult:
        """graphql-core's execution, with the arguments strawberry's Schema gives it
        (`_execute_operation`): no root value, no middleware (no extension of ours
        resolves), strawberry's executor class and awaitable check. Incremental delivery
        is off in this schema, so `execute` is the function strawberry picks."""
        result = execute(
            self.schema._schema,
            prepared.document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=prepared.name,
            executor_class=self.schema.execution_context_class,
            is_awaitable=cast(Callable[[Any], TypeGuard[Awaitable[Any]]], optimized_is_awaitable),
            operation_extensions=None,
        )
        if inspect.isawaitable(result):
            result = await result
        return result
