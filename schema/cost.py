"""What an operation costs, computed once per document before it runs, as Shopify and
GitHub do: a field that returns an object costs 1, a mutation's root field 10, a
subscription's root field 10; a field with `first`/`last` multiplies what it selects by
that (or, without one, by its default or the page cap, 100). Scalars cost nothing.

Each fragment's cost is computed once (the variables are fixed for the operation), so the
analysis is linear in the document's size whatever its spreads multiply.

`Cost` refuses an operation over the maximum before it runs (COST_EXCEEDED), takes its cost
from the token's budget (COST_LIMITED when too little is left; the budget refills over
time), gives back what the answer did not use, and reports
`extensions.cost {requested, actual, remaining}` on every response (a subscription's events:
`requested` and `actual`).
"""

import math
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from schema import sharing
from schema.document import once
from schema.errors import Code
from schema.limits import Buckets, Limits, caller, take

OBJECT = 1
ROOT = {OperationType.MUTATION: 10, OperationType.SUBSCRIPTION: 10}
PAGE_CAP = 100
META = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


class Costs:
    """The costs of one document's selection sets under one set of variables."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._done: dict[str, int] = {}
        self._open: set[str] = set()
        self.varied = False  # a page size came from a variable: the cost is not the document's

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return 0 if root is None else self.of(operation.selection_set, root)

    def of(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, inner or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value)
        return total

    def _fragment(self, name: str) -> int:
        if name in self._done:
            return self._done[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0  # unknown or a cycle: validation refuses both
        condition = self.schema.get_type(fragment.type_condition.name.value)
        if condition is None:
            return 0
        self._open.add(name)
        cost = self.of(fragment.selection_set, condition)
        self._open.discard(name)
        self._done[name] = cost
        return cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        definition = self._definition(node.name.value, parent)
        if definition is None:
            return 0
        inner = get_named_type(definition.type)
        if not is_composite_type(inner):
            return 0
        base = OBJECT
        for kind, weight in ROOT.items():
            if parent is self.schema.get_root_type(kind):
                base = weight
        return base + self._size(node, definition) * self.of(node.selection_set, inner)

    def _definition(self, name: str, parent: GraphQLNamedType) -> GraphQLField | None:
        if name in META and parent is self.schema.query_type:
            return META[name]
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None  # a union: only __typename, which costs nothing

    def _size(self, node: FieldNode, definition: GraphQLField) -> int:
        """How many items a paged field may return: first or last (the larger), else
        their default, else the page cap; 1 for a field that does not page."""
        paged = [name for name in ("first", "last") if name in definition.args]
        if not paged:
            return 1
        given = {a.name.value: a.value for a in node.arguments or ()}
        sizes = []
        for name in paged:
            if name in given:
                self.varied = self.varied or isinstance(given[name], VariableNode)
                value = value_from_ast_untyped(given[name], self.variables)
            else:
                value = definition.args[name].default_value
            if isinstance(value, int) and not isinstance(value, bool):
                sizes.append(max(0, min(PAGE_CAP, value)))
        return max(sizes) if sizes else PAGE_CAP


def selected(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name and definition.name.value == name)
        ):
            return definition
    return None


def requested(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
) -> int:
    """What the operation costs: once per document (schema/document.py `once`), unless a
    page size comes from a variable."""

    def fixed(document: DocumentNode) -> int | None:
        costs = Costs(schema, document, None)
        cost = costs.operation(operation)
        return None if costs.varied else cost

    name = operation.name.value if operation.name else None
    cost = once(document, f"cost {name}", fixed)
    return Costs(schema, document, variables).operation(operation) if cost is None else cost


class _Last:
    """The answer measured last, and its cost. The read cache and Cost measure each answer
    of the full path one after the other (CachedReads then Cost, leaving execution): the
    second gets the figure of the first instead of walking 50 items again. Kept by
    reference, so an identical id is the same answer."""

    data: Any = None
    operation: OperationType | None = None
    cost = 0


def returned(data: Any, operation: OperationType) -> int:
    """The cost of what an answer holds: each object 1, each root field's object its
    weight; measured like `Costs`, from the data instead of the document."""
    if data is _Last.data and operation is _Last.operation:
        return _Last.cost
    cost = _returned(data, operation)
    _Last.data, _Last.operation, _Last.cost = data, operation, cost
    return cost


def _returned(data: Any, operation: OperationType) -> int:
    if not isinstance(data, dict):
        return 0
    weight = ROOT.get(operation, OBJECT)
    total, stack = 0, list[Any]()
    for value in data.values():
        if isinstance(value, dict):
            total += weight
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            total += OBJECT
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


def too_costly(cost: int, most: int) -> GraphQLError:
    return GraphQLError(
        f"this operation costs {cost}, over the maximum of {most}: ask for fewer items "
        "(first/last) or fewer fields",
        extensions={"code": Code.COST_EXCEEDED, "cost": cost, "maxCost": most},
    )


def over_maximum(cost: int, limits: Limits) -> GraphQLError | None:
    """The refusal of an operation costing more than one may, or None."""
    return too_costly(cost, limits.max_cost) if cost > limits.max_cost else None


def budget_spent(cost: int, left: float, wait: float) -> GraphQLError:
    seconds = math.ceil(wait * 10) / 10
    return GraphQLError(
        f"this operation costs {cost} and this token has {math.floor(left)} left: "
        f"retry in {seconds:g} s",
        extensions={"code": Code.COST_LIMITED, "cost": cost, "retryAfter": seconds},
    )


class Cost(SchemaExtension):
    def __init__(self, buckets: Buckets, limits: Limits) -> None:
        self.buckets = buckets
        self.limits = limits
        self.requested: int | None = None
        self.actual: int | None = None
        self.remaining: float | None = None
        self.subscription = False  # its events go to a whole group (schema/sharing.py)

    async def _take(self, amount: float) -> Any:
        key = "cost:" + caller(self.execution_context.context)
        limits = self.limits
        return await take(self.buckets, key, amount, limits.cost_budget, limits.cost_refill)

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        operation = selected(context.graphql_document, context.operation_name)
        if operation is not None:
            self.subscription = operation.operation is OperationType.SUBSCRIPTION
            self.requested = requested(
                context.schema._schema, context.graphql_document, operation, context.variables
            )
            if refusal := over_maximum(self.requested, self.limits):
                raise refusal
            if sharing.again(context.root_value):  # charged at its subscribe
                yield
                return
            taken = await self._take(self.requested)
            self.remaining = taken.left
            if not taken.ok:
                raise budget_spent(self.requested, taken.left, taken.wait)
        yield
        result = context.result
        if operation is None or self.requested is None or result is None:
            return
        if operation.operation is OperationType.SUBSCRIPTION:
            self.actual = self.requested  # charged once, at subscribe
            return
        self.actual = returned(getattr(result, "data", None), operation.operation)
        if self.actual != self.requested:  # give back what the answer did not use
            self.remaining = (await self._take(self.actual - self.requested)).left

    async def get_results(self) -> dict[str, Any]:
        if self.subscription:
            # no `remaining` on a subscription's events: it was charged once, at subscribe,
            # which neither protocol answers, so an event's figure would be stale or a
            # bucket read per subscriber per event, in a payload shared by the group
            # (schema/sharing.py) although a budget is one token's (README, "cost")
            requested = self.requested or 0
            return {"cost": {"requested": requested, "actual": requested}}
        if self.remaining is None:  # refused before execution: nothing was charged
            self.remaining = (await self._take(0)).left
        return {
            "cost": {
                "requested": self.requested or 0,
                "actual": self.actual or 0,
                "remaining": math.floor(self.remaining),
            }
        }
