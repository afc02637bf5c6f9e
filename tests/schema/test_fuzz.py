"""Schema-wide fuzzing with hypothesis-graphql: valid queries and mutations over the whole
schema with arbitrary argument values (strings with NUL, any ids, any DateTime text),
run as an admin against the real schema and store: nothing comes back as a masked bug."""

from datetime import datetime, timedelta, timezone

import graphql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema

from schema import schema
from schema.context import Context
from store import Store
from store.tokens import ApiRole

EXAMPLES = 60  # per engine, about 10 s each; a smoke screen that CI runs on every push


def _string(text: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=text)


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
# valid datetimes near the edges of the range, with any offset, and any text at all
DATETIMES = st.one_of(
    st.builds(
        lambda when, tz: when.replace(tzinfo=tz).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3))
        | st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime.max)
        | st.datetimes(),
        st.none() | offsets,
    ),
    st.text(max_size=40),
).map(_string)

SMALL = {"audienceSize": 1_000}  # a synthetic audience of millions is real work, not a bug


def printed(document: graphql.DocumentNode) -> str:
    """The document, with audience sizes kept small enough to create in a test."""

    class Clamp(graphql.Visitor):
        def enter_object_field(self, node: graphql.ObjectFieldNode, *_: object) -> object:
            most = SMALL.get(node.name.value)
            if most is None or not isinstance(node.value, graphql.IntValueNode):
                return None
            small = str(min(int(node.value.value), most))
            return graphql.ObjectFieldNode(name=node.name, value=graphql.IntValueNode(value=small))

    return graphql.print_ast(graphql.visit(document, Clamp()))


documents = from_schema(schema.as_str(), custom_scalars={"DateTime": DATETIMES}, print_ast=printed)


def masked_bugs(result: graphql.ExecutionResult) -> list[str]:
    return [
        f"{error.message} {error.extensions}"
        for error in result.errors or []
        if error.message == "Unexpected error"
        or (error.extensions or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(document=documents)
async def test_no_generated_operation_reaches_unexpected_error(store: Store, document: str) -> None:
    """Any valid query or mutation, with any argument values, is answered or refused with
    a reason: never "Unexpected error"."""
    context = Context(store=store, actor="fuzzer", role=ApiRole.ADMIN)
    result = await schema.execute(document, context_value=context)
    assert masked_bugs(result) == [], document
