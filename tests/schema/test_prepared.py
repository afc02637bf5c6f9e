"""A query the full path has run cleanly is run again, with other variables, without
strawberry: the answer the full path would give, kept in the cache and charged as the full
path charges; whatever would be refused or fail is left to the full path, having taken
nothing."""

from typing import Any

import pytest

from schema import build, ids
from schema.context import Context
from schema.limits import Buckets, Limits, MemoryBuckets
from schema.prepared import Reads
from schema.readcache import ReadCache, key_of
from store import Store
from store.lifecycle import Kind
from store.tokens import ApiRole
from tests.factories import create

LIMITS = Limits(12, 30, 5000, 10, rate=10.0, burst=10, introspection=True, field_suggestions=True)
ONE = "query One($id: ID!) { communication(id: $id) { ... on CommunicationBase { id name } } }"
PAGE = (
    "query Page($first: Int, $after: String) { communications(first: $first, after: $after) "
    "{ edges { cursor node { ... on CommunicationBase { name } } } } }"
)


class Known:
    """A schema with a read cache, and the reads run beside it, as the server has them."""

    def __init__(self, store: Store, limits: Limits = LIMITS) -> None:
        self.store = store
        self.limits = limits
        self.buckets: Buckets = MemoryBuckets(clock=lambda: 0.0)  # no refill: exact counts
        self.cache = ReadCache(100, shared=False)
        self.schema = build(limits, self.buckets, reads=self.cache)
        self.reads = Reads(self.schema, limits, self.buckets, self.cache)
        self.caller = Context(store=store, actor="reader", role=ApiRole.VIEWER)

    async def full(self, query: str, **variables: Any) -> Any:
        result = await self.schema.execute(query, variables, context_value=self.caller)
        assert result.errors is None, result.errors
        return result.data

    async def run(self, query: str, **variables: Any) -> Any:
        prepared = self.cache.prepared((query, None))
        assert prepared is not None, "run on the full path first"
        stamp = await self.cache.stamp(self.store)
        assert stamp is not None
        key = key_of(query, None, variables, self.caller.role)
        ran = await self.reads.run(prepared, variables, self.caller, key, stamp)
        if ran is None:
            return None
        assert self.cache.get(key, stamp) is ran[0]  # kept for the next poll
        return ran[0].data

    async def left(self, what: str) -> float:
        """What the caller's rate or cost bucket holds."""
        full = self.limits.burst if what == "rate" else self.limits.cost_budget
        return (await self.buckets.take(f"{what}:reader", 0, full, 1.0)).left


async def test_a_known_query_gets_the_answer_the_full_path_gives(store: Store) -> None:
    """Once run on the full path, the query with another id or cursor answers what the full
    path answers for it."""
    rows = [await create(store, Kind.IN_APP, name=f"m{i}") for i in range(3)]
    known = Known(store)
    first = await known.full(ONE, id=ids.communication_id(rows[0].id))
    assert first["communication"]["name"] == "m0"
    for row in rows[1:]:
        id = ids.communication_id(row.id)
        assert await known.run(ONE, id=id) == await known.full(ONE, id=id)
    page = await known.full(PAGE, first=1)
    after = page["communications"]["edges"][0]["cursor"]
    assert await known.run(PAGE, first=2, after=after) == await known.full(
        PAGE, first=2, after=after
    )


async def test_a_known_query_is_charged_as_the_full_path_charges_it(store: Store) -> None:
    """One operation from the rate, and from the budget the cost of what the answer holds."""
    await create(store, Kind.IN_APP, name="one")
    known = Known(store)
    rate, budget = await known.left("rate"), await known.left("cost")
    await known.full(PAGE, first=5)
    taken = (rate - await known.left("rate"), budget - await known.left("cost"))
    assert taken == (1, 3)  # the connection, its one edge and its node
    rate, budget = await known.left("rate"), await known.left("cost")
    assert await known.run(PAGE, first=10) is not None
    assert (rate - await known.left("rate"), budget - await known.left("cost")) == taken


@pytest.mark.parametrize(
    ("variables", "why"),
    [
        ({"after": "not a cursor"}, "the resolver refuses it"),
        ({"after": {"an": "object"}}, "the variable does not coerce"),
        ({"after": "nul\u0000"}, "a string the database cannot store"),
        ({"first": 100, "after": None}, "over the maximum cost"),
    ],
)
async def test_a_known_query_that_would_fail_is_left_to_the_full_path(
    store: Store, variables: dict[str, Any], why: str
) -> None:
    """Refused or failing, it answers nothing here and takes nothing from the rate or the
    budget: the full path answers it, with its own refusal or error."""
    await create(store, Kind.IN_APP, name="one")
    known = Known(store, Limits(12, 30, 5000, 10, 10.0, 10, True, True, max_cost=50))
    await known.full(PAGE, first=1)
    rate, budget = await known.left("rate"), await known.left("cost")
    assert await known.run(PAGE, **variables) is None, why
    assert (await known.left("rate"), await known.left("cost")) == (rate, budget)


async def test_a_known_query_over_the_rate_is_left_to_the_full_path(store: Store) -> None:
    """With the rate spent, nothing runs here and nothing is taken from the budget."""
    known = Known(store, Limits(12, 30, 5000, 10, 1.0, 1, True, True))
    await known.full(PAGE, first=1)  # the one operation the rate allows
    budget = await known.left("cost")
    assert await known.run(PAGE, first=2) is None
    assert await known.left("cost") == budget


async def test_a_known_query_whose_execution_raises_is_left_to_the_full_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read has no effects to repeat: nothing is answered here and what was taken goes
    back, for the full path to run it and answer with its masked error."""
    await create(store, Kind.IN_APP, name="one")
    known = Known(store)
    await known.full(PAGE, first=1)

    def raising(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("schema.plans.execute", raising)  # graphql-core's execution
    monkeypatch.setattr("schema.plans.Plan.run", raising)  # or the operation's plan
    rate, budget = await known.left("rate"), await known.left("cost")
    assert await known.run(PAGE, first=2) is None
    assert (await known.left("rate"), await known.left("cost")) == (rate, budget)
