"""A read that misses the cache, or a write, run without strawberry's pipeline when its
document is known.

The full path runs a query through strawberry: a dozen extension objects made per
operation, each phase entered through a context manager, the view's body and result
handling. For a read that misses the read cache, py-spy put that machinery at about 40% of
the server's time, more than a bare strawberry app spends on the whole request. A query
the full path has already run cleanly (`readcache.Prepared`: parsed, validated, and every
check on the document passed) is run here for the next request with other variables:
by its plan (schema/plans.py) where it has one, else by graphql-core as strawberry's own
call runs it, on the same schema.

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

A mutation the full path has run cleanly is prepared the same way (`Writes`): a status
change or a create sent by 32 clients paid more for strawberry's pipeline around it than
for graphql-core's execution of it (py-spy, bench/writes.py). The same checks, through the
same functions, run first, and a refusal leaves it to the full path, having taken
nothing. But a mutation cannot run twice: once a resolver may have run, its answer is made
here, errors masked and logged by the full path's own `ErrorPolicy` and `process_errors`.
What only the full path does stays there: a request with an Idempotency-Key, and every
operation while metrics or traces are on (server/reads.py).
"""

import math
from typing import Any

import strawberry
from graphql import ExecutionResult, GraphQLError, OperationType

from schema.context import Context
from schema.cost import over_maximum, requested, returned
from schema.errors import ErrorPolicy
from schema.limits import Buckets, Limits
from schema.permissions import refused
from schema.plans import executed
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


class _Known:
    """What a read and a write run here share: the checks that depend on the request,
    through the functions the full path's extensions call, and graphql-core's execution."""

    def __init__(self, schema: strawberry.Schema, limits: Limits, buckets: Buckets) -> None:
        self.schema = schema
        self.limits = limits
        self.buckets = buckets

    def _cost(
        self, prepared: Prepared, variables: dict[str, Any] | None, context: Context
    ) -> int | None:
        """Its cost if every check passes; None when one refuses (or raises): the full
        path, which runs them again, answers it."""
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
        return cost

    async def _ran(
        self, prepared: Prepared, variables: dict[str, Any] | None, context: Context
    ) -> tuple[int, float, ExecutionResult | Exception] | None:
        """Its cost, the budget left (taken up front, as Cost takes it) and graphql-core's
        result, or what the execution raised, if every check passes and the rate and
        budget allow it; None, having run and taken nothing, else."""
        cost = self._cost(prepared, variables, context)
        if cost is None:
            return None
        left = await take_up_front(self.buckets, self.limits, context.actor, context.rate, cost)
        if left is None:
            return None
        try:
            return cost, left, await self._execute(prepared, variables, context)
        except Exception as error:
            return cost, left, error

    async def _settled(
        self, operation: OperationType, cost: int, left: float, data: Any, context: Context
    ) -> tuple[int, float]:
        """What the answer cost, and the budget left once what it did not use went back
        (or what it used beyond `cost` was taken), as Cost settles it."""
        actual = returned(data, operation)
        if actual != cost:
            left = await settle(self.buckets, self.limits, context.actor, actual - cost)
        return actual, left

    async def _execute(
        self, prepared: Prepared, variables: dict[str, Any] | None, context: Context
    ) -> ExecutionResult:
        """The operation's plan (schema/plans.py) where it has one, else graphql-core's
        execution as strawberry's own call runs it (`plans.executed`)."""
        if prepared.plan is not None:
            return await prepared.plan.run(variables, context)
        schema = self.schema
        return await executed(
            schema._schema,
            prepared.document,
            prepared.name,
            schema.execution_context_class,
            variables,
            context,
        )


class Reads(_Known):
    """Runs prepared reads on one schema, with its limits and buckets and its read cache."""

    def __init__(
        self, schema: strawberry.Schema, limits: Limits, buckets: Buckets, cache: ReadCache
    ) -> None:
        super().__init__(schema, limits, buckets)
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
        ran = await self._ran(prepared, variables, context)
        if ran is None:
            return None
        cost, left, result = ran
        if isinstance(result, Exception) or result.errors or result.data is None:
            await give_back(self.buckets, self.limits, context.actor, context.rate, cost)
            return None  # no answer: the full path runs it again
        actual, left = await self._settled(OperationType.QUERY, cost, left, result.data, context)
        entry = Entry(stamp, result.data, cost, actual)
        self.cache.put(key, entry, context.store)
        return entry, left


class Writes(_Known):
    """Runs prepared mutations on one schema, with its limits and buckets.

    A mutation has effects, so it cannot be run twice: once it may have run, its answer
    is made here. Before that, a refusal of any check, or variables that do not coerce
    (graphql-core refuses them before any resolver runs: errors without a path, no data),
    leave it to the full path, having taken nothing. After, errors are masked and logged
    by the functions the full path uses (`ErrorPolicy`, the schema's `process_errors`)."""

    def __init__(self, schema: strawberry.Schema, limits: Limits, buckets: Buckets) -> None:
        super().__init__(schema, limits, buckets)
        self.policy = ErrorPolicy(field_suggestions=limits.field_suggestions)

    async def run(
        self, prepared: Prepared, variables: dict[str, Any] | None, context: Context
    ) -> dict[str, Any] | None:
        """The response, as strawberry's `process_result` makes it with `extensions.cost`;
        None, having run and taken nothing, for the full path to answer."""
        ran = await self._ran(prepared, variables, context)
        if ran is None:
            return None
        cost, left, result = ran
        if isinstance(result, Exception):  # it may have run: answered as strawberry answers it
            result = ExecutionResult(None, [GraphQLError(str(result), original_error=result)])
        elif result.data is None and result.errors and all(e.path is None for e in result.errors):
            await give_back(self.buckets, self.limits, context.actor, context.rate, cost)
            return None  # refused before any resolver ran
        errors = result.errors or []
        actual, left = await self._settled(OperationType.MUTATION, cost, left, result.data, context)
        answer: dict[str, Any] = {"data": result.data}
        if errors:
            self.schema.process_errors(errors)
            answer["errors"] = [e.formatted for e in self.policy._process_errors(errors)]
        answer["extensions"] = {
            "cost": {"requested": cost, "actual": actual, "remaining": math.floor(left)}
        }
        return answer
