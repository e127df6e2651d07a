"""The plugin manager: discovery, manifests, dependencies, run-time enable/disable.

pluggy dispatches hooks; it resolves no dependencies, so this module does:

* **discovery** — built-in plugins are the sub-packages of ``plugins``;
  third-party ones are modules named by the ``careloop.plugins`` entry-point
  group.  Each module has a ``manifest`` (:class:`core.manifest.Manifest`).
* **health** — a plugin that fails to import, has a bad manifest, a missing or
  broken dependency, a dependency cycle or a misspelt hook is recorded with its
  reason and left out; the application keeps running.
* **state** — enabled/disabled lives in the ``plugin_states`` table.  Every
  process re-reads it at most every ``CARELOOP_PLUGIN_STATE_TTL`` seconds
  (and before each request or job), so a change reaches web and workers
  without a restart.  All loadable plugins stay registered with pluggy; hooks
  are called through subset callers that leave disabled plugins out.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import hookspecs
from core.audit import Actor, record
from core.db import Database, utcnow
from core.errors import (
    PluginBlocked,
    PluginBroken,
    PluginDependencyCycle,
    PluginDependencyMissing,
    PluginInUse,
    PluginNotFound,
)
from core.manifest import Manifest
from core.models import PluginState

logger = logging.getLogger(__name__)

BUILTIN_PACKAGE = "plugins"
ENTRY_POINT_GROUP = "careloop.plugins"

Migrator = Callable[[str, Any], None]
"""Upgrade one plugin's Alembic branch: ``migrator(plugin_name, connection)``."""


@dataclass
class PluginRecord:
    """What the manager knows of one installed plugin."""

    name: str
    source: str
    module: ModuleType | None = None
    manifest: Manifest | None = None
    #: why the plugin itself cannot load (import error, bad manifest, misspelt hook)
    load_error: str | None = None
    blocked: bool = False
    migrations: str | None = None
    #: why its dependencies make it unusable; recomputed by ``check_dependencies``
    dependency_error: str | None = None

    @property
    def error(self) -> str | None:
        return self.load_error or self.dependency_error

    @property
    def loadable(self) -> bool:
        return self.error is None and not self.blocked and self.manifest is not None

    @property
    def depends(self) -> tuple[str, ...]:
        return self.manifest.depends if self.manifest else ()


class PluginHost:
    """Plugins of one process, the hooks to call them, and their persisted state."""

    def __init__(self, db: Database, *, blocked: Iterable[str] = (), state_ttl: float = 1.0):
        self.db = db
        self.state_ttl = state_ttl
        self.blocked = frozenset(blocked)
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.enabled: frozenset[str] = frozenset()
        self.migrator: Migrator | None = None
        self._callers: dict[str, Any] = {}
        self._checked_at = float("-inf")
        self._lock = threading.RLock()
        self._rebuild_callers()

    # -- discovery ---------------------------------------------------------

    def load(self, *, builtin: bool = True, third_party: bool = True) -> None:
        """Discover built-in and entry-point plugins and check them."""
        if builtin:
            self._load_builtins()
        if third_party:
            self._load_entry_points()
        self.check_dependencies()

    def _load_builtins(self) -> None:
        package = importlib.import_module(BUILTIN_PACKAGE)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.ispkg or info.name.startswith("_"):
                continue
            if info.name in self.blocked:
                self.records[info.name] = PluginRecord(info.name, "builtin", blocked=True)
                continue
            self._import_and_add(info.name, "builtin", f"{BUILTIN_PACKAGE}.{info.name}")

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "?"
            source = f"entry point ({dist})"
            if ep.name in self.records and self.records[ep.name].source != source:
                self.records[ep.name].load_error = f"name also used by {source}"
                continue
            if ep.name in self.blocked:
                self.records[ep.name] = PluginRecord(ep.name, source, blocked=True)
                continue
            try:
                module = ep.load()
            except Exception as exc:
                self._fail(ep.name, source, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.add_module(module, source=source, expected_name=ep.name)

    def _import_and_add(self, name: str, source: str, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            self._fail(name, source, f"import failed: {type(exc).__name__}: {exc}")
            return
        self.add_module(module, source=source, expected_name=name)

    def _fail(self, name: str, source: str, reason: str) -> None:
        logger.warning("plugin %s is broken: %s", name, reason)
        self.records[name] = PluginRecord(name, source, load_error=reason)

    def add_module(
        self, module: Any, *, source: str = "test", expected_name: str | None = None
    ) -> PluginRecord:
        """Register one plugin object (a module, or any object with a ``manifest``)."""
        fallback = expected_name or getattr(module, "__name__", "?").rsplit(".", 1)[-1]
        try:
            manifest = Manifest.from_object(
                getattr(module, "manifest", None), expected_name=expected_name
            )
        except PluginBroken as exc:
            self._fail(fallback, source, str(exc))
            return self.records[fallback]
        name = manifest.name
        if name in self.records and self.records[name].module is not None:
            self._fail(name, source, f"a plugin named {name!r} is already installed")
            return self.records[name]
        try:
            self.pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._fail(name, source, f"invalid hook implementation: {exc}")
            return self.records[name]
        unknown = [hc.name for hc in self.pm.get_hookcallers(module) or () if hc.spec is None]
        if unknown:
            self.pm.unregister(module)
            self._fail(name, source, f"unknown hook(s): {', '.join(sorted(unknown))}")
            return self.records[name]
        rec = PluginRecord(name, source, module=module, manifest=manifest)
        rec.migrations = self._migrations_of(module)
        self.records[name] = rec
        self._rebuild_callers()
        return rec

    def import_actors(self) -> None:
        """Import each loadable plugin's ``actors`` module so workers know its actors."""
        for rec in self.records.values():
            package = getattr(rec.module, "__path__", None)
            if not rec.loadable or package is None:
                continue
            module_name = f"{rec.module.__name__}.actors"
            if importlib.util.find_spec(module_name) is None:
                continue
            try:
                importlib.import_module(module_name)
            except Exception as exc:
                rec.load_error = f"actors failed to import: {type(exc).__name__}: {exc}"
                if self.pm.is_registered(rec.module):
                    self.pm.unregister(rec.module)
        self.check_dependencies()

    def remove(self, name: str) -> None:
        """Forget a plugin (tests use this to unregister their fixtures)."""
        rec = self.records.pop(name, None)
        if rec and rec.module is not None and self.pm.is_registered(rec.module):
            self.pm.unregister(rec.module)
        self.enabled = self.enabled - {name}
        self._rebuild_callers()

    def _migrations_of(self, module: Any) -> str | None:
        caller = self.pm.hook.careloop_register_migrations
        for impl in caller.get_hookimpls():
            if impl.plugin is module:
                return impl.function()
        return None

    def check_dependencies(self) -> None:
        """Mark plugins whose dependencies are missing, broken or cyclic as unusable.

        Recomputed from scratch each time, so a dependency that appears later
        (registered after its dependent) makes the dependent usable again.
        """
        for rec in self.records.values():
            rec.dependency_error = None
        changed = True
        while changed:
            changed = False
            for rec in self.records.values():
                if not rec.loadable:
                    continue
                for dep in rec.depends:
                    dep_rec = self.records.get(dep)
                    if dep_rec is None or not dep_rec.loadable:
                        why = "not installed" if dep_rec is None else "unavailable"
                        rec.dependency_error = str(
                            PluginDependencyMissing(f"depends on {dep!r}, {why}")
                        )
                        changed = True
                        break
        for rec in self.records.values():
            if rec.loadable:
                try:
                    self.requirements(rec.name)
                except PluginDependencyCycle as exc:
                    rec.dependency_error = str(exc)
        self._rebuild_callers()

    # -- dependency graph --------------------------------------------------

    def get(self, name: str) -> PluginRecord:
        try:
            return self.records[name]
        except KeyError:
            raise PluginNotFound(f"no plugin named {name!r} is installed") from None

    def requirements(self, name: str) -> list[str]:
        """*name* and everything it depends on, dependencies first."""
        order: list[str] = []
        visiting: list[str] = []

        def visit(current: str) -> None:
            if current in order:
                return
            if current in visiting:
                cycle = " -> ".join([*visiting[visiting.index(current) :], current])
                raise PluginDependencyCycle(f"dependency cycle: {cycle}")
            visiting.append(current)
            for dep in self.get(current).depends:
                visit(dep)
            visiting.pop()
            order.append(current)

        visit(name)
        return order

    def dependents(self, name: str, among: Iterable[str] | None = None) -> list[str]:
        """Plugins (of *among*, default all) that need *name*, directly or not."""
        pool = set(self.records if among is None else among)
        result: list[str] = []
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other in sorted(pool):
                rec = self.records.get(other)
                if rec and current in rec.depends and other not in result:
                    result.append(other)
                    frontier.append(other)
        return result

    # -- persisted state ---------------------------------------------------

    def read_states(self) -> dict[str, bool]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(PluginState.name, PluginState.enabled)).all()
        return {name: bool(enabled) for name, enabled in rows}

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read which plugins are enabled if the last check is older than the TTL.

        :returns: ``True`` when the set of enabled plugins changed.
        """
        now = time.monotonic()
        if not force and now - self._checked_at < self.state_ttl:
            return False
        with self._lock:
            self._checked_at = now
            states = self.read_states()
            enabled = frozenset(
                name
                for name, on in states.items()
                if on and name in self.records and self.records[name].loadable
            )
            if enabled == self.enabled:
                return False
            self.enabled = enabled
            self._rebuild_callers()
            return True

    def ensure_states(self, session: Session, actor: Actor) -> list[str]:
        """Give each new plugin a state row; enable the default-enabled ones.

        :returns: the names of plugins that this call enabled.
        """
        known = set(session.scalars(select(PluginState.name)))
        to_enable: list[str] = []
        for rec in self.records.values():
            if rec.name in known or rec.manifest is None:
                continue
            session.add(PluginState(name=rec.name, enabled=False, version=rec.manifest.version))
            if rec.manifest.default_enabled and rec.loadable:
                to_enable.append(rec.name)
        session.flush()
        enabled: list[str] = []
        for name in to_enable:
            enabled += self._enable_in(session, name, actor)
        return enabled

    def enable(self, name: str, actor: Actor) -> list[str]:
        """Enable *name* after its dependencies; create its tables.

        :returns: every plugin this call enabled, dependencies first.
        """
        with self.db.transaction() as session:
            changed = self._enable_in(session, name, actor)
        self.refresh(force=True)
        self._announce(changed, True, actor)
        return changed

    def _enable_in(self, session: Session, name: str, actor: Actor) -> list[str]:
        rec = self.get(name)
        if rec.blocked:
            raise PluginBlocked(f"plugin {name!r} is blocked by CARELOOP_DISABLED_PLUGINS")
        if not rec.loadable:
            raise PluginBroken(f"plugin {name!r} cannot be enabled: {rec.error}")
        states = {s.name: s for s in session.scalars(select(PluginState))}
        changed: list[str] = []
        for needed in self.requirements(name):
            needed_rec = self.get(needed)
            if not needed_rec.loadable:
                raise PluginDependencyMissing(
                    f"plugin {name!r} needs {needed!r}, which is unavailable: {needed_rec.error}"
                )
            state = states.get(needed)
            if state is not None and state.enabled:
                continue
            if needed_rec.migrations and self.migrator is not None:
                self.migrator(needed, session.connection())
            if state is None:
                state = PluginState(name=needed)
                session.add(state)
                states[needed] = state
            state.enabled = True
            state.version = needed_rec.manifest.version if needed_rec.manifest else ""
            state.changed_at = utcnow()
            state.changed_by = actor.label
            record(session, actor, "plugin.enable", "plugin", needed)
            changed.append(needed)
        session.flush()
        enabled_now = {n for n, s in states.items() if s.enabled}
        for link in self._auto_links(enabled_now):
            changed += self._enable_in(session, link, actor)
        return changed

    def _auto_links(self, enabled: set[str]) -> list[str]:
        return [
            rec.name
            for rec in self.records.values()
            if rec.loadable
            and rec.manifest is not None
            and rec.manifest.auto_install
            and rec.name not in enabled
            and all(dep in enabled for dep in rec.depends)
        ]

    def disable(self, name: str, actor: Actor, *, cascade: bool = False) -> list[str]:
        """Disable *name*; its tables and data stay.

        Refuses with :class:`PluginInUse` while enabled plugins depend on it,
        unless *cascade* (auto-installed link plugins always follow).

        :returns: every plugin this call disabled, dependents first.
        """
        self.get(name)
        with self.db.transaction() as session:
            states = {s.name: s for s in session.scalars(select(PluginState))}
            enabled_now = [n for n, s in states.items() if s.enabled]
            dependents = self.dependents(name, among=enabled_now)
            blocking = [
                d
                for d in dependents
                if not (self.records[d].manifest and self.records[d].manifest.auto_install)
            ]
            if blocking and not cascade:
                raise PluginInUse(
                    f"plugin {name!r} is needed by enabled plugin(s) {', '.join(blocking)}; "
                    "disable them first or ask for a cascade"
                )
            changed: list[str] = []
            for target in [*reversed(dependents), name]:
                state = states.get(target)
                if state is None or not state.enabled:
                    continue
                state.enabled = False
                state.changed_at = utcnow()
                state.changed_by = actor.label
                record(session, actor, "plugin.disable", "plugin", target)
                changed.append(target)
        self.refresh(force=True)
        self._announce(changed, False, actor)
        return changed

    def _announce(self, names: list[str], enabled: bool, actor: Actor) -> None:
        for name in names:
            self.dispatch(
                "careloop_on_plugin_state_changed",
                {"name": name, "enabled": enabled, "actor": actor},
            )

    # -- calling hooks -----------------------------------------------------

    def _rebuild_callers(self) -> None:
        disabled = [
            rec.module
            for rec in self.records.values()
            if rec.module is not None
            and rec.name not in self.enabled
            and self.pm.is_registered(rec.module)
        ]
        self._callers = {
            name: self.pm.subset_hook_caller(name, disabled)
            for name in dir(self.pm.hook)
            if name.startswith(hookspecs.PROJECT_NAME + "_")
        }

    def caller(self, hook_name: str) -> Any:
        """The hook caller for *hook_name* that reaches enabled plugins only."""
        self.refresh()
        return self._callers[hook_name]

    def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a ``careloop_register_*`` hook and flatten the lists it returns."""
        return _flatten(self.caller(hook_name)(**kwargs))

    def collect_isolated(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """:meth:`collect` for hooks read again and again at run time (periodic tasks).

        A plugin whose implementation raises is logged (by exception type) and
        left out; the other plugins' results still come back.
        """
        answers: list[Any] = []
        for impl in reversed(self.caller(hook_name).get_hookimpls()):
            try:
                answers.append(impl.function(*[kwargs[arg] for arg in impl.argnames]))
            except Exception as exc:
                logger.error(
                    "plugin %s failed in %s: %s", impl.plugin_name, hook_name, type(exc).__name__
                )
        return _flatten(answers)

    def dispatch(self, hook_name: str, kwargs: dict[str, Any]) -> None:
        """Call an event hook on every enabled plugin; one failing does not stop the rest."""
        for impl in reversed(self.caller(hook_name).get_hookimpls()):
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                # exception text may hold patient data: log its type only
                logger.error(
                    "plugin %s failed in %s: %s", impl.plugin_name, hook_name, type(exc).__name__
                )
                logger.debug("plugin failure detail", exc_info=True)

    def status(self) -> list[PluginRecord]:
        """Every installed plugin, sorted by name."""
        return [self.records[name] for name in sorted(self.records)]


def _flatten(answers: list[Any]) -> list[Any]:
    """One list of the items several plugins answered (each a list, an item or ``None``)."""
    results: list[Any] = []
    for item in answers:
        if item is None:
            continue
        if isinstance(item, list | tuple):
            results.extend(item)
        else:
            results.append(item)
    return results
