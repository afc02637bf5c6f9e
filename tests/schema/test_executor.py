"""graphql-core 3.3.2 keeps memory for every subscription event it executes (its per-event
executor shares the subscription's subfield memo, keyed by identity); schema/executor.py
gives each event a memo of its own. The first test pins the upstream defect: when a
graphql-core release fixes it, that test fails, and the workaround can go."""

import gc
import tracemalloc
from collections.abc import AsyncGenerator

import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as Upstream

from schema.executor import PerEventMemo

EVENTS = 300


@strawberry.type
class Inner:
    value: int


@strawberry.type
class Item:
    number: int
    inner: Inner


@strawberry.type
class Query:
    ok: bool = True


def _schema(executor: type[Upstream]) -> strawberry.Schema:
    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def items(self) -> AsyncGenerator[Item, None]:
            for n in range(2 * EVENTS):
                yield Item(number=n, inner=Inner(value=n))

    return strawberry.Schema(
        query=Query, subscription=Subscription, execution_context_class=executor
    )


async def _growth(schema: strawberry.Schema) -> int:
    """Bytes still held after EVENTS more events of one subscription, once warmed up."""
    results = await schema.subscribe("subscription { items { number inner { value } } }")
    for _ in range(EVENTS):  # warm up
        await anext(results)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(EVENTS):
            result = await anext(results)
            assert result.errors is None
        del result
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        await results.aclose()


async def test_upstream_graphql_core_keeps_memory_per_subscription_event() -> None:
    """graphql-core's per-event executor (strawberry's subclass leaves it as it is):
    hundreds of bytes more for every event."""
    assert await _growth(_schema(Upstream)) > 500 * EVENTS  # about 1,800 bytes each


async def test_our_executor_keeps_nothing_per_event() -> None:
    """With a memo per event, memory stays flat while events flow."""
    assert await _growth(_schema(PerEventMemo)) < 100 * EVENTS  # about 20: allocator noise


def test_the_schema_uses_it() -> None:
    from schema import schema

    assert schema.execution_context_class is PerEventMemo
