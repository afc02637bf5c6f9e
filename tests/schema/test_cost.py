"""Cost analysis: computed once per document with each fragment once, lists weighted by
first/last or the page cap; over the maximum refused before anything runs; a per-token
budget that refills; `extensions.cost` on every response; subscriptions cost too."""

from dataclasses import replace
from typing import Any

import pytest
from graphql import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema import build, schema
from schema.context import Context
from schema.cost import Costs
from schema.document import operations
from schema.limits import Limits, MemoryBuckets
from store import Store, communications
from store.communications import Filter
from store.tokens import ApiRole

LIMITS = Limits(
    max_depth=12,
    max_aliases=30,
    max_tokens=5000,
    max_batch=10,
    rate=1000.0,
    burst=1000,
    introspection=True,
    field_suggestions=True,
    max_cost=5_000,
    cost_budget=10_000,
    cost_refill=500.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cost_of(document: str, **variables: Any) -> int:
    parsed = parse(document)
    [operation] = operations(parsed)
    return Costs(schema._schema, parsed, variables).operation(operation)


@given(levels=st.integers(10, 60), fanout=st.integers(2, 4), first=st.integers(0, 100))
def test_fragments_are_costed_once_and_lists_by_first(levels: int, fanout: int, first: int) -> None:
    """fanout^levels spreads of a page of `first` cost exactly that many pages, computed
    per fragment."""
    parts = ["query($n: Int) { ...F0 }"]
    spreads = " ".join(["...F{i}"] * fanout)
    parts += [f"fragment F{i} on Query {{ {spreads.format(i=i + 1)} }}" for i in range(levels)]
    parts.append(
        f"fragment F{levels} on Query {{ communications(first: $n) {{ edges {{ node "
        "{ __typename } } } }"
    )
    page = 1 + first * 2  # the connection, then an edge and a node per item
    assert cost_of(" ".join(parts), n=first) == fanout**levels * page


def test_lists_weigh_by_first_last_their_default_or_the_page_cap() -> None:
    """`first`/`last` (capped at 100) multiply what a list selects; without them, their
    default (deliveryEvents: 20) or the page cap; scalars cost nothing; a mutation 10."""
    node = "edges { node { __typename } }"
    assert cost_of("{ statusCounts { count } }") == 1
    assert cost_of(f"{{ communications(first: 7) {{ {node} }} }}") == 1 + 7 * 2
    assert cost_of(f"{{ communications(last: 500) {{ {node} }} }}") == 1 + 100 * 2
    assert cost_of(f"{{ communications {{ {node} totalCount }} }}") == 1 + 100 * 2
    assert cost_of(f'{{ deliveryEvents(communicationId: "x") {{ {node} }} }}') == 1 + 20 * 2
    assert cost_of('mutation { deleteCommunication(id: "x") { userErrors { code } } }') == 11


def context(store: Store, actor: str = "spender") -> Context:
    return Context(store=store, actor=actor, role=ApiRole.ADMIN)


CREATES = "mutation { " + " ".join(
    f'c{i}: createInAppMessage(input: {{name: "n{i}", title: "t"}}) {{ userErrors {{ code }} }}'
    for i in range(6)
)
CREATES += " }"


async def test_over_the_maximum_is_refused_before_anything_runs(store: Store) -> None:
    """Six creates cost 66; with a maximum of 50 they are refused with COST_EXCEEDED and
    nothing is created."""
    limited = build(replace(LIMITS, max_cost=50))
    result = await limited.execute(CREATES, context_value=context(store))
    [error] = result.errors or []
    assert error.extensions == {"code": "COST_EXCEEDED", "cost": 66, "maxCost": 50}
    assert result.extensions == {"cost": {"requested": 66, "actual": 0, "remaining": 10_000}}
    assert await communications.count(store, Filter()) == 0


async def test_the_budget_is_spent_refilled_and_unused_cost_given_back(store: Store) -> None:
    """A list asks for 100 items (cost 201) but the answer holds none: all but the
    connection object is given back. Past the budget, COST_LIMITED says when to retry;
    the budget refills with time; each token has its own."""
    clock = Clock()
    limited = build(replace(LIMITS, cost_budget=300, cost_refill=10), MemoryBuckets(clock))
    page = "{ communications(first: 100) { edges { node { __typename } } } }"
    first = await limited.execute(page, context_value=context(store))
    assert first.errors is None
    assert first.extensions == {"cost": {"requested": 201, "actual": 1, "remaining": 299}}
    second = await limited.execute(page, context_value=context(store))
    assert second.extensions == {"cost": {"requested": 201, "actual": 1, "remaining": 298}}
    many = "{ communications(first: 100) { edges { node { __typename } } } } "
    spend = "query { " + " ".join(f"a{i}: statusCounts {{ count }}" for i in range(20)) + " }"
    while (result := await limited.execute(spend, context_value=context(store))).errors is None:
        pass
    [error] = result.errors
    assert error.extensions["code"] == "COST_LIMITED"
    assert error.extensions["retryAfter"] > 0
    other = await limited.execute(many, context_value=context(store, "someone-else"))
    assert other.errors is None
    clock.now += error.extensions["retryAfter"]
    again = await limited.execute(spend, context_value=context(store))
    assert again.errors is None


@pytest.mark.parametrize(
    "document",
    [
        "{ __typename }",
        "{ nope }",
        "{ broken",
        "query($n: Int!) { communications(first: $n) { totalCount } }",
        "subscription { statusChanged { cursor } }",
    ],
)
async def test_every_response_reports_its_cost(store: Store, document: str) -> None:
    """Answered, invalid, unparsable, missing a variable: every response has
    `extensions.cost` with what was requested, used and what remains; a subscription's
    without `remaining`, as its payloads are shared by subscribers with other budgets."""
    limited = build(LIMITS)
    result = await limited.execute(document, context_value=context(store))
    cost = (result.extensions or {})["cost"]
    if document.startswith("subscription"):
        assert set(cost) == {"requested", "actual"}
        return
    assert set(cost) == {"requested", "actual", "remaining"}
    assert 0 <= cost["remaining"] <= LIMITS.cost_budget


async def test_subscriptions_cost_when_they_start(store: Store) -> None:
    """A subscription is charged at subscribe (10, and what it selects: here nothing);
    past the budget it is refused with COST_LIMITED."""
    limited = build(replace(LIMITS, cost_budget=25, cost_refill=0.001))
    query = 'subscription { communication(id: "x") { __typename } }'
    costs = []
    for _ in range(3):
        stream = await limited.subscribe(query, context_value=context(store))
        assert not isinstance(stream, type(None))
        first = await anext(aiter(stream))  # type: ignore[arg-type]
        costs.append((first.errors and first.errors[0].extensions.get("code"), first.extensions))
        await stream.aclose()  # type: ignore[union-attr]
    assert costs[0][1]["cost"]["requested"] == 10
    assert costs[2][0] == "COST_LIMITED"


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(first=st.integers(-5, 1_000), last=st.none() | st.integers(-5, 1_000))
def test_any_first_or_last_costs_within_the_page_cap(first: int, last: int | None) -> None:
    """Whatever first and last say, a page costs at most the page cap's worth."""
    document = "query($f: Int, $l: Int) { communications(first: $f, last: $l) "
    document += "{ edges { node { __typename } } } }"
    assert 1 <= cost_of(document, f=first, l=last) <= 1 + 100 * 2
