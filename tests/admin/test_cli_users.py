"""``careloop users``: the first admin from the command line."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from core.cli import cli
from core.cli.base import CliState
from core.cli.users import users_group
from core.models import AuditEvent, StaffUser
from core.services.staff import authenticate


def _run(runtime, args, stdin=None):
    state = CliState(runtime.config)
    state._runtime = runtime
    return CliRunner().invoke(users_group, args, input=stdin, obj=state, catch_exceptions=False)


def test_create_admin_from_stdin(runtime):
    result = _run(
        runtime, ["create", "--role", "admin", "--password-stdin", "boss"], "a long password\n"
    )
    assert result.exit_code == 0, result.output
    with runtime.transaction() as session:
        user = authenticate(session, "boss", "a long password")
        assert user is not None and user.role == "admin"
        assert user.password_hash.startswith("$argon2")
        assert session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "staff_user")
        ).all() == ["create"]


def test_create_prompts_for_the_password_twice(runtime):
    result = _run(
        runtime, ["create", "--role", "agent", "ann"], "another password\nanother password\n"
    )
    assert result.exit_code == 0, result.output
    with runtime.transaction() as session:
        assert authenticate(session, "ann", "another password") is not None


def test_short_password_and_duplicates_fail(runtime):
    assert (
        _run(runtime, ["create", "--role", "admin", "--password-stdin", "x1"], "short\n").exit_code
        != 0
    )
    assert (
        _run(
            runtime, ["create", "--role", "admin", "--password-stdin", "boss"], "a long password\n"
        ).exit_code
        == 0
    )
    again = _run(
        runtime, ["create", "--role", "admin", "--password-stdin", "boss"], "a long password\n"
    )
    assert again.exit_code != 0
    with runtime.session() as session:
        assert len(session.scalars(select(StaffUser)).all()) == 1


def test_set_role_and_password_bump_session_version(runtime):
    _run(runtime, ["create", "--role", "agent", "--password-stdin", "csagent"], "a long password\n")
    assert _run(runtime, ["set-role", "csagent", "crm_staff"]).exit_code == 0
    assert (
        _run(
            runtime, ["set-password", "--password-stdin", "csagent"], "a newer password\n"
        ).exit_code
        == 0
    )
    with runtime.session() as session:
        user = session.scalars(select(StaffUser)).one()
    assert (user.role, user.session_version) == ("crm_staff", 3)
    listing = _run(runtime, ["list"]).output
    assert "csagent" in listing and "argon2" not in listing


def test_users_group_is_registered():
    from core.cli import _register_core_commands

    _register_core_commands()
    assert "users" in cli.commands
