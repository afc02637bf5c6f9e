"""A mutation the full path has run cleanly is run again, with other variables, without
strawberry: it answers what the full path answers and is charged as the full path charges;
what a check would refuse, or variables that do not coerce, are left to the full path,
having run and taken nothing."""

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.http import process_result

from schema import build, ids
from schema.context import Context
from schema.limits import Buckets, Limits, MemoryBuckets
from schema.prepared import Writes
from schema.readcache import ReadCache
from store import Store
from store.lifecycle import Kind
from store.tokens import ApiRole
from tests.factories import create

LIMITS = Limits(12, 30, 5000, 10, rate=1e9, burst=10**9, introspection=True, field_suggestions=True)
FIELDS = "communication { ... on CommunicationBase { name version } } userErrors { code field }"
PUBLISH = f"mutation($id: ID!) {{ publishLandingPage(id: $id) {{ {FIELDS} }} }}"
CREATE = (
    "mutation($input: CreateInAppMessageInput!) { createInAppMessage(input: $input) "
    f"{{ {FIELDS} }} }}"
)
SCHEDULE = (
    "mutation($id: ID!, $at: DateTime!) { scheduleCommunication(id: $id, startAt: $at) "
    f"{{ {FIELDS} }} }}"
)
_names = itertools.count()


class Known:
    """A schema with a read cache, and the writes run beside it, as the server has them."""

    def __init__(self, store: Store, role: ApiRole = ApiRole.EDITOR) -> None:
        self.buckets: Buckets = MemoryBuckets(clock=lambda: 0.0)  # no refill: exact counts
        self.cache = ReadCache(100, shared=False)
        self.schema = build(LIMITS, self.buckets, reads=self.cache)
        self.writes = Writes(self.schema, LIMITS, self.buckets)
        self.caller = Context(store=store, actor="writer", role=role)

    async def full(self, query: str, **variables: Any) -> dict[str, Any]:
        result = await self.schema.execute(query, variables, context_value=self.caller)
        return dict(process_result(result))

    async def run(self, query: str, **variables: Any) -> dict[str, Any] | None:
        prepared = self.cache.prepared((query, None))
        assert prepared is not None, "run on the full path first"
        return await self.writes.run(prepared, variables, self.caller)

    async def budget(self) -> float:
        return (await self.buckets.take("cost:writer", 0, LIMITS.cost_budget, 1.0)).left


def _without_remaining(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer, its budget's remainder left out: each call takes from the same budget."""
    cost = dict(answer["extensions"]["cost"])
    cost.pop("remaining")
    return {**answer, "extensions": {"cost": cost}}


async def _compared(known: Known, query: str, **variables: Any) -> None:
    """Run here and, on an equal state, on the full path: the same answer, the same charge.
    Run here first: where it is left to the full path, nothing was taken."""
    before = await known.budget()
    here = await known.run(query, **variables)
    charged = before - await known.budget()
    if here is None:
        assert charged == 0
        return
    before = await known.budget()
    full = await known.full(query, **variables)
    assert before - await known.budget() == charged
    assert _without_remaining(here) == _without_remaining(full)


async def test_a_known_transition_answers_what_the_full_path_answers(store: Store) -> None:
    """Publishing one page, then again (refused), gives here what the full path gives for
    a page in the same status."""
    pages = [await create(store, Kind.LANDING_PAGE, name="page") for _ in range(3)]
    known = Known(store)
    first = await known.full(PUBLISH, id=ids.communication_id(pages[0].id))
    assert first["data"]["publishLandingPage"]["communication"]["version"] == 2
    here = await known.run(PUBLISH, id=ids.communication_id(pages[1].id))
    assert here is not None and _without_remaining(here) == _without_remaining(first)
    again = await known.run(PUBLISH, id=ids.communication_id(pages[1].id))
    full = await known.full(PUBLISH, id=ids.communication_id(pages[0].id))
    assert again is not None and _without_remaining(again) == _without_remaining(full)
    assert full["data"]["publishLandingPage"]["userErrors"][0]["code"] == "INVALID_TRANSITION"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=300), title=st.one_of(st.text(max_size=20), st.integers()))
async def test_a_known_create_answers_what_the_full_path_answers(
    store: Store, name: str, title: Any
) -> None:
    """Any name and title, stored, refused or not coercing: what comes out here is what the
    full path answers, charged the same; what is left to the full path took nothing."""
    known = Known(store)
    await known.full(CREATE, input={"name": f"first {next(_names)}", "title": "t"})
    await _compared(known, CREATE, input={"name": name, "title": title})


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=st.one_of(
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        st.text(max_size=30),
    ),
    id=st.sampled_from(["own", "malformed", "unknown"]),
)
async def test_a_known_schedule_answers_what_the_full_path_answers(
    store: Store, at: str, id: str
) -> None:
    """A startAt in the past, the future, without an offset, out of range or not a date,
    for a draft, a malformed id or an unknown one: the same answer on both paths."""
    known = Known(store)
    first = await create(store, Kind.IN_APP, name="first")
    await known.full(SCHEDULE, id=ids.communication_id(first.id), at="2999-01-01T00:00:00Z")
    drafts = [await create(store, Kind.IN_APP, name="draft") for _ in range(2)]
    names = {
        "own": [ids.communication_id(d.id) for d in drafts],
        "malformed": ["nope"] * 2,
        "unknown": [ids.communication_id(10**9)] * 2,
    }[id]
    before = await known.budget()
    here = await known.run(SCHEDULE, id=names[0], at=at)
    if here is None:
        assert await known.budget() == before
        return
    full = await known.full(SCHEDULE, id=names[1], at=at)
    assert _without_remaining(here) == _without_remaining(full)


async def test_a_known_mutation_beyond_the_role_is_left_to_the_full_path(store: Store) -> None:
    """A viewer sending a mutation an editor prepared: nothing runs here, nothing is taken,
    and the full path refuses it."""
    page = await create(store, Kind.LANDING_PAGE, name="page")
    known = Known(store)
    await known.full(PUBLISH, id=ids.communication_id(page.id))
    known.caller.role = ApiRole.VIEWER
    other = await create(store, Kind.LANDING_PAGE, name="other")
    before = await known.budget()
    assert await known.run(PUBLISH, id=ids.communication_id(other.id)) is None
    assert await known.budget() == before
    refused = await known.full(PUBLISH, id=ids.communication_id(other.id))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_known_mutation_whose_execution_raises_is_answered_here(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may have run, so it is not left to the full path: the error is answered here,
    masked, and the cost taken up front is settled against an answer with no data."""
    pages = [await create(store, Kind.LANDING_PAGE, name="page") for _ in range(2)]
    known = Known(store)
    await known.full(PUBLISH, id=ids.communication_id(pages[0].id))

    def raising(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug with a secret in it")

    monkeypatch.setattr("schema.plans.execute", raising)  # graphql-core's execution
    monkeypatch.setattr("schema.plans.Plan.run", raising)  # or the operation's plan
    before = await known.budget()
    here = await known.run(PUBLISH, id=ids.communication_id(pages[1].id))
    assert here is not None and here["data"] is None
    assert [e["message"] for e in here["errors"]] == ["Unexpected error"]
    assert here["extensions"]["cost"]["actual"] == 0
    assert before - await known.budget() == 0
