"""`careloop i18n` commands and catalogue compilation on first use."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core import i18n
from core.cli import i18n as i18n_cli


def test_check_passes_on_shipped_catalogues() -> None:
    result = CliRunner().invoke(i18n_cli.i18n_group, ["check"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output


def test_check_fails_and_counts_in_russian(tmp_path: Path, monkeypatch) -> None:
    po = tmp_path / "ru" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Untranslated"\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    monkeypatch.setattr(i18n, "SUPPORTED_LOCALES", ("ru",))
    result = CliRunner().invoke(i18n_cli.i18n_group, ["check"])
    assert result.exit_code == 1
    assert "'Untranslated' is not translated" in result.output


def test_compile_command_writes_mo_files(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "translations"
    for locale in ("uk", "ko"):
        target = source / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / "messages.po").write_bytes(i18n.po_path(locale).read_bytes())
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", source)
    result = CliRunner().invoke(i18n_cli.i18n_group, ["compile"])
    assert result.exit_code == 0, result.output
    assert sorted(p.parent.parent.name for p in source.glob("*/LC_MESSAGES/*.mo")) == ["ko", "uk"]
    i18n.reload_catalogues()


def test_unwritable_package_dir_compiles_into_cache(tmp_path: Path, monkeypatch) -> None:
    real = i18n.compile_all
    calls: list[Path | None] = []

    def compile_all(source: Path = i18n.TRANSLATIONS_DIR, target: Path | None = None):
        calls.append(target)
        if target is None:
            raise PermissionError("read-only site-packages")
        return real(source, target)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(i18n, "compile_all", compile_all)
    i18n.reload_catalogues()
    try:
        directory = i18n.catalogue_dir()
        assert Path(directory) == tmp_path / "careloop" / "translations"
        assert calls[0] is None and calls[1] == Path(directory)
        with i18n.use_locale("ko"):
            assert i18n.gettext("Sign in") == "로그인"
    finally:
        monkeypatch.undo()
        i18n.reload_catalogues()


@pytest.mark.parametrize("locale", ["id", "zh", "ru", "uk", "ko"])
def test_lazy_strings_follow_the_current_locale(locale: str) -> None:
    text = i18n.lazy_gettext("Sign in")
    with i18n.use_locale("en"):
        english = str(text)
    with i18n.use_locale(locale):
        assert str(text) != english
