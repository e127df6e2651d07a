"""Flask application factory: the back office, its sign-in, the APIs, plugin views.

``create_app()`` builds one app for one :class:`core.runtime.CareLoop`.  Flask-Admin
views use Flask-SQLAlchemy-Lite bound to the runtime's own engine (see
:mod:`admin.db`); core services get sessions from the runtime so their hooks
fire after commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, render_template
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from admin import api, auth, layout_cache
from admin.db import init_db
from admin.plugin_views import register_plugin_contributions
from admin.roles import Perm
from admin.views.base import can, csrf_token, current_role
from core.config import Config
from core.gc_tuning import FreezeAfterWarmUp
from core.i18n import gettext, ngettext
from core.runtime import CareLoop, create

#: signed-in staff are signed out after this long without a fresh sign-in
SESSION_LIFETIME = dt.timedelta(hours=12)


def create_app(config: Config | None = None, runtime: CareLoop | None = None) -> Flask:
    """Build the web app for *runtime* (or a new runtime from *config* / the environment)."""
    runtime = runtime or create(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=runtime.config.effective_secret_key,
        SESSION_COOKIE_NAME="careloop_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.config.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=runtime.config.session_cookie_secure,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.extensions["careloop"] = runtime
    _install_jinja(app)
    db = init_db(app, runtime)
    auth.init_app(app)

    @app.before_request
    def refresh_plugins() -> None:
        runtime.plugins.refresh()

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    warm_up = FreezeAfterWarmUp()
    app.extensions["careloop_gc_warm_up"] = warm_up

    @app.teardown_request
    def count_for_gc_freeze(_error: BaseException | None) -> None:
        warm_up.tick()  # see core.gc_tuning: keeps full GC passes out of the p99

    @app.get("/health")
    def health():
        with runtime.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return jsonify(status="ok", plugins=sorted(runtime.plugins.enabled))

    @app.errorhandler(403)
    def forbidden(_error: Any) -> Any:
        return render_template("careloop/error.html", code=403), 403

    @app.errorhandler(404)
    def not_found(_error: Any) -> Any:
        return render_template("careloop/error.html", code=404), 404

    admin = _build_admin(app, db)
    with app.app_context():
        register_plugin_contributions(app, admin, db, runtime)
    _install_i18n(app)
    # the machine API beside the back office, without its sessions, sign-in and locales
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {api.MOUNT: api.create_api_app(runtime, app)}
    )
    if runtime.config.proxy_hops > 0:
        # behind a TLS-terminating proxy: the client's address (audit) and scheme (cookies)
        hops = runtime.config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def _build_admin(app: Flask, db: Any) -> Admin:
    from admin.views.audit import AuditView
    from admin.views.home import HomeView
    from admin.views.lookup import LookupView
    from admin.views.patient360 import PatientRecordView
    from admin.views.patients import PatientListView
    from admin.views.periodic import PeriodicRunView
    from admin.views.plugins import PluginsView
    from admin.views.records import AppointmentListView, InteractionListView
    from admin.views.users import UserListView
    from core.models import (
        Appointment,
        AuditEvent,
        Interaction,
        Patient,
        PeriodicRun,
        StaffUser,
    )

    admin = Admin(
        app,
        name="CareLoop",
        url="/admin",
        index_view=HomeView(name=gettext("Home"), url="/admin"),
        theme=Bootstrap4Theme(base_template="careloop/layout.html", fluid=True),
    )
    with app.app_context():
        admin.add_view(LookupView(name=gettext("Caller ID"), endpoint="lookup", url="lookup"))
        admin.add_view(PatientListView(Patient, db, name=gettext("Patients"), endpoint="patients"))
        admin.add_view(PatientRecordView(endpoint="patient", url="patient"))
        admin.add_view(
            InteractionListView(
                Interaction, db, name=gettext("Interactions"), endpoint="interactions"
            )
        )
        admin.add_view(
            AppointmentListView(
                Appointment, db, name=gettext("Appointments"), endpoint="appointments"
            )
        )
        admin.add_view(UserListView(StaffUser, db, name=gettext("Staff"), endpoint="users"))
        admin.add_view(PluginsView(name=gettext("Plugins"), endpoint="plugins", url="plugins"))
        admin.add_view(AuditView(AuditEvent, db, name=gettext("Audit trail"), endpoint="audit"))
        admin.add_view(
            PeriodicRunView(PeriodicRun, db, name=gettext("Scheduled tasks"), endpoint="periodic")
        )
        from admin.views import messaging

        messaging.register(admin, db)
    return admin


def _install_jinja(app: Flask) -> None:
    """``_``, ``can`` and friends in templates; autoescaping stays on."""
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(
        _=gettext,
        ngettext=ngettext,
        can=can,
        Perm=Perm,
        current_role=current_role,
        csrf_token=csrf_token,
    )
    app.jinja_env.filters["localdatetime"] = localdatetime
    layout_cache.install(app)


def localdatetime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time in the clinic's zone (``admin.i18n`` replaces it with a localised one)."""
    if value is None:
        return ""
    from flask import current_app

    zone = ZoneInfo(current_app.extensions["careloop"].config.timezone)
    return value.astimezone(zone).strftime(fmt)


def _install_i18n(app: Flask) -> None:
    """Use Flask-Babel through ``admin.i18n`` when it is there (it replaces ``_``)."""
    try:
        from admin import i18n
    except ImportError:
        return
    init = getattr(i18n, "init_app", None)
    if init is not None:
        init(app)
