"""Catalogues: complete, not fuzzy, placeholders intact, in step with the code, compiled."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from core import i18n
from core.cli import i18n as i18n_cli

ROOT = Path(i18n.__file__).resolve().parent.parent
LOCALES = i18n.SUPPORTED_LOCALES


def _catalog(locale: str):
    with i18n.po_path(locale).open("rb") as fp:
        return read_po(fp, locale=locale)


def _extracted_ids() -> set[object]:
    """What `careloop i18n extract` would find now, straight from the source tree."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    keywords = dict(__import__("babel.messages.extract", fromlist=["x"]).DEFAULT_KEYWORDS)
    for spec in i18n_cli.KEYWORDS:
        name, _, args = spec.partition(":")
        keywords[name] = _spec(args)
    ids: set[object] = set()
    with contextlib.chdir(ROOT):
        for _file, _line, message, _comments, context in extract_from_dir(
            ".", method_map, options_map, keywords=keywords
        ):
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            ids.add((context, message if isinstance(message, str) else tuple(message[:2])))
    return ids


def _spec(args: str) -> object:
    if not args:
        return None
    parts = []
    for part in args.split(","):
        parts.append((int(part[:-1]), "c") if part.endswith("c") else int(part))
    return tuple(parts)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_complete(locale: str) -> None:
    problems = i18n_cli.check_catalogue(locale)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("locale", LOCALES)
def test_plural_forms_header(locale: str) -> None:
    catalog = _catalog(locale)
    expected = {"en": 2, "id": 2, "zh": 1, "ru": 3, "uk": 3, "ko": 1}.get(locale)
    if expected is None:
        pytest.skip(f"no expectation written for {locale}")
    assert catalog.num_plurals == expected


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_covers_every_marked_string(locale: str) -> None:
    """A string marked in core/, plugins/ or admin/ but missing here fails the build:
    run `careloop i18n update` and translate the new entries."""
    have = set()
    for message in _catalog(locale):
        if message.id:
            msgid = message.id if isinstance(message.id, str) else tuple(message.id[:2])
            have.add((message.context, msgid))
    missing = sorted(map(str, _extracted_ids() - have))
    assert not missing, f"{len(missing)} not in {locale}: " + "; ".join(missing[:20])


def test_placeholder_check_catches_breakage(tmp_path: Path, monkeypatch) -> None:
    """The completeness check itself fails on a broken or missing placeholder."""
    po = tmp_path / "xx" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Hello %(name)s"\nmsgstr "Halo %(nama)s"\n\n'
        'msgid "Fine %(name)s"\nmsgstr "Baik %(name)s"\n\n'
        '#, fuzzy\nmsgid "Fuzzy"\nmsgstr "Kabur"\n\n'
        'msgid "Empty"\nmsgstr ""\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    problems = i18n_cli.check_catalogue("xx")
    assert any("Hello" in p and "placeholders" in p for p in problems)
    assert any("Fuzzy" in p and "fuzzy" in p for p in problems)
    assert any("Empty" in p and "not translated" in p for p in problems)
    assert not any("Fine" in p for p in problems)


def test_placeholders() -> None:
    assert i18n_cli.placeholders("%(a)s and %(b)d, 100%% {c}") == {"%(a)s", "%(b)d", "{c}"}
    assert i18n_cli.placeholders("%(seconds).1f s") == {"%(seconds).1f"}


def test_compile_writes_mo_that_translates(tmp_path: Path) -> None:
    written = i18n.compile_all(i18n.TRANSLATIONS_DIR, tmp_path)
    assert {p.parent.parent.name for p in written} == set(LOCALES)
    ko = Translations.load(str(tmp_path), ["ko"], i18n.DOMAIN)
    assert ko.ugettext("Sign in") == "로그인"
    # up to date: nothing to do the second time
    assert i18n.compile_all(i18n.TRANSLATIONS_DIR, tmp_path) == []


def test_stale_mo_is_recompiled(tmp_path: Path) -> None:
    source = tmp_path / "src"
    po = source / "id" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(i18n.po_path("id").read_bytes())
    i18n.compile_all(source)
    mo = po.with_suffix(".mo")
    assert mo.exists()
    old = mo.stat().st_mtime - 10
    import os

    os.utime(mo, (old, old))
    assert i18n.compile_all(source) == [mo]


def test_runtime_translations_load() -> None:
    with i18n.use_locale("uk"):
        assert i18n.gettext("Sign in") == "Увійти"
    with i18n.use_locale("zh-Hans-CN"):
        assert i18n.gettext("Sign in") == "登录"
    assert i18n.gettext_in("id", "Sign in") == "Masuk"
    assert i18n.gettext_in("xx", "Sign in") == "Sign in"


def test_negotiate_accept_language() -> None:
    assert i18n.negotiate_accept_language("ko-KR,ko;q=0.9,en;q=0.8") == "ko"
    assert i18n.negotiate_accept_language("fr-FR,fr;q=0.9,uk;q=0.5,ru;q=0.4") == "uk"
    assert i18n.negotiate_accept_language("de, en;q=0") == "en"
    assert i18n.negotiate_accept_language("de", default="id") == "id"
    assert i18n.negotiate_accept_language("en;q=0.2, zh-TW;q=0.8") == "zh"
    assert i18n.negotiate_accept_language(None) == "en"


def test_build_compiles_catalogues(tmp_path: Path) -> None:
    """`setup.py build_py` (what wheels and sdists run) ships compiled .mo files."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    built = tmp_path / "core" / "translations"
    for locale in LOCALES:
        assert (built / locale / "LC_MESSAGES" / "messages.mo").is_file()
    zh = Translations.load(str(built), ["zh"], i18n.DOMAIN)
    assert zh.ugettext("Sign in") == "登录"
