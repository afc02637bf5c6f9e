"""Every refusal code the store gives, each shown to leave the database as it was."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from store import Store, changes, communications
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import Communication, utcnow
from tests import factories

PERSON = Trigger.PERSON
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def store(module_store: Store) -> Store:
    """One database per engine for the module; every test makes its own communications in it."""
    return module_store


def _later(days: int = 1) -> datetime:
    return utcnow() + timedelta(days=days)


async def _refused(
    store: Store,
    row: Communication,
    attempt: Callable[[], Awaitable[object]],
    code: ErrorCode,
    field: list[str] | None = None,
) -> Refused:
    """Run `attempt`, expect `code`, and check the row, its history and the totals are as before."""
    before, totals = await factories.snapshot(store, row.id), await factories.totals(store)
    with pytest.raises(Refused) as refused:
        await attempt()
    assert refused.value.code is code, refused.value.message
    if field is not None:
        assert refused.value.field == field
    assert await factories.snapshot(store, row.id) == before
    assert await factories.totals(store) == totals
    return refused.value


async def _launched(store: Store, origin: Origin = Origin.CAMPAIGN) -> Communication:
    made = await factories.create(store, Kind.EMAIL, origin=origin)
    return await changes.apply(store, made.id, Action.LAUNCH, by=PERSON, actor="ann")


# INVALID_TRANSITION


async def test_publishing_an_email_is_an_invalid_transition(store: Store) -> None:
    """An email has no publish action: publishing one is refused and changes nothing."""
    email = await factories.create(store, Kind.EMAIL)
    await _refused(
        store,
        email,
        lambda: changes.apply(store, email.id, Action.PUBLISH, by=PERSON, actor="ann"),
        ErrorCode.INVALID_TRANSITION,
    )


async def test_pausing_a_landing_page_is_an_invalid_transition(store: Store) -> None:
    """A landing page has no pause action: pausing one is refused and changes nothing."""
    page = await factories.create(store, Kind.LANDING_PAGE)
    await _refused(
        store,
        page,
        lambda: changes.apply(store, page.id, Action.PAUSE, by=PERSON, actor="ann"),
        ErrorCode.INVALID_TRANSITION,
    )


async def test_stopping_a_draft_is_an_invalid_transition(store: Store) -> None:
    """A draft was never sent, so it cannot be stopped; nothing is written."""
    draft = await factories.create(store, Kind.SMS)
    await _refused(
        store,
        draft,
        lambda: changes.apply(store, draft.id, Action.STOP, by=PERSON, actor="ann", reason="x"),
        ErrorCode.INVALID_TRANSITION,
    )


async def test_editing_a_non_draft_is_an_invalid_transition(store: Store) -> None:
    """Once a campaign is sending its content is frozen: an edit is refused."""
    sending = await _launched(store)
    await _refused(
        store,
        sending,
        lambda: communications.update_draft(
            store, sending.id, expected_version=None, given={"name": "Renamed"}
        ),
        ErrorCode.INVALID_TRANSITION,
    )


async def test_deleting_a_non_draft_is_an_invalid_transition(store: Store) -> None:
    """Only drafts can be deleted: deleting a sending campaign is refused and it stays."""
    sending = await _launched(store)
    await _refused(
        store,
        sending,
        lambda: communications.delete_draft(store, sending.id, expected_version=None),
        ErrorCode.INVALID_TRANSITION,
    )
    assert (await communications.get(store, sending.id)).status == Status.SENDING


# STOP_NOT_AVAILABLE_FOR_AUTOMATION


async def test_stopping_an_automation_campaign_has_its_own_code(store: Store) -> None:
    """A sending Automation email cannot be stopped, and the refusal says why."""
    sending = await _launched(store, Origin.AUTOMATION)
    await _refused(
        store,
        sending,
        lambda: changes.apply(store, sending.id, Action.STOP, by=PERSON, actor="ann"),
        ErrorCode.STOP_NOT_AVAILABLE_FOR_AUTOMATION,
    )


# VERSION_CONFLICT


async def test_a_stale_expected_version_on_an_action_is_a_version_conflict(store: Store) -> None:
    """Launching with the version read before someone else's edit is refused."""
    draft = await factories.create(store, Kind.EMAIL)
    edited = await communications.update_draft(
        store, draft.id, expected_version=1, given={"name": "Edited"}
    )
    assert edited.version == 2
    error = await _refused(
        store,
        edited,
        lambda: changes.apply(
            store, draft.id, Action.LAUNCH, by=PERSON, actor="ann", expected_version=1
        ),
        ErrorCode.VERSION_CONFLICT,
        ["expectedVersion"],
    )
    assert "2" in error.message


async def test_a_stale_expected_version_on_an_edit_is_a_version_conflict(store: Store) -> None:
    """Two people editing from the same read: the second edit is refused, the first kept."""
    draft = await factories.create(store, Kind.EMAIL)
    await communications.update_draft(store, draft.id, expected_version=1, given={"name": "One"})
    edited = await communications.get(store, draft.id)
    await _refused(
        store,
        edited,
        lambda: communications.update_draft(
            store, draft.id, expected_version=1, given={"name": "Two"}
        ),
        ErrorCode.VERSION_CONFLICT,
        ["expectedVersion"],
    )
    assert (await communications.get(store, draft.id)).name == "One"


async def test_a_stale_expected_version_on_a_delete_is_a_version_conflict(store: Store) -> None:
    """A delete based on an old read is refused and the draft stays."""
    draft = await factories.create(store, Kind.IN_APP)
    edited = await communications.update_draft(
        store, draft.id, expected_version=None, given={"name": "Edited"}
    )
    await _refused(
        store,
        edited,
        lambda: communications.delete_draft(store, draft.id, expected_version=1),
        ErrorCode.VERSION_CONFLICT,
    )


# NOT_FOUND

NotFoundCall = Callable[[Store, int | None], Awaitable[object]]
NOT_FOUND_CALLS: dict[str, NotFoundCall] = {
    "get": lambda s, i: communications.get(s, i),
    "apply": lambda s, i: changes.apply(s, i, Action.LAUNCH, by=PERSON, actor="ann"),
    "update_draft": lambda s, i: communications.update_draft(
        s, i, expected_version=None, given={"name": "x"}
    ),
    "delete_draft": lambda s, i: communications.delete_draft(s, i, expected_version=None),
    "duplicate": lambda s, i: communications.duplicate(s, i, name=None, actor="ann"),
}


@pytest.mark.parametrize("missing", [None, 99_999], ids=["none", "unknown"])
@pytest.mark.parametrize("call", NOT_FOUND_CALLS)
async def test_an_id_that_names_nothing_is_not_found(
    store: Store, call: str, missing: int | None
) -> None:
    """A missing or unknown id is NOT_FOUND for every operation, and nothing is written."""
    await factories.create(store, Kind.EMAIL)
    totals = await factories.totals(store)
    with pytest.raises(Refused) as refused:
        await NOT_FOUND_CALLS[call](store, missing)
    assert (refused.value.code, refused.value.field) == (ErrorCode.NOT_FOUND, ["id"])
    assert await factories.totals(store) == totals


async def test_a_deleted_communication_is_not_found(store: Store) -> None:
    """After a delete, acting on the communication is NOT_FOUND."""
    draft = await factories.create(store, Kind.EMAIL)
    await communications.delete_draft(store, draft.id, expected_version=None)
    with pytest.raises(Refused) as refused:
        await changes.apply(store, draft.id, Action.LAUNCH, by=PERSON, actor="ann")
    assert refused.value.code is ErrorCode.NOT_FOUND


# INVALID_INPUT on schedule

START = _later(2)
SCHEDULE_INPUTS: dict[str, tuple[dict[str, Any], str]] = {
    "start in the past": ({"start_at": utcnow() - timedelta(minutes=1)}, "startAt"),
    "start without offset": ({"start_at": datetime(2999, 1, 1, 9, 0)}, "startAt"),
    "end without offset": (
        {"start_at": _later(), "end_at": datetime(2999, 1, 1, 9, 0)},
        "endAt",
    ),
    "end before start": ({"start_at": START, "end_at": START - timedelta(seconds=1)}, "endAt"),
    "end equal to start": ({"start_at": START, "end_at": START}, "endAt"),
    "no start": ({}, "startAt"),
}


@pytest.mark.parametrize("case", SCHEDULE_INPUTS)
async def test_schedule_with_bad_times_is_invalid_input(store: Store, case: str) -> None:
    """Scheduling needs a future, offset-aware start and an end after it; else nothing changes."""
    times, field = SCHEDULE_INPUTS[case]
    draft = await factories.create(store, Kind.EMAIL)
    await _refused(
        store,
        draft,
        lambda: changes.apply(store, draft.id, Action.SCHEDULE, by=PERSON, actor="ann", **times),
        ErrorCode.INVALID_INPUT,
        [field],
    )


async def test_an_overlong_reason_is_invalid_input(store: Store) -> None:
    """A stop reason longer than the limit is refused before anything is written."""
    sending = await _launched(store)
    await _refused(
        store,
        sending,
        lambda: changes.apply(
            store, sending.id, Action.STOP, by=PERSON, actor="ann", reason="x" * 1_001
        ),
        ErrorCode.INVALID_INPUT,
        ["reason"],
    )


# INVALID_INPUT on create

CREATE_INPUTS: dict[str, tuple[Kind, dict[str, Any], str]] = {
    "blank name": (Kind.EMAIL, {"name": "   "}, "name"),
    "overlong name": (Kind.EMAIL, {"name": "n" * 201}, "name"),
    "unknown content field": (Kind.EMAIL, {"colour": "red"}, "colour"),
    "missing required field": (Kind.EMAIL, {"subject": None}, "subject"),
    "blank required field": (Kind.SMS, {"text": "  "}, "text"),
    "bad email address": (Kind.EMAIL, {"from_address": "nobody"}, "fromAddress"),
    "bad landing-page slug": (Kind.LANDING_PAGE, {"slug": "Bad Slug"}, "slug"),
    "negative audience": (Kind.EMAIL, {"audience_size": -1}, "audienceSize"),
    "audience on a display kind": (Kind.IN_APP, {"audience_size": 5}, "audienceSize"),
}


@pytest.mark.parametrize("case", CREATE_INPUTS)
async def test_create_with_bad_input_is_invalid_input(store: Store, case: str) -> None:
    """A create with bad values is refused with the offending field, and no row appears."""
    kind, values, field = CREATE_INPUTS[case]
    values = dict(values)
    name = values.pop("name", "Fine")
    totals = await factories.totals(store)
    with pytest.raises(Refused) as refused:
        await factories.create(store, kind, name=name, **values)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, [field])
    assert await factories.totals(store) == totals


async def test_a_duplicate_slug_is_invalid_input(store: Store) -> None:
    """Two live landing pages cannot share a slug: the second create is refused."""
    first = await factories.create(store, Kind.LANDING_PAGE, slug="spring-sale")
    await _refused(
        store,
        first,
        lambda: factories.create(store, Kind.LANDING_PAGE, slug="spring-sale"),
        ErrorCode.INVALID_INPUT,
        ["slug"],
    )


# INVALID_INPUT on update

UPDATE_INPUTS: dict[str, tuple[Kind, dict[str, Any], str]] = {
    "blank name": (Kind.EMAIL, {"name": " "}, "name"),
    "cleared name": (Kind.EMAIL, {"name": None}, "name"),
    "unknown content field": (Kind.EMAIL, {"colour": "red"}, "colour"),
    "cleared required field": (Kind.EMAIL, {"subject": None}, "subject"),
    "bad landing-page slug": (Kind.LANDING_PAGE, {"slug": "Bad Slug"}, "slug"),
    "negative audience": (Kind.SMS, {"audience_size": -5}, "audienceSize"),
    "audience on a display kind": (Kind.SCREEN_VIEW, {"audience_size": 1}, "audienceSize"),
}


@pytest.mark.parametrize("case", UPDATE_INPUTS)
async def test_update_with_bad_input_is_invalid_input(store: Store, case: str) -> None:
    """An edit with a bad value is refused with the field named, and the draft is untouched."""
    kind, given, field = UPDATE_INPUTS[case]
    draft = await factories.create(store, kind)
    await _refused(
        store,
        draft,
        lambda: communications.update_draft(store, draft.id, expected_version=None, given=given),
        ErrorCode.INVALID_INPUT,
        [field],
    )


async def test_renaming_a_slug_to_a_taken_one_is_invalid_input(store: Store) -> None:
    """An edit cannot give a landing page a slug another live page already uses."""
    await factories.create(store, Kind.LANDING_PAGE, slug="taken")
    other = await factories.create(store, Kind.LANDING_PAGE, slug="free")
    await _refused(
        store,
        other,
        lambda: communications.update_draft(
            store, other.id, expected_version=None, given={"slug": "taken"}
        ),
        ErrorCode.INVALID_INPUT,
        ["slug"],
    )


async def test_bad_page_sizes_and_windows_are_invalid_input(store: Store) -> None:
    """Listing refuses pages over 100, first with last together, and naive time windows."""
    flt, order = communications.Filter(), communications.Order()
    naive = datetime(2020, 1, 1)
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: communications.page(store, flt, order, first=101),
        lambda: communications.page(store, flt, order, last=101),
        lambda: communications.page(store, flt, order, first=-1),
        lambda: communications.page(store, flt, order, first=5, last=5),
        lambda: communications.page(store, flt, communications.Order(field="status")),
        lambda: communications.page(store, communications.Filter(created_after=naive), order),
        lambda: communications.count(store, communications.Filter(created_before=naive)),
        lambda: communications.status_counts(store, communications.Filter(created_after=naive)),
    ]
    for attempt in attempts:
        with pytest.raises(Refused) as refused:
            await attempt()
        assert refused.value.code is ErrorCode.INVALID_INPUT
