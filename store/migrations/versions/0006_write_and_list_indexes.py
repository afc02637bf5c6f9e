"""an index for expired leases: the requeue and claimNext look for them in every campaign

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_lease_until", ["state", "lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_lease_until")
