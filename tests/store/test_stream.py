"""The process's one stream reader: shared reads, the in-memory tail, catch-up from the table
without gap or duplicate, slow consumers dropped with a resumable cursor, shared rows."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from store import Store, changes, communications, deliveries, reading
from store.changes import Position
from store.errors import Refused
from store.feed import Change
from store.lifecycle import Action, Kind, Trigger
from store.stream import Behind, Stream
from tests.factories import create

SAFETY = 10  # seconds; only so that a lost change fails the test instead of hanging it


def everything(_change: Change) -> bool:
    return True


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engines = reading.engines(store)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def event_reads(seen: list[str]) -> int:
    return sum("FROM status_event" in s for s in seen)


def row_reads(seen: list[str]) -> int:
    return sum("FROM communication" in s and "status_event" not in s for s in seen)


@asynccontextmanager
async def subscribed(
    stream: Stream, after: Position | None, wanted: Any = everything
) -> AsyncIterator[AsyncGenerator[Change, None]]:
    subscription = stream.changes(after, wanted)
    assert isinstance(subscription, AsyncGenerator)
    try:
        yield subscription
    finally:
        await subscription.aclose()


async def take(items: AsyncIterator[Any], count: int) -> list[Any]:
    async with asyncio.timeout(SAFETY):
        return [await anext(items) for _ in range(count)]


async def toggle(store: Store, times: int) -> None:
    """`times` status changes of a new landing page (its CREATE included)."""
    page = await create(store, Kind.LANDING_PAGE)
    for i in range(times - 1):
        action = Action.PUBLISH if i % 2 == 0 else Action.UNPUBLISH
        await changes.apply(store, page.id, action, by=Trigger.PERSON, actor="t")


async def table(store: Store) -> list[Change]:
    found, _ = await changes.changes_after(store, (0, 0), limit=10_000)
    return found


async def test_many_subscribers_cost_the_reads_of_one(store: Store) -> None:
    """50 live subscribers get every change; the table is read about once per change, not
    once per subscriber per change."""
    stream = Stream(store)
    async with stream.hold():
        subscriptions = [stream.changes(stream.position, everything) for _ in range(50)]
        firsts = [asyncio.ensure_future(anext(s)) for s in subscriptions]
        await asyncio.sleep(0)  # every subscriber joins before anything commits
        with statements(store) as seen:
            await toggle(store, 5)
            pairs = zip(firsts, subscriptions, strict=True)
            received = [[await f, *await take(s, 4)] for f, s in pairs]
        for subscription in subscriptions:
            await subscription.aclose()  # type: ignore[attr-defined]
    expected = await table(store)
    assert all(r == expected for r in received)
    # a reader per subscriber would make at least 50 reads of the events per change (250);
    # one read is one or two statements, and a commit behind the horizon adds a quick re-read
    assert event_reads(seen) <= 5 * len(expected), seen


async def test_a_resume_inside_the_tail_is_served_from_memory(store: Store) -> None:
    """A subscriber resuming from a cursor the tail still holds reads nothing from the table."""
    stream = Stream(store, tail=100)
    async with stream.hold():
        async with subscribed(stream, stream.position) as live:
            await toggle(store, 6)
            seen_live = await take(live, 6)
        with statements(store) as seen:
            async with subscribed(stream, seen_live[1].position) as resumed:
                replayed = await take(resumed, 4)
        assert event_reads(seen) == 0
        assert replayed == seen_live[2:]
        async with subscribed(stream, seen_live[-1].position) as resumed:
            await toggle(store, 2)
            assert await take(resumed, 2) == (await table(store))[6:]


async def test_catch_up_from_the_table_then_the_tail_then_live_while_writers_race(
    store: Store,
) -> None:
    """A subscriber from far behind a small tail reads its backlog from the table in pages,
    then the tail, then live changes, while writers commit all along: every change once, in
    stream order."""
    await asyncio.gather(*(toggle(store, 6) for _ in range(5)))  # 30 before anyone listens
    stream = Stream(store, tail=4, page=3)
    async with stream.hold():
        assert len(stream.tail) == 0  # it starts at the head: the 30 are only in the table
        writers = asyncio.gather(*(toggle(store, 6) for _ in range(4)))  # 24 more meanwhile
        async with subscribed(stream, (0, 0)) as subscription:
            received = await take(subscription, 54)
            await writers
            await toggle(store, 2)
            received += await take(subscription, 2)
    expected = await table(store)
    assert len(expected) == 56
    assert received == expected


async def test_filters_keep_their_place(store: Store) -> None:
    """A filtered subscriber gets only what it wants, from the backlog and live alike."""
    email = await create(store, Kind.EMAIL)
    page = await create(store, Kind.LANDING_PAGE)
    stream = Stream(store, tail=1, page=1)

    def published(change: Change) -> bool:
        return change.to_status == "PUBLISHED"

    await changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="t")
    async with stream.hold(), subscribed(stream, (0, 0), published) as subscription:
        [first] = await take(subscription, 1)
        await changes.apply(store, email.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
        await changes.apply(store, page.id, Action.UNPUBLISH, by=Trigger.PERSON, actor="t")
        await changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="t")
        [second] = await take(subscription, 1)
    assert [(c.communication_id, c.version) for c in (first, second)] == [
        (page.id, 2),
        (page.id, 4),
    ]


async def test_a_slow_consumer_is_dropped_and_resumes_with_its_cursor(store: Store) -> None:
    """A subscriber that lets more than its queue's worth wait gets what was queued, then
    `Behind`; others go on; resuming with its last cursor loses nothing."""
    stream = Stream(store, queue=3)
    async with stream.hold():
        start = stream.position
        async with subscribed(stream, start) as slow, subscribed(stream, start) as fast:
            first = asyncio.ensure_future(anext(slow))
            await asyncio.sleep(0)  # it has joined the live stream
            await toggle(store, 8)
            written = [c for c in await table(store) if c.position > start]
            # once one that joins at the fifth change has the last three (never more than its
            # queue), the reader has read all 8: `fast` catches up from the tail, and no read
            # of the reader's can hand it more than its queue at once
            async with subscribed(stream, written[4].position) as last:
                assert await take(last, 3) == written[5:]
            others = await take(fast, 8)
            assert others == written
            got = [await first]
            with pytest.raises(Behind, match="more than 3 changes behind"):
                while True:
                    got.append(await anext(slow))
        # at least the queue's worth (one more when its first change was taken before the
        # next ones came: the writes may land in one read, or one by one), never all 8
        assert got == others[: len(got)] and 3 <= len(got) < 8
        async with subscribed(stream, got[-1].position) as resumed:
            assert got + await take(resumed, 8 - len(got)) == others


async def test_watchers_share_one_read_per_change(store: Store) -> None:
    """40 watchers of one communication: each gets its state and every status change, and
    the row is read about once per change, not once per watcher."""
    made = await create(store, Kind.IN_APP)
    stream = Stream(store)
    async with stream.hold():
        with statements(store) as seen:
            watchers = [stream.watch(made.id) for _ in range(40)]
            first = [await take(w, 1) for w in watchers]
            for action in (Action.LAUNCH, Action.PAUSE):
                await changes.apply(store, made.id, action, by=Trigger.PERSON, actor="t")
                got = [await take(w, 1) for w in watchers]
                assert {row.status for [(_, row)] in got} == {
                    "ACTIVE" if action == "LAUNCH" else "PAUSED"
                }
                assert len({serial for [(serial, _)] in got}) == 1  # the same row for everyone
            for watcher in watchers:
                await watcher.aclose()
    assert {row.status for [(_, row)] in first} == {"DRAFT"}
    # apply() reads the row itself twice per change; the watchers add about one each
    assert row_reads(seen) <= 1 + 2 * (2 + 2), seen


async def test_counters_are_read_at_most_once_per_window(store: Store) -> None:
    """Many progress touches within one window cost one read, and the newest state arrives."""
    made = await create(store, Kind.SMS, audience_size=50)
    sending = await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="t")
    assert sending.id is not None
    stream = Stream(store, period=3600)  # a window longer than the test: only one read fits
    async with stream.hold():
        watcher = stream.watch(sending.id)
        [(_, row)] = await take(watcher, 1)
        assert row.handed_off_count == 0
        with statements(store) as seen:
            for _ in range(5):
                await deliveries.claim(
                    store, sending.id, limit=1, worker_id="w", lease=timedelta(minutes=1), actor="w"
                )
            # the touches wait for the window; a status change is read at once, window or not
            await changes.apply(store, sending.id, Action.STOP, by=Trigger.PERSON, actor="t")
            [(_, row)] = await take(watcher, 1)
        await watcher.aclose()
    assert (row.status, row.not_sent_count) == ("STOPPED", 50)
    claims_and_stop = sum("FOR UPDATE" in s or "UPDATE communication" in s for s in seen)
    assert claims_and_stop >= 6
    watcher_reads = row_reads(seen) - claims_and_stop * 3  # generous for what they read
    assert watcher_reads <= 1, seen


async def test_a_deleted_communication_ends_its_watchers(store: Store) -> None:
    """Watchers of a draft that is deleted end; a watcher of no communication gets NOT_FOUND."""
    made = await create(store, Kind.IN_APP)
    stream = Stream(store)
    async with stream.hold():
        watcher = stream.watch(made.id)
        await take(watcher, 1)
        await communications.delete_draft(store, made.id, expected_version=1)
        async with asyncio.timeout(SAFETY):
            assert [item async for item in watcher] == []
        with pytest.raises(Refused, match="no communication"):
            await anext(stream.watch(made.id))


async def test_a_watcher_coming_while_the_last_holder_leaves_is_served(store: Store) -> None:
    """A watcher that comes while the last holder leaves (its reader still ending) gets the row,
    then its changes, from the reader it starts."""
    made = await create(store, Kind.IN_APP)
    stream = Stream(store)
    for action in (Action.LAUNCH, Action.PAUSE, Action.RESUME):
        holder = stream.hold()
        await holder.__aenter__()
        leaving = asyncio.create_task(holder.__aexit__(None, None, None))
        watcher = stream.watch(made.id)
        [(_, before)] = await take(watcher, 1)
        await leaving
        await changes.apply(store, made.id, action, by=Trigger.PERSON, actor="t")
        [(_, after)] = await take(watcher, 1)
        assert after.version == before.version + 1
        await watcher.aclose()


async def test_a_watch_lets_go_of_the_stream_however_it_ends(store: Store) -> None:
    """A watch closed before its first row, closed after one, cancelled while it waits, or
    refused: each lets go of its row and of the stream, whose reader then stops."""
    made = await create(store, Kind.IN_APP)
    stream = Stream(store)
    unread = stream.watch(made.id)
    await unread.aclose()
    assert stream.idle.is_set()
    closed, waiting = stream.watch(made.id), stream.watch(made.id)
    await take(closed, 1)
    await take(waiting, 1)
    await closed.aclose()
    assert not stream.idle.is_set()  # the other still watches
    taking = asyncio.create_task(take(waiting, 1))
    await asyncio.sleep(0)  # it waits for the next row
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    assert stream.idle.is_set()
    assert [row async for row in waiting] == []  # done: it does not watch again
    with pytest.raises(Refused, match="no communication"):
        await anext(stream.watch(None))
    assert stream.idle.is_set()


async def test_each_read_of_the_stream_is_one_statement(store: Store) -> None:
    """The stream's reads (its head; a page after a position, with whether changes wait
    behind the horizon) are one statement each on both engines: on PostgreSQL the horizon
    comes from the page's own statement, so there is no second one, and no transaction."""
    before = await changes.head(store)
    await toggle(store, 3)
    with statements(store) as seen:
        head = await changes.head(store)
    assert len(seen) == 1 and head > before, seen
    with statements(store) as seen:
        found, _ = await changes.changes_after(store, before, limit=2)
    assert len(seen) == 1, seen
    with statements(store) as seen:
        rest, waiting = await changes.changes_after(store, head)
    assert len(seen) == 1 and rest == [] and not waiting, seen
    assert found == (await table(store))[-3:-1]
