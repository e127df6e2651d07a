"""Languages in the web app: Flask-Babel, locale and time-zone choice, Jinja helpers.

:func:`init_app` is called by :func:`admin.app.create_app`.  The locale of a
request is, first match wins:

1. ``?lang=xx`` on this request (the language switcher; remembered in the session),
2. the signed-in staff member's ``StaffUser.locale``,
3. the language remembered from an earlier switcher click,
4. the page's patient language, set by a public view with :func:`use_patient_locale`,
5. the browser's ``Accept-Language``, negotiated to the six shipped languages,
6. the clinic default (``CARELOOP_DEFAULT_LOCALE``).

The time zone is the page's patient's (:func:`use_patient_locale`), else the
clinic's (``CARELOOP_TIMEZONE``).  The chosen locale is also set as
:mod:`core.i18n`'s context locale for the request, so ``core.i18n.gettext``
in services and views translates the same way as ``{{ _('...') }}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import flask_babel
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel

from core import formatting, i18n

SESSION_KEY = "careloop_lang"
QUERY_ARG = "lang"


def _config() -> Any:
    runtime = current_app.extensions.get("careloop")
    return getattr(runtime, "config", None)


def _staff_locale() -> str | None:
    try:
        from flask_login import current_user
    except ImportError:  # pragma: no cover - Flask-Login is a dependency
        return None
    if not hasattr(current_app, "login_manager"):
        return None
    user = current_user._get_current_object()  # one look-up through the proxy
    if user is not None and getattr(user, "is_authenticated", False):
        return getattr(user, "locale", None) or None
    return None


def _supported(code: str | None) -> str | None:
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in i18n.SUPPORTED_LOCALES else None


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    config = _config()
    default = getattr(config, "default_locale", i18n.DEFAULT_LOCALE)
    if not has_request_context():
        return i18n.negotiate(default)
    explicit = _supported(request.args.get(QUERY_ARG))
    if explicit:
        return explicit
    for candidate in (
        _staff_locale(),
        session.get(SESSION_KEY),
        g.get("careloop_patient_locale"),
    ):
        chosen = _supported(candidate)
        if chosen:
            return chosen
    header = request.headers.get("Accept-Language")
    if header:
        return i18n.negotiate_accept_language(header, default)
    return i18n.negotiate(default)


def select_timezone() -> str:
    """Flask-Babel's time-zone selector: the page's patient's zone, else the clinic's."""
    zone = g.get("careloop_patient_timezone") if has_request_context() else None
    if zone:
        try:
            ZoneInfo(zone)
            return zone
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a bad zone on a patient record must not break the page
    return getattr(_config(), "timezone", None) or "UTC"


def use_patient_locale(locale: str | None, time_zone: str | None = None) -> str:
    """For a public page about one patient: use their language and zone (unless the
    visitor picked another language).  Returns the locale now in force."""
    g.careloop_patient_locale = locale
    g.careloop_patient_timezone = time_zone
    flask_babel.refresh()
    chosen = select_locale()
    if "careloop_locale_token" in g:
        i18n.set_locale(chosen)  # undone with the request's own token at teardown
    else:  # a request context without our before-request hook (tests, CLI)
        g.careloop_locale_token = i18n.set_locale_token(chosen)
    return chosen


def current_timezone() -> str:
    """The zone times are shown in for this request."""
    return str(flask_babel.get_timezone() or "UTC")


def _remember_switch() -> None:
    explicit = _supported(request.args.get(QUERY_ARG))
    if explicit and session.get(SESSION_KEY) != explicit:
        session[SESSION_KEY] = explicit


def _set_core_locale() -> None:
    _remember_switch()
    g.careloop_locale_token = i18n.set_locale_token(str(flask_babel.get_locale()))


def _reset_core_locale(_exc: BaseException | None = None) -> None:
    token = g.pop("careloop_locale_token", None)
    if token is not None:
        try:
            i18n.reset_locale(token)
        except ValueError:  # set in another context (streamed response): let it be
            pass


# --------------------------------------------------------------------------- Jinja


def _localdatetime(value: dt.datetime | None, format: str = "medium") -> str:
    return formatting.format_datetime(value, format, tz=current_timezone())


def localdatetime_formatter(format: str = "medium") -> Any:
    """The ``localdatetime`` filter for this request as one function (zone and locale's
    patterns looked up once): for a page that shows many times."""
    return formatting.datetime_formatter(format, tz=current_timezone())


def request_datetime_formatter() -> Any:
    """:func:`localdatetime_formatter` (``medium``) built once a request and reused.

    Back-office lists call it for every datetime cell (Flask-Admin's type formatters,
    :mod:`admin.views.base`); it is rebuilt only when the request's locale or zone
    changes (e.g. :func:`use_patient_locale`), so a cell costs a look-up, not a build.
    """
    key = (i18n.current_locale(), current_timezone())
    cached = g.get("careloop_datetime_formatter")
    if cached is None or cached[0] != key:
        cached = (key, localdatetime_formatter())
        g.careloop_datetime_formatter = cached
    return cached[1]


def _localdate(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    return formatting.format_date(value, format, tz=current_timezone())


def _localtime(value: dt.datetime | dt.time | None, format: str = "short") -> str:
    return formatting.format_time(value, format, tz=current_timezone())


def _money(amount: Any, currency: str | None = None) -> str:
    return formatting.format_currency(amount, currency, config=_config())


def _language_links() -> list[dict[str, Any]]:
    """One entry per language for a switcher: code, native name, URL, active flag."""
    current = i18n.current_locale()
    links = []
    for code in i18n.SUPPORTED_LOCALES:
        args = request.args.to_dict(flat=False)
        args[QUERY_ARG] = [code]
        links.append(
            {
                "code": code,
                "name": i18n.LANGUAGE_NAMES[code],
                "url": f"{request.path}?{urlencode(args, doseq=True)}",
                "active": code == current,
            }
        )
    return links


def _context() -> dict[str, Any]:
    locale = i18n.current_locale()
    return {
        "current_locale": locale,
        "current_timezone": current_timezone(),
        "text_direction": "ltr",
        "language_name": i18n.LANGUAGE_NAMES.get(locale, locale),
    }


def _install_jinja(app: Flask) -> None:
    """Same catalogue as :mod:`core.i18n` (works outside requests too), format filters."""
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")

    def _gettext(message: str) -> str:
        return i18n.translations(i18n.current_locale()).ugettext(message)

    def _ngettext(singular: str, plural: str, num: int) -> str:
        return i18n.translations(i18n.current_locale()).ungettext(singular, plural, num)

    def _pgettext(context: str, message: str) -> str:
        return i18n.translations(i18n.current_locale()).upgettext(context, message)

    def _npgettext(context: str, singular: str, plural: str, num: int) -> str:
        return i18n.translations(i18n.current_locale()).unpgettext(context, singular, plural, num)

    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=True,
    )
    env.filters.update(
        localdatetime=_localdatetime,
        localdate=_localdate,
        localtime=_localtime,
        money=_money,
        number=lambda value: formatting.format_number(value),
        percent=lambda value: formatting.format_percent(value),
        personname=lambda given, family="": formatting.format_person_name(given, family),
        timedelta=lambda value, **kw: formatting.format_timedelta(value, **kw),
    )
    # globals (not context): imported macros such as the language switcher see them
    env.globals.update(
        format_person_name=formatting.format_person_name,
        careloop_languages=_language_links,
    )


def _translate_admin_menus(app: Flask) -> None:
    """Menu and view names given as plain strings (translated once, at start-up, in
    English) become lazy strings translated per request in the viewer's language."""
    for admin in app.extensions.get("admin", None) or []:
        for view in getattr(admin, "_views", []):
            if isinstance(getattr(view, "name", None), str):
                view.name = i18n.lazy_gettext(view.name)
        stack = list(getattr(admin, "_menu", []))
        while stack:
            item = stack.pop()
            if isinstance(getattr(item, "name", None), str):
                item.name = i18n.lazy_gettext(item.name)
            stack.extend(getattr(item, "_children", []))


def init_app(app: Flask) -> Babel:
    """Attach Flask-Babel and CareLoop's language handling to *app*."""
    config = app.extensions.get("careloop")
    config = getattr(config, "config", None)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = i18n.catalogue_dir()
    app.config["BABEL_DOMAIN"] = i18n.DOMAIN
    app.config.setdefault(
        "BABEL_DEFAULT_LOCALE", i18n.negotiate(getattr(config, "default_locale", None))
    )
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", getattr(config, "timezone", "UTC") or "UTC")
    babel = Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    _install_jinja(app)
    # first, so views and other before-request hooks already see the right locale
    app.before_request_funcs.setdefault(None, []).insert(0, _set_core_locale)
    app.teardown_request(_reset_core_locale)
    app.context_processor(_context)
    _translate_admin_menus(app)
    return babel
