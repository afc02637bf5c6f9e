"""Writes sent together: on SQLite they share one commit (store.database.write), on
PostgreSQL they run side by side. Each keeps its own outcome, one that fails is undone
alone, and every change that landed is in the history exactly once."""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from store import Store, changes, communications, lifecycle
from store.database import write
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import Communication, utcnow
from store.writes import insert_row, record
from tests import factories
from tests.store.test_stream import statements

_names = itertools.count(1)


class Broke(Exception):
    """A write that failed half way, after it had written."""


def _new(name: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "kind": Kind.IN_APP,
        "origin": Origin.CAMPAIGN,
        "status": Status.DRAFT,
        "name": name,
        "created_at": now,
        "updated_at": now,
        "content": {"title": "t"},
    }


def _create(name: str, breaks: bool) -> Any:
    def work(connection: Connection) -> Communication:
        row = insert_row(connection, _new(name))
        record(connection, row, Action.CREATE, None, actor="test", at=row.created_at)
        if breaks:
            raise Broke(name)
        return row

    return work


async def _named(store: Store, prefix: str) -> list[str]:
    page = await communications.page(
        store, communications.Filter(search=prefix), communications.Order(), first=100
    )
    return sorted(row.name for row in page.rows)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(breaking=st.lists(st.booleans(), min_size=1, max_size=12))
async def test_a_write_that_fails_half_way_is_undone_alone(
    store: Store, breaking: list[bool]
) -> None:
    """Of writes sent together, each one that raises after writing leaves nothing and its
    caller gets the error; every other one lands, with its history row."""
    prefix = f"group-{next(_names)}-"
    names = [f"{prefix}{i:02}" for i in range(len(breaking))]
    outcomes = await asyncio.gather(
        *(write(store.sessions, _create(n, b)) for n, b in zip(names, breaking, strict=True)),
        return_exceptions=True,
    )
    for name, breaks, outcome in zip(names, breaking, outcomes, strict=True):
        if breaks:
            assert isinstance(outcome, Broke) and str(outcome) == name
        else:
            assert isinstance(outcome, Communication) and outcome.name == name
            assert outcome.id is not None
            steps, _ = await changes.history(store, outcome.id, after=0, first=10)
            assert [s.action for s in steps] == [Action.CREATE]
    landed = [n for n, b in zip(names, breaking, strict=True) if not b]
    assert await _named(store, prefix) == landed


async def test_a_refused_create_leaves_the_creates_beside_it(store: Store) -> None:
    """A landing page whose slug is taken is refused, and the pages created with it land."""
    await factories.create(store, Kind.LANDING_PAGE, name="first", slug="taken")
    slugs = [f"free-{i}" for i in range(10)] + ["taken"]
    outcomes = await asyncio.gather(
        *(
            factories.create(store, Kind.LANDING_PAGE, name=f"page-{slug}", slug=slug)
            for slug in slugs
        ),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, Refused)]
    made = [o for o in outcomes if isinstance(o, Communication)]
    assert [(r.code, r.field) for r in refused] == [(ErrorCode.INVALID_INPUT, ["slug"])]
    assert sorted(row.slug or "" for row in made) == sorted(slugs[:-1])
    for row in made:
        assert row.id is not None
        steps, _ = await changes.history(store, row.id, after=0, first=10)
        assert [s.action for s in steps] == [Action.CREATE]


async def test_every_landed_transition_is_in_the_history_once(store: Store) -> None:
    """Four people publish each of eight pages at once: one move per page lands, the others
    are refused, and each page's history holds its create and that one publish."""
    pages = [await factories.create(store, Kind.LANDING_PAGE) for _ in range(8)]
    attempts = [
        changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor=f"person {i}")
        for page in pages
        for i in range(4)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, Communication)]
    lost = [o for o in outcomes if isinstance(o, Refused)]
    assert len(won) == len(pages) and len(lost) == 3 * len(pages), outcomes
    assert {row.id for row in won} == {page.id for page in pages}
    assert {r.code for r in lost} <= {ErrorCode.INVALID_TRANSITION, ErrorCode.VERSION_CONFLICT}
    for page in pages:
        assert page.id is not None
        steps, _ = await changes.history(store, page.id, after=0, first=10)
        assert [(s.action, s.version) for s in steps] == [(Action.CREATE, 1), (Action.PUBLISH, 2)]
        assert (await communications.get(store, page.id)).status == Status.PUBLISHED


async def test_a_status_change_or_a_create_on_postgresql_is_one_statement(store: Store) -> None:
    """On PostgreSQL a publish (its compare-and-set and its history row) is one statement,
    in no transaction of its own, and so is a create; a refused move reads the row again
    to say why."""
    engine = factories.engine_of(store)
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes in its writer's thread, a group to one commit")
    page = await factories.create(store, Kind.LANDING_PAGE)
    with statements(store) as sent:
        moved = await changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="a")
    assert len(sent) == 1 and "INSERT INTO status_event" in sent[0]
    assert (moved.status, moved.version) == (Status.PUBLISHED, 2)
    with statements(store) as sent:
        try:
            await changes.apply(store, page.id, Action.PUBLISH, by=Trigger.PERSON, actor="a")
        except Refused as refused:
            assert refused.code == ErrorCode.INVALID_TRANSITION
    assert len(sent) > 1
    with statements(store) as sent:
        made = await factories.create(store, Kind.IN_APP, name="one")
    assert len(sent) == 1 and "INSERT INTO status_event" in sent[0]
    assert made.id is not None
    steps, _ = await changes.history(store, made.id, after=0, first=10)
    assert [(s.action, s.to_status, s.version) for s in steps] == [(Action.CREATE, Status.DRAFT, 1)]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(list(Kind)),
    steps=st.lists(
        st.tuples(
            st.sampled_from([a for a in Action if a not in (Action.CREATE, Action.STOP)]),
            st.sampled_from([Trigger.PERSON, Trigger.SCHEDULER, Trigger.SENDER]),
            st.booleans(),
        ),
        max_size=6,
    ),
)
async def test_every_action_moves_as_the_lifecycle_says(
    store: Store, kind: Kind, steps: list[tuple[Action, Trigger, bool]]
) -> None:
    """Any action by anyone, with the version the caller saw or a stale one: it moves where
    the lifecycle says, or is refused with nothing written; the history follows each move."""
    made = await factories.create(store, kind)
    assert made.id is not None
    status, version = Status.DRAFT, 1
    for action, by, stale in steps:
        expected = lifecycle.check(kind, Origin.CAMPAIGN, status, action, by)
        later = utcnow() + timedelta(days=1)
        try:
            after = await changes.apply(
                store,
                made.id,
                action,
                by=by,
                actor="someone",
                reason="why" if action is Action.FAIL else None,
                expected_version=version - 1 if stale else version,
                start_at=later if action is Action.SCHEDULE else None,
            )
        except Refused as refused:
            wanted = ErrorCode.VERSION_CONFLICT if stale else ErrorCode.INVALID_TRANSITION
            assert refused.code == wanted or (stale and isinstance(expected, ErrorCode))
            continue
        assert not stale and expected == after.status
        status, version = Status(after.status), version + 1
        assert after.version == version
    history, _ = await changes.history(store, made.id, after=0, first=20)
    assert [(s.to_status, s.version) for s in history][-1] == (status, version)
    for before, step in itertools.pairwise(history):
        assert step.from_status == before.to_status


async def test_a_row_inserted_without_some_columns_takes_the_models_defaults(
    store: Store,
) -> None:
    """Columns left out of an INSERT (content, whose default is made per row, and the
    counters) come back as the model's defaults, whichever way the INSERT is run."""
    values = {k: v for k, v in _new("defaults").items() if k != "content"}
    row = await write(store.sessions, lambda connection: insert_row(connection, values))
    assert row.content == {} and row.version == 1 and row.sent_count == 0
    found = await communications.get(store, row.id)
    assert found.content == {} and found.pending_count == 0 and not found.synthetic_audience


async def test_a_taken_slug_is_refused_as_before(store: Store) -> None:
    """A second landing page with a slug in use is refused as invalid, on the writer's own
    connection too (a database error from the driver is SQLAlchemy's error, as it was)."""
    await factories.create(store, Kind.LANDING_PAGE, name="first", slug="taken")
    with pytest.raises(Refused) as refused:
        await factories.create(store, Kind.LANDING_PAGE, name="second", slug="taken")
    assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == ["slug"]
