"""worker leases: fencing lease ids, claimNext's turns

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_id", sa.String(), nullable=True))
        batch_op.create_index("ix_recipient_lease", ["lease_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_lease")
        batch_op.drop_column("lease_id")
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
