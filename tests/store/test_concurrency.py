"""Many people acting on one communication at the same moment, on a real SQLite file.

Each call is a separate store function with its own session and connection, so the
compare-and-set statements really race inside SQLite (WAL mode, busy timeout).
"""

import asyncio
import itertools
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any

from store import Store, changes, communications
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Status, Trigger
from store.tables import Communication, utcnow
from tests import factories
from tests.store.test_lifecycle import expected

CROWD = 20


Outcomes = tuple[list[Communication], list[Refused]]


async def _race(attempts: Sequence[Awaitable[Communication]]) -> Outcomes:
    """Run everything at once; every outcome must be a result or a refusal, nothing else."""
    outcomes: list[Any] = await asyncio.gather(*attempts, return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, Communication)]
    lost = [o for o in outcomes if isinstance(o, Refused)]
    unexpected = [o for o in outcomes if not isinstance(o, Communication | Refused)]
    assert unexpected == [], unexpected
    return won, lost


async def _assert_possible_history(store: Store, made: Communication) -> list[Any]:
    """Each step starts where the previous one ended, is allowed by the spec, and adds one."""
    assert made.id is not None
    steps, _ = await changes.history(store, made.id, after=0, first=1_000)
    assert steps[0].action == Action.CREATE
    assert steps[0].version == 1
    for previous, step in itertools.pairwise(steps):
        assert step.from_status == previous.to_status, steps
        assert step.version == previous.version + 1, steps
        assert step.seq > previous.seq
        # the role is not in the history; any role the spec allows will do
        allowed = {
            expected(Kind(made.kind), Status(previous.to_status), Action(step.action), role)
            for role in Trigger
        }
        assert step.to_status in allowed, step
    current = await changes.get_any(store, made.id)
    assert (current.status, current.version) == (steps[-1].to_status, steps[-1].version)
    return steps


async def _email(store: Store, *, launched: bool) -> Communication:
    made = await factories.create(store, Kind.EMAIL)
    if launched:
        made = await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    return made


async def test_twenty_simultaneous_stops_stop_once(store: Store) -> None:
    """Twenty people pressing stop at once: one stop is recorded, the rest are refused."""
    sending = await _email(store, launched=True)
    won, lost = await _race(
        [
            changes.apply(store, sending.id, Action.STOP, by=Trigger.PERSON, actor=f"p{i}")
            for i in range(CROWD)
        ]
    )
    assert len(won) == 1 and won[0].status == "STOPPED"
    assert {r.code for r in lost} <= {ErrorCode.INVALID_TRANSITION, ErrorCode.VERSION_CONFLICT}
    assert len(lost) == CROWD - 1
    steps = await _assert_possible_history(store, sending)
    assert [s.action for s in steps] == ["CREATE", "LAUNCH", "STOP"]


async def test_mixed_actions_from_one_read_let_exactly_one_win(store: Store) -> None:
    """Pause, stop and finish sent together against the same version: exactly one happens."""
    active = await factories.create(store, Kind.IN_APP)
    active = await changes.apply(store, active.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    plan = [
        (Action.PAUSE, Trigger.PERSON),
        (Action.STOP, Trigger.PERSON),
        (Action.FINISH, Trigger.SENDER),
    ]
    won, lost = await _race(
        [
            changes.apply(
                store,
                active.id,
                action,
                by=by,
                actor=f"{action}-{i}",
                expected_version=active.version,
            )
            for i in range(CROWD)
            for action, by in [plan[i % len(plan)]]
        ]
    )
    assert len(won) == 1
    assert {r.code for r in lost} == {ErrorCode.VERSION_CONFLICT}
    steps = await _assert_possible_history(store, active)
    assert len(steps) == 3  # create, launch, the one winner


async def test_mixed_actions_without_a_version_never_make_an_impossible_step(store: Store) -> None:
    """Pause, stop and finish racing without a version: the history is a possible sequence."""
    active = await factories.create(store, Kind.DYNAMIC_CONTENT)
    active = await changes.apply(store, active.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    plan = [
        (Action.PAUSE, Trigger.PERSON),
        (Action.STOP, Trigger.PERSON),
        (Action.FINISH, Trigger.SENDER),
    ]
    won, lost = await _race(
        [
            changes.apply(store, active.id, action, by=by, actor=f"{action}-{i}")
            for i in range(CROWD)
            for action, by in [plan[i % len(plan)]]
        ]
    )
    steps = await _assert_possible_history(store, active)
    assert len(steps) == 2 + len(won)
    assert len(won) + len(lost) == CROWD
    assert sum(1 for s in steps if s.action in ("STOP", "FINISH")) <= 1  # both leave ACTIVE/PAUSED
    assert {r.code for r in lost} <= {ErrorCode.INVALID_TRANSITION, ErrorCode.VERSION_CONFLICT}


async def test_twenty_schedules_with_the_same_version_schedule_once(store: Store) -> None:
    """Twenty schedules sent from one read of a draft: one wins, the rest see a version conflict."""
    draft = await _email(store, launched=False)
    start = utcnow() + timedelta(days=1)
    won, lost = await _race(
        [
            changes.apply(
                store,
                draft.id,
                Action.SCHEDULE,
                by=Trigger.PERSON,
                actor=f"p{i}",
                expected_version=draft.version,
                start_at=start + timedelta(minutes=i),
            )
            for i in range(CROWD)
        ]
    )
    assert len(won) == 1
    assert {r.code for r in lost} == {ErrorCode.VERSION_CONFLICT}
    steps = await _assert_possible_history(store, draft)
    assert [s.action for s in steps] == ["CREATE", "SCHEDULE"]
    current = await communications.get(store, draft.id)
    assert current.start_at == won[0].start_at


async def test_twenty_edits_with_the_same_version_keep_exactly_one(store: Store) -> None:
    """Twenty edits from one read: one name is kept, the others are refused as conflicts."""
    draft = await _email(store, launched=False)
    outcomes: list[Any] = await asyncio.gather(
        *[
            communications.update_draft(
                store, draft.id, expected_version=draft.version, given={"name": f"Name {i}"}
            )
            for i in range(CROWD)
        ],
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Communication)]
    lost = [o for o in outcomes if isinstance(o, Refused)]
    assert len(won) == 1 and len(lost) == CROWD - 1
    assert {r.code for r in lost} == {ErrorCode.VERSION_CONFLICT}
    current = await communications.get(store, draft.id)
    assert (current.name, current.version) == (won[0].name, draft.version + 1)


async def test_stop_racing_the_scheduler_and_sender_is_a_possible_sequence(store: Store) -> None:
    """Stops racing a finish and a failure end in one final status reached by allowed steps."""
    sending = await _email(store, launched=True)
    attempts = [
        changes.apply(store, sending.id, Action.STOP, by=Trigger.PERSON, actor=f"p{i}")
        for i in range(CROWD // 2)
    ]
    attempts += [
        changes.apply(store, sending.id, Action.FINISH, by=Trigger.SENDER, actor="sender"),
        changes.apply(
            store, sending.id, Action.FAIL, by=Trigger.SYSTEM, actor="system", reason="x"
        ),
    ]
    won, _ = await _race(attempts)
    steps = await _assert_possible_history(store, sending)
    assert steps[-1].to_status in ("STOPPED", "ERROR")
    assert len(steps) == 2 + len(won)


async def test_simultaneous_duplicates_of_a_landing_page_all_get_free_slugs(store: Store) -> None:
    """Duplicating one page several times at once gives every copy its own slug, no refusal."""
    page = await factories.create(store, Kind.LANDING_PAGE, slug="spring")
    outcomes: list[Any] = await asyncio.gather(
        *[communications.duplicate(store, page.id, name=None, actor="ann") for _ in range(5)],
        return_exceptions=True,
    )
    refused = [o for o in outcomes if not isinstance(o, Communication)]
    assert refused == [], [getattr(r, "message", r) for r in refused]
    assert len({o.slug for o in outcomes}) == 5
