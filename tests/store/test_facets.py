"""`facet`: the database computes a row's (kind, status, origin) code as store/tables.py
`facet` does, for every combination, and keeps it as a row moves (migration 0010)."""

import itertools

from sqlalchemy import text

from store import Store, communications
from store.communications import Filter, Order
from store.lifecycle import Kind, Origin, Status
from store.tables import facet
from tests import factories


async def test_the_database_computes_each_combination_as_the_code_does(store: Store) -> None:
    """Every kind, status and origin the code knows, written into a row by hand (as any
    writer could), reads back with the facet `facet()` gives: a code added to an enum
    without a migration that computes it fails here."""
    row = await factories.create(store)
    found = {}
    async with factories.engine_of(store).begin() as conn:
        for kind, status, origin in itertools.product(Kind, Status, Origin):
            moved = await conn.execute(
                text(
                    "UPDATE communication SET kind = :kind, status = :status, origin = :origin"
                    " WHERE id = :id RETURNING facet"
                ),
                {"kind": kind, "status": status, "origin": origin, "id": row.id},
            )
            found[kind, status, origin] = moved.scalar_one()
        await conn.rollback()
    assert found == {key: facet(*key) for key in found}
    assert len(set(found.values())) == len(found)  # one code each


async def test_a_page_of_a_status_follows_a_row_that_moves_into_it(store: Store) -> None:
    """A row's facet moves with its status: a page of the new status lists it, a page of the
    old one no longer does."""
    row = await factories.create(store, Kind.LANDING_PAGE)
    order = Order("name", False)
    drafts = Filter(kinds=[Kind.LANDING_PAGE], statuses=[Status.DRAFT])
    published = Filter(kinds=[Kind.LANDING_PAGE], statuses=[Status.PUBLISHED])
    assert [r.id for r in (await communications.page(store, drafts, order)).rows] == [row.id]
    async with factories.engine_of(store).begin() as conn:
        await conn.execute(
            text("UPDATE communication SET status = 'PUBLISHED' WHERE id = :id"), {"id": row.id}
        )
    assert (await communications.page(store, drafts, order)).rows == []
    assert [r.id for r in (await communications.page(store, published, order)).rows] == [row.id]
