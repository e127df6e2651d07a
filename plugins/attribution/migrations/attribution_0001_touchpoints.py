"""attribution: touchpoints table

Revision ID: attribution_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "attribution_0001"
down_revision = None
branch_labels = ("attribution",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "attribution_touchpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "patient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("is_first_touch", sa.Boolean(), nullable=False),
        sa.Column(
            "interaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_attribution_touchpoints_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_attribution_touchpoints_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribution_touchpoints")),
        sa.UniqueConstraint("interaction_id", name="uq_attribution_touchpoints_interaction"),
    )
    op.create_index(
        "ix_attribution_touchpoints_patient",
        "attribution_touchpoints",
        ["patient_id", "occurred_at"],
    )
    op.create_index(
        "ix_attribution_touchpoints_source", "attribution_touchpoints", ["source", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_attribution_touchpoints_source", table_name="attribution_touchpoints")
    op.drop_index("ix_attribution_touchpoints_patient", table_name="attribution_touchpoints")
    op.drop_table("attribution_touchpoints")
