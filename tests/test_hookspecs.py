"""Contract tests for the hook specifications (datasette's ``test_docs.py`` style).

Every hook in ``core/hookspecs.py`` must have a docstring with a summary and one
``:param:`` line per argument, be documented in ``docs/hooks.md`` with its exact
signature, and have a test named ``test_hook_<hook name>`` somewhere under ``tests/``.
The list of hooks is read from the module, never written down here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "hooks.md"
TESTS = ROOT / "tests"
PARAM_LINE = re.compile(r"^\s*:param (\w+):", re.MULTILINE)


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every function of ``core.hookspecs`` marked as a hook specification."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, marker)
    }


HOOKS = sorted(hook_specs())


def signature_line(name: str) -> str:
    """The spec's signature as ``docs/hooks.md`` must show it (annotations as written)."""
    sig = inspect.signature(hook_specs()[name])
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def doc_sections() -> dict[str, str]:
    """``### heading`` -> the text under it, from docs/hooks.md."""
    parts = re.split(r"^### +(\S+)\s*$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def hook_test_names() -> set[str]:
    """Names of every ``def test_hook_<name>`` written under tests/."""
    found: set[str] = set()
    for path in TESTS.rglob("*.py"):
        found.update(re.findall(r"def test_hook_(\w+)\s*\(", path.read_text(encoding="utf-8")))
    return found


def test_hooks_are_found():
    # a broken marker lookup would make every test below pass vacuously
    assert len(HOOKS) >= 10
    assert "careloop_on_patient_created" in HOOKS


def test_hook_names_use_the_prefix_and_a_family():
    for name in HOOKS:
        assert re.match(r"^careloop_(register|on|patient)_[a-z_]+$", name), name


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_docstring_has_summary_and_params(name: str):
    fn = hook_specs()[name]
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n", 1)[0].strip()
    assert summary, f"{name} has no docstring summary line"
    assert summary.endswith("."), f"{name}: the summary line should be a sentence"
    arguments = list(inspect.signature(fn).parameters)
    documented = PARAM_LINE.findall(doc)
    assert documented == arguments, (
        f"{name}: :param: lines {documented} must match its arguments {arguments}, in order"
    )


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_has_no_body(name: str):
    source = inspect.getsource(hook_specs()[name])
    body = source.split('"""')[-1].strip()
    assert body == "", f"{name}: a hook specification holds only its docstring"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name: str):
    sections = doc_sections()
    assert name in sections, f"docs/hooks.md has no '### {name}' section"
    expected = signature_line(name)
    assert expected in sections[name], (
        f"docs/hooks.md section {name} must show the signature:\n{expected}"
    )


def test_docs_document_no_hook_that_does_not_exist():
    documented = {h for h in doc_sections() if h.startswith("careloop_")}
    assert documented - set(HOOKS) == set()


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name: str):
    assert name in hook_test_names(), f"no test named test_hook_{name} under tests/"
