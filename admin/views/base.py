"""The access-checking base views every back-office screen (core or plugin) uses.

A view names the :class:`~admin.roles.Perm` it needs in ``permission``; the
role matrix in :mod:`admin.roles` decides.  Anonymous visitors are sent to the
login page; signed-in staff without the permission get a bare 403 (no
patient data).  A view contributed by a plugin carries ``plugin`` (set by the
app when it collects plugin views) and stops answering when that plugin is
disabled.

Plugin authors::

    from admin.views.base import CareLoopModelView, Perm

    class OutboxView(CareLoopModelView):
        permission = Perm.MESSAGING
        can_create = can_edit = can_delete = False
        column_list = ("created_at", "channel", "status")

Every datetime cell of a list, a details page or an export goes through the type
formatters set here (stored in UTC, shown in the request's zone and locale: see
:class:`CareLoopModelView`); a view needs no per-column formatter for times.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import tools as sqla_tools
from flask_admin.form import SecureForm
from flask_admin.model import typefmt
from flask_login import current_user
from sqlalchemy.orm import Session

from admin.export import iso_datetime
from admin.i18n import current_timezone, request_datetime_formatter
from admin.roles import Perm, allowed
from admin.views.time_filters import ZonedFilterConverter, zoned_filter
from core.audit import Actor, record
from core.runtime import CareLoop

__all__ = [
    "CareLoopModelView",
    "CareLoopView",
    "Perm",
    "can",
    "csrf_token",
    "current_actor",
    "current_role",
    "db_session",
    "get_runtime",
    "record_url",
    "record_url_prefix",
    "require",
]

F = TypeVar("F", bound=Callable[..., Any])


def get_runtime() -> CareLoop:
    """The :class:`core.runtime.CareLoop` of the current app."""
    return current_app.extensions["careloop"]


def db_session() -> Session:
    """This request's session (Flask-SQLAlchemy-Lite, closed when the request ends).

    It carries the runtime's configuration and fires hooks after commit, like
    ``runtime.session()``; one per request saves a pool checkout (and its ping).
    """
    return current_app.extensions["sqlalchemy"].session


def current_role() -> str | None:
    """The signed-in staff member's role, or ``None`` for anonymous visitors."""
    user = current_user._get_current_object()  # one look-up through the proxy, not three
    if user is None or not user.is_authenticated:
        return None
    return user.role


def can(perm: Perm | str) -> bool:
    """True when the signed-in staff member may use *perm* (usable in templates)."""
    return allowed(current_role(), perm)


def client_ip() -> str | None:
    """The address the request came from (the WSGI server's view; use ProxyFix behind a proxy)."""
    return request.remote_addr


def record_url_prefix() -> str:
    """The 360° page URLs' common start (``/admin/patient/``); ``url_for`` once a request."""
    prefix = g.get("careloop_record_prefix")
    if prefix is None:
        prefix = url_for("patient.record", patient_id=0)[:-1]
        g.careloop_record_prefix = prefix
    return prefix


def record_url(patient_id: int) -> str:
    """URL of a patient's 360° page; ``url_for`` once per request, not once per list row."""
    return f"{record_url_prefix()}{int(patient_id)}"


def csrf_token() -> str:
    """The session CSRF token for hand-written forms (``{{ csrf_token() }}``).

    Computed once a request (a form per page asks again): remembered with the session's
    CSRF secret, so a request that starts a new session (sign-in) gets a fresh token.
    """
    secret = session.get("csrf")
    found = g.get("careloop_csrf_token")
    if found is not None and secret is not None and found[0] == secret:
        return found[1]
    token = SecureForm().csrf_token.current_token
    g.careloop_csrf_token = (session.get("csrf"), token)
    return token


def current_actor() -> Actor:
    """The audit :class:`~core.audit.Actor` for the signed-in staff member and address."""
    user = current_user._get_current_object()  # one look-up through the proxy, not four
    if user and user.is_authenticated:
        return Actor(
            label=f"staff:{user.username}",
            staff_user_id=user.staff_id,
            ip_address=client_ip(),
        )
    return Actor(label="web:anonymous", ip_address=client_ip())


def deny() -> Any:
    """Anonymous: to the login page (same-site ``next``); signed in: a bare 403."""
    if current_role() is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    abort(403)


def require(perm: Perm | str) -> Callable[[F], F]:
    """Decorate a plain Flask view so only roles with *perm* reach it."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not can(perm):
                return deny()
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def plugin_enabled(name: str | None) -> bool:
    """True for core views, and for plugin views while their plugin is enabled."""
    if name is None:
        return True
    runtime = get_runtime()
    runtime.plugins.refresh()
    return name in runtime.plugins.enabled


class _AccessMixin:
    """``is_accessible`` from the role matrix and the owning plugin's state."""

    #: what the view needs; ``None`` means admins only
    permission: Perm | str | None = None
    #: the plugin that contributed this view (set by the app), ``None`` for core
    plugin: str | None = None

    def is_accessible(self) -> bool:
        if not plugin_enabled(self.plugin):
            return False
        if self.permission is None:
            return current_role() == "admin"
        return can(self.permission)

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if not plugin_enabled(self.plugin):
            abort(404)
        return deny()


def local_datetime_cell(view: Any, value: dt.datetime, name: str) -> str:
    """A list or details cell: the UTC time in the request's zone and locale (Babel)."""
    return request_datetime_formatter()(value)


def export_datetime_cell(view: Any, value: dt.datetime, name: str) -> str:
    """An export cell: ISO 8601 with the offset (see :mod:`admin.export`)."""
    return iso_datetime(value, current_timezone())


#: Flask-Admin's defaults plus times (``datetime`` before any ``date`` entry: a subclass)
LIST_TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, dt.datetime: local_datetime_cell}
DETAIL_TYPE_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, dt.datetime: local_datetime_cell}
EXPORT_TYPE_FORMATTERS = {**typefmt.EXPORT_FORMATTERS, dt.datetime: export_datetime_cell}


class CareLoopView(_AccessMixin, BaseView):
    """A custom back-office page; set ``permission`` and expose routes."""


class CareLoopModelView(_AccessMixin, ModelView):
    """A Flask-Admin model view with CSRF, role checks and safe defaults.

    Turn CSV export on with ``allow_export = True``; it also needs
    ``export_permission`` and every cell is formula-neutralised.  Deletes and
    details are off unless a subclass turns them on.  List columns never
    include secrets: name the columns you show in ``column_list``.

    Times are stored in UTC: every ``datetime`` cell of a list or details page is shown
    in the request's zone (the clinic's) and the viewer's locale, and exported as
    ISO 8601 with its offset, through the type formatters below (a subclass that sets
    its own should start from ``LIST_TYPE_FORMATTERS`` and the others).  A time typed
    into a list's datetime filter is read in the same zone (:meth:`get_filters`).  A sortable
    column may sort on another attribute of the model: ``("display_name", "sort_name")``
    in ``column_sortable_list`` sorts the ``display_name`` column by ``sort_name``.
    """

    form_base_class = SecureForm
    list_template = "careloop/model_list.html"
    #: offer CSV export (to roles with ``export_permission``)
    allow_export: bool = False
    #: permission also needed for CSV export
    export_permission: Perm | str | None = Perm.PATIENT_EXPORT
    can_delete = False
    can_view_details = False
    page_size = 50
    simple_list_pager = True
    column_type_formatters = LIST_TYPE_FORMATTERS
    column_type_formatters_detail = DETAIL_TYPE_FORMATTERS
    column_type_formatters_export = EXPORT_TYPE_FORMATTERS
    #: a filter named by a UTC time column reads typed times in the request's zone
    filter_converter = ZonedFilterConverter()

    def get_filters(self) -> list[Any] | None:
        """Flask-Admin's, each time filter reading what is typed in the request's zone.

        Filters written out in ``column_filters`` (``DateTimeGreaterFilter(...)``) as well
        as those derived from column names: see :mod:`admin.views.time_filters`.
        """
        filters = super().get_filters()
        return None if filters is None else [zoned_filter(flt) for flt in filters]

    def get_sortable_columns(self) -> dict[Any, Any]:
        """Flask-Admin's, keyed by the shown column's name for ``(name, attribute)`` entries.

        Flask-Admin files ``("display_name", "sort_name")`` under ``sort_name`` (the
        attribute's key) when the attribute is on the view's own model, so the
        ``display_name`` header had no sort link and ``?sort=<its index>`` was ignored.
        """
        result = super().get_sortable_columns()
        plain = {c for c in self.column_sortable_list or () if isinstance(c, str)}
        for entry in self.column_sortable_list or ():
            if not isinstance(entry, tuple) or not isinstance(entry[1], str):
                continue
            name, attribute = entry
            column, path = sqla_tools.get_field_with_path(self.model, attribute)
            key = getattr(column, "key", None)
            if path or key is None or key == name or key not in result:
                continue
            result[name] = result[key] if key in plain else result.pop(key)
        return result

    @property  # type: ignore[override]
    def column_display_actions(self) -> bool:
        """Row buttons only when a row has something to do (edit, delete, details)."""
        return bool(self.can_edit or self.can_delete or self.can_view_details)

    @property  # type: ignore[override]
    def can_export(self) -> bool:
        """Export only where allowed, and only for roles with ``export_permission``."""
        return self.allow_export and (self.export_permission is None or can(self.export_permission))

    @expose("/export/<export_type>/")
    def export(self, export_type: str) -> Any:
        """Export (for allowed roles only), leaving an audit event of who took what."""
        if not self.can_export:
            abort(403)
        with get_runtime().transaction() as session:
            record(
                session,
                current_actor(),
                "export",
                self.model.__tablename__,
                details={"format": export_type, "filters": len(request.args)},
            )
        return super().export(export_type)

    def _export_data(self) -> Any:
        if not self.can_export:
            abort(403)
        return super()._export_data()

    def get_export_value(self, model: Any, name: str) -> Any:
        from admin.export import neutralise

        return neutralise(super().get_export_value(model, name))
