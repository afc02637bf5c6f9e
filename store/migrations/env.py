"""Alembic's entry point: runs migrations on the connection store.migrate hands it."""

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from store.tables import UTCDateTime  # importing the tables registers them on the metadata


def render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Write SQLModel's string and our UTC datetime as the plain types they create."""
    if kind == "type" and isinstance(item, AutoString):
        return "sa.String()"
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    render_item=render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
