"""The read cache: a repeated query is answered from memory until this process publishes or
receives a notice; only queries over data that notices cover are kept; a read that raced
a change is not kept; a cached answer is charged to the rate and the budget like any."""

import pytest
from graphql import parse
from sqlalchemy import text

from schema import build
from schema.context import Context
from schema.limits import Limits, MemoryBuckets
from schema.readcache import Entry, ReadCache, cacheable, charge, key_of
from store import Store
from store.feed import Touch
from store.lifecycle import Kind
from store.tokens import ApiRole
from tests.factories import create, engine_of

LIMITS = Limits(12, 30, 5000, 10, rate=10.0, burst=10, introspection=True, field_suggestions=True)
RENAME = text("UPDATE communication SET name = 'after' WHERE id = :id")
NAMES = "{ communications(first: 10) { edges { node { ... on CommunicationBase { name } } } } }"


def names(data: object) -> list[str]:
    assert isinstance(data, dict)
    return [edge["node"]["name"] for edge in data["communications"]["edges"]]


async def test_a_repeated_query_is_answered_from_memory_until_a_notice(store: Store) -> None:
    """A write that publishes no notice is not seen by the cached answer; once a notice is
    published, the next read is fresh."""
    row = await create(store, Kind.IN_APP, name="before")
    schema = build(LIMITS, reads=ReadCache(100, shared=False))
    caller = Context(store=store, actor="reader", role=ApiRole.VIEWER)
    assert names((await schema.execute(NAMES, context_value=caller)).data) == ["before"]
    async with engine_of(store).begin() as conn:  # behind the store's back: no notice
        await conn.execute(RENAME, {"id": row.id})
    assert names((await schema.execute(NAMES, context_value=caller)).data) == ["before"]
    assert row.id is not None
    await store.feed.publish(Touch(row.id))
    assert names((await schema.execute(NAMES, context_value=caller)).data) == ["after"]


async def test_a_named_query_sent_without_its_name_is_found_by_what_was_sent(
    store: Store,
) -> None:
    """A polled `query Names { ... }` sent without operationName is kept under the request as
    sent (no name), which is all server/reads.py sees before it parses anything."""
    await create(store, Kind.IN_APP, name="kept")
    cache = ReadCache(100, shared=False)
    schema = build(LIMITS, reads=cache)
    named = "query Names($first: Int) " + NAMES.replace("first: 10", "first: $first")
    caller = Context(store=store, actor="reader", role=ApiRole.VIEWER)
    result = await schema.execute(named, variable_values={"first": 10}, context_value=caller)
    stamp = await cache.stamp(store)
    assert stamp is not None
    found = cache.get(key_of(named, None, {"first": 10}, ApiRole.VIEWER), stamp)
    assert found is not None and found.data == result.data


@pytest.mark.parametrize(
    ("document", "kept"),
    [
        (NAMES, True),
        ('{ communication(id: "x") { __typename } statusCounts { count } }', True),
        ("{ __typename }", True),
        ("{ apiTokens { name } }", False),  # not covered by notices
        ('{ deliveryEvents(communicationId: "x") { edges { cursor } } }', False),
        ('{ node(id: "x") { ... on EmailCampaign { stalled } } }', False),  # the clock's
        (
            '{ ...F } fragment F on Query { node(id: "x") { ... on SmsCampaign { stalled } } }',
            False,
        ),
        ('mutation { deleteCommunication(id: "x") { userErrors { code } } }', False),
        ("subscription { statusChanged { cursor } }", False),
    ],
)
def test_only_queries_over_data_notices_cover_are_kept(document: str, kept: bool) -> None:
    """Queries over communications and counts are kept; other data, clock-dependent fields,
    mutations and subscriptions never are."""
    assert cacheable(parse(document), None) is kept


class Feed:
    generation = 0


class FakeStore:
    feed = Feed()


async def test_a_read_that_raced_a_change_is_not_kept() -> None:
    """A result whose execution began before a notice arrived is dropped, not stored."""
    cache = ReadCache(10, shared=False)
    store = FakeStore()
    stamp = await cache.stamp(store)  # type: ignore[arg-type]
    assert stamp is not None
    store.feed.generation += 1  # a notice while it ran
    key = ("{ statusCounts { count } }", None, "{}", "viewer")
    cache.put(key, Entry(stamp, {"statusCounts": []}, 1, 1), store)  # type: ignore[arg-type]
    now = await cache.stamp(store)  # type: ignore[arg-type]
    assert now is not None and cache.get(key, now) is None and cache.get(key, stamp) is None


async def test_a_cached_answer_is_charged_like_any_other() -> None:
    """One operation from the rate and the cost from the budget, the unused part given
    back; when the budget is short nothing is taken, not even the rate."""
    buckets = MemoryBuckets(clock=lambda: 0.0)
    limits = Limits(12, 30, 5000, 10, 1.0, 2, True, True, cost_budget=100, cost_refill=1.0)
    entry = Entry((0, None), {}, requested=60, actual=10)
    assert await charge(buckets, limits, "a", None, entry) == 90
    assert await charge(buckets, limits, "a", None, Entry((0, None), {}, 95, 95)) is None
    assert (await buckets.take("rate:a", 0, 2, 1.0)).left == 1  # only the first was counted
    assert await charge(buckets, limits, "a", None, entry) == 80
    assert await charge(buckets, limits, "a", None, entry) is None  # the rate: 2 at once
