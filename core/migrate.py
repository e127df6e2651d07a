"""Alembic, driven from code: core's branch plus one branch per plugin.

``version_locations`` holds core's revisions and those of every installed
plugin (enabled or not: Alembic fails if a recorded revision disappears).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, inspect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_BRANCH = "core"


def alembic_config(url: str, plugin_locations: Iterable[str] = ()) -> AlembicConfig:
    """An Alembic configuration for *url* with core's and the plugins' revisions."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *plugin_locations]
    cfg.set_main_option("path_separator", "newline")
    cfg.set_main_option("version_locations", "\n".join(locations))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(
    engine: Engine,
    target: str,
    plugin_locations: Iterable[str] = (),
    *,
    connection: Any = None,
) -> None:
    """Upgrade to *target* (``core@head``, ``attribution@head``, ``heads``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False), plugin_locations)
    if connection is not None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)
        return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def downgrade(engine: Engine, target: str, plugin_locations: Iterable[str] = ()) -> None:
    """Downgrade to *target* (``attribution@base`` drops a plugin's tables and data)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False), plugin_locations)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, target)


def is_initialised(engine: Engine) -> bool:
    """True once core's tables exist."""
    return inspect(engine).has_table("alembic_version")
