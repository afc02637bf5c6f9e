"""A property test of the worker API: random interleavings of claim, claimNext, renew,
release, reports (late, stale and made-up ones included), lease expiry, requeue, stop and
finish, with the invariants checked after every step, on SQLite and PostgreSQL.

Time is the store's clock, moved by the test: a lease expires when the test says time
passed, not when the machine is slow, so every run replays exactly.
"""

import asyncio
import shutil
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from broadcaster import Broadcast
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import col, select

from store import Store, changes, communications, deliveries, migrate
from store.audience import NOT_SENT_EVENT, SENT_EVENT, Delivery
from store.database import create_engine, sessions
from store.deliveries import Leased, Report
from store.errors import ErrorCode, Refused
from store.feed import Feed
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import Recipient, utcnow
from tests.conftest import ENGINES, sqlite_url
from tests.factories import CONTENT

T = TypeVar("T")
AUDIENCE = [f"r{n}" for n in range(1, 7)]
WORKERS = ["w1", "w2", "w3"]
FINAL = (Delivery.SENT, Delivery.NOT_SENT)
SOME = st.lists(st.sampled_from(AUDIENCE), min_size=1, max_size=4)  # recipients of one call


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of the test's own on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "commpulse.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return sqlite_url(path)
    url: str = request.getfixturevalue("new_postgres_database")
    return url


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(deliveries, "utcnow", made)
    return made


@pytest.fixture
def loop_store(database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, Store]]:
    """A store on its own event loop, which the (synchronous) state machine drives."""
    loop = asyncio.new_event_loop()
    engine = create_engine(database)
    loop.run_until_complete(migrate.upgrade(engine))
    broadcast = Broadcast("memory://")
    loop.run_until_complete(broadcast.connect())
    try:
        yield loop, Store(sessions(engine), Feed(broadcast))
    finally:
        loop.run_until_complete(broadcast.disconnect())
        loop.run_until_complete(engine.dispose())
        loop.close()


def test_no_interleaving_breaks_the_recipients_invariants(
    loop_store: tuple[asyncio.AbstractEventLoop, Store], clock: Clock
) -> None:
    """After every step: each recipient is in exactly one state, counters equal the
    recipient rows and the events, each final recipient has exactly one final event and
    it never changes, HANDED_OFF ones carry the lease that last claimed them, and no report
    or release from a lease other than the last claim's is ever applied."""
    loop, store = loop_store

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coroutine)

    class Deliveries(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.leases: list[tuple[str, list[str]]] = []  # every lease issued: id, recipients
            self.current: dict[str, str] = {}  # recipient -> the lease that last claimed it
            self.final: dict[str, Delivery] = {}  # recipient -> its outcome, once final
            self.stopped = False

        @initialize(kind=st.sampled_from([Kind.EMAIL, Kind.SMS]))
        def launch(self, kind: Kind) -> None:
            row = run(
                communications.create(
                    store,
                    kind,
                    name="property",
                    origin=Origin.CAMPAIGN,
                    content=dict(CONTENT[kind]),
                    audience_size=None,
                    actor="t",
                    recipients=AUDIENCE,
                )
            )
            run(changes.apply(store, row.id, Action.LAUNCH, by=Trigger.PERSON, actor="t"))
            self.id = row.id
            self.kind = kind

        def _claimed(self, found: list[deliveries.Claimed]) -> None:
            if found:
                assert len({c.lease_id for c in found}) == 1
                assert all(c.communication_id == self.id for c in found)
                self.leases.append((found[0].lease_id, [c.recipient_id for c in found]))
            for c in found:
                assert c.recipient_id not in self.final, "a final recipient was handed out"
                self.current[c.recipient_id] = c.lease_id

        @rule(
            worker=st.sampled_from(WORKERS),
            limit=st.integers(1, 4),
            seconds=st.sampled_from([1, 30]),
            next_=st.booleans(),
        )
        def claim(self, worker: str, limit: int, seconds: int, next_: bool) -> None:
            lease = timedelta(seconds=seconds)
            try:
                if next_:
                    found = run(
                        deliveries.claim_next(
                            store,
                            [self.kind],
                            limit=limit,
                            worker_id=worker,
                            lease=lease,
                            actor=worker,
                        )
                    )
                    assert all(c.communication_id == self.id for c in found)
                else:
                    found = run(
                        deliveries.claim(
                            store, self.id, limit=limit, worker_id=worker, lease=lease, actor=worker
                        )
                    )
            except Refused:
                assert self.stopped
                return
            assert not (self.stopped and found)
            self._claimed(found)

        def _lease(self, pick: int) -> str:
            """One of the leases issued so far, or a made-up one when there is none."""
            return self.leases[pick % len(self.leases)][0] if self.leases else "made-up"

        @rule(
            pick=st.integers(0, 1_000),
            who=SOME,
            outcome=st.sampled_from(FINAL),
        )
        def report(self, pick: int, who: list[str], outcome: Delivery) -> None:
            """A report by any lease ever issued: current, expired, superseded or unrelated."""
            lease = self._lease(pick)
            at = clock()
            items = [Report(r, lease, outcome, None, at) for r in who]
            before = dict(self.current)
            _, outcomes = run(deliveries.report(store, self.id, items, actor="w"))
            for item, o in zip(items, outcomes, strict=True):
                r = item.recipient_id
                if o.applied:
                    assert before.get(r) == lease, "a lease that does not hold it won"
                    assert r not in self.final
                    self.final[r] = outcome
                elif o.code is ErrorCode.STALE_LEASE:
                    assert r in before and before[r] != lease
                elif o.code is ErrorCode.NOT_CLAIMED:
                    assert r not in before
                elif o.code is ErrorCode.CONFLICTING_OUTCOME:
                    assert self.final[r] != outcome
                else:
                    assert o.code is None and self.final[r] == outcome  # a repeat

        @rule(
            pick=st.integers(0, 1_000),
            who=SOME,
            release=st.booleans(),
        )
        def renew_or_release(self, pick: int, who: list[str], release: bool) -> None:
            lease = self._lease(pick)
            items = [Leased(r, lease) for r in who]
            try:
                if release:
                    outcomes = run(deliveries.release(store, self.id, items))
                else:
                    outcomes = run(
                        deliveries.renew(store, self.id, items, lease=timedelta(seconds=30))
                    )
            except Refused:
                assert self.stopped
                return
            for item, o in zip(items, outcomes, strict=True):
                if o.applied:
                    assert self.current.get(item.recipient_id) == lease
                    assert item.recipient_id not in self.final

        @rule(seconds=st.sampled_from([2, 31]), requeue=st.booleans())
        def time_passes(self, seconds: int, requeue: bool) -> None:
            clock.now += timedelta(seconds=seconds)
            if requeue:
                run(deliveries.requeue_expired(store))

        @rule()
        def stop(self) -> None:
            try:
                run(changes.stop(store, self.id, actor="person"))
            except Refused:
                assert self.stopped
                return
            self.stopped = True
            for r in AUDIENCE:
                self.final.setdefault(r, Delivery.NOT_SENT)

        @rule()
        def finish(self) -> None:
            """The sender or scheduler finishing early leaves PENDING ones claimable."""
            with suppress(Refused):
                run(changes.apply(store, self.id, Action.FINISH, by=Trigger.SENDER, actor="s"))

        def teardown(self) -> None:
            """Stop it, so that the next example's claimNext finds only its own campaign."""
            if hasattr(self, "id"):
                with suppress(Refused):
                    run(changes.stop(store, self.id, actor="person"))

        @invariant()
        def recipients_counters_and_events_agree(self) -> None:
            if not hasattr(self, "id"):
                return
            row = run(communications.get(store, self.id))
            found = run(_recipients(store, self.id))
            states = {pid: state for pid, state, _ in found}
            assert sorted(states) == sorted(AUDIENCE)  # one row, so one state, each
            by_state = Counter(states.values())
            assert set(by_state) <= set(Delivery)
            assert (row.pending_count, row.handed_off_count) == (
                by_state[Delivery.PENDING],
                by_state[Delivery.HANDED_OFF],
            )
            assert (row.sent_count, row.not_sent_count) == (
                by_state[Delivery.SENT],
                by_state[Delivery.NOT_SENT],
            )
            names = run(_final_events(store, self.id, self.kind))
            named = Counter(n for _, n in names)
            assert named[SENT_EVENT[self.kind]] == row.sent_count
            assert named[NOT_SENT_EVENT[self.kind]] == row.not_sent_count
            per = Counter(r for r, _ in names)
            for pid, state, lease in found:
                if state in FINAL:
                    assert per[pid] == 1 and self.final.get(pid) == state
                else:
                    assert per[pid] == 0 and pid not in self.final
                if state == Delivery.HANDED_OFF:
                    assert lease == self.current[pid]
            if self.stopped:
                assert row.status == Status.STOPPED
                assert set(states.values()) <= set(FINAL)
            else:
                assert row.status in (Status.SENDING, Status.FINISHED)
                if by_state[Delivery.PENDING] == 0:
                    assert row.status == Status.FINISHED

    run_state_machine_as_test(
        Deliveries,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            # every step is a few database round trips: shrinking a failure would outlast the
            # test's timeout, so a failure is printed as found, steps and all
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


async def _recipients(store: Store, cid: int | None) -> list[tuple[str, str, str | None]]:
    """Each recipient's state as users see it (deliveries.states) and its last lease."""
    seen = await deliveries.states(store, cid)
    async with store.sessions() as session:
        found = await session.exec(
            select(Recipient.profile_id, Recipient.lease_id).where(
                col(Recipient.communication_id) == cid
            )
        )
        return [(pid, seen[pid], lease) for pid, lease in found.all()]


async def _final_events(store: Store, cid: int | None, kind: Kind) -> list[tuple[str, str]]:
    names = [SENT_EVENT[kind], NOT_SENT_EVENT[kind]]
    found, _ = await deliveries.events(
        store, cid, names=names, recipient_id=None, after=(0, 0), first=10_000
    )
    return [(e.recipient_id, e.name) for _, e in found]
