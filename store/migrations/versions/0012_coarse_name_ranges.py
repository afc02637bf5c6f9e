"""indexes (kind, name, id) and (origin, name, id): a page by name filtered on kinds alone
reads one range a kind, and one filtered on origins alone one range an origin, rather than
one range of (facet, name, id) a facet (store/communications.py, `_coarse`)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 03:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("kind", "origin")


def upgrade() -> None:
    for column in COLUMNS:
        name = f"ix_communication_{column}_name_id"
        op.create_index(name, "communication", [column, "name", "id"])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_communication_{column}_name_id", "communication")
