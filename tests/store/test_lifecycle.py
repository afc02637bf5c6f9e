"""Every action from every status of every kind, against SPEC.md sections 1 and 2.

The expected table below is typed in from the spec by hand. It is deliberately not
derived from `store.lifecycle`, so a mistake in the production table makes these fail.
Each case drives a real communication to its status through real store actions.
"""

from datetime import timedelta
from typing import Any, NamedTuple

import pytest
from sqlalchemy import text

from store import Store, changes
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Origin, Status, Trigger, available_actions
from store.tables import Communication, utcnow
from tests import factories

# Cases share one store and one event loop; the pure table checks below need neither.
shared_loop = pytest.mark.asyncio(loop_scope="module")

K, S, A, R = Kind, Status, Action, Trigger
INVALID = ErrorCode.INVALID_TRANSITION

MESSAGES = (K.EMAIL, K.SMS, K.WEB_PUSH, K.MOBILE_PUSH)
DISPLAYS = (K.DYNAMIC_CONTENT, K.IN_APP, K.SCREEN_VIEW)
PAGES = (K.LANDING_PAGE,)
ALL_BUT_PAGE = MESSAGES + DISPLAYS

# SPEC.md section 1: the statuses of each type.
STATUSES_OF: dict[Kind, tuple[Status, ...]] = {
    K.EMAIL: (S.DRAFT, S.SCHEDULED, S.SENDING, S.FINISHED, S.STOPPED, S.ERROR),
    K.SMS: (S.DRAFT, S.SCHEDULED, S.SENDING, S.FINISHED, S.STOPPED, S.ERROR),
    K.WEB_PUSH: (S.DRAFT, S.SCHEDULED, S.SENDING, S.FINISHED, S.STOPPED, S.ERROR),
    K.MOBILE_PUSH: (S.DRAFT, S.SCHEDULED, S.SENDING, S.FINISHED, S.STOPPED, S.ERROR),
    K.DYNAMIC_CONTENT: (S.DRAFT, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED, S.STOPPED, S.ERROR),
    K.IN_APP: (S.DRAFT, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED, S.STOPPED, S.ERROR),
    K.SCREEN_VIEW: (S.DRAFT, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED, S.STOPPED, S.ERROR),
    K.LANDING_PAGE: (S.DRAFT, S.PUBLISHED, S.ERROR),
}

# SPEC.md section 5: the order of CommunicationAction, which availableActions follows.
ACTION_ORDER = (
    A.CREATE,
    A.SCHEDULE,
    A.UNSCHEDULE,
    A.LAUNCH,
    A.START,
    A.FINISH,
    A.PAUSE,
    A.RESUME,
    A.STOP,
    A.PUBLISH,
    A.UNPUBLISH,
    A.FAIL,
)


class Row(NamedTuple):
    action: Action
    sources: frozenset[Status]
    target: Status
    who: frozenset[Trigger]
    kinds: tuple[Kind, ...]


def row(
    action: Action, sources: set[Status], target: Status, who: set[Trigger], kinds: tuple[Kind, ...]
) -> Row:
    return Row(action, frozenset(sources), target, frozenset(who), kinds)


PERSON = {R.PERSON}
MACHINES = {R.SENDER, R.SYSTEM}

# SPEC.md section 2, one line per row of its table (rows naming two targets are split).
SPEC_TABLE: tuple[Row, ...] = (
    row(A.SCHEDULE, {S.DRAFT}, S.SCHEDULED, PERSON, ALL_BUT_PAGE),
    row(A.UNSCHEDULE, {S.SCHEDULED}, S.DRAFT, PERSON, ALL_BUT_PAGE),
    row(A.LAUNCH, {S.DRAFT, S.SCHEDULED}, S.SENDING, PERSON, MESSAGES),
    row(A.LAUNCH, {S.DRAFT, S.SCHEDULED}, S.ACTIVE, PERSON, DISPLAYS),
    row(A.START, {S.SCHEDULED}, S.SENDING, {R.SCHEDULER}, MESSAGES),
    row(A.START, {S.SCHEDULED}, S.ACTIVE, {R.SCHEDULER}, DISPLAYS),
    row(A.FINISH, {S.SENDING}, S.FINISHED, {R.SENDER, R.SCHEDULER}, MESSAGES),
    row(A.FINISH, {S.ACTIVE, S.PAUSED}, S.FINISHED, {R.SENDER, R.SCHEDULER}, DISPLAYS),
    row(A.PAUSE, {S.ACTIVE}, S.PAUSED, PERSON, DISPLAYS),
    row(A.RESUME, {S.PAUSED}, S.ACTIVE, PERSON, DISPLAYS),
    row(A.STOP, {S.SENDING, S.FINISHED}, S.STOPPED, PERSON, MESSAGES),
    row(A.STOP, {S.ACTIVE, S.PAUSED}, S.STOPPED, PERSON, DISPLAYS),
    row(A.PUBLISH, {S.DRAFT}, S.PUBLISHED, PERSON, PAGES),
    row(A.UNPUBLISH, {S.PUBLISHED}, S.DRAFT, PERSON, PAGES),
    # fail: "any non-final status but DRAFT", spelled out per family
    row(A.FAIL, {S.SCHEDULED, S.SENDING, S.FINISHED}, S.ERROR, MACHINES, MESSAGES),
    row(A.FAIL, {S.SCHEDULED, S.ACTIVE, S.PAUSED, S.FINISHED}, S.ERROR, MACHINES, DISPLAYS),
    row(A.FAIL, {S.DRAFT, S.PUBLISHED}, S.ERROR, MACHINES, PAGES),
)


def expected(kind: Kind, status: Status, action: Action, by: Trigger) -> Status | None:
    """The status the spec says `action` by `by` leads to, or None when it is refused."""
    for line in SPEC_TABLE:
        matches = line.action is action and kind in line.kinds and status in line.sources
        if matches and by in line.who:
            return line.target
    return None


# How to reach each status from DRAFT with real store actions.
Step = tuple[Action, Trigger]
LAUNCHED: list[Step] = [(A.LAUNCH, R.PERSON)]
MESSAGE_PATHS: dict[Status, list[Step]] = {
    S.DRAFT: [],
    S.SCHEDULED: [(A.SCHEDULE, R.PERSON)],
    S.SENDING: LAUNCHED,
    S.FINISHED: [*LAUNCHED, (A.FINISH, R.SENDER)],
    S.STOPPED: [*LAUNCHED, (A.STOP, R.PERSON)],
    S.ERROR: [*LAUNCHED, (A.FAIL, R.SYSTEM)],
}
DISPLAY_PATHS: dict[Status, list[Step]] = {
    S.DRAFT: [],
    S.SCHEDULED: [(A.SCHEDULE, R.PERSON)],
    S.ACTIVE: LAUNCHED,
    S.PAUSED: [*LAUNCHED, (A.PAUSE, R.PERSON)],
    S.FINISHED: [*LAUNCHED, (A.FINISH, R.SCHEDULER)],
    S.STOPPED: [*LAUNCHED, (A.STOP, R.PERSON)],
    S.ERROR: [*LAUNCHED, (A.FAIL, R.SYSTEM)],
}
PAGE_PATHS: dict[Status, list[Step]] = {
    S.DRAFT: [],
    S.PUBLISHED: [(A.PUBLISH, R.PERSON)],
    S.ERROR: [(A.FAIL, R.SYSTEM)],
}


def path(kind: Kind, status: Status) -> list[Step]:
    if kind in MESSAGES:
        return MESSAGE_PATHS[status]
    return DISPLAY_PATHS[status] if kind in DISPLAYS else PAGE_PATHS[status]


# Who tries each action: the roles the spec names, plus a person for the machine actions.
TRIED_BY: dict[Action, tuple[Trigger, ...]] = {
    A.SCHEDULE: (R.PERSON,),
    A.UNSCHEDULE: (R.PERSON,),
    A.LAUNCH: (R.PERSON,),
    A.START: (R.SCHEDULER, R.PERSON),
    A.FINISH: (R.SENDER, R.SCHEDULER, R.PERSON),
    A.PAUSE: (R.PERSON,),
    A.RESUME: (R.PERSON,),
    A.STOP: (R.PERSON,),
    A.PUBLISH: (R.PERSON,),
    A.UNPUBLISH: (R.PERSON,),
    A.FAIL: (R.SENDER, R.SYSTEM, R.PERSON),
}


class Case(NamedTuple):
    """One triple: from this status of this kind, try this action (by each role in turn)."""

    kind: Kind
    status: Status
    action: Action


def _id(case: Case) -> str:
    return f"{case.kind}-{case.status}-{case.action}"


CASES = [
    Case(kind, status, action)
    for kind in K
    for status in STATUSES_OF[kind]
    for action in ACTION_ORDER
    if action is not A.CREATE
]

# Person actions a person could do right now; the service's roles try each instead.
MACHINE_CASES = [
    Case(kind, status, action)
    for kind in K
    for status in STATUSES_OF[kind]
    for action, roles in TRIED_BY.items()
    if roles == (R.PERSON,) and expected(kind, status, action, R.PERSON) is not None
]


async def _committed(store: Store, query: str, **params: Any) -> tuple[Any, ...] | None:
    """One row as the database has it committed, read on a connection of its own."""
    async with factories.engine_of(store).connect() as conn:
        found = (await conn.execute(text(query), params)).first()
    return None if found is None else tuple(found)


async def _act(store: Store, row_id: int | None, action: Action, by: Trigger) -> Communication:
    """Apply `action` the way its caller would: schedules get a future start, stops a reason."""
    return await changes.apply(
        store,
        row_id,
        action,
        by=by,
        actor=f"{by.lower()}-actor",
        reason="because" if action in (A.STOP, A.FAIL) else None,
        start_at=utcnow() + timedelta(days=1) if action is A.SCHEDULE else None,
    )


async def _bring(store: Store, kind: Kind, status: Status, origin: Origin) -> Communication:
    made = await factories.create(store, kind, origin=origin)
    for action, by in path(kind, status):
        made = await _act(store, made.id, action, by)
    assert made.status == status
    return made


Snapshot = tuple[tuple[object, ...], int]


async def _snapshot(store: Store, row_id: int) -> Snapshot:
    """The whole committed row and the number of history rows it has."""
    current = await _committed(store, "SELECT * FROM communication WHERE id = :id", id=row_id)
    events = await _committed(
        store, "SELECT count(*) FROM status_event WHERE communication_id = :id", id=row_id
    )
    assert current is not None and events is not None
    return current, int(events[0])


Key = tuple[Kind, Status, Origin]
# Communications already brought to a status, for cases that must not change them.
Ready = dict[Key, tuple[int, Snapshot]]
# Communications that earlier cases moved and no case has used since, by status.
Spare = dict[Key, list[int]]


async def _fresh(store: Store, spare: Spare, key: Key) -> Communication:
    """A communication in the key's status that no other case will touch."""
    if spare.get(key):
        made = await changes.get_any(store, spare[key].pop())
        assert (made.kind, made.status, made.origin) == key
        return made
    return await _bring(store, *key)


class Shared(NamedTuple):
    """What the cases of this module share: the store and rows."""

    store: Store
    ready: Ready
    spare: Spare


@pytest.fixture(scope="module")
def shared(module_store: Store) -> Shared:
    """One database per engine for the module: each case works on its own communication."""
    return Shared(module_store, {}, {})


async def _assert_refused(
    shared: Shared, key: Key, action: Action, by: Trigger, codes: set[ErrorCode]
) -> None:
    """A refused action leaves the row and its history exactly as they were."""
    if key not in shared.ready:
        made = await _fresh(shared.store, shared.spare, key)
        assert made.id is not None
        shared.ready[key] = (made.id, await _snapshot(shared.store, made.id))
    row_id, before = shared.ready.pop(key)  # put back only if nothing changed
    try:
        moved = await _act(shared.store, row_id, action, by)
    except Refused as refused:
        assert refused.code in codes, f"{action} by {by}: {refused.code} {refused.message}"
    else:
        pytest.fail(f"{action} by {by} from {key[1]} was allowed and moved to {moved.status}")
    assert await _snapshot(shared.store, row_id) == before
    shared.ready[key] = (row_id, before)


@shared_loop
@pytest.mark.parametrize("case", CASES, ids=_id)
async def test_action_from_status_does_what_the_spec_table_says(shared: Shared, case: Case) -> None:
    """An action either moves a communication to the spec's target or is refused untouched."""
    key = (case.kind, case.status, Origin.CAMPAIGN)
    for by in TRIED_BY[case.action]:
        target = expected(case.kind, case.status, case.action, by)
        if target is None:
            await _assert_refused(shared, key, case.action, by, {INVALID})
            continue
        made = await _fresh(shared.store, shared.spare, key)
        assert made.id is not None
        moved = await _act(shared.store, made.id, case.action, by)
        shared.spare.setdefault((case.kind, target, Origin.CAMPAIGN), []).append(made.id)
        assert (moved.status, moved.version) == (target, made.version + 1), by
        last = await _committed(
            shared.store,
            "SELECT action, from_status, to_status, actor, reason, version FROM status_event"
            " WHERE communication_id = :id ORDER BY seq DESC LIMIT 1",
            id=made.id,
        )
        reason = "because" if case.action in (A.STOP, A.FAIL) else None
        actor = f"{by.lower()}-actor"
        assert last == (case.action, case.status, target, actor, reason, moved.version), by
        assert moved.status_reason == reason, by


@shared_loop
@pytest.mark.parametrize("case", MACHINE_CASES, ids=_id)
async def test_the_service_cannot_press_a_persons_buttons(shared: Shared, case: Case) -> None:
    """Scheduler, sender and system are refused the actions only a person may take."""
    key = (case.kind, case.status, Origin.CAMPAIGN)
    for by in (R.SCHEDULER, R.SENDER, R.SYSTEM):
        await _assert_refused(shared, key, case.action, by, {INVALID})


AUTOMATION_CASES = [
    Case(kind, status, A.STOP)
    for kind in K
    for status in STATUSES_OF[kind]
    if status is not S.STOPPED  # an automation communication can never get there
]


@shared_loop
@pytest.mark.parametrize("case", AUTOMATION_CASES, ids=_id)
async def test_stop_is_never_available_for_automation(shared: Shared, case: Case) -> None:
    """Stopping an Automation communication is refused, with its own code where stop applies."""
    no_stop = ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION
    # where stop is possible for no one, either code tells the truth
    codes = {no_stop} if expected(case.kind, case.status, A.STOP, R.PERSON) else {no_stop, INVALID}
    key = (case.kind, case.status, Origin.AUTOMATION)
    await _assert_refused(shared, key, A.STOP, R.PERSON, codes)


@pytest.mark.parametrize("origin", list(Origin))
@pytest.mark.parametrize(
    ("kind", "status"),
    [(kind, status) for kind in K for status in STATUSES_OF[kind]],
    ids=lambda value: str(value),
)
def test_available_actions_are_what_a_person_may_do(
    kind: Kind, status: Status, origin: Origin
) -> None:
    """Buttons offered are the spec's person actions in enum order, never stop for Automation."""
    offered = [
        action
        for action in ACTION_ORDER
        if expected(kind, status, action, R.PERSON) is not None
        and not (action is A.STOP and origin is Origin.AUTOMATION)
    ]
    assert available_actions(kind, origin, status) == offered


@pytest.mark.parametrize("kind", list(K))
def test_final_statuses_offer_nothing(kind: Kind) -> None:
    """STOPPED and ERROR are final: no action is offered to a person from them."""
    for status in (S.STOPPED, S.ERROR):
        if status in STATUSES_OF[kind]:
            assert available_actions(kind, Origin.CAMPAIGN, status) == []


def test_the_expected_table_covers_every_kind_and_status() -> None:
    """The hand-typed spec table names only statuses the kind has (guards against typos)."""
    for line in SPEC_TABLE:
        for kind in line.kinds:
            assert line.sources <= set(STATUSES_OF[kind]), (line.action, kind)
            assert line.target in STATUSES_OF[kind], (line.action, kind)
    assert len(CASES) == 48 * 11  # 48 (kind, status) pairs in section 1, 11 actions
