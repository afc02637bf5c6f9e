"""Values at the edges never reach the database or "Unexpected error": ids and cursors of
any text, strings the database cannot hold anywhere in the input, datetimes whose UTC
value is out of range, searches longer than any name. Each is NOT_FOUND (an id), or
INVALID_INPUT naming the field."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema import ids, schema
from schema.context import Context
from store import Store
from store.tokens import ApiRole

FEW = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
unstorable = st.builds(
    "".join, st.lists(st.text() | st.sampled_from(["\ud800", "\udfff", "\x00"]), min_size=1)
).filter(lambda text: "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text))


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode(errors="surrogatepass")).decode().rstrip("=")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@given(
    text=st.text()
    | st.builds(lambda n: f"Communication:{n}", st.text(st.characters(categories=["Nd", "No"])))
    | st.builds(lambda n: f"Communication:{n}", st.integers())
)
def test_any_id_decodes_to_a_number_a_bigint_holds_or_to_none(text: str) -> None:
    """Whatever an id says (digits of any script, huge or negative numbers), it names a
    BIGINT row id or nothing."""
    for value in (text, encoded(text)):
        pk = ids.communication_pk(value)
        assert pk is None or 0 <= pk < 2**63


@given(
    body=json_values
    | st.builds(lambda d: json.loads(nested(d)), st.integers(1, 50))
    | st.tuples(st.sampled_from(["name", "created_at"]), json_values, json_values),
    raw=st.sampled_from([None, "deep"]),
    order=st.sampled_from(["name", "created_at", "updated_at"]),
)
def test_any_list_cursor_decodes_to_a_position_or_to_none(
    body: Any, raw: str | None, order: str
) -> None:
    """A list cursor holding any JSON, or JSON nested thousands deep, is a position the
    database can compare with, or None."""
    text = "page:" + (nested(5_000) if raw else json.dumps(body))
    key = ids.page_key(encoded(text), order)
    if key is not None:
        value, pk = key
        assert type(pk) is int and 0 <= pk < 2**63
        assert isinstance(value, datetime) or "\x00" not in value


@given(name=st.text(max_size=60).filter(lambda n: "\x00" not in n), pk=st.integers(0, 2**62))
def test_a_list_cursor_is_the_json_written_before_and_reads_back(name: str, pk: int) -> None:
    """A cursor handed out earlier stays valid: the same text as json.dumps wrote it, and
    what it names reads back (names of any characters)."""
    assert ids.page_cursor("name", (name, pk)) == encoded("page:" + json.dumps(["name", name, pk]))
    assert ids.page_key(ids.page_cursor("name", (name, pk)), "name") in ((name, pk), None)


def run(store: Store, query: str, **variables: Any) -> Any:
    context = Context(store=store, actor="edge", role=ApiRole.ADMIN)
    return schema.execute(query, variable_values=variables, context_value=context)


def codes(result: Any) -> list[Any]:
    assert "Unexpected error" not in str(result.errors)
    return [(e.extensions or {}).get("code") for e in result.errors or []]


CREATE = """mutation($input: CreateInAppMessageInput!) {
  createInAppMessage(input: $input) { communication { __typename } userErrors { code field } }
}"""


@pytest.mark.parametrize("field", ["name", "title", "body"])
@FEW
@given(text=unstorable)
async def test_strings_the_database_cannot_hold_are_refused_with_their_field(
    store: Store, field: str, text: str
) -> None:
    """A lone surrogate or a NUL in any string of the input: INVALID_INPUT naming where,
    and nothing is created."""
    value = {"name": "n", "title": "t"} | {field: text}
    result = await run(store, CREATE, input=value)
    assert codes(result) == ["INVALID_INPUT"], result.errors
    assert result.errors[0].extensions["field"] == ["input", field]
    assert result.data is None


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
edge_times = st.builds(
    lambda when, tz: when.replace(tzinfo=tz).isoformat(),
    st.sampled_from([datetime.min, datetime.max])
    | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2))
    | st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime.max),
    offsets,
)


@FEW
@given(when=edge_times, literal=st.booleans())
async def test_datetimes_out_of_range_in_utc_are_refused(
    store: Store, when: str, literal: bool
) -> None:
    """A datetime whose offset takes it out of the years 1 to 9999 in UTC, as a variable or
    in the document: INVALID_INPUT; one within range is answered."""
    if literal:
        query = f'{{ communications(filter: {{createdAfter: "{when}"}}) {{ totalCount }} }}'
        result = await run(store, query)
    else:
        query = "query($t: DateTime) { communications(filter: {createdAfter: $t}) { totalCount } }"
        result = await run(store, query, t=when)
    try:
        datetime.fromisoformat(when).astimezone(UTC)
    except OverflowError:
        assert codes(result) == ["INVALID_INPUT"]
    else:
        assert codes(result) == [] and result.data["communications"]["totalCount"] == 0


Place = tuple[str, ...]  # argument and input field names (list indices left out)
IN_RANGE = "2030-06-01T12:00:00+02:00"


def datetime_places(kind: Any, path: Place) -> set[Place]:
    """Where a value of type `kind` holds a DateTime."""
    kind = graphql.get_named_type(kind)
    if kind.name == "DateTime":
        return {path}
    if not isinstance(kind, graphql.GraphQLInputObjectType):
        return set()
    return set().union(*(datetime_places(f.type, (*path, n)) for n, f in kind.fields.items()))


def every_datetime_argument() -> list[tuple[str, Place]]:
    """Every root field of the live schema with each DateTime place in its arguments."""
    found = []
    for root in (schema._schema.query_type, schema._schema.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            for argument, value in field.args.items():
                found += [(name, p) for p in sorted(datetime_places(value.type, (argument,)))]
    return found


DATETIME_ARGUMENTS = every_datetime_argument()
# out of range only in UTC: within an hour of either end, with an offset of an hour or more
# that takes it past that end
low = st.builds(
    lambda when, minutes: when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 0, 59)),
    st.integers(60, 23 * 60 + 59),
)
high = st.builds(
    lambda when, minutes: when.replace(tzinfo=timezone(timedelta(minutes=-minutes))).isoformat(),
    st.datetimes(min_value=datetime(9999, 12, 31, 23), max_value=datetime.max),
    st.integers(60, 23 * 60 + 59),
)
LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "String": st.text(max_size=8),
    "ID": st.text(max_size=8),
    "Int": st.integers(0, 5),
    "Float": st.floats(0, 5),
    "Boolean": st.booleans(),
    "DateTime": st.just(IN_RANGE),
}


def values(kind: Any, bad: Place | None) -> st.SearchStrategy[Any]:
    """A value of `kind` holding out-of-range DateTimes at `bad` (a path within it) and only
    there; elsewhere only what is required, with any valid value."""
    kind = graphql.get_nullable_type(kind)
    if isinstance(kind, graphql.GraphQLList):
        return st.lists(values(kind.of_type, bad), min_size=bad is not None, max_size=2)
    if isinstance(kind, graphql.GraphQLInputObjectType):
        fields = {
            name: values(field.type, bad[1:] if bad and bad[0] == name else None)
            for name, field in kind.fields.items()
            if graphql.is_required_input_field(field) or (bad and bad[0] == name)
        }
        return st.fixed_dictionaries(fields)
    if isinstance(kind, graphql.GraphQLEnumType):
        return st.sampled_from(list(kind.values))
    return low | high if bad == () else LEAVES[kind.name]


def literal(value: Any, kind: Any) -> graphql.ValueNode:
    kind = graphql.get_nullable_type(kind)
    if isinstance(kind, graphql.GraphQLList):
        return graphql.ListValueNode(values=tuple(literal(v, kind.of_type) for v in value))
    if isinstance(kind, graphql.GraphQLInputObjectType):
        fields = (
            graphql.ObjectFieldNode(
                name=graphql.NameNode(value=n), value=literal(v, kind.fields[n].type)
            )
            for n, v in value.items()
        )
        return graphql.ObjectValueNode(fields=tuple(fields))
    if isinstance(kind, graphql.GraphQLEnumType):
        return graphql.EnumValueNode(value=value)
    node = graphql.ast_from_value(value, graphql.GraphQLString if isinstance(value, str) else kind)
    assert node is not None
    return node


def operation(root: str, arguments: dict[str, Any], as_variables: bool) -> str:
    """A document calling `root` with these arguments, as literals or as variables."""
    kind = "query" if root in schema._schema.query_type.fields else "mutation"  # type: ignore[union-attr]
    parent = schema._schema.query_type if kind == "query" else schema._schema.mutation_type
    field = parent.fields[root]  # type: ignore[union-attr]
    if as_variables:
        declared = ", ".join(f"${n}: {field.args[n].type}" for n in arguments)
        given = ", ".join(f"{n}: ${n}" for n in arguments)
        head = f"{kind}({declared})" if declared else kind
    else:
        given = ", ".join(
            f"{n}: {graphql.print_ast(literal(v, field.args[n].type))}"
            for n, v in arguments.items()
        )
        head = kind
    selection = (
        "{ __typename }" if graphql.is_composite_type(graphql.get_named_type(field.type)) else ""
    )
    return f"{head} {{ {root}({given}) {selection} }}"


def test_the_schema_has_datetime_arguments_to_try() -> None:
    """The property below covers filters, schedules and the worker API's reports."""
    roots = {root for root, _ in DATETIME_ARGUMENTS}
    assert {"communications", "statusCounts", "scheduleCommunication", "reportDeliveries"} <= roots


@pytest.mark.parametrize(
    ("root", "place"), [pytest.param(r, p, id=".".join((r, *p))) for r, p in DATETIME_ARGUMENTS]
)
@settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), as_variables=st.booleans())
async def test_every_datetime_argument_out_of_range_is_refused_with_its_field(
    store: Store, root: str, place: Place, data: st.DataObject, as_variables: bool
) -> None:
    """Any call of a root field with a DateTime out of range in UTC at one place of its
    arguments (any valid value elsewhere), as a literal or in a variable: INVALID_INPUT whose
    `field` is that place, from the argument down; nothing runs."""
    field = (schema._schema.query_type.fields | schema._schema.mutation_type.fields)[root]  # type: ignore[union-attr]
    arguments = {
        name: data.draw(values(argument.type, place[1:] if name == place[0] else None), name)
        for name, argument in field.args.items()
        if graphql.is_required_argument(argument) or name == place[0]
    }
    document = operation(root, arguments, as_variables)
    result = await run(store, document, **(arguments if as_variables else {}))
    assert codes(result) == ["INVALID_INPUT"], (document, result.errors)
    named = result.errors[0].extensions["field"]
    assert tuple(p for p in named if not p.isdigit()) == place, (document, named)
    assert result.data is None


@FEW
@given(search=st.text(min_size=201, max_size=5_000))
async def test_searches_longer_than_any_name_are_refused(store: Store, search: str) -> None:
    """`search` is matched with LIKE: past 200 characters (the longest name) it is refused
    as INVALID_INPUT on `search`, in lists and in counts."""
    for query in (
        "query($s: String) { communications(filter: {search: $s}) { totalCount } }",
        "query($s: String) { statusCounts(filter: {search: $s}) { count } }",
    ):
        result = await run(store, query, s=search)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in search) or "\x00" in search:
            assert codes(result) == ["INVALID_INPUT"]
            continue
        assert codes(result) == ["INVALID_INPUT"]
        assert result.errors[0].extensions["field"] == ["search"]
