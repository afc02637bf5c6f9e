"""a stop's one marker row stands for the not-sent events of every unfinished recipient;
pages filtered on kind, status or origin read a range of (kind, status, origin, order) each

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ORDERS = ("created_at", "updated_at", "name")


def upgrade() -> None:
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.drop_index("ix_communication_kind_status")
        for order in ORDERS:
            batch_op.create_index(
                f"ix_communication_kind_status_origin_{order}",
                ["kind", "status", "origin", order, "id"],
                unique=False,
            )
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unfinished", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            "ix_delivery_event_unfinished",
            ["communication_id"],
            unique=True,
            sqlite_where=sa.text("unfinished = 1"),  # as SQLAlchemy writes the test
            postgresql_where=sa.text("unfinished"),
        )


def downgrade() -> None:
    with op.batch_alter_table("communication", schema=None) as batch_op:
        for order in ORDERS:
            batch_op.drop_index(f"ix_communication_kind_status_origin_{order}")
        batch_op.create_index("ix_communication_kind_status", ["kind", "status"], unique=False)
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_event_unfinished")
        batch_op.drop_column("unfinished")
