"""communications, history, recipients and delivery events

Revision ID: 0001
Revises:
Create Date: 2026-11-27 00:39:15.533144
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("slug", sa.String(), nullable=True),
        sa.Column("audience_size", sa.Integer(), nullable=True),
        sa.Column("synthetic_audience", sa.Boolean(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column("handed_off_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("not_sent_count", sa.Integer(), nullable=False),
        sa.Column("shown_count", sa.Integer(), nullable=False),
        sa.Column("clicked_count", sa.Integer(), nullable=False),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.String(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.create_index("ix_communication_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_communication_kind_status", ["kind", "status"], unique=False)
        batch_op.create_index("ix_communication_name_id", ["name", "id"], unique=False)
        batch_op.create_index("ix_communication_slug", ["slug"], unique=True)
        batch_op.create_index("ix_communication_status_end_at", ["status", "end_at"], unique=False)
        batch_op.create_index(
            "ix_communication_status_start_at", ["status", "start_at"], unique=False
        )
        batch_op.create_index("ix_communication_updated_at_id", ["updated_at", "id"], unique=False)

    op.create_table(
        "delivery_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("communication_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("info", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communication.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_event_communication_seq", ["communication_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_event_name", ["communication_id", "name", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_event_recipient", ["communication_id", "recipient_id", "seq"], unique=False
        )

    op.create_table(
        "recipient",
        sa.Column("communication_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("worker_id", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communication.id"],
        ),
        sa.PrimaryKeyConstraint("communication_id", "position"),
    )
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recipient_profile", ["communication_id", "profile_id"], unique=True
        )
        batch_op.create_index(
            "ix_recipient_state", ["communication_id", "state", "position"], unique=False
        )

    op.create_table(
        "status_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("communication_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("from_status", sa.String(), nullable=True),
        sa.Column("to_status", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communication.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("status_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_status_event_communication_seq", ["communication_id", "seq"], unique=False
        )
        batch_op.create_index("ix_status_event_position", ["tx", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("status_event", schema=None) as batch_op:
        batch_op.drop_index("ix_status_event_position")
        batch_op.drop_index("ix_status_event_communication_seq")

    op.drop_table("status_event")
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_state")
        batch_op.drop_index("ix_recipient_profile")

    op.drop_table("recipient")
    with op.batch_alter_table("delivery_event", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_event_recipient")
        batch_op.drop_index("ix_delivery_event_name")
        batch_op.drop_index("ix_delivery_event_communication_seq")

    op.drop_table("delivery_event")
    with op.batch_alter_table("communication", schema=None) as batch_op:
        batch_op.drop_index("ix_communication_updated_at_id")
        batch_op.drop_index("ix_communication_status_start_at")
        batch_op.drop_index("ix_communication_status_end_at")
        batch_op.drop_index("ix_communication_slug")
        batch_op.drop_index("ix_communication_name_id")
        batch_op.drop_index("ix_communication_kind_status")
        batch_op.drop_index("ix_communication_created_at_id")

    op.drop_table("communication")
