"""A read cache for dashboards: many screens poll the same lists and counts.

An executed query's `data` is kept by (document, operation, variables, role) and served
again while nothing has changed. The rule for "changed" is the simplest correct one:
- any notice this process publishes or receives (store/feed.py `generation`: every write
  that changes what the cached root fields read publishes one) drops every result;
- with more than one instance (a shared broker), a result is served only while the
  database's commit mark (store/committed.py) is the one read before it was made, since
  a write on another instance may have answered its client before its notice got here.
  One read of the mark serves every request that arrived before it started. A database
  that cannot give a mark (SQLite) is not cached across instances.

A result is stored only if nothing changed while it was executed (the stamp is taken
before), so a read racing a write never stores what the write made stale. Only queries are
cached, only over root fields whose data notices cover (`CACHEABLE`), never a document
selecting a field that changes with the clock (`VOLATILE`), never a result with errors.
The role is part of the key (it decides `availableActions` and what may be read at all);
nothing these fields return depends on the token beyond its role. The checks before
execution (roles, rate, cost) run for a cached read as for any other, and the cost is
measured from the data as before, so `extensions.cost` is unchanged.
"""

import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from schema.cost import requested, returned, selected
from schema.document import DOCUMENTS, Shapes, once, operations
from schema.limits import Buckets, Limits, rates, take
from schema.plans import Plan
from store import Store
from store.committed import Marks

CACHEABLE = frozenset({"communication", "communications", "node", "statusCounts", "__typename"})
VOLATILE = frozenset({"stalled"})  # computed from the clock: no notice says it changed

Key = tuple[str, str | None, str, str]
Stamp = tuple[int, str | None]  # the feed's generation, the database's commit mark
Sent = tuple[str, str | None]  # a query's text and the operation name sent with it


@dataclass(frozen=True)
class Entry:
    stamp: Stamp
    data: dict[str, Any]
    requested: int  # its cost before it ran and from its data, as schema/cost.py counts them
    actual: int

    @cached_property
    def encoded(self) -> bytes:
        """`data` as JSON, made on the first answer that needs it and kept: a polled list of
        50 is not serialized again on every poll. Compact, as strawberry answers."""
        return json.dumps(self.data, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Prepared:
    """A cacheable query, or a mutation, the full path has parsed, validated, checked and
    executed without error. The same text sent with the same operation name parses and
    validates the same again, so server/reads.py runs it (a query for a miss) without
    strawberry (schema/prepared.py), redoing only the checks that depend on the caller or
    the variables."""

    document: DocumentNode
    operation: OperationDefinitionNode
    name: str | None  # the operation's name as strawberry resolves it (sent, or the only one)
    plan: Plan | None = None  # its answer without graphql-core's executor, where one can be made


def cacheable(document: DocumentNode, name: str | None) -> bool:
    """A query selecting only CACHEABLE root fields and no VOLATILE field anywhere."""
    chosen = [o for o in operations(document) if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1 or chosen[0].operation.value != "query":
        return False
    roots = Shapes(document).of(chosen[0].selection_set).fields
    return roots <= CACHEABLE and not _fields(document) & VOLATILE


def _fields(document: DocumentNode) -> set[str]:
    """Every field name the document mentions, in any definition."""
    names: set[str] = set()
    stack: list[SelectionSetNode] = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                stack.append(inner)
    return names


class ReadCache:
    """The results of one app (one process), at most `size` of them, least recently used
    dropped first. `shared`: other instances write to the same database."""

    def __init__(self, size: int, shared: bool) -> None:
        self.size = size
        self.shared = shared
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._prepared: OrderedDict[Sent, Prepared] = OrderedDict()  # at most DOCUMENTS
        self._generation = 0
        self._marks: Marks | None = None

    def extension(self) -> Callable[[], SchemaExtension]:
        return lambda: CachedReads(self)

    def key(self, execution: Any) -> Key | None:
        document = execution.graphql_document
        name = execution.operation_name
        if self.size <= 0 or document is None or execution.pre_execution_errors:
            return None
        if not once(document, f"cacheable {name}", lambda d: cacheable(d, name)):
            return None
        role = getattr(execution.context, "role", None)
        # the name as the client sent it (None when it sent none), which is what
        # server/reads.py can see without parsing; `operation_name` is filled in from the
        # document, so a polled `query One(...)` sent without operationName never matched
        sent = execution._provided_operation_name
        return key_of(execution.query or "", sent, execution.variables, role)

    async def stamp(self, store: Store) -> Stamp | None:
        """Where things stand now; None when nothing may be cached."""
        generation = store.feed.generation
        if generation != self._generation:  # something changed: every result may be stale
            self._entries.clear()
            self._generation = generation
        if not self.shared:
            return generation, None
        if self._marks is None or self._marks.store is not store:
            self._marks = Marks(store)
        mark = await self._marks.current()
        return None if mark is None else (generation, mark)

    def get(self, key: Key, stamp: Stamp) -> Entry | None:
        found = self._entries.get(key)
        if found is None or found.stamp != stamp:
            return None
        self._entries.move_to_end(key)
        return found

    def put(self, key: Key, entry: Entry, store: Store) -> None:
        if store.feed.generation != entry.stamp[0]:
            return  # a change arrived while it executed: it may be stale already
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def prepared(self, sent: Sent) -> Prepared | None:
        found = self._prepared.get(sent)
        if found is not None:
            self._prepared.move_to_end(sent)
        return found

    def prepare(self, sent: Sent, prepared: Prepared) -> None:
        self._prepared[sent] = prepared
        self._prepared.move_to_end(sent)
        if len(self._prepared) > DOCUMENTS:  # documents come from clients: bounded
            self._prepared.popitem(last=False)


class CachedReads(SchemaExtension):
    """Serves a cached result instead of executing; stores what executed cleanly. Innermost
    of the extensions: every check before execution has run, for a hit as for a miss."""

    def __init__(self, cache: ReadCache) -> None:
        self.cache = cache

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        key = self.cache.key(execution)
        store: Store | None = getattr(execution.context, "store", None)
        stamp = getattr(execution.context, "read_stamp", None)
        if stamp is None and key is not None and store is not None:
            stamp = await self.cache.stamp(store)
        if key is None or store is None or stamp is None:
            yield
            self._prepare_mutation()
            return
        hit = self.cache.get(key, stamp)
        if hit is not None:
            execution.result = ExecutionResult(data=hit.data)
            yield
            return
        yield
        assert execution.graphql_document is not None  # a key is made only for a parsed document
        ran = self._ran_cleanly()
        if ran is not None:
            document, operation, data = ran
            schema = execution.schema._schema
            cost = requested(schema, document, operation, execution.variables)
            actual = returned(data, OperationType.QUERY)
            self.cache.put(key, Entry(stamp, data, cost, actual), store)
            self._prepare(document, operation)

    def _prepare_mutation(self) -> None:
        """A mutation that ran cleanly here, every check passed, is prepared as a query is."""
        if self.execution_context.operation_type is not StrawberryOperationType.MUTATION:
            return
        ran = self._ran_cleanly()
        if ran is not None:
            self._prepare(ran[0], ran[1])

    def _ran_cleanly(
        self,
    ) -> tuple[DocumentNode, OperationDefinitionNode, dict[str, Any]] | None:
        """The document, its operation and the answer's data, if it ran without an error."""
        execution = self.execution_context
        result, document = execution.result, execution.graphql_document
        if (
            document is None
            or not isinstance(result, ExecutionResult)
            or result.errors
            or result.data is None
        ):
            return None
        operation = selected(document, execution.operation_name)
        return None if operation is None else (document, operation, result.data)

    def _prepare(self, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        """Keep the document for server/reads.py to run the next time without strawberry
        (schema/prepared.py)."""
        execution = self.execution_context
        sent = (execution.query or "", execution._provided_operation_name)
        schema = execution.schema
        plan = Plan.of(schema._schema, document, operation, schema.execution_context_class)
        self.cache.prepare(sent, Prepared(document, operation, execution.operation_name, plan))


def key_of(query: str, name: str | None, variables: Any, role: object) -> Key:
    return query, name, json.dumps(variables or {}, sort_keys=True, default=str), str(role)


async def charge(
    buckets: Buckets, limits: Limits, actor: str, rate: float | None, entry: Entry
) -> float | None:
    """What a read answered from the cache without running strawberry (server/reads.py)
    takes, as RateLimit and Cost take it: one operation from the rate, the cost from the
    budget. The budget's remainder, or None, having taken nothing, when either refuses
    (the full path then answers with the refusal)."""
    left = await take_up_front(buckets, limits, actor, rate, entry.requested)
    if left is None or entry.actual == entry.requested:
        return left
    return await settle(buckets, limits, actor, entry.actual - entry.requested)


async def take_up_front(
    buckets: Buckets, limits: Limits, actor: str, rate: float | None, requested: int
) -> float | None:
    """One operation from the rate and `requested` from the budget, as RateLimit and Cost
    take them before execution: the budget's remainder, or None, having taken nothing."""
    sustained, burst = rates(limits, rate)
    if not (await take(buckets, "rate:" + actor, 1, burst, sustained)).ok:
        return None
    taken = await take(buckets, "cost:" + actor, requested, limits.cost_budget, limits.cost_refill)
    if not taken.ok:
        await take(buckets, "rate:" + actor, -1, burst, sustained)
        return None
    return taken.left


async def settle(buckets: Buckets, limits: Limits, actor: str, extra: int) -> float:
    """The cost the answer used beyond what was taken up front (negative: given back), as
    Cost settles it; the budget's remainder."""
    key = "cost:" + actor
    return (await take(buckets, key, extra, limits.cost_budget, limits.cost_refill)).left


async def give_back(
    buckets: Buckets, limits: Limits, actor: str, rate: float | None, requested: int
) -> None:
    """Undo `take_up_front`: the operation is left to the full path, which takes its own."""
    sustained, burst = rates(limits, rate)
    await take(buckets, "rate:" + actor, -1, burst, sustained)
    await settle(buckets, limits, actor, -requested)
