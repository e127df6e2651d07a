"""Plugin management (admins only): state, manifest, dependencies, enable/disable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.form import SecureForm
from wtforms import HiddenField

from admin.views.base import CareLoopView, Perm, current_actor, get_runtime
from core.errors import PluginError, PluginInUse
from core.i18n import gettext as _


class PluginActionForm(SecureForm):
    """Enable or disable one plugin; ``cascade=yes`` confirms disabling dependents too."""

    cascade = HiddenField(default="")


@dataclass
class PluginRow:
    """What the page shows for one installed plugin."""

    name: str
    source: str
    version: str
    summary: str
    depends: tuple[str, ...]
    enabled: bool
    error: str | None
    blocked: bool
    auto_install: bool
    dependents: list[str] = field(default_factory=list)
    enabled_dependents: list[str] = field(default_factory=list)
    would_enable: list[str] = field(default_factory=list)


def plugin_rows() -> list[PluginRow]:
    """Every installed plugin with its dependency consequences."""
    host = get_runtime().plugins
    host.refresh(force=True)
    enabled = host.enabled
    rows = []
    for rec in host.status():
        manifest = rec.manifest
        row = PluginRow(
            name=rec.name,
            source=rec.source,
            version=manifest.version if manifest else "",
            summary=manifest.summary if manifest else "",
            depends=rec.depends,
            enabled=rec.name in enabled,
            error=rec.error,
            blocked=rec.blocked,
            auto_install=bool(manifest and manifest.auto_install),
        )
        row.dependents = host.dependents(rec.name)
        row.enabled_dependents = [d for d in row.dependents if d in enabled]
        if rec.loadable and not row.enabled:
            try:
                row.would_enable = [n for n in host.requirements(rec.name) if n not in enabled]
            except PluginError:
                row.would_enable = []
        rows.append(row)
    return rows


class PluginsView(CareLoopView):
    """``/admin/plugins``: what is installed, what depends on what, and the switches."""

    permission = Perm.PLUGINS

    @expose("/")
    def index(self) -> Any:
        return self.render("careloop/plugins.html", rows=plugin_rows(), form=PluginActionForm())

    def _form(self) -> PluginActionForm:
        form = PluginActionForm(request.form)
        if not form.validate():
            abort(400)
        return form

    @expose("/<plugin_name>/enable", methods=("POST",))
    def enable(self, plugin_name: str) -> Any:
        name = plugin_name
        self._form()
        try:
            changed = get_runtime().plugins.enable(name, current_actor())
        except PluginError as exc:
            flash(str(exc), "error")
        else:
            if changed:
                flash(_("Enabled: %(names)s", names=", ".join(changed)), "success")
            else:
                flash(_("%(name)s was already enabled.", name=name), "info")
        return redirect(url_for(".index"))

    @expose("/<plugin_name>/disable", methods=("POST",))
    def disable(self, plugin_name: str) -> Any:
        name = plugin_name
        form = self._form()
        host = get_runtime().plugins
        cascade = form.cascade.data == "yes"
        try:
            changed = host.disable(name, current_actor(), cascade=cascade)
        except PluginInUse:
            row = next((r for r in plugin_rows() if r.name == name), None)
            if row is None:
                abort(404)
            return self.render(
                "careloop/plugin_disable_confirm.html",
                row=row,
                form=PluginActionForm(data={"cascade": "yes"}),
            )
        except PluginError as exc:
            flash(str(exc), "error")
        else:
            flash(
                _("Disabled: %(names)s (their data is kept).", names=", ".join(changed) or name),
                "success",
            )
        return redirect(url_for(".index"))
