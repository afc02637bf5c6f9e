"""Starts SCHEDULED communications at startAt, finishes them at endAt, and puts the
recipients of expired worker leases back to PENDING.

It sleeps until the next due time (or `interval` at most, to notice new schedules), so a
start happens well within a second. After a restart, whatever fell due meanwhile is due
now, so it starts at once.
"""

import asyncio
import logging
import random
from collections.abc import Sequence

from store import Store, changes, deliveries
from store.errors import Refused
from store.lifecycle import Action, Trigger
from store.tables import utcnow

ACTOR = "scheduler"
log = logging.getLogger(__name__)


async def run(store: Store, interval: float) -> None:
    while True:
        try:
            busy = await tick(store)
            delay = 0.0 if busy else await _until_next(store, interval)
        except Exception:
            log.exception("scheduler tick failed; trying again")
            delay = interval
        await asyncio.sleep(delay)


async def tick(store: Store) -> bool:
    """Act on everything due now; True when there may be more due than one batch held."""
    now = utcnow()
    starts = await changes.due_to_start(store, now)
    ends = await changes.due_to_finish(store, now)
    await _each(store, starts, Action.START)
    await _each(store, ends, Action.FINISH)
    await deliveries.requeue_expired(store)
    return len(starts) == changes.DUE_BATCH or len(ends) == changes.DUE_BATCH


async def _each(store: Store, ids: Sequence[int], action: Action) -> None:
    # Instances that wake together take the due ones in different orders, so they mostly
    # act on different ones; the compare-and-set in apply makes each happen exactly once.
    for pk in random.sample(list(ids), len(ids)):
        try:
            await changes.apply(store, pk, action, by=Trigger.SCHEDULER, actor=ACTOR)
        except Refused as refused:  # a person acted first: nothing to do
            log.info("scheduler skipped %s of %s: %s", action, pk, refused.message)


async def _until_next(store: Store, interval: float) -> float:
    due = await changes.next_due(store)
    if due is None:
        return interval
    return min(max((due - utcnow()).total_seconds(), 0.0), interval)
