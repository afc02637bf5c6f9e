"""A prepared operation's answer made without graphql-core's executor, where its document
lets a plan do exactly what graphql-core would.

A create through the prepared path (schema/prepared.py) still spent about a quarter of the
event loop in graphql-core's execution (py-spy under bench/writes.py): building an executor
for the request, collecting the same fields again, and completing each value through
half a dozen calls. Its resolvers were a small part of that. A plan does that work once,
when the operation is prepared: the fields each object type selects, collected; for each
field, how its value completes. For a request it coerces the variables, calls the root
field's resolver, and completes the value through the plan.

Whatever decides an answer is graphql-core's or strawberry's own, called as graphql-core
calls it:
- variables and arguments are coerced by graphql-core (`get_variable_values`,
  `get_argument_values`);
- every field is resolved by the schema's resolver (strawberry's), given a
  `GraphQLResolveInfo` as graphql-core builds it; a basic field (strawberry's
  `_is_default`, which reads an attribute and ignores the info) with no info;
- a leaf is serialized by its type's `serialize`, an object checked by its `is_type_of`,
  and a member of a union named by the union's `ByClass` (schema/unions.py).

A plan takes only a document it can answer this way: one operation whose root selects one
field (the same field under one response key); no directive anywhere (so no @skip,
@include, @defer or @stream); fields, inline fragments and fragment spreads; abstract types
only where `ByClass` names their members. Anything else has no plan, and graphql-core runs it.

At run time a plan answers only what it is sure of. Where graphql-core would do anything
but return the value (an error from a resolver, null for a non-null field, a value that
does not serialize, an awaitable below the root, an object whose class the union does not
know), the plan stops, and graphql-core executes the operation with the root field's
outcome given to it (`_given`): the answer, errors and all, is graphql-core's, and the root
resolver has run once. A mutation has effects; it must not run twice.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
    get_argument_values,
    get_variable_values,
    is_abstract_type,
    is_leaf_type,
    type_from_ast,
)
from graphql.pyutils import Path, Undefined
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.execution.is_awaitable import optimized_is_awaitable

from schema.unions import ByClass

IsAwaitable = Callable[[Any], TypeGuard[Awaitable[Any]]]
is_awaitable = cast(IsAwaitable, optimized_is_awaitable)


class _Unsure(Exception):
    """Raised where graphql-core would do more than return the value: it answers instead."""


class _NoPlan(Exception):
    """The document holds something a plan does not take."""


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*values))


_tracked: set[asyncio.Future[Any]] = set()  # kept until done: the loop holds tasks weakly


def _track(values: Sequence[Any]) -> None:
    """Work a resolver leaves running goes on (no resolver of ours tracks any)."""
    for value in values:
        if is_awaitable(value):
            future = asyncio.ensure_future(value)
            _tracked.add(future)
            future.add_done_callback(_tracked.discard)


_HELPERS = GraphQLResolveInfoHelpers(_gather, _track)


@dataclass(slots=True)
class _Run:
    """One request's state, as the executor's `build_resolve_info` reads it from the
    executor: the plan calls that method with this in the executor's place, so each
    resolver's info is the one the executor class (strawberry's) would build."""

    schema: GraphQLSchema
    fragment_definitions: dict[str, FragmentDefinitionNode]
    operation: OperationDefinitionNode
    variable_values: Any  # graphql-core's VariableValues
    context_value: Any
    build: Callable[..., GraphQLResolveInfo[Any]]
    root_value: None = None  # strawberry runs an operation with no root value
    is_awaitable: IsAwaitable = is_awaitable
    abort_signal: None = None
    async_helpers: GraphQLResolveInfoHelpers = _HELPERS
    operation_extensions: None = None

    def info(
        self, definition: GraphQLField, nodes: list[FieldNode], parent: Any, path: Path
    ) -> GraphQLResolveInfo[Any]:
        return self.build(self, definition, nodes, parent, path)


# how a value completes: (value, its path or None where nothing below needs one, the run)
Complete = Callable[[Any, Path | None, _Run], Any]


@dataclass(frozen=True, slots=True)
class _Step:
    """One response key of an object: where its value comes from and how it completes."""

    key: str
    nodes: list[FieldNode]
    definition: GraphQLField | None  # None: __typename
    basic: bool  # strawberry's default resolver: an attribute, no info, no arguments
    complete: Complete
    needs_path: bool  # a resolver at or below it takes an info


class Plan:
    """The answer to one prepared operation, made without graphql-core's executor where the
    plan is sure of it; `of` gives None for a document it does not take."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        executor: type[Executor[Any]],
    ) -> None:
        self.schema = schema
        self.document = document
        self.operation = operation
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.executor = executor
        root = schema.get_root_type(operation.operation)
        if root is None or operation.directives:
            raise _NoPlan
        self.root_type = root
        steps = self._steps(root, [operation.selection_set])
        if len(steps) != 1 or steps[0].definition is None:
            raise _NoPlan
        self.root = steps[0]

    @classmethod
    def of(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        executor: type[Executor[Any]],
    ) -> "Plan | None":
        """The plan of `operation`, run by `executor` (the schema's executor class) where the
        plan is unsure; None where the document holds what a plan does not take."""
        try:
            return cls(schema, document, operation, executor)
        except _NoPlan:
            return None

    # --- made once, when the operation is prepared ------------------------------------

    def _steps(self, parent: GraphQLObjectType, sets: list[SelectionSetNode]) -> list[_Step]:
        """The response keys `sets` select on an object of type `parent`, in order, with
        their fields merged as graphql-core merges them."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in sets:
            self._collect(parent, selection_set, grouped, visited)
        steps = []
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == "__typename":
                steps.append(_Step(key, nodes, None, True, _typename(parent.name), False))
                continue
            definition = parent.fields.get(name)
            if definition is None:
                raise _NoPlan  # __schema, __type: introspection stays with graphql-core
            below = [n.selection_set for n in nodes if n.selection_set is not None]
            complete, needs = self._completion(definition.type, below)
            basic = getattr(definition.resolve, "_is_default", False) is True
            needs = needs or not basic
            steps.append(_Step(key, nodes, definition, basic, complete, needs))
        return steps

    def _collect(
        self,
        parent: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if selection.directives:
                raise _NoPlan
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection, parent):
                    self._collect(parent, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is None or fragment.directives or fragment.variable_definitions:
                    raise _NoPlan
                if self._applies(fragment, parent):
                    self._collect(parent, fragment.selection_set, grouped, visited)
            else:  # pragma: no cover - the three kinds of selection are all there are
                raise _NoPlan

    def _applies(
        self, fragment: InlineFragmentNode | FragmentDefinitionNode, parent: GraphQLObjectType
    ) -> bool:
        """graphql-core's `does_fragment_condition_match`."""
        if fragment.type_condition is None:
            return True
        condition = type_from_ast(self.schema, fragment.type_condition)
        if condition is parent:
            return True
        return is_abstract_type(condition) and self.schema.is_sub_type(condition, parent)

    def _completion(
        self, type_: GraphQLOutputType, sets: list[SelectionSetNode]
    ) -> tuple[Complete, bool]:
        """How a value of `type_` completes, and whether anything below takes an info."""
        if isinstance(type_, GraphQLNonNull):
            inner, needs = self._completion(type_.of_type, sets)
            return _non_null(inner), needs
        if isinstance(type_, GraphQLList):
            inner, needs = self._completion(type_.of_type, sets)
            return _listed(inner, needs), needs
        if is_leaf_type(type_):
            return _leaf(type_.serialize), False
        if isinstance(type_, GraphQLObjectType):
            steps = self._steps(type_, sets)
            return _object(type_, steps), any(s.needs_path for s in steps)
        if isinstance(type_, GraphQLUnionType) and isinstance(type_.resolve_type, ByClass):
            members = {m.name: self._completion(m, sets) for m in type_.types}
            needs = any(n for _, n in members.values())
            return _member(type_.resolve_type, {k: c for k, (c, _) in members.items()}), needs
        raise _NoPlan  # an interface, or a union whose members only strawberry can tell

    # --- run per request ---------------------------------------------------------------

    async def run(self, variables: dict[str, Any] | None, context: Any) -> ExecutionResult:
        """The answer graphql-core's `execute` would give, with the arguments
        schema/prepared.py gives it."""
        resolved = await self.resolved(variables, context)
        if isinstance(resolved, list):
            return ExecutionResult(None, resolved)
        answer = self.completed(resolved)
        if answer is None:
            return await self.executed(variables, context, resolved.outcome)
        return answer

    async def resolved(
        self, variables: dict[str, Any] | None, context: Any
    ) -> "Resolved | list[GraphQLError]":
        """The root field's outcome, its resolver called once as graphql-core calls it; or
        the errors of variables that do not coerce, before anything ran."""
        coerced = get_variable_values(
            self.schema, self.operation.variable_definitions or (), variables or {}, 50
        )
        if isinstance(coerced, list):
            return coerced
        build = self.executor.build_resolve_info
        run = _Run(self.schema, self.fragments, self.operation, coerced, context, build)
        root = self.root
        assert root.definition is not None and root.definition.resolve is not None
        path = Path(None, root.key, self.root_type.name)
        info = run.info(root.definition, root.nodes, self.root_type, path)
        try:
            arguments = get_argument_values(root.definition, root.nodes[0], coerced)
            value = root.definition.resolve(None, info, **arguments)
            if is_awaitable(value):
                value = await value
        except Exception as error:
            return Resolved(run, path, _Raised(error))
        return Resolved(run, path, value)

    def completed(self, resolved: "Resolved") -> ExecutionResult | None:
        """The answer, where the plan is sure of it; None where graphql-core must make it."""
        if isinstance(resolved.outcome, _Raised):
            return None
        root = self.root
        try:
            return ExecutionResult(
                {root.key: root.complete(resolved.outcome, resolved.path, resolved.run)}, None
            )
        except Exception:  # _Unsure, or whatever a getter raised: graphql-core answers
            return None

    async def executed(
        self, variables: dict[str, Any] | None, context: Any, outcome: Any
    ) -> ExecutionResult:
        """graphql-core's answer, its root field's resolver not called: `outcome` (its
        value, or what it raised) given in its place."""
        name = self.operation.name.value if self.operation.name else None
        return await executed(
            self.schema, self.document, name, self.executor, variables, context, _given(outcome)
        )


async def executed(
    schema: GraphQLSchema,
    document: DocumentNode,
    name: str | None,
    executor: type[Executor[Any]],
    variables: dict[str, Any] | None,
    context: Any,
    middleware: Callable[..., Any] | None = None,
) -> ExecutionResult:
    """graphql-core's execution of a prepared operation, with the arguments strawberry's
    Schema gives it (`_execute_operation`): no root value, strawberry's executor class and
    awaitable check, no middleware (no extension of ours resolves) unless a plan hands its
    root field's outcome over. Incremental delivery is off in this schema, so `execute` is
    the function strawberry picks."""
    result = execute(
        schema,
        document,
        root_value=None,
        context_value=context,
        variable_values=variables,
        operation_name=name,
        middleware=None if middleware is None else [middleware],
        executor_class=executor,
        is_awaitable=is_awaitable,
        operation_extensions=None,
    )
    if is_awaitable(result):
        result = await result
    return cast(ExecutionResult, result)


@dataclass(frozen=True, slots=True)
class _Raised:
    error: Exception


@dataclass(frozen=True, slots=True)
class Resolved:
    """A request's root field, resolved: its value, or what its resolver raised."""

    run: _Run
    path: Path
    outcome: Any  # the value, or _Raised


def _given(outcome: Any) -> Callable[..., Any]:
    """graphql-core middleware answering the root field with `outcome`, and any other field
    through its own resolver."""

    def resolve(
        next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any
    ) -> Any:
        if info.path.prev is not None:
            return next_(root, info, **args)
        if isinstance(outcome, _Raised):
            raise outcome.error
        return outcome

    return resolve


# --- completions: graphql-core's `complete_value`, for what a plan is sure of --------------


def _typename(name: str) -> Complete:
    return lambda _value, _path, _run: name


def _absent(value: Any) -> bool:
    """Null, as graphql-core takes it; an Exception returned as a value is an error."""
    if isinstance(value, Exception):
        raise _Unsure
    return value is None or value is Undefined


def _non_null(inner: Complete) -> Complete:
    def complete(value: Any, path: Path | None, run: _Run) -> Any:
        done = inner(value, path, run)
        if done is None:
            raise _Unsure  # graphql-core's "Cannot return null for non-nullable field"
        return done

    return complete


def _listed(item: Complete, needs_path: bool) -> Complete:
    def complete(value: Any, path: Path | None, run: _Run) -> Any:
        if _absent(value):
            return None
        if not isinstance(value, list | tuple):
            raise _Unsure  # graphql-core takes any iterable, or errs
        if needs_path:
            return [item(v, Path(path, i, None), run) for i, v in enumerate(value)]
        return [item(v, None, run) for v in value]

    return complete


def _leaf(serialize: Callable[[Any], Any]) -> Complete:
    def complete(value: Any, _path: Path | None, _run: _Run) -> Any:
        if _absent(value):
            return None
        done = serialize(value)
        if done is None or done is Undefined:
            raise _Unsure
        return done

    return complete


def _object(type_: GraphQLObjectType, steps: list[_Step]) -> Complete:
    is_type_of, name = type_.is_type_of, type_.name

    def complete(value: Any, path: Path | None, run: _Run) -> Any:
        if _absent(value):
            return None
        if is_type_of is not None and is_type_of(value, None) is not True:  # type: ignore[arg-type]
            raise _Unsure  # no, or an awaitable: graphql-core answers
        done = {}
        for step in steps:
            definition = step.definition
            if definition is None:  # __typename
                done[step.key] = name
                continue
            assert definition.resolve is not None
            here = Path(path, step.key, name) if step.needs_path else None
            if step.basic:
                found = definition.resolve(value, None)
            else:
                assert here is not None
                node = step.nodes[0]
                info = run.info(definition, step.nodes, type_, here)
                found = definition.resolve(
                    value, info, **get_argument_values(definition, node, run.variable_values)
                )
            if is_awaitable(found):
                if asyncio.iscoroutine(found):
                    found.close()  # graphql-core calls it again, and awaits that one
                raise _Unsure
            done[step.key] = step.complete(found, here, run)
        return done

    return complete


def _member(by_class: ByClass, members: dict[str, Complete]) -> Complete:
    def complete(value: Any, path: Path | None, run: _Run) -> Any:
        if _absent(value):
            return None
        name = by_class.name(value)
        if name is None:
            raise _Unsure  # strawberry's own resolver tells, through graphql-core
        return members[name](value, path, run)

    return complete
