"""The one exception family of CareLoop's core.

Every error a service raises on purpose is a :class:`CareLoopError`; callers
(CLI, web, workers) catch the base class and show ``str(error)`` to people.
"""

from __future__ import annotations


class CareLoopError(Exception):
    """Base class of every error CareLoop raises on purpose."""


class ConfigurationError(CareLoopError):
    """A setting is missing or has a value CareLoop cannot use."""


class ValidationError(CareLoopError):
    """Input was rejected; the message names the field and the value."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidPhoneNumber(ValidationError):
    """A phone number could not be parsed or is not a possible number."""


class InvalidEmail(ValidationError):
    """An e-mail address is not well formed."""


class NotFound(CareLoopError):
    """The record asked for does not exist."""


class PatientNotFound(NotFound):
    """No patient has that id."""


class DuplicateRecord(CareLoopError):
    """A unique identifier (MRN, external id, username) is already taken."""


class MergeError(CareLoopError):
    """Two patients cannot be merged (same record, archived, already merged)."""


class InvalidTransition(CareLoopError):
    """A status change is not allowed from the current status."""


class PluginError(CareLoopError):
    """Base class of plugin-manager errors."""


class PluginNotFound(PluginError):
    """No plugin of that name is installed."""


class PluginBroken(PluginError):
    """The plugin cannot load (import error, bad manifest, misspelt hook...)."""


class PluginDependencyMissing(PluginError):
    """A plugin depends on a plugin that is not installed or is broken."""


class PluginDependencyCycle(PluginError):
    """Plugins depend on each other in a cycle."""


class PluginInUse(PluginError):
    """A plugin cannot be disabled while enabled plugins depend on it."""


class PluginBlocked(PluginError):
    """The operator blocked this plugin with ``CARELOOP_DISABLED_PLUGINS``."""


class ImportFileError(CareLoopError):
    """An import file cannot be read at all (missing, not UTF-8, no header)."""
