"""The migrations build exactly the schema the models declare (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import Base


def test_migrated_schema_matches_the_models(runtime):
    """A model change without its migration (or the reverse) fails here, per backend."""
    with runtime.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, Base.metadata)
    assert drift == []


PARTIAL_INDEXES = {
    "ix_interactions_appointment_id": "appointment_id",
    "ix_interactions_campaign_id": "campaign_id",
    "ix_interactions_provider_ref": "provider_ref",
    "ix_audit_events_staff_user_id": "staff_user_id",
}


def test_mostly_empty_columns_have_partial_indexes(runtime):
    """Rows without the value cost no index entry (the drift check cannot see predicates)."""
    from sqlalchemy import text

    with runtime.db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            definitions = dict(
                connection.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all()
            )
        else:
            definitions = dict(
                connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
                ).all()
            )
    for name, column in PARTIAL_INDEXES.items():
        assert f"{column} IS NOT NULL" in definitions[name], definitions[name]
    assert "ix_contact_points_patient" not in definitions
