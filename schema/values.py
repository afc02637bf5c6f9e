"""Values the database cannot hold, refused before anything runs: strings that are not
UTF-8 (lone surrogates, which JSON's \\ud800 escapes can carry) or contain NUL (PostgreSQL
text cannot), wherever they are in the variables or the document; and datetimes whose UTC
value is outside the years 1 to 9999 (or that are no ISO-8601 datetime at all). Each is
refused as INVALID_INPUT naming the field."""

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLScalarType,
    GraphQLSchema,
    Node,
    ObjectFieldNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    Undefined,
    ValueNode,
    VariableDefinitionNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_input_object_type,
    is_list_type,
    value_from_ast_untyped,
    visit,
)
from strawberry.extensions import SchemaExtension

from schema.document import once
from store.errors import ErrorCode

Path = list[str | int]


def storable(text: str) -> bool:
    """UTF-8 encodable and without NUL."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def invalid_input(message: str, field: Path) -> GraphQLError:
    """INVALID_INPUT, with `field` where it is known (a scalar's parser does not know its
    place; graphql-core's message then names the variable or argument)."""
    extensions: dict[str, object] = {"code": ErrorCode.INVALID_INPUT}
    if field:
        extensions["field"] = [str(p) for p in field]
    return GraphQLError(message, extensions=extensions)


def _strings(value: Any, path: Path) -> Iterator[tuple[str, Path]]:
    """Every string in a JSON value, with where it is (no recursion: depth is capped only
    for HTTP and websocket bodies, not for callers of the schema)."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield item, where
        elif isinstance(item, dict):
            stack.extend((v, [*where, str(k)]) for k, v in item.items())
            stack.extend((k, where) for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend((v, [*where, i]) for i, v in enumerate(item))


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[Path] = []

    def enter_string_value(
        self, node: StringValueNode, _key: Any, _parent: Any, _path: Any, ancestors: list[Any]
    ) -> None:
        if not storable(node.value):
            names = [a for a in ancestors if isinstance(a, ArgumentNode | ObjectFieldNode)]
            self.bad.append([a.name.value for a in names])


def unstorable(document: Node, variables: dict[str, Any] | None) -> Path | None:
    """Where the first string the database cannot store is, if any."""
    where = _in_variables(variables)
    return _in_literals(document) if where is None else where


def _in_variables(variables: dict[str, Any] | None) -> Path | None:
    return next((w for text, w in _strings(variables or {}, []) if not storable(text)), None)


def _in_literals(document: Node) -> Path | None:
    literals = _Literals()
    visit(document, literals)
    return literals.bad[0] if literals.bad else None


class StorableStrings(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        if error := bad_string(context.graphql_document, context.variables):
            raise error
        yield


def bad_string(document: DocumentNode, variables: dict[str, Any] | None) -> GraphQLError | None:
    """The refusal of a string the database cannot store, in the variables or the document,
    or None (StorableStrings; and server/reads.py, which runs a known query without
    strawberry). The variables on every request; the document's literals once per document."""
    where = _in_variables(variables)
    if where is None:
        where = once(document, "literals", _in_literals)
    if where is None:
        return None
    return invalid_input(
        "a string is not valid UTF-8 or contains NUL (\\u0000)"
        + (f" at {'.'.join(map(str, where))}" if where else ""),
        where,
    )


def _parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise invalid_input(f"DateTime cannot represent {type(value).__name__}", [])
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid_input(f"not an ISO-8601 date and time: {value[:40]!r}", []) from None
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(dt.UTC)
        except OverflowError:
            raise invalid_input(f"{value[:40]} is outside the years 1 to 9999 in UTC", []) from None
    return parsed


def _at_datetimes(value: Any, kind: GraphQLInputType, path: Path) -> Iterator[tuple[Any, Path]]:
    """Every value at a DateTime place of `kind` in a JSON value, with where it is (no
    recursion, as in `_strings`)."""
    stack: list[tuple[Any, Any, Path]] = [(value, kind, path)]
    while stack:
        item, place, where = stack.pop()
        place = get_nullable_type(place)
        if item is None or item is Undefined:  # null, or a variable not given
            continue
        if is_list_type(place):
            if isinstance(item, list):  # else a list of one, as GraphQL coerces it
                stack.extend((v, place.of_type, [*where, i]) for i, v in enumerate(item))
            else:
                stack.append((item, place.of_type, where))
        elif is_input_object_type(place):
            if isinstance(item, dict):
                fields = place.fields.items()
                stack.extend((item[n], f.type, [*where, n]) for n, f in fields if n in item)
        elif isinstance(place, GraphQLScalarType) and place.name == "DateTime":
            yield item, where


def _holds_datetime(kind: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a value of this input type can hold a DateTime anywhere."""
    named = get_named_type(kind)
    if isinstance(named, GraphQLScalarType):
        return named.name == "DateTime"
    if not is_input_object_type(named) or named.name in seen:
        return False
    inner = seen | {named.name}
    return any(_holds_datetime(f.type, inner) for f in named.fields.values())


# (the value's node, its type, the argument or variable it starts from)
Site = tuple[ValueNode, GraphQLInputType, str]


class _DateTimeSites(Visitor):
    """Each argument (and each variable's default) whose type can hold a DateTime."""

    def __init__(self, info: TypeInfo) -> None:
        super().__init__()
        self.info = info
        self.found: list[Site] = []

    def _add(self, node: ValueNode, kind: Any, name: str) -> None:
        if kind is not None and _holds_datetime(kind):
            self.found.append((node, kind, name))

    def enter_argument(self, node: ArgumentNode, *_: Any) -> bool:
        argument = self.info.get_argument()
        self._add(node.value, argument and argument.type, node.name.value)
        return False  # its value holds no field with arguments

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> bool:
        if node.default_value is not None:
            self._add(node.default_value, self.info.get_input_type(), node.variable.name.value)
        return False


SITES = 1_000  # documents whose sites are kept: the parser cache hands back the same one
_sites: OrderedDict[int, tuple[GraphQLSchema, DocumentNode, list[Site]]] = OrderedDict()


def _sites_of(schema: GraphQLSchema, document: DocumentNode) -> list[Site]:
    """The document's sites, found with one walk per distinct document (a polled query's
    document comes back from the parser cache as the same object)."""
    kept = _sites.get(id(document))
    if kept is not None and kept[0] is schema and kept[1] is document:
        return kept[2]
    info = TypeInfo(schema)
    sites = _DateTimeSites(info)
    visit(document, TypeInfoVisitor(info, sites))
    _sites[id(document)] = (schema, document, sites.found)
    while len(_sites) > SITES:
        _sites.popitem(last=False)
    return sites.found


def datetime_places(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> list[tuple[Any, Path]]:
    """Every value the document and variables give at a DateTime place, and where: the
    path from the argument, with the request's variables put in, so a variable's bad value
    is named by where it is used."""
    sites = _sites_of(schema, document)
    if not sites:
        return []
    # the variables of the operation that runs: another's definitions do not apply
    operation = get_operation_ast(document, operation_name)
    definitions = (operation and operation.variable_definitions) or ()
    declared = {d.variable.name.value for d in definitions}
    given = {k: v for k, v in (variables or {}).items() if k in declared}
    found: list[tuple[Any, Path]] = []
    for node, kind, name in sites:
        found.extend(_at_datetimes(value_from_ast_untyped(node, given), kind, [name]))
    return found


class ValidDateTimes(SchemaExtension):
    """Refuses a bad DateTime with the place it is in, before validation: the scalar's parser
    refuses it too, but cannot know where it is (graphql-core keeps the place only in its
    message), and INVALID_INPUT names the field."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            schema = context.schema._schema
            document, variables = context.graphql_document, context.variables
            if error := bad_datetime(schema, document, variables, context.operation_name):
                raise error
        yield


def bad_datetime(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> GraphQLError | None:
    """The refusal of the first bad DateTime the operation is given, with its place, or None
    (ValidDateTimes; and server/reads.py, which runs a known query without strawberry)."""
    for value, where in datetime_places(schema, document, variables, operation_name):
        try:
            _parse_datetime(value)
        except GraphQLError as refused:
            place = ".".join(map(str, where))
            return invalid_input(f"{refused.message} at {place}", where)
    return None


DateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=dt.datetime.isoformat,
    parse_value=_parse_datetime,
)
