"""Alembic environment for CareLoop (core and plugin branches)."""

from __future__ import annotations

from alembic import context

from core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to):
    """Autogenerate looks only at the tables named by ``-x tables=a,b`` when given."""
    wanted = context.get_x_argument(as_dictionary=True).get("tables")
    if type_ == "table" and wanted:
        return name in wanted.split(",")
    return True


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:
    import core.models  # noqa: F401  (register core tables for autogenerate)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
