"""The plugin manager: broken plugins, dependencies, persisted state, entry points."""

from __future__ import annotations

import sys
import time
from importlib.metadata import EntryPoint
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select

from core import Manifest, hookimpl
from core import plugin_manager as pm_module
from core.audit import Actor
from core.errors import PluginBlocked, PluginBroken, PluginInUse
from core.models import Interaction
from core.runtime import CareLoop
from core.services.patients import PatientInput, create_patient
from core.testing import test_config as make_config

GROUP = pm_module.ENTRY_POINT_GROUP


class Listener:
    """A healthy plugin that remembers the patients it heard about."""

    def __init__(self, name: str = "listener", depends: tuple[str, ...] = (), **manifest: Any):
        self.manifest = Manifest(name=name, version="1.0", depends=depends, **manifest)
        self.created: list[int] = []

    @hookimpl
    def careloop_on_patient_created(self, patient_id: int) -> None:
        self.created.append(patient_id)


def new_patient(runtime: CareLoop, actor: Actor, **fields: Any) -> int:
    with runtime.transaction() as session:
        data = PatientInput(given_name=fields.pop("given_name", "Ana"), **fields)
        return create_patient(session, data, actor).id


@pytest.fixture
def no_migrations(runtime: CareLoop, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the order plugins would be migrated in, without running Alembic."""
    migrated: list[str] = []
    monkeypatch.setattr(runtime.plugins, "migrator", lambda name, conn: migrated.append(name))
    return migrated


# ---------------------------------------------------------------------------
# Broken plugins are reported, the rest keeps working
# ---------------------------------------------------------------------------


class Misspelt:
    manifest = Manifest(name="misspelt", version="1.0")

    @hookimpl
    def careloop_on_patient_creatd(self, patient_id: int) -> None:
        raise AssertionError("never called")


def plugin_module(name: str, manifest: Any) -> ModuleType:
    """A module object as an import would give it (a broken plugin is named after it)."""
    module = ModuleType(name)
    if manifest is not None:
        module.manifest = manifest  # type: ignore[attr-defined]
    return module


def test_broken_plugins_are_reported_with_name_and_reason(runtime, actor, plugin_registrar):
    healthy = Listener()
    plugin_registrar(healthy)
    misspelt = plugin_registrar(Misspelt())
    bad_name = plugin_registrar(plugin_module("bad_name", {"name": "Bad Name!", "version": "1"}))
    unknown_key = plugin_registrar(
        plugin_module("unknown_key", {"name": "unknown_key", "version": "1", "requires": ["x"]})
    )
    missing_dep = plugin_registrar(Listener("orphan", depends=("not_installed",)))
    # discovery registers everything, then checks dependencies once
    cycle_a = runtime.plugins.add_module(Listener("cycle_a", depends=("cycle_b",)))
    cycle_b = runtime.plugins.add_module(Listener("cycle_b", depends=("cycle_a",)))
    runtime.plugins.check_dependencies()

    assert misspelt.name == "misspelt"
    assert "unknown hook" in misspelt.error and "careloop_on_patient_creatd" in misspelt.error
    assert bad_name.name == "bad_name" and "Bad Name!" in bad_name.error
    assert unknown_key.name == "unknown_key" and "requires" in unknown_key.error
    assert missing_dep.name == "orphan" and "not_installed" in missing_dep.error
    for rec in (cycle_a, cycle_b):
        assert "cycle" in rec.error and "cycle_a" in rec.error and "cycle_b" in rec.error
    broken = {r.name: r.error for r in runtime.plugins.status() if r.error}
    assert {"misspelt", "bad_name", "unknown_key", "orphan", "cycle_a", "cycle_b"} <= set(broken)
    assert all(broken.values())

    # the application keeps running: healthy plugins still hear events
    pid = new_patient(runtime, actor)
    assert healthy.created == [pid]
    for name in ("misspelt", "orphan", "cycle_a"):
        assert name not in runtime.plugins.enabled
        with pytest.raises(PluginBroken, match=name):
            runtime.plugins.enable(name, actor)


def test_a_plugin_without_manifest_is_reported(runtime, plugin_registrar):
    rec = plugin_registrar(plugin_module("no_manifest", None), enable=False)
    assert rec.name == "no_manifest" and not rec.loadable and "manifest" in rec.error


def test_entry_points_that_fail_to_import_are_reported(
    runtime, actor, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "careloop_probe_raises.py").write_text("raise RuntimeError('bad config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = [
        EntryPoint(
            name="ghost", value="careloop_probe_not_there", group=pm_module.ENTRY_POINT_GROUP
        ),
        EntryPoint(name="raiser", value="careloop_probe_raises", group=pm_module.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(pm_module, "entry_points", lambda group: fake)
    listener = Listener()
    runtime.plugins.add_module(listener)
    runtime.plugins.enable("listener", actor)

    runtime.plugins.load(builtin=False)

    ghost, raiser = runtime.plugins.get("ghost"), runtime.plugins.get("raiser")
    assert ghost.source.startswith("entry point")
    assert "import failed" in ghost.error and "ModuleNotFoundError" in ghost.error
    assert "import failed" in raiser.error and "RuntimeError" in raiser.error
    assert not ghost.loadable and not raiser.loadable
    pid = new_patient(runtime, actor)
    assert listener.created == [pid]
    sys.modules.pop("careloop_probe_raises", None)


def test_a_blocked_plugin_cannot_be_enabled(database_url, initial_plugin_states, actor):
    runtime = CareLoop(make_config(database_url, disabled_plugins=("hello",)))
    try:
        rec = runtime.plugins.get("hello")
        assert rec.blocked and not rec.loadable
        with pytest.raises(PluginBlocked):
            runtime.plugins.enable("hello", actor)
    finally:
        runtime.close()


# ---------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------


@pytest.fixture
def chain(runtime, plugin_registrar, no_migrations) -> list[Listener]:
    """``top`` needs ``mid`` needs ``base``; all installed, none enabled."""
    plugins = [Listener("base"), Listener("mid", ("base",)), Listener("top", ("mid",))]
    for plugin in plugins:
        plugin_registrar(plugin, enable=False)
    return plugins


def test_enable_pulls_dependencies_first(runtime, actor, chain, no_migrations):
    assert runtime.plugins.enable("top", actor) == ["base", "mid", "top"]
    assert no_migrations == []  # these plugins have no tables
    states = runtime.plugins.read_states()
    assert states["base"] and states["mid"] and states["top"]
    assert {"base", "mid", "top"} <= runtime.plugins.enabled
    assert runtime.plugins.enable("top", actor) == []  # already enabled: nothing to do


def test_disable_refuses_while_a_dependent_is_enabled(runtime, actor, chain):
    runtime.plugins.enable("top", actor)
    with pytest.raises(PluginInUse, match="mid"):
        runtime.plugins.disable("base", actor)
    assert runtime.plugins.read_states()["base"] is True
    assert runtime.plugins.disable("base", actor, cascade=True) == ["top", "mid", "base"]
    states = runtime.plugins.read_states()
    assert not (states["base"] or states["mid"] or states["top"])
    pid = new_patient(runtime, actor)
    assert all(pid not in p.created for p in chain)


def test_link_plugin_is_auto_installed_with_both_parents(runtime, actor, chain, plugin_registrar):
    plugin_registrar(Listener("other"), enable=False)
    plugin_registrar(Listener("base_other", ("base", "other"), auto_install=True), enable=False)
    assert runtime.plugins.enable("base", actor) == ["base"]
    assert runtime.plugins.enable("other", actor) == ["other", "base_other"]
    # the link follows its parent out without needing a cascade
    assert runtime.plugins.disable("other", actor) == ["base_other", "other"]


def test_migrations_run_dependencies_first(runtime, actor, plugin_registrar, no_migrations):
    class WithTables(Listener):
        @hookimpl
        def careloop_register_migrations(self) -> str:
            return f"/nowhere/{self.manifest.name}"

    plugin_registrar(WithTables("tables_base"), enable=False)
    plugin_registrar(WithTables("tables_top", ("tables_base",)), enable=False)
    runtime.plugins.enable("tables_top", actor)
    assert no_migrations == ["tables_base", "tables_top"]


# ---------------------------------------------------------------------------
# State: data kept, every process follows
# ---------------------------------------------------------------------------


def test_disable_keeps_the_plugins_data(runtime, actor, run_jobs):
    from plugins.attribution.models import Touchpoint

    assert "attribution" in runtime.plugins.enabled
    pid = new_patient(runtime, actor, lead_source="radio-ad")
    run_jobs()

    def touchpoints() -> list[str]:
        with runtime.session() as session:
            return list(session.scalars(select(Touchpoint.source)))

    assert touchpoints() == ["radio-ad"]
    runtime.plugins.disable("attribution", actor, cascade=True)
    assert touchpoints() == ["radio-ad"]  # table and rows stay
    # while disabled its hooks and actors do nothing
    new_patient(runtime, actor, given_name="Later", lead_source="tv-ad")
    run_jobs()
    assert touchpoints() == ["radio-ad"]
    runtime.plugins.enable("attribution", actor)
    assert touchpoints() == ["radio-ad"]
    assert pid


def test_state_change_reaches_another_runtime_without_restart(runtime, database_url, actor):
    other = CareLoop(make_config(database_url, plugin_state_ttl=0.2))
    try:
        here, there = Listener("shared"), Listener("shared")
        runtime.plugins.add_module(here)
        other.plugins.add_module(there)  # the same plugin installed in another process
        runtime.plugins.enable("shared", actor)
        time.sleep(0.25)
        with other.transaction() as session:
            first = create_patient(session, PatientInput(given_name="One"), actor).id
        assert there.created == [first]

        runtime.plugins.disable("shared", actor)
        time.sleep(0.25)  # the other process re-reads the state within its TTL
        with other.transaction() as session:
            create_patient(session, PatientInput(given_name="Two"), actor)
        assert there.created == [first]
        assert "shared" not in other.plugins.enabled
    finally:
        other.close()


# ---------------------------------------------------------------------------
# A third-party plugin installed through its entry point
# ---------------------------------------------------------------------------


def test_entry_point_plugin_is_discovered_and_works(runtime, actor):
    from careloop_hello import WELCOME_SUBJECT

    rec = runtime.plugins.get("hello")
    assert rec.source.startswith("entry point") and "careloop" in rec.source
    assert rec.loadable and rec.module.__name__ == "careloop_hello"
    assert "hello" not in runtime.plugins.enabled  # not default-enabled

    def welcome_notes(patient_id: int) -> int:
        with runtime.session() as session:
            return session.scalar(
                select(func.count())
                .select_from(Interaction)
                .where(Interaction.patient_id == patient_id, Interaction.subject == WELCOME_SUBJECT)
            )

    before = new_patient(runtime, actor, given_name="Before")
    runtime.plugins.enable("hello", actor)
    after = new_patient(runtime, actor, given_name="After")
    assert welcome_notes(before) == 0
    assert welcome_notes(after) == 1
    commands = runtime.plugins.collect("careloop_register_cli_commands")
    assert "hello" in [c.name for c in commands]
