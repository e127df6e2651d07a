"""Translations and locale-aware formatting, usable without Flask.

One gettext domain (``messages``) covers core, plugins and the back office;
catalogues live in ``core/translations/<locale>/LC_MESSAGES``.  Code marks
strings with :func:`gettext` / :func:`ngettext` (``_`` / ``_n``) or, for
strings defined at import time, :func:`lazy_gettext`.  The active locale is
a context variable: the web sets it per request, workers per patient.

Compiled catalogues (``.mo``) are built by ``setup.py`` (``build_py``) for
wheels and sdists.  A plain checkout or an editable install has only the
``.po`` sources, so :func:`catalogue_dir` compiles any missing or stale
``.mo`` on first use: next to the ``.po`` when the package directory is
writable, else into a per-user cache directory.  Compiling to real ``.mo``
files (rather than reading ``.po`` into memory) keeps one format for every
reader: this module and Flask-Babel both load them with
:meth:`babel.support.Translations.load`.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
#: The six languages CareLoop ships (BCP 47 base tags).
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "id", "zh", "ru", "uk", "ko")
DEFAULT_LOCALE = "en"
#: Each language's name in itself, for language switchers.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "id": "Bahasa Indonesia",
    "zh": "简体中文",
    "ru": "Русский",
    "uk": "Українська",
    "ko": "한국어",
}

log = logging.getLogger(__name__)

_current_locale: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "careloop_locale", default=None
)
_compile_lock = threading.Lock()


def negotiate(preferred: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale closest to *preferred* (``zh-Hans-CN`` -> ``zh``)."""
    if preferred:
        base = preferred.replace("_", "-").split("-")[0].lower()
        if base in SUPPORTED_LOCALES:
            return base
    return default if default in SUPPORTED_LOCALES else DEFAULT_LOCALE


def negotiate_accept_language(header: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best supported locale for an HTTP ``Accept-Language`` header value."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    for _quality, _index, tag in sorted(ranked):
        base = tag.replace("_", "-").split("-")[0].lower()
        if base in SUPPORTED_LOCALES:
            return base
    return negotiate(default)


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


def set_locale_token(locale: str | None) -> contextvars.Token[str | None]:
    """Like :func:`set_locale` but return the token to undo it (per web request)."""
    return _current_locale.set(negotiate(locale))


def reset_locale(token: contextvars.Token[str | None]) -> None:
    """Undo a :func:`set_locale_token`."""
    _current_locale.reset(token)


# --------------------------------------------------------------------------- catalogues


def po_path(locale: str, source_dir: Path | None = None) -> Path:
    """Where the ``.po`` source of *locale* lives."""
    return (source_dir or TRANSLATIONS_DIR) / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(po_file: Path, mo_file: Path) -> None:
    """Compile one ``.po`` file to ``.mo`` (fuzzy entries left out), atomically."""
    with po_file.open("rb") as fp:
        catalog = read_po(fp, locale=po_file.parent.parent.name, domain=DOMAIN)
    mo_file.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=mo_file.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(tmp_name, mo_file)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def compile_all(source_dir: Path = TRANSLATIONS_DIR, target_dir: Path | None = None) -> list[Path]:
    """Compile every locale's ``.po`` under *source_dir* whose ``.mo`` is missing or stale."""
    written = []
    for po_file in sorted(source_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        relative = po_file.relative_to(source_dir).with_suffix(".mo")
        mo_file = (target_dir or source_dir) / relative
        if not mo_file.exists() or mo_file.stat().st_mtime < po_file.stat().st_mtime:
            compile_catalogue(po_file, mo_file)
            written.append(mo_file)
    return written


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "careloop" / "translations"


@functools.cache
def catalogue_dir() -> str:
    """The directory holding compiled catalogues, compiling missing or stale ones first."""
    with _compile_lock:
        try:
            compile_all()
            return str(TRANSLATIONS_DIR)
        except OSError:
            fallback = _cache_dir()
            log.info("translations directory not writable; compiling into the cache")
            compile_all(TRANSLATIONS_DIR, fallback)
            return str(fallback)


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue for *locale* (an empty one when none exists)."""
    return Translations.load(catalogue_dir(), [locale], DOMAIN)


def reload_catalogues() -> None:
    """Forget loaded catalogues (after ``careloop i18n compile`` in a long-lived process)."""
    translations.cache_clear()
    catalogue_dir.cache_clear()


def available_locales() -> list[str]:
    """Supported locales, in the order CareLoop lists them."""
    return list(SUPPORTED_LOCALES)


# --------------------------------------------------------------------------- gettext


def gettext(message: str, **variables: Any) -> str:
    """Translate *message* into the current locale and fill ``%(name)s`` placeholders."""
    text = translations(current_locale()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Translate with the plural form the current locale needs for *num*."""
    variables.setdefault("num", num)
    text = translations(current_locale()).ungettext(singular, plural, num)
    return text % variables


def pgettext(context: str, message: str, **variables: Any) -> str:
    """Translate *message* in a disambiguating *context* (``msgctxt``)."""
    text = translations(current_locale()).upgettext(context, message)
    return text % variables if variables else text


def lazy_gettext(message: str, **variables: Any) -> LazyProxy:
    """A string translated when it is used, in the locale active then."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: Any) -> LazyProxy:
    """A plural string translated when it is used."""
    return LazyProxy(ngettext, singular, plural, num, enable_cache=False, **variables)


def gettext_in(locale: str | None, message: str, **variables: Any) -> str:
    """Translate *message* into *locale* regardless of the current one."""
    with use_locale(locale):
        return gettext(message, **variables)


def babel_locale(locale: str | None = None) -> Locale:
    """A :class:`babel.Locale` for formatting dates, numbers and money."""
    return Locale.parse(locale or current_locale())


_ = gettext
_n = ngettext
