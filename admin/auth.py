"""Sign-in for staff: Flask-Login, argon2 via core's staff service, throttling.

The session stores ``"<user id>:<session_version>"`` as the Flask-Login id.
Changing a password or a role bumps ``session_version`` in the database, so
:func:`load_user` stops recognising every older session at its next request.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from flask_admin.form import SecureForm
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import BigInteger, bindparam, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from admin.views.base import client_ip, db_session, get_runtime
from core.audit import Actor, record
from core.driver_query import DriverQuery
from core.i18n import gettext as _
from core.i18n import lazy_gettext
from core.models import StaffUser
from core.services.staff import authenticate

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "basic"
login_manager.login_message = None  # type: ignore[assignment]

#: failed sign-ins from one address within WINDOW_SECONDS before it must wait
MAX_FAILURES_PER_ADDRESS = 20
WINDOW_SECONDS = 15 * 60


@dataclass
class StaffPrincipal(UserMixin):
    """The signed-in staff member as the web layer sees it (no password hash)."""

    staff_id: int
    username: str
    display_name: str
    role: str
    session_version: int
    locale: str | None

    def get_id(self) -> str:
        return f"{self.staff_id}:{self.session_version}"


#: the signed-in user's row, every request: compiled once, run on the driver's cursor
_PRINCIPAL = DriverQuery(
    select(
        StaffUser.id,
        StaffUser.username,
        StaffUser.display_name,
        StaffUser.role,
        StaffUser.session_version,
        StaffUser.locale,
        StaffUser.active,
    ).where(StaffUser.id == bindparam("user_id", type_=BigInteger())),
    "user_id",
)


@login_manager.user_loader
def load_user(token: str) -> StaffPrincipal | None:
    """Rebuild the principal from the session; a stale session version signs out."""
    user_id, _sep, version = token.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    rows = _PRINCIPAL.rows(db_session(), user_id=int(user_id))
    if not rows:
        return None
    row_id, username, display_name, role, session_version, locale, active = rows[0]
    if not active or session_version != int(version):
        return None
    return StaffPrincipal(row_id, username, display_name, role, session_version, locale)


class LoginForm(SecureForm):
    """Username and password, with a CSRF token."""

    username = StringField(lazy_gettext("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired()])


class AddressThrottle:
    """Count failed sign-ins per client address in a sliding window (per process)."""

    def __init__(self, limit: int = MAX_FAILURES_PER_ADDRESS, window: float = WINDOW_SECONDS):
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, address: str) -> bool:
        with self._lock:
            return len(self._recent(address, time.monotonic())) >= self.limit

    def fail(self, address: str) -> None:
        with self._lock:
            self._recent(address, time.monotonic()).append(time.monotonic())

    def reset(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


def safe_next(target: str | None) -> str | None:
    """*target* when it is a path on this site, else ``None`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in; throttled per account (core lockout) and per address."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    form = LoginForm(request.form)
    error = None
    status = 200
    throttle: AddressThrottle = get_runtime_throttle()
    address = client_ip() or "?"
    if request.method == "POST":
        if throttle.blocked(address):
            error, status = _("Too many failed sign-ins. Try again later."), 429
        elif form.validate():
            runtime = get_runtime()
            with runtime.transaction() as db_session:
                user = authenticate(db_session, form.username.data, form.password.data)
                actor = Actor(
                    label=f"staff:{form.username.data}"[:120],
                    staff_user_id=user.id if user else None,
                    ip_address=address,
                )
                record(
                    db_session,
                    actor,
                    "login" if user else "login.failed",
                    "staff_user",
                    user.id if user else None,
                )
                principal = (
                    StaffPrincipal(
                        user.id,
                        user.username,
                        user.display_name,
                        user.role,
                        user.session_version,
                        user.locale,
                    )
                    if user
                    else None
                )
            if principal is None:
                throttle.fail(address)
                error, status = _("Wrong username or password, or the account is locked."), 401
            else:
                throttle.reset(address)
                session.clear()  # a fresh session (and CSRF secret) after sign-in
                login_user(principal)
                return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
        else:
            error, status = (
                _("Please fill in both fields (and reload the page if it expired)."),
                400,
            )
    return render_template("careloop/login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Sign out (POST with a CSRF token, so no page can sign staff out by a link)."""
    form = SecureForm(request.form)
    if current_user.is_authenticated and form.validate():
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))


def get_runtime_throttle() -> AddressThrottle:
    from flask import current_app

    return current_app.extensions["careloop.login_throttle"]


def init_app(app: Flask) -> None:
    """Attach Flask-Login, the throttle and the sign-in routes."""
    login_manager.init_app(app)
    app.extensions["careloop.login_throttle"] = AddressThrottle()
    app.register_blueprint(bp)
