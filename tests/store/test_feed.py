"""Notices: what listeners hear after each committed change, and the JSON they travel as."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store import Store, changes, communications, deliveries
from store.errors import Refused
from store.feed import Change, Changed, Notice, Touch, decode, encode
from store.lifecycle import Action, Kind, Trigger
from tests import factories

SAFETY = 10  # seconds; only so that a lost notice fails the test instead of hanging it


async def _next(notices: AsyncIterator[Notice], count: int) -> list[Notice]:
    async with asyncio.timeout(SAFETY):
        return [await anext(notices) for _ in range(count)]


async def test_listeners_hear_each_change_in_order(store: Store) -> None:
    """A listener hears create, launch and stop in order; the table holds what happened."""
    async with store.feed.listen() as notices:
        made = await factories.create(store, Kind.EMAIL)
        await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
        await changes.apply(
            store, made.id, Action.STOP, by=Trigger.PERSON, actor="bob", reason="oops"
        )
        heard = await _next(notices, 3)
    assert made.id is not None
    assert heard == [Changed(made.id)] * 3
    stored, waiting = await changes.changes_after(store, (0, 0))
    steps = [
        (n.seq, n.communication_id, n.action, n.from_status, n.to_status, n.actor, n.version)
        for n in stored
    ]
    assert (steps, waiting) == (
        [
            (1, made.id, "CREATE", None, "DRAFT", "test", 1),
            (2, made.id, "LAUNCH", "DRAFT", "SENDING", "ann", 2),
            (3, made.id, "STOP", "SENDING", "STOPPED", "bob", 3),
        ],
        False,
    )
    assert stored[2].reason == "oops"


async def test_edits_and_deletes_are_heard_as_touches(store: Store) -> None:
    """Changes that keep the status (an edit, a delete) reach listeners as touches."""
    async with store.feed.listen() as notices:
        made = await factories.create(store, Kind.IN_APP)
        await communications.update_draft(store, made.id, expected_version=1, given={"name": "B"})
        await communications.delete_draft(store, made.id, expected_version=2)
        heard = await _next(notices, 3)
    assert made.id is not None
    assert heard == [Changed(made.id), Touch(made.id), Touch(made.id)]


async def test_a_refused_action_is_not_heard(store: Store) -> None:
    """Nothing is published for a refusal: the next notice is the next real change."""
    async with store.feed.listen() as notices:
        made = await factories.create(store, Kind.EMAIL)
        with pytest.raises(Refused):
            await changes.apply(store, made.id, Action.STOP, by=Trigger.PERSON, actor="ann")
        await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
        other = await factories.create(store, Kind.EMAIL)
        heard = await _next(notices, 3)
    assert made.id is not None and other.id is not None
    assert heard == [Changed(made.id), Changed(made.id), Changed(other.id)]


async def test_progress_is_heard_and_a_stop_outruns_it(store: Store) -> None:
    """A claim is published as a touch; a claim after a stop is refused and publishes nothing."""
    lease = timedelta(minutes=1)
    async with store.feed.listen() as notices:
        made = await factories.create(store, Kind.SMS, audience_size=100)
        sending = await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
        assert sending.id is not None
        claimed = await deliveries.claim(
            store, sending.id, limit=10, worker_id="w", lease=lease, actor="w"
        )
        assert len(claimed) == 10
        await changes.apply(store, sending.id, Action.STOP, by=Trigger.PERSON, actor="ann")
        with pytest.raises(Refused):
            await deliveries.claim(
                store, sending.id, limit=10, worker_id="w", lease=lease, actor="w"
            )
        other = await factories.create(store, Kind.EMAIL)  # the next thing anyone should hear
        heard = await _next(notices, 5)
    assert other.id is not None
    pk = sending.id
    assert heard == [Changed(pk), Changed(pk), Touch(pk), Changed(pk), Changed(other.id)]
    stopped = await changes.get_any(store, sending.id)
    assert (stopped.status, stopped.handed_off_count, stopped.not_sent_count) == (
        "STOPPED",
        0,
        100,
    )


async def test_a_notice_is_published_only_once_its_change_is_readable(store: Store) -> None:
    """A listener that reads the table as soon as it hears a change always finds it there."""
    async with store.feed.listen() as notices:

        async def read_on_hearing() -> list[int]:
            found = []
            for _ in range(4):
                (notice,) = await _next(notices, 1)
                assert isinstance(notice, Changed)
                rows, _ = await changes.history(store, notice.communication_id, after=0, first=100)
                found.append(len(rows))
            return found

        async def act() -> None:
            made = await factories.create(store, Kind.SCREEN_VIEW)
            for action in (Action.LAUNCH, Action.PAUSE, Action.RESUME):
                await changes.apply(store, made.id, action, by=Trigger.PERSON, actor="ann")

        found, _ = await asyncio.gather(read_on_hearing(), act())
    # the n-th notice finds at least n changes (the writer may have committed more since)
    assert all(count >= n for n, count in enumerate(found, start=1)), found


def _change(**given: object) -> Change:
    values: dict[str, Any] = {
        "tx": 912,
        "seq": 7,
        "communication_id": 3,
        "kind": "EMAIL",
        "action": "STOP",
        "from_status": "SENDING",
        "to_status": "STOPPED",
        "actor": "ann",
        "reason": "wrong list",
        "version": 4,
        "at": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
    }
    return Change(**(values | given))


def test_a_change_travels_as_its_type_and_id_only() -> None:
    """A change's notice is a JSON string with its type and communication id, nothing else."""
    text = encode(_change())
    assert json.loads(text) == {"type": "change", "communication_id": 3}
    assert decode(text) == Changed(3)


def test_a_touch_survives_the_json_round_trip() -> None:
    """A touch encodes to a JSON string and decodes back to an equal touch."""
    text = encode(Touch(42))
    assert json.loads(text) == {"type": "touch", "communication_id": 42}
    assert decode(text) == Touch(42)


def test_a_notice_stays_under_the_postgresql_notify_limit() -> None:
    """However long a change's reason or actor, its notice is tiny (NOTIFY stops at 8000)."""
    text = encode(_change(actor="a" * 200, reason="x" * 20_000))
    assert len(text.encode()) < 100
    assert decode(text) == Changed(3)
