"""Staff users: create them, check passwords, change passwords and roles.

Passwords are hashed with argon2 (argon2-cffi).  Changing a password or a
role bumps ``session_version`` so existing web sessions stop working.
"""

from __future__ import annotations

import datetime as dt
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import Actor, record
from core.db import utcnow
from core.errors import DuplicateRecord, NotFound, ValidationError
from core.models import StaffUser
from core.models.enums import Role
from core.services.validation import choice, language_tag

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,80}$")
MIN_PASSWORD_LENGTH = 10
#: failed logins before the account is locked for LOCK_MINUTES
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 15


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return _hasher.hash(password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    actor: Actor,
    *,
    display_name: str = "",
    email: str | None = None,
    locale: str | None = None,
) -> StaffUser:
    """Add a staff user with an argon2-hashed password."""
    if not _USERNAME.match(username or ""):
        raise ValidationError(
            f"username {username!r} must be 3-80 letters, digits or . _ @ -", field="username"
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise DuplicateRecord(f"username {username!r} is already taken")
    user = StaffUser(
        username=username,
        password_hash=hash_password(password),
        role=choice(Role, role, "role").value,
        display_name=display_name or username,
        email=email,
        locale=language_tag(locale),
    )
    session.add(user)
    session.flush()
    record(session, actor, "create", "staff_user", user.id, details={"role": user.role})
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """Return the user when *password* is right; count failures and lock after too many.

    A locked, inactive or unknown account returns ``None`` without saying which.
    """
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    now = utcnow()
    if user is None:
        _hasher.hash(password or "x")  # same cost as a real check: no user enumeration by timing
        return None
    if not user.active or (user.locked_until is not None and user.locked_until > now):
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def set_password(session: Session, user_id: int, password: str, actor: Actor) -> None:
    """Change a password; every existing session of that user ends."""
    user = _get(session, user_id)
    user.password_hash = hash_password(password)
    user.session_version += 1
    record(session, actor, "password", "staff_user", user.id)


def set_role(session: Session, user_id: int, role: str, actor: Actor) -> None:
    """Change a role; every existing session of that user ends."""
    user = _get(session, user_id)
    new_role = choice(Role, role, "role").value
    if new_role != user.role:
        record(
            session,
            actor,
            "role",
            "staff_user",
            user.id,
            details={"from": user.role, "to": new_role},
        )
        user.role = new_role
        user.session_version += 1


def _get(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff user {user_id} does not exist")
    return user
