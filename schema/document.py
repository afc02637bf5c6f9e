"""Checks over a whole document that look at each fragment once.

A document of a few hundred bytes can name fragments that each spread the next one twice:
thirty levels of that are a billion paths. Any check that walks every path (strawberry's
depth and alias limiters, a walk for root fields) blocks the event loop for minutes. Here
each fragment's shape is computed once and remembered, so a check costs time linear in the
document's size, whatever the spreads multiply. The limits (depth, aliases) are validation
rules, refused with the other validation errors before anything runs.
"""

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


@dataclass(frozen=True)
class Shape:
    """What a selection set amounts to once every fragment in it is spread."""

    depth: int  # fields nested in fields; a leaf is 0, introspection is not counted
    aliases: int  # aliased fields, each spread of a fragment counting its own again
    fields: frozenset[str]  # the names it selects directly, through (inline) fragments


EMPTY = Shape(0, 0, frozenset())

DOCUMENTS = 1_000  # distinct documents whose parse, validation and checks are remembered
T = TypeVar("T")
_memo: OrderedDict[tuple[int, str], tuple[DocumentNode, Any]] = OrderedDict()


def once(document: DocumentNode, what: str, compute: Callable[[DocumentNode], T]) -> T:
    """`compute(document)`, remembered for this document. The parser cache (schema/__init__)
    hands out one DocumentNode per distinct text, so this is once per distinct document
    text: a dashboard's polled query pays for its checks once, not on every request. Keyed
    by identity (hashing a node hashes its whole tree); the node is kept with the value, so
    an id reused after it is gone is never mistaken for it."""
    key = (id(document), what)
    found = _memo.get(key)
    if found is not None and found[0] is document:
        _memo.move_to_end(key)
        value: T = found[1]
        return value
    value = compute(document)
    _memo[key] = (document, value)
    if len(_memo) > DOCUMENTS * 4:  # a few checks per document
        _memo.popitem(last=False)
    return value


class Shapes:
    """The shapes of one document's selection sets, each fragment's computed once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._done: dict[str, Shape] = {}
        self._open: set[str] = set()  # fragments being computed: a cycle counts for nothing

    def of(self, selection_set: SelectionSetNode | None) -> Shape:
        if selection_set is None:
            return EMPTY
        parts = [self._selection(s) for s in selection_set.selections]
        return Shape(
            depth=max((p.depth for p in parts), default=0),
            aliases=sum(p.aliases for p in parts),
            fields=frozenset().union(*(p.fields for p in parts)),
        )

    def _selection(self, selection: object) -> Shape:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            inner = self.of(selection.selection_set)
            nested = selection.selection_set is not None and not name.startswith("__")
            return Shape(
                depth=1 + inner.depth if nested else 0,
                aliases=inner.aliases + (selection.alias is not None),
                fields=frozenset({name}),
            )
        if isinstance(selection, InlineFragmentNode):
            return self.of(selection.selection_set)
        if isinstance(selection, FragmentSpreadNode):
            return self.fragment(selection.name.value)
        return EMPTY

    def fragment(self, name: str) -> Shape:
        if name in self._done:
            return self._done[name]
        if name in self._open or name not in self.fragments:
            return EMPTY  # a cycle or an unknown fragment: validation refuses both
        self._open.add(name)
        shape = self.of(self.fragments[name].selection_set)
        self._open.discard(name)
        self._done[name] = shape
        return shape


def operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _shapes(context: ValidationContext) -> Shapes:
    """One `Shapes` per validation, shared by the rules that need it."""
    cached = getattr(context, "_commpulse_shapes", None)
    if not isinstance(cached, Shapes):
        cached = Shapes(context.document)
        context._commpulse_shapes = cached  # type: ignore[attr-defined]
    return cached


Rule = type[ValidationRule]


def max_depth(limit: int) -> Rule:
    """Refuses an operation whose fields nest deeper than `limit`."""

    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            if _shapes(self.context).of(node.selection_set).depth > limit:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(f"'{name}' exceeds maximum operation depth of {limit}", node)
                )

    return MaxDepth


def max_aliases(limit: int) -> Rule:
    """Refuses a document with more than `limit` aliases, counted through every spread."""

    class MaxAliases(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: object) -> None:
            shapes = _shapes(self.context)
            total = sum(shapes.of(o.selection_set).aliases for o in operations(node))
            if total > limit:
                self.report_error(GraphQLError(f"{total} aliases found. Allowed: {limit}"))

    return MaxAliases
