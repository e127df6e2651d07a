"""outbox: outbound messages and message templates

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("subject", sa.String(length=250), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("provider_template", sa.String(length=200), nullable=True),
        sa.Column("provider_params", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=250), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("key", "channel", "locale", name="uq_message_templates_key_channel"),
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("channel_order", sa.String(length=120), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("template_key", sa.String(length=120), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("context", JSON_DOC, nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(length=250), nullable=True),
        sa.Column("rendered_subject", sa.String(length=250), nullable=True),
        sa.Column("rendered_body", sa.Text(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("needs_reconciliation", sa.Boolean(), nullable=False),
        _ts("scheduled_at", False),
        _ts("enqueued_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("cause", sa.String(length=120), nullable=True),
        _ts("created_at", False),
        _ts("updated_at", False),
        _ts("sending_at"),
        _ts("sent_at"),
        _ts("delivered_at"),
        _ts("read_at"),
        _ts("failed_at"),
        _ts("suppressed_at"),
        _ts("bounced_at"),
        _ts("cancelled_at"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_outbound_messages_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_messages_idempotency_key")),
    )
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_messages_campaign", ["campaign_id", "status"])
        batch_op.create_index("ix_outbound_messages_due", ["status", "scheduled_at"])
        batch_op.create_index("ix_outbound_messages_patient", ["patient_id", "created_at"])
        batch_op.create_index("ix_outbound_messages_provider", ["channel", "provider_message_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_provider")
        batch_op.drop_index("ix_outbound_messages_patient")
        batch_op.drop_index("ix_outbound_messages_due")
        batch_op.drop_index("ix_outbound_messages_campaign")
    op.drop_table("outbound_messages")
    op.drop_table("message_templates")
