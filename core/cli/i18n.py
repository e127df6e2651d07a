"""``careloop i18n``: extract, update, initialise, check and compile the catalogues.

These are developer commands: they work in a source checkout (they need
``babel.cfg`` at the repository root) and wrap ``pybabel`` with CareLoop's
keywords and paths, so nobody has to remember them.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

from core import i18n

REPO_ROOT = Path(i18n.__file__).resolve().parent.parent
BABEL_CFG = REPO_ROOT / "babel.cfg"
POT_FILE = i18n.TRANSLATIONS_DIR / f"{i18n.DOMAIN}.pot"
#: gettext functions to extract, besides babel's defaults (``_``, ``gettext``, ``ngettext``...)
KEYWORDS = ("_n:1,2", "lazy_gettext", "_l", "lazy_ngettext:1,2", "pgettext:1c,2", "gettext_in:2")
#: ``%(name)s`` / ``%s`` / ``{name}`` placeholders that a translation must keep
_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdif]|\{\w*\}")
SOURCE_LOCALE = "en"


def placeholders(text: str) -> set[str]:
    """The placeholders in *text*, e.g. ``{'%(name)s'}`` (``%%`` is not one)."""
    return {m.group(0) for m in _PLACEHOLDER.finditer(text.replace("%%", ""))}


def _pybabel(*args: str) -> None:
    """Run a ``pybabel`` command from the repository root (so paths stay relative)."""
    with contextlib.chdir(REPO_ROOT):
        CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> Path:
    """Extract every marked string of core, plugins and admin into ``messages.pot``."""
    keyword_args = [arg for kw in KEYWORDS for arg in ("-k", kw)]
    _pybabel(
        "extract",
        "-F",
        str(BABEL_CFG),
        *keyword_args,
        "--add-comments=Translators:",
        "--add-location=file",
        "--sort-by-file",
        "--project=CareLoop",
        "--msgid-bugs-address=",
        "--no-wrap",
        "-o",
        str(POT_FILE.relative_to(REPO_ROOT)),
        ".",
    )
    return POT_FILE


def update() -> None:
    """Merge ``messages.pot`` into every locale's ``.po``; English copies its msgids."""
    _pybabel(
        "update",
        "-i",
        str(POT_FILE),
        "-d",
        str(i18n.TRANSLATIONS_DIR),
        "-D",
        i18n.DOMAIN,
        "--no-fuzzy-matching",
        "--ignore-obsolete",
        "--no-wrap",
    )
    fill_source_locale()


def fill_source_locale() -> None:
    """The English catalogue translates each message to itself (so checks pass on it)."""
    path = i18n.po_path(SOURCE_LOCALE)
    if not path.exists():
        return
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=SOURCE_LOCALE)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            message.string = tuple(message.id[:1] + message.id[1:])
        elif not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    _write(catalog, path)


def _write(catalog: Catalog, path: Path) -> None:
    with path.open("wb") as fp:
        write_po(fp, catalog, width=0, ignore_obsolete=True)


def init_locale(locale: str) -> Path:
    """Create a new locale's catalogue from ``messages.pot``."""
    _pybabel(
        "init",
        "-i",
        str(POT_FILE),
        "-d",
        str(i18n.TRANSLATIONS_DIR),
        "-D",
        i18n.DOMAIN,
        "-l",
        locale,
        "--no-wrap",
    )
    return i18n.po_path(locale)


def check_catalogue(locale: str) -> list[str]:
    """Problems of one catalogue: untranslated, fuzzy or placeholder-breaking entries."""
    path = i18n.po_path(locale)
    if not path.exists():
        return [f"{locale}: no catalogue at {path}"]
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        label = f"{locale}: {ids[0]!r}"
        if message.fuzzy:
            problems.append(f"{label} is fuzzy")
        if not all(strings):
            problems.append(f"{label} is not translated")
            continue
        wanted = set().union(*(placeholders(text) for text in ids))
        # a plural form may leave out the count itself ("one day"), nothing else
        required = wanted if len(ids) == 1 else {p for p in wanted if "(num)" not in p}
        for form in strings:
            found = placeholders(form)
            if not (required <= found <= wanted):
                problems.append(f"{label} placeholders {sorted(found)} != {sorted(wanted)}")
                break
    return problems


@click.group("i18n")
def i18n_group() -> None:
    """Manage translations (developer commands, run in a source checkout)."""


@i18n_group.command("extract")
def extract_cmd() -> None:
    """Collect marked strings into core/translations/messages.pot."""
    click.echo(i18n.gettext("Wrote %(path)s", path=str(extract())))


@i18n_group.command("update")
@click.option("--extract/--no-extract", "do_extract", default=True, help="Extract first.")
def update_cmd(do_extract: bool) -> None:
    """Extract, then merge new strings into every language's catalogue."""
    if do_extract:
        extract()
    update()


@i18n_group.command("init")
@click.argument("locale")
def init_cmd(locale: str) -> None:
    """Start a catalogue for a new LOCALE, such as vi or th."""
    if not POT_FILE.exists():
        extract()
    click.echo(i18n.gettext("Wrote %(path)s", path=str(init_locale(locale))))


@i18n_group.command("compile")
def compile_cmd() -> None:
    """Compile every .po into .mo (also done on first use and by the build)."""
    for po_file in sorted(i18n.TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{i18n.DOMAIN}.po")):
        i18n.compile_catalogue(po_file, po_file.with_suffix(".mo"))
        click.echo(i18n.gettext("Wrote %(path)s", path=str(po_file.with_suffix(".mo"))))
    i18n.reload_catalogues()


@i18n_group.command("check")
def check_cmd() -> None:
    """Fail when a catalogue misses a translation or breaks a placeholder."""
    problems = [p for loc in i18n.SUPPORTED_LOCALES for p in check_catalogue(loc)]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        summary = i18n.ngettext(
            "%(num)d problem in the catalogues", "%(num)d problems in the catalogues", len(problems)
        )
        click.echo(summary, err=True)
        raise SystemExit(1)
    click.echo(i18n.gettext("All catalogues are complete."))


commands = [i18n_group]
