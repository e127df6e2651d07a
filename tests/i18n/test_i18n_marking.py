"""User-facing literals must be marked for translation.

Heuristics, kept simple and explained so a false alarm is easy to silence:

* Python under ``core/``, ``plugins/`` and ``admin/``: the message of ``flash()``,
  ``abort(code, ...)``, ``click.echo/secho/confirm/prompt``, ``fail()``, WTForms
  field labels (``StringField("Name")``), Flask-Admin ``column_labels`` values and
  view ``name=`` arguments must not be a bare string literal or f-string with words;
  wrap them in ``_()``/``lazy_gettext()``.  A literal counts when it has two words,
  or one capitalised word (``"Saved"``): ``"error: %s"`` or ``"-" * 40`` do not.
* Jinja templates (``*/templates/**/*.html|.txt``): visible text nodes and the
  ``title``/``alt``/``placeholder``/``aria-label`` attributes (and button
  ``value``) must not hold words outside ``{{ _('...') }}`` or ``{% trans %}``.

:data:`ALLOWED_TEXT` lists words that are the same in every language (brand names);
:data:`ALLOWED` lists ``(path, literal)`` pairs accepted on purpose.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY_DIRS = ("core", "plugins", "admin")
SKIP_PARTS = {"migrations", "tests", "translations", "__pycache__"}
MARKERS = {"_", "gettext", "ngettext", "lazy_gettext", "_l", "_n", "lazy_ngettext", "pgettext"}
MESSAGE_CALLS = {"flash", "fail", "echo", "secho", "confirm", "prompt"}
#: words that are not translated (product and provider names, units)
ALLOWED_TEXT = {
    "CareLoop",
    "WhatsApp",
    "SendGrid",
    "SMSAPI",
    "SMS",
    "E-mail",
    "MRN",
    "ID",
    "OK",
    "UTC",
    "CSV",
    "JSON",
    "API",
    "URL",
}
#: (path relative to the repository, literal) accepted on purpose.  The four below are
#: operator output of worker/webhook commands that their owners have yet to mark
#: (listed in the languages report); remove each entry once it is wrapped in _().
ALLOWED: set[tuple[str, str]] = {
    (
        "core/cli/worker.py",
        "careloop worker needs a broker: set CARELOOP_BROKER_URL (redis:// or amqp://)",
    ),
    ("core/cli/worker.py", "careloop worker: \x00 threads, prefetch \x00, queues \x00"),
    ("plugins/webhooks/cli.py", "\x00: \x00 event(s) processed"),
    ("plugins/webhooks/cli.py", "\x00 event(s) deleted"),
}

_PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdifr]|\{[^{}]*\}|\x00")
_WORD = re.compile(r"[^\W\d_]{2,}")


def is_user_text(text: str, *, single_word_counts: bool) -> bool:
    """Does *text* read as words for people (not an identifier, a symbol or a number)?"""
    bare = _PLACEHOLDER.sub(" ", text)
    words = [w for w in _WORD.findall(bare) if w not in ALLOWED_TEXT]
    if not words:
        return False
    if len(words) >= 2 and " " in bare.strip():
        return True
    if single_word_counts:
        return True
    word = words[0]
    return word[0].isupper() and len(word) >= 3 and not word.isupper()


def _python_files() -> list[Path]:
    files = []
    for top in PY_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            if not SKIP_PARTS & set(path.relative_to(ROOT).parts):
                files.append(path)
    return sorted(files)


def _template_files() -> list[Path]:
    files = []
    for top in PY_DIRS:
        for ext in ("*.html", "*.txt"):
            for path in (ROOT / top).rglob(ext):
                rel = path.relative_to(ROOT).parts
                if "templates" in rel and not SKIP_PARTS & set(rel):
                    files.append(path)
    return sorted(files)


def _func_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literal_text(node: ast.AST) -> str | None:
    """The text of a bare literal or f-string; ``None`` for anything else (a call to ``_``...)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "\x00" for v in node.values)
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.found: list[str] = []

    def _check(self, node: ast.AST | None, what: str, single: bool = False) -> None:
        if node is None:
            return
        text = _literal_text(node)
        if text is None or (self.rel, text) in ALLOWED:
            return
        if is_user_text(text, single_word_counts=single):
            self.found.append(f"{self.rel}:{node.lineno}: {what}: {text!r}")

    def visit_Call(self, node: ast.Call) -> None:
        name = _func_name(node)
        if name in MARKERS:
            return  # marked: nothing inside to check
        if name in MESSAGE_CALLS and node.args:
            self._check(node.args[0], f"{name}() message")
        if name == "abort":
            if len(node.args) >= 2:
                self._check(node.args[1], "abort() message")
            for kw in node.keywords:
                if kw.arg == "description":
                    self._check(kw.value, "abort() message")
        if name.endswith("Field") and name[:1].isupper() and node.args:
            self._check(node.args[0], f"{name} label", single=True)
        for kw in node.keywords:
            if kw.arg == "label" and name.endswith("Field"):
                self._check(kw.value, f"{name} label", single=True)
            if kw.arg == "name" and name.endswith("View"):
                self._check(kw.value, f"{name} menu name", single=True)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if {"column_labels", "column_descriptions"} & set(targets) and isinstance(
            node.value, ast.Dict
        ):
            for value in node.value.values:
                self._check(value, f"{targets[0]} value", single=True)
        self.generic_visit(node)


def python_findings(path: Path) -> list[str]:
    rel = str(path.relative_to(ROOT))
    finder = _Finder(rel)
    finder.visit(ast.parse(path.read_text(encoding="utf-8"), filename=rel))
    return finder.found


class _TextNodes(HTMLParser):
    ATTRS: ClassVar[set[str]] = {"title", "alt", "placeholder", "aria-label", "label"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.texts: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        values = dict(attrs)
        for name, value in attrs:
            wanted = name in self.ATTRS or (
                name == "value"
                and tag in ("input", "button")
                and values.get("type") in ("submit", "button", "reset")
            )
            if wanted and value:
                self.texts.append((self.getpos()[0], value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.texts.append((self.getpos()[0], data))


_TRANS = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", re.S)
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_TAG = re.compile(r"\{%.*?%\}", re.S)
_EXPR = re.compile(r"\{\{.*?\}\}", re.S)


def _keep_lines(pattern: re.Pattern[str], repl: str, source: str) -> str:
    return pattern.sub(lambda m: repl + "\n" * m.group(0).count("\n"), source)


def template_findings(path: Path, root: Path = ROOT) -> list[str]:
    rel = str(path.relative_to(root))
    source = path.read_text(encoding="utf-8")
    for pattern, repl in ((_TRANS, ""), (_COMMENT, ""), (_TAG, " "), (_EXPR, "\x00")):
        source = _keep_lines(pattern, repl, source)
    parser = _TextNodes()
    parser.feed(source)
    parser.close()
    found = []
    for line, text in parser.texts:
        text = " ".join(text.split())
        if (rel, text) not in ALLOWED and is_user_text(text, single_word_counts=True):
            found.append(f"{rel}:{line}: text not marked: {text!r}")
    return found


def test_python_messages_are_marked() -> None:
    findings = [f for path in _python_files() for f in python_findings(path)]
    assert not findings, "wrap these in _() / lazy_gettext():\n" + "\n".join(findings)


def test_template_text_is_marked() -> None:
    findings = [f for path in _template_files() for f in template_findings(path)]
    assert not findings, "wrap these in {{ _('...') }}:\n" + "\n".join(findings)


# --- the heuristics themselves ------------------------------------------------


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ('flash("Patient saved.")', 1),
        ('flash(_("Patient saved."))', 0),
        ('flash(f"Saved {name}")', 1),
        ('click.echo("-" * 40)', 0),
        ('click.echo(f"error: {exc}")', 0),
        ('click.echo(f"{a}\\t{b}")', 0),
        ('abort(404, "No such patient")', 1),
        ("abort(404)", 0),
        ('StringField("Name")', 1),
        ('StringField(_l("Name"))', 0),
        ('column_labels = {"mrn": "Record number"}', 1),
        ('column_labels = {"mrn": _l("Record number")}', 0),
        ('admin.add_view(PatientView(Patient, db, name="Patients"))', 1),
        ('flash(message, "danger")', 0),
    ],
)
def test_python_heuristic(source: str, count: int) -> None:
    finder = _Finder("probe.py")
    finder.visit(ast.parse(source))
    assert len(finder.found) == count, finder.found


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("<h1>{{ _('Patients') }}</h1>", 0),
        ("<h1>Patients</h1>", 1),
        ("<p>Signed in as {{ name }}</p>", 1),
        ("<p>{{ name }} · {{ role }}</p>", 0),
        ('<input type="submit" value="Save">', 1),
        ('<input type="text" value="{{ v }}">', 0),
        ('<img alt="Logo of the clinic" src="x.png">', 1),
        ("{% trans %}Hello there{% endtrans %}", 0),
        ("{# a comment with words #}<b>CareLoop</b>", 0),
        ("<script>var x = 'some words';</script>", 0),
        ('<a href="{{ url }}" title="{{ _(\'Edit\') }}">{{ _("Edit") }}</a>', 0),
    ],
)
def test_template_heuristic(tmp_path: Path, source: str, count: int) -> None:
    probe = tmp_path / "t.html"
    probe.write_text(source, encoding="utf-8")
    assert len(template_findings(probe, tmp_path)) == count
