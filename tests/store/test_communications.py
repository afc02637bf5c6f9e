"""Creating, editing, duplicating, deleting and listing communications."""

from datetime import timedelta
from typing import Any

import pytest

from store import Store, changes, communications
from store.communications import Filter, Order
from store.errors import ErrorCode, Refused
from store.lifecycle import Action, Kind, Origin, Status, Trigger
from store.tables import Communication
from tests import factories
from tests.store.test_lifecycle import STATUSES_OF

ORDERS = [
    Order(field, descending)
    for field in ("created_at", "updated_at", "name")
    for descending in (False, True)
]
ALL = Filter()


def _sort_key(order: Order) -> Any:
    return lambda row: (getattr(row, order.field), row.id)


def _expected(rows: list[Communication], order: Order) -> list[int | None]:
    return [r.id for r in sorted(rows, key=_sort_key(order), reverse=order.descending)]


async def _walk_forward(
    store: Store, flt: Filter, order: Order, first: int = 10
) -> list[int | None]:
    """Every id, page by page from the start, checking the page flags on the way."""
    seen: list[int | None] = []
    after = None
    while True:
        page = await communications.page(store, flt, order, first=first, after=after)
        seen += [row.id for row in page.rows]
        assert page.has_previous is (after is not None)
        if not page.has_next:
            return seen
        assert len(page.rows) == first
        after = page.keys[-1]


async def _many(store: Store, n: int) -> list[Communication]:
    """n rows with repeating names (ties break by id) and an edit order unlike creation's."""
    made = [await factories.create(store, Kind.SMS, name=f"name {i % 7}") for i in range(n)]
    for row in made[::-3]:  # touch every third, newest first, so updated_at order differs
        await communications.update_draft(store, row.id, expected_version=None, given={})
    return sorted(await _all(store), key=lambda row: row.id or 0)  # in creation order


# create / update / duplicate / delete


async def test_create_makes_a_draft_with_its_content_and_a_history_row(store: Store) -> None:
    """A new communication is a version-1 DRAFT holding what was given, with a CREATE entry."""
    made = await factories.create(
        store, Kind.EMAIL, name="  Spring  ", audience_size=42, from_address="a@b.co"
    )
    assert made.id is not None
    assert (made.status, made.version, made.name) == (Status.DRAFT, 1, "Spring")
    assert (made.kind, made.origin, made.audience_size) == (Kind.EMAIL, Origin.CAMPAIGN, 42)
    assert made.content == {"subject": "Hello", "from_address": "a@b.co"}
    assert made.created_at == made.updated_at
    assert made.created_at.tzinfo is not None
    steps, more = await changes.history(store, made.id, after=0, first=10)
    assert not more
    assert [(s.action, s.from_status, s.to_status, s.actor) for s in steps] == [
        ("CREATE", None, "DRAFT", "test")
    ]


async def test_a_landing_page_keeps_its_slug_apart_from_its_content(store: Store) -> None:
    """A landing page's slug is its own column; the rest of its fields are content."""
    page = await factories.create(store, Kind.LANDING_PAGE, slug="summer-2026", html="<p>")
    assert page.slug == "summer-2026"
    assert page.content == {"title": "Hello", "html": "<p>"}
    assert page.audience_size is None


async def test_update_draft_changes_only_what_is_given(store: Store) -> None:
    """An edit changes the given fields, keeps the others, bumps the version, adds no history."""
    draft = await factories.create(store, Kind.EMAIL, body="old body")
    assert draft.id is not None
    edited = await communications.update_draft(
        store,
        draft.id,
        expected_version=1,
        given={"name": "Renamed", "subject": "New subject", "audience_size": 7},
    )
    assert (edited.name, edited.version, edited.audience_size) == ("Renamed", 2, 7)
    assert edited.content == {"subject": "New subject", "body": "old body"}
    assert edited.updated_at >= draft.updated_at
    assert edited.created_at == draft.created_at
    steps, _ = await changes.history(store, draft.id, after=0, first=10)
    assert len(steps) == 1


async def test_update_draft_with_none_clears_an_optional_field(store: Store) -> None:
    """Passing None for an optional field clears it; required fields are untouched."""
    draft = await factories.create(store, Kind.WEB_PUSH, body="text", url="https://x.example")
    edited = await communications.update_draft(
        store, draft.id, expected_version=None, given={"body": None, "audience_size": None}
    )
    assert edited.content["body"] is None
    assert edited.content["title"] == "Hello"
    assert edited.content["url"] == "https://x.example"
    assert edited.audience_size == 0  # null removes the synthetic audience


async def test_duplicate_makes_a_new_draft_copy(store: Store) -> None:
    """Duplicating gives a fresh DRAFT named "Copy of …" with the same content and audience."""
    source = await factories.create(
        store, Kind.EMAIL, name="Spring", audience_size=99, body="hi", origin=Origin.AUTOMATION
    )
    source = await changes.apply(store, source.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    copy = await communications.duplicate(store, source.id, name=None, actor="bob")
    assert copy.id not in (None, source.id)
    assert (copy.status, copy.version, copy.name) == (Status.DRAFT, 1, "Copy of Spring")
    assert (copy.kind, copy.origin, copy.audience_size) == (source.kind, source.origin, 99)
    assert copy.content == source.content
    assert (await communications.get(store, source.id)).status == Status.SENDING
    steps, _ = await changes.history(store, copy.id or 0, after=0, first=10)
    assert [(s.action, s.actor) for s in steps] == [("CREATE", "bob")]


async def test_duplicate_recovers_from_a_final_status_with_a_chosen_name(store: Store) -> None:
    """A stopped campaign can be duplicated into an editable draft under a new name."""
    source = await factories.create(store, Kind.SCREEN_VIEW, name="Welcome")
    await changes.apply(store, source.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    await changes.apply(store, source.id, Action.STOP, by=Trigger.PERSON, actor="ann")
    copy = await communications.duplicate(store, source.id, name="Welcome again", actor="ann")
    assert (copy.status, copy.name) == (Status.DRAFT, "Welcome again")
    edited = await communications.update_draft(
        store, copy.id, expected_version=1, given={"screen": "home"}
    )
    assert edited.content["screen"] == "home"


async def test_duplicate_gives_a_landing_page_a_free_copy_slug(store: Store) -> None:
    """Copies of a landing page get "-copy", then "-copy-2", so slugs stay unique."""
    page = await factories.create(store, Kind.LANDING_PAGE, slug="spring", name="Spring")
    first = await communications.duplicate(store, page.id, name=None, actor="ann")
    second = await communications.duplicate(store, page.id, name=None, actor="ann")
    assert (first.slug, second.slug) == ("spring-copy", "spring-copy-2")
    assert first.content == page.content
    assert first.name == "Copy of Spring"
    assert (await communications.get(store, page.id)).slug == "spring"


async def test_delete_draft_hides_it_everywhere(store: Store) -> None:
    """A deleted draft is gone from get, list pages, counts and status counts."""
    keep = await factories.create(store, Kind.EMAIL, name="keep")
    gone = await factories.create(store, Kind.EMAIL, name="gone")
    deleted = await communications.delete_draft(store, gone.id, expected_version=1)
    assert deleted.id == gone.id
    with pytest.raises(Refused) as refused:
        await communications.get(store, gone.id)
    assert refused.value.code is ErrorCode.NOT_FOUND
    page = await communications.page(store, ALL, Order(), first=10)
    assert [row.id for row in page.rows] == [keep.id]
    assert await communications.count(store, ALL) == 1
    tiles = await communications.status_counts(store, Filter(kinds=[Kind.EMAIL]))
    assert (Kind.EMAIL, Status.DRAFT, 1) in tiles


async def test_deleting_a_landing_page_frees_its_slug(store: Store) -> None:
    """Once a draft page is deleted, a new page may use its slug."""
    page = await factories.create(store, Kind.LANDING_PAGE, slug="reuse-me")
    await communications.delete_draft(store, page.id, expected_version=None)
    again = await factories.create(store, Kind.LANDING_PAGE, slug="reuse-me")
    assert again.slug == "reuse-me"


# keyset pagination


async def test_paging_forward_sees_every_row_once_in_every_order(store: Store) -> None:
    """Pages of 10 through 25 rows, in each sort field and direction, show each row once."""
    rows = await _many(store, 25)
    for order in ORDERS:
        seen = await _walk_forward(store, ALL, order)
        assert seen == _expected(rows, order), order


async def test_paging_backward_with_last_and_before_mirrors_paging_forward(store: Store) -> None:
    """Walking back from the end with last/before visits the same rows in the same order."""
    rows = await _many(store, 25)
    for order in ORDERS:
        pages: list[list[int | None]] = []
        before = None
        while True:
            page = await communications.page(store, ALL, order, last=10, before=before)
            pages.insert(0, [row.id for row in page.rows])
            assert page.has_next is (before is not None), order
            if not page.has_previous:
                break
            before = page.keys[0]
        assert [len(p) for p in pages] == [5, 10, 10], order
        assert [i for p in pages for i in p] == _expected(rows, order), order


async def test_paging_a_kind_status_or_origin_filter_sees_each_match_once(store: Store) -> None:
    """A filter on kind, status or origin pages forward and back through its matches only,
    in every order, however they spread over kinds, statuses and origins."""
    for i in range(12):
        made = await factories.create(
            store,
            [Kind.EMAIL, Kind.SMS, Kind.IN_APP][i % 3],
            name=f"name {i % 5}",
            origin=Origin.AUTOMATION if i % 4 == 0 else Origin.CAMPAIGN,
        )
        if i % 2:  # SENDING or ACTIVE
            await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="ann")
    rows = await _all(store)
    filters = [
        Filter(kinds=[Kind.EMAIL]),
        Filter(origins=[Origin.AUTOMATION]),
        Filter(statuses=[Status.DRAFT, Status.ACTIVE]),
        Filter(kinds=[Kind.SMS, Kind.IN_APP], statuses=[Status.DRAFT], origins=[Origin.CAMPAIGN]),
    ]
    for flt in filters:
        matches = [
            r
            for r in rows
            if (flt.kinds is None or r.kind in flt.kinds)
            and (flt.statuses is None or r.status in flt.statuses)
            and (flt.origins is None or r.origin in flt.origins)
        ]
        for order in ORDERS:
            assert await _walk_forward(store, flt, order, first=2) == _expected(matches, order)
            back: list[int | None] = []
            before = None
            while True:
                page = await communications.page(store, flt, order, last=2, before=before)
                back = [row.id for row in page.rows] + back
                if not page.has_previous:
                    break
                before = page.keys[0]
            assert back == _expected(matches, order), (flt, order)


async def test_before_a_cursor_pages_back_from_the_middle(store: Store) -> None:
    """A page read forward can be followed by the page before it, ending where it started."""
    rows = await _many(store, 25)
    order = Order("name", descending=False)
    expected = _expected(rows, order)
    first = await communications.page(store, ALL, order, first=10)
    second = await communications.page(store, ALL, order, first=10, after=first.keys[-1])
    back = await communications.page(store, ALL, order, last=10, before=second.keys[0])
    assert [r.id for r in second.rows] == expected[10:20]
    assert [r.id for r in back.rows] == expected[:10]
    assert (back.has_next, back.has_previous) == (True, False)


async def test_paging_stays_stable_when_rows_arrive_between_pages(store: Store) -> None:
    """New rows between page reads never make a row show twice or an old row go missing."""
    rows = await _many(store, 25)
    for order in ORDERS:
        present = {row.id for row in await _all(store)}
        seen: list[int | None] = []
        after = None
        while True:
            page = await communications.page(store, ALL, order, first=10, after=after)
            seen += [row.id for row in page.rows]
            # new names sort first, in between or last; new timestamps always sort last
            name = ("a", "name 3", "zz")[len(seen) // 10 % 3]
            await factories.create(store, Kind.SMS, name=name)
            if not page.has_next:
                break
            after = page.keys[-1]
        assert len(seen) == len(set(seen)), order
        assert present <= set(seen), order
    assert len(rows) == 25


async def _all(store: Store) -> list[Communication]:
    return (await communications.page(store, ALL, Order(), first=100)).rows


async def test_page_sizes_are_bounded(store: Store) -> None:
    """first=100 is allowed, first=101 is refused, first together with last is refused."""
    await factories.create(store)
    page = await communications.page(store, ALL, Order(), first=100)
    assert len(page.rows) == 1 and not page.has_next and not page.has_previous
    for kwargs in ({"first": 101}, {"last": 101}, {"first": 5, "last": 5}):
        with pytest.raises(Refused) as refused:
            await communications.page(store, ALL, Order(), **kwargs)  # type: ignore[arg-type]
        assert refused.value.code is ErrorCode.INVALID_INPUT, kwargs


async def test_default_page_is_newest_first(store: Store) -> None:
    """Without arguments the list shows the 20 most recently created, newest first."""
    rows = await _many(store, 25)
    page = await communications.page(store, ALL, Order())
    assert [r.id for r in page.rows] == [r.id for r in reversed(rows)][:20]
    assert page.has_next and not page.has_previous


# filters, counts and tiles


async def _mixed(store: Store) -> dict[str, Communication]:
    made = {
        "email": await factories.create(store, Kind.EMAIL, name="50% off"),
        "sms": await factories.create(store, Kind.SMS, name="5000 off"),
        "push": await factories.create(store, Kind.WEB_PUSH, name="a_b", origin=Origin.AUTOMATION),
        "in_app": await factories.create(store, Kind.IN_APP, name="axb"),
        "page": await factories.create(store, Kind.LANDING_PAGE, name="Spring SALE"),
    }
    made["email"] = await changes.apply(
        store, made["email"].id, Action.LAUNCH, by=Trigger.PERSON, actor="ann"
    )
    made["page"] = await changes.apply(
        store, made["page"].id, Action.PUBLISH, by=Trigger.PERSON, actor="ann"
    )
    return made


async def _names(store: Store, flt: Filter) -> set[str]:
    page = await communications.page(store, flt, Order(), first=100)
    assert await communications.count(store, flt) == len(page.rows)
    return {row.name for row in page.rows}


async def test_filters_by_kind_status_and_origin(store: Store) -> None:
    """Kind, status and origin filters each narrow the list and its count, and combine."""
    await _mixed(store)
    assert await _names(store, Filter(kinds=[Kind.EMAIL, Kind.SMS])) == {"50% off", "5000 off"}
    assert await _names(store, Filter(statuses=[Status.SENDING, Status.PUBLISHED])) == {
        "50% off",
        "Spring SALE",
    }
    assert await _names(store, Filter(origins=[Origin.AUTOMATION])) == {"a_b"}
    assert await _names(store, Filter(kinds=[Kind.SMS], statuses=[Status.SENDING])) == set()
    assert await _names(store, Filter(kinds=[])) == set()


@pytest.mark.parametrize(
    ("search", "names"),
    [
        ("50%", {"50% off"}),
        ("a_b", {"a_b"}),
        ("sale", {"Spring SALE"}),
        ("  OFF ", {"50% off", "5000 off"}),
        ("%", {"50% off"}),
        ("_", {"a_b"}),
        ("", {"50% off", "5000 off", "a_b", "axb", "Spring SALE"}),
    ],
)
async def test_search_is_case_insensitive_and_literal(
    store: Store, search: str, names: set[str]
) -> None:
    """Name search ignores case and surrounding spaces and treats % and _ as plain characters."""
    await _mixed(store)
    assert await _names(store, Filter(search=search)) == names


async def test_created_after_and_before_bound_the_list(store: Store) -> None:
    """createdAfter includes its instant and createdBefore excludes its own."""
    rows = [await factories.create(store, Kind.SMS, name=f"r{i}") for i in range(5)]
    window = Filter(created_after=rows[1].created_at, created_before=rows[3].created_at)
    assert await _names(store, window) == {"r1", "r2"}
    later = Filter(created_after=rows[4].created_at + timedelta(microseconds=1))
    assert await _names(store, later) == set()


async def test_status_counts_list_every_kind_and_status_with_zeros(store: Store) -> None:
    """The tiles hold one entry per (kind, status) of section 1, zeros included."""
    await _mixed(store)
    tiles = await communications.status_counts(store, ALL)
    assert [(k, s) for k, s, _ in tiles] == [(k, s) for k in Kind for s in STATUSES_OF[k]]
    counts = {(k, s): n for k, s, n in tiles}
    assert counts[(Kind.EMAIL, Status.SENDING)] == 1
    assert counts[(Kind.LANDING_PAGE, Status.PUBLISHED)] == 1
    assert counts[(Kind.SMS, Status.DRAFT)] == 1
    assert counts[(Kind.EMAIL, Status.DRAFT)] == 0
    assert sum(counts.values()) == await communications.count(store, ALL) == 5


async def test_status_counts_follow_the_filter(store: Store) -> None:
    """Filtered tiles list only the filtered kinds and statuses, still with zeros."""
    await _mixed(store)
    flt = Filter(kinds=[Kind.LANDING_PAGE, Kind.IN_APP], statuses=[Status.DRAFT, Status.PUBLISHED])
    tiles = await communications.status_counts(store, flt)
    assert tiles == [
        (Kind.IN_APP, Status.DRAFT, 1),
        (Kind.LANDING_PAGE, Status.DRAFT, 0),
        (Kind.LANDING_PAGE, Status.PUBLISHED, 1),
    ]
    automation = await communications.status_counts(store, Filter(origins=[Origin.AUTOMATION]))
    assert sum(n for _, _, n in automation) == 1
    assert len(automation) == sum(len(STATUSES_OF[k]) for k in Kind)
