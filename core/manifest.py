"""Plugin manifests: what a plugin declares about itself, Odoo-style."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import PluginBroken

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


@dataclass(frozen=True)
class Manifest:
    """A plugin's identity and its place among the others.

    :param name: unique lower-case name (``whatsapp``, ``followup``).
    :param version: the plugin's own version string.
    :param summary: one line for the plugin management page.
    :param depends: names of plugins that must be enabled first.
    :param default_enabled: enabled by ``careloop init`` on a new database.
    :param auto_install: a link plugin (e.g. ``followup_whatsapp``) enabled
        automatically once every plugin in ``depends`` is enabled.
    """

    name: str
    version: str
    summary: str = ""
    depends: tuple[str, ...] = ()
    default_enabled: bool = False
    auto_install: bool = False

    @classmethod
    def from_object(cls, value: Any, *, expected_name: str | None = None) -> Manifest:
        """Validate a module's ``manifest`` (a :class:`Manifest` or a dict)."""
        if isinstance(value, cls):
            manifest = value
        elif isinstance(value, dict):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise PluginBroken(f"manifest has unknown keys: {', '.join(sorted(unknown))}")
            try:
                manifest = cls(**{**value, "depends": tuple(value.get("depends", ()))})
            except TypeError as exc:
                raise PluginBroken(f"manifest is incomplete: {exc}") from None
        else:
            raise PluginBroken("module has no `manifest` (a core.Manifest or a dict)")
        manifest.check()
        if expected_name and manifest.name != expected_name:
            raise PluginBroken(
                f"manifest name {manifest.name!r} differs from its registration {expected_name!r}"
            )
        return manifest

    def check(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise PluginBroken(f"manifest name {self.name!r} must match {_NAME.pattern}")
        if not isinstance(self.version, str) or not self.version.strip():
            raise PluginBroken("manifest version is missing")
        if isinstance(self.depends, str) or not all(isinstance(d, str) for d in self.depends):
            raise PluginBroken("manifest depends must be a list of plugin names")
        if self.name in self.depends:
            raise PluginBroken("a plugin cannot depend on itself")
