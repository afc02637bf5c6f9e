"""statusChanged: replay from a position in the stream, then live changes, filtered."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from schema.subscriptions import Wanted, stream
from store import Store, changes
from store.changes import Position
from store.feed import Change
from store.lifecycle import Action, Kind, Trigger
from tests.factories import create

EVERYTHING = Wanted(ids=None, kinds=None, statuses=None)


@asynccontextmanager
async def subscribed(
    store: Store, after: Position, wanted: Wanted
) -> AsyncIterator[AsyncIterator[Change]]:
    """The stream, closed at the end even when the test fails, as a client's disconnect does."""
    subscription = stream(store, after, wanted)
    assert isinstance(subscription, AsyncGenerator)
    try:
        yield subscription
    finally:
        await subscription.aclose()


async def _take(changes_: AsyncIterator[Change], count: int) -> list[Change]:
    async with asyncio.timeout(10):
        return [await anext(changes_) for _ in range(count)]


async def test_resume_replays_what_was_missed_then_continues_live(store: Store) -> None:
    """A client resuming after a cursor gets the missed changes, then live ones, in order."""
    first = await create(store, Kind.IN_APP)
    assert first.id is not None
    missed = await create(store, Kind.IN_APP)
    await changes.apply(store, missed.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
    [created], _ = await changes.history(store, first.id, after=0, first=1)
    async with subscribed(store, created.position, EVERYTHING) as subscription:
        replayed = await _take(subscription, 2)
        assert [(c.communication_id, c.action) for c in replayed] == [
            (missed.id, Action.CREATE),
            (missed.id, Action.LAUNCH),
        ]
        await changes.apply(store, first.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
        [live] = await _take(subscription, 1)
    assert (live.communication_id, live.action, live.seq) == (first.id, Action.LAUNCH, 4)
    assert created.position < replayed[0].position < replayed[1].position < live.position


async def test_no_gap_and_no_duplicate_while_writers_race_the_replay(store: Store) -> None:
    """Changes committed while the replay is read arrive exactly once, in stream order."""
    rows = [await create(store, Kind.DYNAMIC_CONTENT) for _ in range(10)]
    async with subscribed(store, (0, 0), EVERYTHING) as subscription:
        writers = asyncio.gather(
            *(changes.apply(store, r.id, Action.LAUNCH, by=Trigger.PERSON, actor="t") for r in rows)
        )
        received = await _take(subscription, 20)
        await writers
    # concurrent writers may take seq numbers in one order and commit in another, which the
    # stream's (tx, seq) order follows on PostgreSQL; on SQLite it is plain seq order
    assert sorted(c.seq for c in received) == list(range(1, 21))
    assert [c.position for c in received] == sorted({c.position for c in received})
    everything, waiting = await changes.changes_after(store, (0, 0), limit=100)
    assert (received, waiting) == (everything, False)
    for row in rows:
        assert [c.action for c in received if c.communication_id == row.id] == ["CREATE", "LAUNCH"]


async def test_filters_keep_only_the_wanted_changes(store: Store) -> None:
    """statusChanged filters by id, kind and target status without losing its place."""
    email = await create(store, Kind.EMAIL)
    page = await create(store, Kind.LANDING_PAGE)
    wanted = Wanted(
        ids=None, kinds=frozenset({Kind.LANDING_PAGE}), statuses=frozenset({"PUBLISHED"})
    )
    async with subscribed(store, (0, 0), wanted) as subscription:
        await changes.apply(store, email.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
        await changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="t")
        [change] = await _take(subscription, 1)
    assert (change.communication_id, change.to_status) == (page.id, "PUBLISHED")


async def test_a_slow_subscriber_ends_with_slow_consumer_and_its_limit(store: Store) -> None:
    """Over GraphQL, a subscriber more than the queue's worth behind gets what was queued,
    then an error with the code SLOW_CONSUMER and the limit (resuming: tests/store)."""
    from schema import schema
    from schema.context import Context
    from store import stream as stream_
    from store.tokens import ApiRole

    page = await create(store, Kind.LANDING_PAGE)
    async with stream_.serving(store, queue=2):
        results = await schema.subscribe(
            "subscription { statusChanged { cursor action } }",
            context_value=Context(store=store, role=ApiRole.VIEWER),
        )
        assert isinstance(results, AsyncGenerator)
        try:
            first = asyncio.ensure_future(anext(results))
            async with asyncio.timeout(10):
                while not first.done():  # until it has joined the live stream and got one
                    await changes.apply(
                        store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="t"
                    )
                    await changes.apply(
                        store, page.id, Action.UNPUBLISH, by=Trigger.PERSON, actor="t"
                    )
                    await asyncio.sleep(0.05)
            for action in (Action.PUBLISH, Action.UNPUBLISH) * 3:
                await changes.apply(store, page.id, action, by=Trigger.PERSON, actor="t")
            async with asyncio.timeout(10):
                got = [await first]
                while not (result := await anext(results)).errors:
                    got.append(result)
        finally:
            await results.aclose()
    # the first, then what fit in the queue (2) or was taken meanwhile: never all of them
    assert 3 <= len(got) < 1 + 6 + 2 * 200
    [error] = result.errors
    assert error.extensions == {"code": "SLOW_CONSUMER", "limit": 2}
    assert "subscribe again with `after`" in error.message
