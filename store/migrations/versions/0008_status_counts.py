"""status counts kept on write: triggers on communication keep status_count, so that
statusCounts and a list's totalCount read a few hundred rows, not the table; and
created_day, kept by the database, with an index per order, so that a page with a created
window in another order than created_at reads one range a day (store/communications.py)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 22:30:00

Every write path is counted, whoever writes: an INSERT, an UPDATE that moves a row's kind,
status or origin or deletes it (deleted_at set), and a DELETE. On SQLite (one writer at a
time) each key has one row, slot 0. On PostgreSQL a writing transaction adds to rows keyed
by its own transaction id, which nobody else writes, so concurrent transitions never queue
for a counter; about one write in a hundred (`FOLD_ONE_IN`) folds the committed rows into
slot 0, one folder at a time (an advisory lock tried, not waited for). Inserts and deletes
count per statement (a transition table), so that a bulk INSERT of a million rows adds one
row a key, not a million updates of it.

On SQLite a migration that later recreates `communication` (batch_alter_table with a
column change) drops these triggers with it: it must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLD_ONE_IN = 100
LOCK = 80080008  # the advisory lock of the one folder at a time
KEY = "(kind, status, origin, slot)"
MOVED = (
    "OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status"
    " OR OLD.origin IS DISTINCT FROM NEW.origin"
    " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)"
)


INTO = "INSERT INTO status_count (kind, status, origin, slot, n)"
ADDED = f"ON CONFLICT {KEY} DO UPDATE SET n = status_count.n + excluded.n"


def _add(row: str, n: str, slot: str) -> str:
    """Add n to the count of `row`'s (kind, status, origin) in `slot`."""
    return (
        f"{INTO} SELECT {row}.kind, {row}.status, {row}.origin, {slot}, {n} "
        f"WHERE {row}.deleted_at IS NULL {ADDED}"
    )


SQLITE = [
    f"""CREATE TRIGGER status_count_insert AFTER INSERT ON communication
    BEGIN {_add("NEW", "1", "0")}; END""",
    f"""CREATE TRIGGER status_count_update AFTER UPDATE OF kind, status, origin, deleted_at
    ON communication WHEN {MOVED.replace("IS DISTINCT FROM", "IS NOT")}
    BEGIN {_add("OLD", "-1", "0")}; {_add("NEW", "1", "0")}; END""",
    f"""CREATE TRIGGER status_count_delete AFTER DELETE ON communication
    BEGIN {_add("OLD", "-1", "0")}; END""",
]

_TX = "pg_current_xact_id()::text::bigint"


def _add_all(rows: str, sign: str) -> str:
    """Add the rows of the transition table `rows`, counted per (kind, status, origin) and
    signed (`sign`: "" or "-"), to the writing transaction's own slot."""
    return (
        f"{INTO} SELECT kind, status, origin, {_TX}, {sign}count(*) FROM {rows} "
        f"WHERE deleted_at IS NULL GROUP BY kind, status, origin {ADDED}"
    )


POSTGRESQL = [
    f"""CREATE FUNCTION status_count_compact() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT pg_try_advisory_xact_lock({LOCK}) THEN
            RETURN;  -- another transaction is folding: the rows wait for the next
        END IF;
        WITH gone AS (DELETE FROM status_count WHERE slot <> 0 RETURNING kind, status, origin, n)
        {INTO} SELECT kind, status, origin, 0, sum(n) FROM gone GROUP BY kind, status, origin
        {ADDED};
    END $$""",
    f"""CREATE FUNCTION status_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_add_all("new_rows", "")};
        ELSE
            {_add_all("old_rows", "-")};
        END IF;
        IF random() < 1.0 / {FOLD_ONE_IN} THEN
            PERFORM status_count_compact();
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION status_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_add("OLD", "-1", _TX)};
        {_add("NEW", "1", _TX)};
        IF random() < 1.0 / {FOLD_ONE_IN} THEN
            PERFORM status_count_compact();
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER status_count_insert AFTER INSERT ON communication
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION status_count_statement()""",
    f"""CREATE TRIGGER status_count_update AFTER UPDATE OF kind, status, origin, deleted_at
    ON communication FOR EACH ROW WHEN ({MOVED}) EXECUTE FUNCTION status_count_row()""",
    """CREATE TRIGGER status_count_delete AFTER DELETE ON communication
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION status_count_statement()""",
]

# created_day: the UTC day of created_at, as days since 1970-01-01, for every writer. On
# SQLite the stored text begins with the date (YYYY-MM-DD ...): its day is exact, where
# julianday() of the whole value rounds to the millisecond and could pass midnight. On
# PostgreSQL it is a stored generated column, not a BEFORE trigger: a row trigger that runs
# before an UPDATE makes PostgreSQL lock the row before the UPDATE has its transaction id,
# so a writer waiting for that row took its id only after the wait, later than transactions
# that began after it, and the stream's horizon (store/database.py) held its change back
# behind them (tests/e2e/test_sharing.py saw the stream stop under a table lock).
SQLITE_DAY = "CAST(julianday(substr({row}created_at, 1, 10)) - 2440587.5 AS INTEGER)"
POSTGRESQL_DAY = "(({row}created_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
SQLITE_DAYS = [
    f"""CREATE TRIGGER communication_created_day AFTER INSERT ON communication
    BEGIN UPDATE communication SET created_day = {SQLITE_DAY.format(row="NEW.")}
    WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER communication_created_day_update AFTER UPDATE OF created_at
    ON communication
    BEGIN UPDATE communication SET created_day = {SQLITE_DAY.format(row="NEW.")}
    WHERE id = NEW.id; END""",
]
DAY_ORDERS = ("updated_at", "name")

# the rows there are, counted once: the triggers, made first in the same transaction, count
# every write after it (on PostgreSQL CREATE TRIGGER holds writers off until the commit)
BACKFILL = (
    f"{INTO} SELECT kind, status, origin, 0, count(*) FROM communication "
    "WHERE deleted_at IS NULL GROUP BY kind, status, origin"
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        day = sa.Computed(POSTGRESQL_DAY.format(row=""), persisted=True)
        op.add_column("communication", sa.Column("created_day", sa.Integer(), day))
    else:
        op.add_column("communication", sa.Column("created_day", sa.Integer(), nullable=True))
        op.execute(f"UPDATE communication SET created_day = {SQLITE_DAY.format(row='')}")
        for statement in SQLITE_DAYS:
            op.execute(statement)
    for order in DAY_ORDERS:
        op.create_index(
            f"ix_communication_created_day_{order}", "communication", ["created_day", order, "id"]
        )
    op.create_table(
        "status_count",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "status", "origin", "slot"),
    )
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER status_count_{trigger}" + (" ON communication" * postgresql))
    for function in ("row", "statement", "compact") if postgresql else ():
        op.execute(f"DROP FUNCTION status_count_{function}()")
    op.drop_table("status_count")
    for order in DAY_ORDERS:
        op.drop_index(f"ix_communication_created_day_{order}", "communication")
    if not postgresql:
        op.execute("DROP TRIGGER communication_created_day")
        op.execute("DROP TRIGGER communication_created_day_update")
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.drop_column("created_day")
