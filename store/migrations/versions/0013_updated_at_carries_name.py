"""the index on (updated_at, id) carries name after its keys, and on PostgreSQL deleted_at
too (INCLUDE): a page with a search in updated_at order tests the search on the index's
entries and reads only the rows it returns (store/communications.py, `_in_index`)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:30:00

Why: walking the index, a page read every row it tested, and rows in updated_at order lie
all over the table: a page of 20 of a search that one name in nine holds read about 180 rows
on as many pages at 1,000,000 rows, where at 1,000 the whole table is a few pages.
- SQLite tests the conditions an index's columns answer before it reads the row (its
  deferred seek): the search on the entry, then deleted_at in the row, for matches only.
- PostgreSQL tests conditions on an index's entries only in an index-only scan, which
  needs every column the scan tests, deleted_at included; the page's statement asks for
  one there. deleted_at is no key: as one, `deleted_at IS NULL` could range the index, and
  in a small table PostgreSQL scanned all of it that way rather than look names up.
The pages stay in (updated_at, id) order: id is unique, so a column after it orders nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_communication_updated_at_id"
KEYS = ["updated_at", "id"]


def upgrade() -> None:
    op.drop_index(NAME, "communication")
    op.create_index(NAME, "communication", [*KEYS, "name"], postgresql_include=["deleted_at"])


def downgrade() -> None:
    op.drop_index(NAME, "communication")
    op.create_index(NAME, "communication", KEYS)
