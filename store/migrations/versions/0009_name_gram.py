"""name_gram: the trigrams of live communications' names, kept by triggers on communication,
so that a page with a search in name order walks the rows holding the search's grams in name
order (store/grams.py) instead of testing every row after its cursor

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:00:00

A row of name_gram is (gram, name, id): one distinct 3-character slice of lower(name) of a
live communication (deleted_at NULL), with that communication's name and id, so that its
primary key lists the rows holding a gram in name order. lower() is the database's own, in
the trigger as in the search's test (lower() LIKE lower() on SQLite; PostgreSQL's ILIKE
lowers both sides with lower() in a UTF-8 database), so the grams agree with that test.

Every write path keeps it, whoever writes: an INSERT of a live row adds its grams; an UPDATE
that changes the name or the id, or deletes or revives the row (deleted_at), removes the old
grams and adds the new; a DELETE removes them. A row's grams are removed by its name's grams
(the primary key), not by an index on id, which every create would also pay for: a gram left
behind (say, lower() changed under a new collation) names no row and is only walked past.

On SQLite a trigger may hold no WITH: the positions of a name's grams are a VALUES list of
1..NAME_MAX - 2. The table has no rowid: its primary key is the table. On PostgreSQL an
INSERT or a DELETE adds or removes the grams per statement (a transition table, shared with
status_count's triggers), so that a bulk INSERT of a million rows is one INSERT ... SELECT,
its grams sorted first, so that the index grows in order.

On SQLite a migration that later recreates `communication` (batch_alter_table with a
column change) drops these triggers with it: it must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_MAX = 200  # store/content.py's, as of this migration
GRAM = 3
INTO = "INSERT INTO name_gram (gram, name, id)"
CHANGED = (
    "OLD.name IS DISTINCT FROM NEW.name OR OLD.id IS DISTINCT FROM NEW.id"
    " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)"
)

_POSITIONS = "(VALUES " + ", ".join(f"({i})" for i in range(1, NAME_MAX - GRAM + 2)) + ")"


def _sqlite_grams(row: str) -> str:
    """`row`'s distinct grams (column g), if it is live. SQLite's lower() folds ASCII only,
    as its LIKE does."""
    return (
        f"SELECT DISTINCT substr(lower({row}.name), column1, {GRAM}) AS g FROM {_POSITIONS} "
        f"WHERE column1 <= length({row}.name) - {GRAM - 1} AND {row}.deleted_at IS NULL"
    )


def _sqlite_add(row: str) -> str:
    return f"{INTO} SELECT g, {row}.name, {row}.id FROM ({_sqlite_grams(row)})"


def _sqlite_remove(row: str) -> str:
    return (
        f"DELETE FROM name_gram WHERE gram IN ({_sqlite_grams(row)}) "
        f"AND name = {row}.name AND id = {row}.id"
    )


SQLITE = [
    f"""CREATE TRIGGER name_gram_insert AFTER INSERT ON communication
    BEGIN {_sqlite_add("NEW")}; END""",
    f"""CREATE TRIGGER name_gram_update AFTER UPDATE OF name, id, deleted_at ON communication
    WHEN {CHANGED.replace("IS DISTINCT FROM", "IS NOT")}
    BEGIN {_sqlite_remove("OLD")}; {_sqlite_add("NEW")}; END""",
    f"""CREATE TRIGGER name_gram_delete AFTER DELETE ON communication
    BEGIN {_sqlite_remove("OLD")}; END""",
]


def _grams(rows: str) -> str:
    """(gram, name, id) of each live row of `rows` (a table, or a row's one-row VALUES), one
    per distinct gram of its name."""
    return (
        f"SELECT DISTINCT substr(lower(r.name), i, {GRAM}) AS gram, r.name, r.id "
        f"FROM {rows} AS r, generate_series(1, length(r.name) - {GRAM - 1}) AS i "
        "WHERE r.deleted_at IS NULL"
    )


def _removed(rows: str) -> str:
    return (
        f"DELETE FROM name_gram AS n USING ({_grams(rows)}) AS o "
        "WHERE (n.gram, n.name, n.id) = (o.gram, o.name, o.id)"
    )


POSTGRESQL = [
    f"""CREATE FUNCTION name_gram_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {INTO} {_grams("new_rows")} ORDER BY 1, 2, 3;
        ELSE
            {_removed("old_rows")};
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION name_gram_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {_removed("(SELECT OLD.*)")};
        {INTO} {_grams("(SELECT NEW.*)")};
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER name_gram_insert AFTER INSERT ON communication
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION name_gram_statement()""",
    f"""CREATE TRIGGER name_gram_update AFTER UPDATE OF name, id, deleted_at ON communication
    FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION name_gram_row()""",
    """CREATE TRIGGER name_gram_delete AFTER DELETE ON communication
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION name_gram_statement()""",
]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "name_gram",
        sa.Column("gram", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("gram", "name", "id"),
        sqlite_with_rowid=False,
    )
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    # the rows there are, in gram order, so that the index is written in order; the
    # triggers, made first in the same transaction, keep every write after it
    grams = _grams("communication") if postgresql else _sqlite_backfill()
    op.execute(f"{INTO} {grams} ORDER BY 1, 2, 3")


def _sqlite_backfill() -> str:
    return (
        f"SELECT DISTINCT substr(lower(r.name), column1, {GRAM}), r.name, r.id "
        f"FROM communication AS r, {_POSITIONS} "
        f"WHERE column1 <= length(r.name) - {GRAM - 1} AND r.deleted_at IS NULL"
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER name_gram_{trigger}" + (" ON communication" * postgresql))
    for function in ("row", "statement") if postgresql else ():
        op.execute(f"DROP FUNCTION name_gram_{function}()")
    op.drop_table("name_gram")
