"""Translations and locale-aware formatting, usable without Flask.

One gettext domain (``messages``) covers core, plugins and the back office;
catalogues live in ``core/translations/<locale>/LC_MESSAGES``.  Code marks
strings with :func:`gettext` / :func:`ngettext` (``_`` / ``_n``) or, for
strings defined at import time, :func:`lazy_gettext`.  The active locale is
a context variable: the web sets it per request, workers per patient.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babel import Locale
from babel.support import LazyProxy, NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
#: The six languages CareLoop ships (BCP 47 base tags).
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "id", "zh", "ru", "uk", "ko")
DEFAULT_LOCALE = "en"

_current_locale: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "careloop_locale", default=None
)


def negotiate(preferred: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale closest to *preferred* (``zh-Hans-CN`` -> ``zh``)."""
    if preferred:
        base = preferred.replace("_", "-").split("-")[0].lower()
        if base in SUPPORTED_LOCALES:
            return base
    return default if default in SUPPORTED_LOCALES else DEFAULT_LOCALE


def current_locale() -> str:
    """The locale of the current request, job or ``with locale(...)`` block."""
    return _current_locale.get() or DEFAULT_LOCALE


@contextmanager
def use_locale(locale: str | None) -> Iterator[str]:
    """Run a block in *locale* (negotiated to a supported one)."""
    chosen = negotiate(locale)
    token = _current_locale.set(chosen)
    try:
        yield chosen
    finally:
        _current_locale.reset(token)


def set_locale(locale: str | None) -> str:
    """Set the locale for the rest of this context (a web request, a job)."""
    chosen = negotiate(locale)
    _current_locale.set(chosen)
    return chosen


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue for *locale* (an empty one when none is compiled)."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)


def gettext(message: str, **variables: Any) -> str:
    """Translate *message* into the current locale and fill ``%(name)s`` placeholders."""
    text = translations(current_locale()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Translate with the plural form the current locale needs for *num*."""
    variables.setdefault("num", num)
    text = translations(current_locale()).ungettext(singular, plural, num)
    return text % variables


def lazy_gettext(message: str, **variables: Any) -> LazyProxy:
    """A string translated when it is used, in the locale active then."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


def babel_locale(locale: str | None = None) -> Locale:
    """A :class:`babel.Locale` for formatting dates, numbers and money."""
    return Locale.parse(locale or current_locale())


_ = gettext
_n = ngettext
