"""A prepared operation's plan answers exactly what graphql-core's execution answers, and
where it is unsure it lets graphql-core answer without calling the root resolver again."""

from datetime import UTC
from typing import Any

import graphql
import pytest
import strawberry
from graphql import ExecutionResult, OperationDefinitionNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, queries

from schema import schema
from schema.context import Context
from schema.plans import Plan
from store import Store
from store.lifecycle import Kind
from store.tokens import ApiRole
from tests.factories import create
from tests.schema.test_fuzz import printed

EXAMPLES = 40  # per engine and kind of operation


def _operation(document: graphql.DocumentNode) -> OperationDefinitionNode:
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return operation


def _plan(made: strawberry.Schema, text: str) -> tuple[graphql.DocumentNode, Plan | None]:
    document = graphql.parse(text)
    assert graphql.validate(made._schema, document) == []
    executor = made.execution_context_class
    return document, Plan.of(made._schema, document, _operation(document), executor)


def _as_sent(result: ExecutionResult) -> tuple[Any, list[dict[str, Any]]]:
    return result.data, [e.formatted for e in result.errors or []]


async def _graphql_core(
    made: strawberry.Schema, document: graphql.DocumentNode, context: Any
) -> ExecutionResult:
    result = graphql.execute(
        made._schema,
        document,
        context_value=context,
        executor_class=made.execution_context_class,
    )
    if graphql.pyutils.is_awaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


@pytest.fixture
async def seeded(store: Store) -> Context:
    """A store with a communication of each kind, and an admin's context on it."""
    for kind in Kind:
        await create(store, kind, name=f"one {kind.value}")
    return Context(store=store, actor="tester", role=ApiRole.ADMIN)


# a prepared document passed validation, so its DateTime literals are valid
DATETIMES = st.datetimes(timezones=st.just(UTC)).map(
    lambda when: graphql.StringValueNode(value=when.isoformat())
)
SDL = schema.as_str()


def _one_root_field(strategy: Any, root: graphql.GraphQLObjectType | None) -> Any:
    """Documents selecting one root field each (a plan takes no more), any of them."""
    assert root is not None
    return st.sampled_from(sorted(root.fields)).flatmap(
        lambda name: strategy(
            SDL, fields=[name], custom_scalars={"DateTime": DATETIMES}, print_ast=printed
        )
    )


SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@SETTINGS
@given(text=_one_root_field(queries, schema._schema.query_type))
async def test_a_generated_query_is_answered_as_graphql_core_answers_it(
    seeded: Context, text: str
) -> None:
    """Any query over the whole schema, with any arguments: the plan's answer, errors and
    all, is graphql-core's (a read: both can run it)."""
    document, plan = _plan(schema, text)
    if plan is None:
        return  # graphql-core runs it: nothing to compare
    assert _as_sent(await plan.run(None, seeded)) == _as_sent(
        await _graphql_core(schema, document, seeded)
    )


@SETTINGS
@given(text=_one_root_field(mutations, schema._schema.mutation_type))
async def test_a_generated_mutation_is_completed_as_graphql_core_completes_it(
    seeded: Context, text: str
) -> None:
    """Any mutation, with any arguments, resolved once: what the plan makes of the root
    field's outcome is what graphql-core makes of it."""
    _, plan = _plan(schema, text)
    if plan is None:
        return
    resolved = await plan.resolved(None, seeded)
    assert not isinstance(resolved, list)
    theirs = await plan.executed(None, seeded, resolved.outcome)
    ours = plan.completed(resolved)
    assert ours is None or _as_sent(ours) == _as_sent(theirs)


# --- where a plan is unsure: a schema of this test's own --------------------------------


calls: list[str] = []


@strawberry.type
class Leaf:
    name: str
    maybe: str | None = None

    @strawberry.field
    def shouting(self) -> str:
        if self.name == "raise":
            raise ValueError("a getter's bug")
        return self.name.upper()

    @strawberry.field
    async def later(self) -> str:
        return self.name


@strawberry.type
class Payload:
    leaf: Leaf
    leaves: list[Leaf]
    required: str


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def act(self, name: str, required: str | None = "yes") -> Payload:
        calls.append(name)
        if name == "boom":
            raise RuntimeError("the resolver's bug")
        return Payload(leaf=Leaf(name=name), leaves=[Leaf(name=name)], required=required)  # type: ignore[arg-type]


small = strawberry.Schema(query=Query, mutation=Mutation)


@pytest.mark.parametrize(
    "text",
    [
        'mutation { act(name: "a") { leaf { name shouting } leaves { n: name } __typename } }',
        'mutation { act(name: "raise") { leaf { name } leaves { name shouting } } }',
        'mutation { act(name: "a", required: null) { leaf { name } required } }',
        'mutation { act(name: "boom") { leaf { name } } }',
        'mutation { act(name: "a") { leaf { later maybe } } }',
        'mutation { act(name: "a") { ...P } } fragment P on Payload { leaf { name } required }',
    ],
    ids=["sure", "a getter raises", "null for non-null", "the root raises", "awaitable", "spread"],
)
async def test_where_a_plan_is_unsure_graphql_core_answers_and_the_root_runs_once(
    text: str,
) -> None:
    document, plan = _plan(small, text)
    assert plan is not None
    calls.clear()
    answer = await plan.run(None, None)
    assert len(calls) == 1  # a mutation's resolver is not called again
    calls.clear()
    assert _as_sent(answer) == _as_sent(await _graphql_core(small, document, None))


@pytest.mark.parametrize(
    "text",
    [
        'mutation { act(name: "a") { leaf @include(if: true) { name } } }',
        'mutation { a: act(name: "a") { required } b: act(name: "b") { required } }',
        "query { __schema { queryType { name } } }",
        "query { ok ...on Query { ok } __typename }",
    ],
    ids=["a directive", "two root fields", "introspection", "a root field and __typename"],
)
def test_what_a_plan_does_not_take_is_left_to_graphql_core(text: str) -> None:
    assert _plan(small, text)[1] is None
