"""``careloop users``: create staff users (the first admin), change passwords and roles."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from core.audit import Actor
from core.cli.base import CliState, fail, pass_state
from core.errors import CareLoopError
from core.i18n import gettext as _
from core.models import StaffUser
from core.models.enums import Role
from core.services import staff

ROLE_NAMES = [role.value for role in Role]


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail(_("no password on standard input"))
        return password
    return click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)


@click.group("users")
def users_group() -> None:
    """Staff users of the back office."""


@users_group.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(ROLE_NAMES),
    required=True,
    help="admin, crm_staff, agent or marketer.",
)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--email", default=None, help="E-mail address.")
@click.option("--locale", default=None, help="Language of the back office for this user (e.g. id).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_state
def create(
    state: CliState,
    username: str,
    role: str,
    display_name: str,
    email: str | None,
    locale: str | None,
    password_stdin: bool,
) -> None:
    """Create a staff user; asks for the password (argon2-hashed, at least 10 characters)."""
    password = _read_password(password_stdin)
    try:
        with state.runtime.transaction() as session:
            user = staff.create_user(
                session,
                username,
                password,
                role,
                Actor.cli(),
                display_name=display_name,
                email=email,
                locale=locale,
            )
            user_id = user.id
    except CareLoopError as exc:
        fail(str(exc))
    click.echo(
        _("Created %(role)s %(username)s (id %(id)s).", role=role, username=username, id=user_id)
    )


@users_group.command("set-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_state
def set_password(state: CliState, username: str, password_stdin: bool) -> None:
    """Change a password; that user's open sessions end."""
    password = _read_password(password_stdin)
    try:
        with state.runtime.transaction() as session:
            staff.set_password(session, _user_id(session, username), password, Actor.cli())
    except CareLoopError as exc:
        fail(str(exc))
    click.echo(_("Password changed for %(username)s.", username=username))


@users_group.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@pass_state
def set_role(state: CliState, username: str, role: str) -> None:
    """Change a role; that user's open sessions end."""
    try:
        with state.runtime.transaction() as session:
            staff.set_role(session, _user_id(session, username), role, Actor.cli())
    except CareLoopError as exc:
        fail(str(exc))
    click.echo(_("%(username)s is now %(role)s.", username=username, role=role))


@users_group.command("list")
@pass_state
def list_users(state: CliState) -> None:
    """Every staff user with role and state (never a password hash)."""
    with state.runtime.session() as session:
        rows = session.execute(
            select(StaffUser.id, StaffUser.username, StaffUser.role, StaffUser.active).order_by(
                StaffUser.username
            )
        ).all()
    for row in rows:
        flag = "" if row.active else _(" (inactive)")
        click.echo(f"{row.id:>6}  {row.username:<30} {row.role}{flag}")


def _user_id(session: object, username: str) -> int:
    user_id = session.scalar(select(StaffUser.id).where(StaffUser.username == username))  # type: ignore[attr-defined]
    if user_id is None:
        fail(_("no staff user named %(username)s", username=username))
    return user_id


commands = [users_group]
