"""Test configuration: CareLoop's fixtures come from ``core.testing``."""

from __future__ import annotations

import pytest

pytest_plugins = ["core.testing"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.postgresql_only`` tests run on PostgreSQL: deselect (not skip) the rest."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        only_postgres = item.get_closest_marker("postgresql_only") is not None
        (dropped if only_postgres and not on_postgres else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
