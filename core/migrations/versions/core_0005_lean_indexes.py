"""Leaner write path: partial indexes on mostly-empty columns; no duplicate contact index

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-23 06:40:00

An interaction without an appointment, campaign or provider reference, and an
audit event of a system actor (telephony, webhooks, workers), no longer add an
index entry for the missing value.  ``ix_contact_points_patient`` repeated the
first column of the unique ``(patient_id, kind, value)`` index.

On a large existing database this rebuilds four indexes inside the migration's
transaction (writes to those tables wait meanwhile): run it in a quiet hour.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None

#: index -> (table, columns, the column that must be present)
PARTIAL = {
    "ix_interactions_appointment_id": ("interactions", ["appointment_id"], "appointment_id"),
    "ix_interactions_campaign_id": ("interactions", ["campaign_id"], "campaign_id"),
    "ix_interactions_provider_ref": ("interactions", ["channel", "provider_ref"], "provider_ref"),
    "ix_audit_events_staff_user_id": ("audit_events", ["staff_user_id"], "staff_user_id"),
}


def upgrade() -> None:
    for name, (table, columns, present) in PARTIAL.items():
        where = sa.text(f"{present} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)
    op.drop_index("ix_contact_points_patient", table_name="contact_points")


def downgrade() -> None:
    op.create_index("ix_contact_points_patient", "contact_points", ["patient_id"])
    for name, (table, columns, _present) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
