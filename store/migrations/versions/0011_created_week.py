"""created_week: the week of created_day (days since 1970-01-01 UTC, divided by 7), kept by
the database, with an index (created_week, order, id) for updated_at and name: a page with
a created window in either order reads one range a whole week inside the window, and one a
day only for the days before the first whole week and after the last
(store/communications.py, `_spans`)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 03:00:00

Why: a window of 30 days read one range a day merged 30 ranges, and on PostgreSQL 15 each
range reads the whole leaf page it starts on, testing every entry after its start: at
1,000,000 rows about 2,900 entries a day, so each range cost more there than at 1,000, where
a day holds three. The same window is 6 or 12 ranges in weeks and days (12 for the
bench's, which starts on a Friday).

Weeks count from Thursday 1970-01-01: any seven consecutive days serve, as long as the code
(`_spans`) divides by the same 7. created_at is the server's clock, after 1970, so a day is
never negative, and truncating division (SQLite, PostgreSQL) is the floor (Python's //).
On PostgreSQL the column is computed from created_at, as created_day is (a generated column
may not read another); on SQLite from created_day, which its triggers keep (migration 0008).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What PostgreSQL is told a day or a week holds, as a share of the rows: 1 in 20. With the
# share it measures (a year of rows: 1/365 a day, 1/53 a week), the plan made for any
# days and cursor (a kept statement's generic plan, store/reading.py `limit`) looked dearer
# than the plans for the values it was first given, so it went on planning every page for
# its values: a window of weeks and days at 1,000,000 rows, 0.85 ms of the server a page
# against 0.29 with the plan kept. The columns are read by those ranges alone. (The share is
# a column's attribute: ANALYZE, autovacuum's too, writes it into the statistics.)
SHARE = -0.05
POSTGRESQL_WEEK = "(((created_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01') / 7)"
SQLITE_WEEK = "(created_day / 7)"
ORDERS = ("updated_at", "name")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    week = sa.Computed(POSTGRESQL_WEEK if postgresql else SQLITE_WEEK, persisted=postgresql)
    op.add_column("communication", sa.Column("created_week", sa.Integer(), week))
    if postgresql:
        for column in ("created_day", "created_week"):
            share = f"SET (n_distinct = {SHARE})"
            op.execute(f"ALTER TABLE communication ALTER COLUMN {column} {share}")
    for order in ORDERS:
        op.create_index(
            f"ix_communication_created_week_{order}",
            "communication",
            ["created_week", order, "id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE communication ALTER COLUMN created_day RESET (n_distinct)")
    for order in ORDERS:
        op.drop_index(f"ix_communication_created_week_{order}", "communication")
    op.drop_column("communication", "created_week")
