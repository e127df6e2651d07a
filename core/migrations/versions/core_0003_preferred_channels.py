"""patients.preferred_channels: the patient's own order of messaging channels

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-23 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("preferred_channels", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("preferred_channels")
