"""worker leases and provider outcomes: fencing lease ids, claimNext's turns, provider
message ids, failure classes, events after the send and their counters, event ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COUNTERS = (
    "delivered_count",
    "deferred_count",
    "opened_count",
    "bounced_count",
    "complained_count",
    "unsubscribed_count",
)
EVENT_COLUMNS = ("event_id", "provider_message_id", "failure_class", "failure_code")


def upgrade() -> None:
    with op.batch_alter_table("communication", schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(), nullable=True))
        batch_op.create_index("ix_recipient_lease", ["lease_id"], unique=False)
        batch_op.create_index(
            "ix_recipient_provider_message", ["provider_message_id"], unique=False
        )
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        for name in EVENT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(), nullable=True))
        batch_op.create_index(
            "ix_delivery_event_event_id", ["communication_id", "event_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_event_event_id")
        for name in EVENT_COLUMNS:
            batch_op.drop_column(name)
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_provider_message")
        batch_op.drop_index("ix_recipient_lease")
        batch_op.drop_column("provider_message_id")
        batch_op.drop_column("lease_id")
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
        for name in COUNTERS:
            batch_op.drop_column(name)
