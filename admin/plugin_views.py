"""Views and blueprints that plugins contribute, switched off with their plugin.

Every *loadable* plugin's views and blueprints are registered at start-up,
so enabling a plugin later needs no restart; a ``before_request`` guard keyed
by the owning plugin answers 404 while that plugin is disabled, so disabling
one stops its pages at once in every process (the state is re-read per
request, within ``CARELOOP_PLUGIN_STATE_TTL``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, abort, request
from flask_admin import Admin

from core.runtime import CareLoop

logger = logging.getLogger(__name__)

#: key in ``app.extensions``: blueprint (or Flask-Admin view endpoint) -> plugin name
OWNERS_KEY = "careloop.plugin_owners"


def _call_each(runtime: CareLoop, hook_name: str, **kwargs: Any) -> list[tuple[str, list[Any]]]:
    """Call *hook_name* on every loadable plugin (enabled or not): ``[(plugin, items)]``."""
    results: list[tuple[str, list[Any]]] = []
    hook = getattr(runtime.plugins.pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        try:
            value = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as exc:
            logger.error(
                "plugin %s failed in %s: %s", impl.plugin_name, hook_name, type(exc).__name__
            )
            continue
        if value is None:
            continue
        items = list(value) if isinstance(value, list | tuple) else [value]
        results.append((impl.plugin_name, items))
    return results


def register_plugin_contributions(app: Flask, admin: Admin, db: Any, runtime: CareLoop) -> None:
    """Add every plugin's admin views and blueprints, and the guard that hides disabled ones."""
    owners: dict[str, str] = app.extensions.setdefault(OWNERS_KEY, {})
    for plugin, views in _call_each(runtime, "careloop_register_admin_views", admin=admin, db=db):
        for view in views:
            view.plugin = plugin
            if view not in admin._views:
                admin.add_view(view)
            owners[view.endpoint] = plugin
    for plugin, blueprints in _call_each(runtime, "careloop_register_blueprints"):
        for blueprint in blueprints:
            if blueprint.name in app.blueprints:
                logger.error("plugin %s: blueprint name %s is taken", plugin, blueprint.name)
                continue
            app.register_blueprint(blueprint)
            owners[blueprint.name] = plugin

    @app.before_request
    def plugin_guard() -> None:
        for name in request.blueprints:
            owner = owners.get(name)
            if owner is None:
                continue
            runtime.plugins.refresh()
            if owner not in runtime.plugins.enabled:
                abort(404)
