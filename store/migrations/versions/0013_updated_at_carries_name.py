"""on PostgreSQL, the index on (updated_at, id) carries name and deleted_at in its entries: a
page with a search in updated_at order tests the search on the index's entries and reads
only the rows it returns (store/communications.py, `_in_index`)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:30:00

Why: walking the index, a page read every row it tested, and rows in updated_at order lie
all over the table: a page of 20 of a search that one name in nine holds read about 180 rows
on as many pages at 1,000,000 rows, where at 1,000 the whole table is a few pages.
SQLite's pages stay as they were (it has no INCLUDE): there the index is left as it is.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_communication_updated_at_id"
CARRIED = ["name", "deleted_at"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, "communication")
    op.create_index(NAME, "communication", ["updated_at", "id"], postgresql_include=CARRIED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, "communication")
    op.create_index(NAME, "communication", ["updated_at", "id"])
