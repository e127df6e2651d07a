"""One CareLoop process: configuration, database, plugins, hooks.

Web app, workers and CLI each build a :class:`CareLoop` with :func:`create`
(never at import time).  Services receive sessions from it; events they
queue are dispatched to enabled plugins after commit.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session

from core import events, migrate, tasks
from core.audit import Actor
from core.config import CONFIG_KEY, Config
from core.db import Database
from core.plugin_manager import PluginHost


class CareLoop:
    """The runtime of one process."""

    def __init__(self, config: Config, *, load_plugins: bool = True) -> None:
        self.config = config
        tasks.configure_broker(config.broker_url)
        self.db = Database(config.database_url)
        self.plugins = PluginHost(
            self.db, blocked=config.disabled_plugins, state_ttl=config.plugin_state_ttl
        )
        self.plugins.migrator = self._migrate_plugin
        events.install(self.db.session_factory, self.plugins.dispatch)
        if load_plugins:
            self.plugins.load()
            self.plugins.import_actors()

    # -- sessions ----------------------------------------------------------

    def session(self) -> Session:
        """A new session whose commits fire hooks on enabled plugins."""
        return self.db.session(**{CONFIG_KEY: self.config})

    def transaction(self) -> Any:
        """``with runtime.transaction() as session:`` commits or rolls back."""
        return self.db.transaction(**{CONFIG_KEY: self.config})

    # -- schema ------------------------------------------------------------

    def plugin_migration_locations(self) -> list[str]:
        return [rec.migrations for rec in self.plugins.records.values() if rec.migrations]

    def _migrate_plugin(self, name: str, connection: Any) -> None:
        migrate.upgrade(
            self.db.engine,
            f"{name}@head",
            self.plugin_migration_locations(),
            connection=connection,
        )

    def init_database(self, actor: Actor | None = None) -> list[str]:
        """Create or upgrade core's tables, record new plugins, upgrade enabled ones.

        :returns: plugins enabled for the first time by this call.
        """
        actor = actor or Actor.system("init")
        locations = self.plugin_migration_locations()
        migrate.upgrade(self.db.engine, "core@head", locations)
        with self.transaction() as session:
            newly_enabled = self.plugins.ensure_states(session, actor)
        states = self.plugins.read_states()
        for name, enabled in states.items():
            rec = self.plugins.records.get(name)
            if enabled and rec is not None and rec.loadable and rec.migrations:
                migrate.upgrade(self.db.engine, f"{name}@head", locations)
        self.plugins.refresh(force=True)
        return newly_enabled

    def close(self) -> None:
        self.db.dispose()


def create(config: Config | None = None, **kwargs: Any) -> CareLoop:
    """Build a runtime from *config* (default: the environment)."""
    return CareLoop(config or Config.from_env(), **kwargs)


_PROCESS_RUNTIME: list[CareLoop] = []
_PROCESS_LOCK = threading.Lock()


def process_runtime() -> CareLoop:
    """The runtime shared by this process's actors, built on first use."""
    with _PROCESS_LOCK:
        if not _PROCESS_RUNTIME:
            _PROCESS_RUNTIME.append(create())
        return _PROCESS_RUNTIME[0]


def set_process_runtime(runtime: CareLoop | None) -> None:
    """Install (or clear) the runtime actors use; the web app and tests call this."""
    with _PROCESS_LOCK:
        _PROCESS_RUNTIME.clear()
        if runtime is not None:
            _PROCESS_RUNTIME.append(runtime)
